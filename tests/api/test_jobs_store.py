"""The job store on SQLite and on a real PostgreSQL (same code), and the progress reporter.

PostgreSQL: a throw-away cluster is made with Debian's ``postgresql`` binaries
(``initdb``/``pg_ctl``, run as the ``postgres`` user when the tests run as root) on a
free port of 127.0.0.1; without them the PostgreSQL cases are skipped, with the reason
in the test summary. Nothing is installed by the tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.jobs.codec import compress, decompress
from api.jobs.progress import Reporter, callback_kwargs, reporting
from api.jobs.store import JobStore, Output, jobs, owner_of
from api.jobs.service import JobService
from api.schemas.pool import POOL_EXAMPLE
from api.tasks import PoolTask
from tests.api.live import free_port

pytestmark = pytest.mark.timeout(120)


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL cluster of this test module (skipped when the binaries are absent)."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (Debian's postgresql package provides initdb and pg_ctl)")
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    if as_root:
        if shutil.which("runuser") is None or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            pytest.skip("running as root without a 'postgres' user to run the PostgreSQL server")
        prefix = ["runuser", "-u", "postgres", "--"]
    home = Path(tempfile.mkdtemp(prefix="imputer-pg-"))
    if as_root:
        shutil.chown(home, "postgres")
    data, port = home / "data", free_port()
    run = lambda *args: subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=60)  # noqa: E731
    init = run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    assert init.returncode == 0, init.stderr
    start = run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(home / "log"), "-w", "-o",
                f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    assert start.returncode == 0, start.stderr + (home / "log").read_text()
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> JobStore:
    if request.param == "sqlite":
        return JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    s = JobStore(request.getfixturevalue("postgres_url"))
    with s.engine.begin() as conn:  # one module-wide database: start each test empty
        conn.execute(jobs.delete())
        conn.exec_driver_sql("DELETE FROM imputer_job_outputs")
    return s


def test_life_of_a_job(store: JobStore) -> None:
    row = store.create("j1", owner=owner_of("k"), kind="impute", instance="me")
    assert (row.status, row.owner, row.started_at) == ("queued", owner_of("k"), None)
    assert store.mark_running("j1", 1234) and not store.mark_running("j1", 1234)
    store.report("j1", {"iteration": 3, "n_evals": 5, "objective": -1.5, "change": 1e-3, "elapsed": 0.25})
    row = store.get("j1")
    assert row is not None and (row.status, row.worker_pid, row.iteration, row.n_evals) == ("running", 1234, 3, 5)
    assert (row.objective, row.change, row.elapsed) == (-1.5, 1e-3, 0.25)
    body = json.dumps({"x": list(range(1000))}).encode()
    out = Output("json", 200, "application/json", len(body), compress(body))
    assert store.finish("j1", "succeeded", answers=[out])
    assert not store.finish("j1", "failed", error={"status": 500})  # a final state stays
    store.report("j1", {"iteration": 99})  # late progress is ignored
    row = store.get("j1")
    assert row is not None and (row.status, row.iteration, row.problem) == ("succeeded", 3, None)
    got = store.output("j1", "json")
    assert got is not None and decompress(got.payload, got.size) == body and got.status == 200
    assert store.formats("j1") == ["json"] and store.output("j1", "csv") is None
    store.delete("j1")
    assert store.get("j1") is None and store.formats("j1") == []


def test_an_answer_keeps_its_headers_and_an_older_table_gets_the_column(store: JobStore) -> None:
    body = b"a,b\n1,2\n"
    warned = (("Imputer-Warnings", '["EM did not converge"]'),)
    with store.engine.begin() as conn:  # the table as the first release made it (no headers column)
        conn.exec_driver_sql("ALTER TABLE imputer_job_outputs DROP COLUMN headers")
        conn.exec_driver_sql(
            "INSERT INTO imputer_job_outputs (job_id, format, status, media_type, size, payload) "
            "VALUES ('old', 'json', 200, 'application/json', 2, '{}')"
        )
    upgraded = JobStore(store.url)  # the server opens it: the column is added, the old answer kept
    old = upgraded.output("old", "json")
    assert old is not None and (old.status, old.headers) == (200, ())
    upgraded.create("j2", owner="", kind="impute", instance="me")
    answers = [Output("csv", 200, "text/csv; charset=utf-8", len(body), compress(body), warned),
               Output("json", 200, "application/json", 2, compress(b"{}"))]
    assert upgraded.finish("j2", "succeeded", answers=answers)
    csv, json_ = upgraded.output("j2", "csv"), upgraded.output("j2", "json")
    assert csv is not None and csv.headers == warned and decompress(csv.payload, csv.size) == body
    assert json_ is not None and json_.headers == ()
    JobStore(store.url)  # a column already there is left alone


def test_sweep_queries(store: JobStore) -> None:
    now = time.time()
    for job_id, instance in [("a", "me"), ("b", "me"), ("c", "dead")]:
        store.create(job_id, owner="", kind="pool", instance=instance)
    store.request_cancel("b")
    assert store.heartbeat("me") == ["b"]
    with store.engine.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.id == "c").values(heartbeat_at=now - 100))
    assert store.fail_orphans(now - 30, {"status": 500, "detail": "gone"}, exclude="me") == 1
    row = store.get("c")
    assert row is not None and row.status == "failed" and row.problem == {"status": 500, "detail": "gone"}
    store.finish("a", "succeeded")
    assert store.expire(now - 1) == 0  # finished just now
    assert store.expire(time.time() + 1) == 2  # a and c (b is still active)
    assert store.get("b") is not None and store.get("a") is None


def test_sqlite_is_in_wal_mode(tmp_path: Path) -> None:
    s = JobStore(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_a_job_on_postgresql(client: TestClient, app: Any, postgres_url: str) -> None:
    """The job service on PostgreSQL, with the app's worker pool (the worker writes ``running``)."""
    service = JobService(postgres_url, app.state.runner)
    body = json.dumps(POOL_EXAMPLE).encode()

    async def run() -> tuple[Any, Any]:
        await service.submit("pool", PoolTask(body=body), "", "pg-job")
        while (row := await service.get("pg-job", "")) is not None and row.status in ("queued", "running"):
            await asyncio.sleep(0.02)
        out = await service.output("pg-job", "json")
        await service.stop()
        return row, out

    row, out = client.portal.call(run)  # type: ignore[attr-defined]
    assert row.status == "succeeded" and row.worker_pid in app.state.runner.worker_pids()
    assert decompress(out.payload, out.size) == client.post("/v1/pool", json=POOL_EXAMPLE).content


class _State:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


def test_reporter_throttles_and_flushes_the_last_state() -> None:
    written: list[dict[str, Any]] = []
    reporter = Reporter(written.append, every_s=3600.0)
    assert callback_kwargs() == {}
    with reporting(reporter):
        assert callback_kwargs() == {"callback": reporter}
        for i in range(1, 6):
            assert reporter(i, _State(n_evals=2 * i, objective=-1.0 / i, change=float("nan"), elapsed=0.1 * i)) is None
    assert callback_kwargs() == {}
    # the first call is written at once, the rest throttled; the last state on the way out
    assert [w["iteration"] for w in written] == [1, 5]
    assert written[1] == {"iteration": 5, "n_evals": 10, "objective": -0.2, "change": None, "elapsed": 0.5}
    every = Reporter(written.append, every_s=0.0)
    for i in range(3):
        every(i, _State())
    assert [w["iteration"] for w in written[2:]] == [0, 1, 2]
