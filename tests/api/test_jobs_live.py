"""Jobs against real uvicorn processes sharing one SQLite file: results outlive the server.

A job's result is fetched, the server stopped and a new one started on the same file
serves the same bytes; a server killed (SIGKILL) while a job runs leaves the job to the
next server's sweep, which marks it failed with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from api.jobs.service import ORPHAN_DETAIL
from tests.api.conftest import DATA, slow_impute_body
from tests.api.live import ROOT, alive, descendants, uvicorn_server

pytestmark = pytest.mark.timeout(120)


def _env(db: Path) -> dict[str, str]:
    return {
        "IMPUTER_JOBS_URL": f"sqlite:///{db}",
        "IMPUTER_JOBS_HEARTBEAT_S": "0.2",
        "IMPUTER_MAX_CONCURRENT_JOBS": "1",
        "IMPUTER_API_KEYS": "",
    }


def _readme_jobs_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Jobs"):]
    return section[section.index("```sh\n") + 6 : section.index("\n```", section.index("```sh\n"))]


def _run_readme_jobs_block(url: str, tmp_path: Path, expected: bytes) -> None:
    """README's Jobs block, run by bash against the server: it writes the completed table."""
    if shutil.which("curl") is None or shutil.which("jq") is None:
        pytest.skip("README's Jobs example needs curl and jq")
    block = _readme_jobs_block()
    assert block.startswith("B=http://127.0.0.1:8000\n")
    work = tmp_path / "readme"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples")
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block.replace("http://127.0.0.1:8000", url, 1)],
                          cwd=work, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (work / "airquality_completed.csv").read_bytes() == expected  # examples/ and tests/data hold the same file
    status = json.loads(proc.stdout)  # the one status printed (DELETE of a finished job: 204, empty)
    assert status["kind"] == "impute" and status["status"] in ("queued", "running", "succeeded")
    assert httpx.get(f"{url}/v1/jobs/{status['id']}", timeout=10).status_code == 404  # deleted


def _wait(url: str, location: str, until: tuple[str, ...]) -> dict[str, object]:
    while True:
        doc = httpx.get(f"{url}{location}", timeout=10).json()
        if doc["status"] in until:
            return doc  # type: ignore[no-any-return]
        time.sleep(0.05)


def test_results_outlive_the_server_and_jobs_of_a_dead_server_fail(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite3"
    csv = (DATA / "airquality.csv").read_bytes()
    with uvicorn_server(_env(db)) as (url, proc):
        r = httpx.post(f"{url}/v1/jobs/impute", content=csv, headers={"content-type": "text/csv"}, timeout=10)
        assert r.status_code == 202, r.text
        done_loc = r.headers["location"]
        assert _wait(url, done_loc, ("succeeded", "failed"))["status"] == "succeeded"
        first = httpx.get(f"{url}{done_loc}/result", headers={"accept": "text/csv"}, timeout=10)
        assert first.status_code == 200
        # cancel: the worker process running the job is killed (and replaced)
        before = descendants(proc.pid)
        r = httpx.post(f"{url}/v1/jobs/impute", json=slow_impute_body(), timeout=30)
        cancel_loc = r.headers["location"]
        _wait(url, cancel_loc, ("running",))
        r = httpx.delete(f"{url}{cancel_loc}", timeout=30)
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        after = descendants(proc.pid)
        gone = before - after
        assert len(gone) == 1 and not any(alive(p) for p in gone)
        assert len(after - before) == 1
        # stopped gracefully (SIGTERM) while a job runs: the server records it failed, 503
        r = httpx.post(f"{url}/v1/jobs/impute", json=slow_impute_body(), timeout=30)
        stopped_loc = r.headers["location"]
        _wait(url, stopped_loc, ("running",))
    assert db.exists()

    with uvicorn_server(_env(db)) as (url, proc):
        again = httpx.get(f"{url}{done_loc}/result", headers={"accept": "text/csv"}, timeout=10)
        assert again.status_code == 200 and again.content == first.content
        _run_readme_jobs_block(url, tmp_path, expected=first.content)
        stopped = httpx.get(f"{url}{stopped_loc}", timeout=10).json()
        assert stopped["status"] == "failed"
        assert stopped["error"]["status"] == 503
        assert stopped["error"]["detail"] == "The computation service is shutting down."
        assert httpx.get(f"{url}{cancel_loc}", timeout=10).json()["status"] == "cancelled"
        # a slow job, then the server dies with it (SIGKILL: nothing recorded)
        r = httpx.post(f"{url}/v1/jobs/impute", json=slow_impute_body(), timeout=30)
        killed_loc = r.headers["location"]
        _wait(url, killed_loc, ("running",))
        children = descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        for pid in children:  # the orphaned forkserver and worker (a computation of minutes)
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

    with uvicorn_server(_env(db)) as (url, _):
        doc = _wait(url, killed_loc, ("failed", "succeeded", "cancelled"))
        assert doc["status"] == "failed"
        assert doc["error"]["detail"] == ORPHAN_DETAIL  # type: ignore[index]
        again = httpx.get(f"{url}{done_loc}/result", headers={"accept": "text/csv"}, timeout=10)
        assert again.content == first.content
