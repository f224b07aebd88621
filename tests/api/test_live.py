"""End to end over HTTP against a real uvicorn process on 127.0.0.1.

Covers what only a real server shows: chunked bodies over the limit, a slow job
really killed at IMPUTER_TIMEOUT_S (504, worker process gone), saturation (503 with
Retry-After), /healthz answering while every worker is busy, clean shutdown.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import DATA, slow_impute_body
from tests.api.live import alive, descendants, uvicorn_server

pytestmark = pytest.mark.timeout(180)

LIMIT = 200_000


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Any]]:
    env = {
        "IMPUTER_MAX_CONCURRENT_JOBS": "1",
        "IMPUTER_MAX_QUEUE": "0",
        "IMPUTER_TIMEOUT_S": "3",
        "IMPUTER_MAX_BODY_BYTES": str(LIMIT),
        "IMPUTER_RETRY_AFTER_S": "9",
        "IMPUTER_API_KEYS": "",
    }
    with uvicorn_server(env) as (url, proc):
        yield url, proc


def test_impute_csv_over_http(server: tuple[str, Any]) -> None:
    url, _ = server
    r = httpx.post(
        f"{url}/v1/impute",
        content=(DATA / "airquality.csv").read_bytes(),
        headers={"content-type": "text/csv"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json()["n_missing"]["Ozone"] == 37


def test_chunked_body_over_limit_is_413(server: tuple[str, Any]) -> None:
    url, _ = server

    def chunks() -> Iterator[bytes]:
        yield b"a,b\n"
        for _ in range(400):  # 400 * 1 KB > LIMIT
            yield b"1.0,2.0\n" * 128

    with httpx.Client(timeout=30) as client:
        r = client.post(f"{url}/v1/impute", content=chunks(), headers={"content-type": "text/csv"})
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == f"The request body exceeds the limit of {LIMIT} bytes (IMPUTER_MAX_BODY_BYTES)."


def test_declared_length_over_limit_is_413(server: tuple[str, Any]) -> None:
    url, _ = server
    r = httpx.post(f"{url}/v1/impute", content=b"a\n" + b"1\n" * LIMIT, headers={"content-type": "text/csv"}, timeout=30)
    assert r.status_code == 413


def test_slow_job_is_killed_504_health_stays_up_and_saturation_is_503(server: tuple[str, Any]) -> None:
    url, proc = server
    workers_before = descendants(proc.pid)
    result: dict[str, httpx.Response] = {}

    def run_slow() -> None:
        result["slow"] = httpx.post(f"{url}/v1/impute", json=slow_impute_body(), timeout=60)

    thread = threading.Thread(target=run_slow)
    thread.start()
    # wait until the job occupies the only worker
    for _ in range(100):
        if httpx.get(f"{url}/readyz", timeout=5).status_code == 503:
            break
        time.sleep(0.05)
    busy = httpx.get(f"{url}/readyz", timeout=5)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "9"
    assert "0 idle" in busy.json()["detail"]
    # liveness answers while the only worker computes
    health = httpx.get(f"{url}/healthz", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    # saturated: one worker, no queue -> 503 with Retry-After
    refused = httpx.post(f"{url}/v1/impute", json={"data": {"columns": ["a"], "data": [[1.0]]}}, timeout=10)
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "9"
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == "All 1 workers are busy and 0 requests are already waiting; retry later."
    assert "slow" not in result  # all of the above happened while the job ran

    thread.join(timeout=60)
    slow = result["slow"]
    assert slow.status_code == 504
    assert slow.headers["content-type"] == "application/problem+json"
    assert slow.json()["detail"] == "The computation exceeded the time limit of 3 s and was stopped."
    # the worker that ran it is gone (killed and reaped); a fresh one took its place
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(p) for p in workers_before - descendants(proc.pid)):
        time.sleep(0.1)
    gone = {p for p in workers_before if not alive(p)}
    assert len(gone) == 1
    ready = httpx.get(f"{url}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["idle"] == 1
    ok = httpx.post(f"{url}/v1/impute", json={"data": {"columns": ["a", "b"], "data": [[1, 2], [2, None], [3, 5], [4, 3]]}}, timeout=30)
    assert ok.status_code == 200


def test_shutdown_reaps_every_worker() -> None:
    with uvicorn_server({"IMPUTER_MAX_CONCURRENT_JOBS": "2"}) as (url, proc):
        kids = descendants(proc.pid)
        assert len(kids) >= 3  # forkserver + 2 workers
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    # uvicorn re-raises the SIGTERM it handled after a graceful shutdown
    assert proc.returncode in (0, -signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(p) for p in kids):
        time.sleep(0.1)
    assert not any(alive(p) for p in kids)


def test_client_that_gives_up_frees_its_worker() -> None:
    """A client disconnecting mid-job gets its worker killed and replaced (not at 120 s)."""
    with uvicorn_server({"IMPUTER_MAX_CONCURRENT_JOBS": "1", "IMPUTER_TIMEOUT_S": "120"}) as (url, proc):
        before = descendants(proc.pid)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/impute", json=slow_impute_body(), timeout=httpx.Timeout(30, read=1.5))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            gone = {p for p in before if not alive(p)}
            if gone and httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                break
            time.sleep(0.1)
        assert len({p for p in before if not alive(p)}) == 1
        ready = httpx.get(f"{url}/readyz", timeout=5).json()
        assert ready["idle"] == 1 and ready["alive"] == 1
