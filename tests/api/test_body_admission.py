"""A large upload is read only if the pool would admit its computation (issue 14, hardening
item 2: twelve concurrent 60 MB uploads held the server at 1.6 GB while the pool was busy).

Over raw ASGI, with the app's pool not running (the placeholder before the lifespan): a
body over ``ADMIT_BEFORE_BYTES``, or of unknown length, is a 503 before a single byte of it is
received; a small one is read first (and refused after, at submission).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.body import ADMIT_BEFORE_BYTES
from api.main import create_app
from api.settings import get_settings
from tests.api.conftest import base_settings


def _post(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """(status, receive calls) of a POST whose body is 1 KiB chunks for as long as asked."""
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: base_settings()
    calls = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"type": "http.request", "body": b"a,b\n1,2\n", "more_body": calls < 3}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"text/csv"), *headers],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], calls


@pytest.mark.parametrize("path", ["/v1/impute", "/v1/jobs/diagnostics"])
@pytest.mark.parametrize(
    ("headers", "read_first"),
    [
        ([(b"content-length", str(ADMIT_BEFORE_BYTES + 1).encode())], False),
        ([(b"transfer-encoding", b"chunked")], False),  # unknown length
        ([(b"content-length", b"24")], True),
    ],
    ids=["large", "chunked", "small"],
)
def test_large_uploads_are_admitted_before_they_are_read(
    path: str, headers: list[tuple[bytes, bytes]], read_first: bool
) -> None:
    status, calls = _post(path, headers)
    assert status == 503
    assert (calls > 0) == read_first


def test_large_bodies_in_flight_are_bounded(client: Any, app: Any, settings_override: Any) -> None:
    # the review: twelve concurrent 60 MB uploads held the server at 1.6 GB. Another large
    # upload in flight is simulated by its claim on the counter the server keeps.
    settings_override(max_inflight_body_bytes=3 << 20)
    body = b"a,b\n" + b"1.5,2.5\n" * ((2 << 20) // 8)  # 2 MiB of CSV
    headers = {"content-type": "text/csv"}
    app.state.body_bytes_in_flight = 2 << 20
    try:
        r = client.post("/v1/diagnostics", content=body, headers=headers)
    finally:
        app.state.body_bytes_in_flight = 0
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert r.json()["detail"] == (
        "The server holds 2,097,152 bytes of large request bodies already; this one (2,097,156 bytes) would pass "
        "IMPUTER_MAX_INFLIGHT_BODY_BYTES (3,145,728); retry later."
    )
    r = client.post("/v1/diagnostics", content=body, headers=headers)  # alone, it fits
    assert r.status_code == 200, r.text
    assert app.state.body_bytes_in_flight == 0  # its claim was given back


def test_the_default_bound_is_four_bodies() -> None:
    from api.settings import Settings

    assert Settings(max_body_bytes=1000).max_inflight_body_bytes == 4000


def test_a_job_keeps_its_claim_until_it_has_run(client: Any, app: Any, settings_override: Any) -> None:
    # a job's body stays in memory while the job waits and runs, beyond its 202: its claim too
    import time

    settings_override(max_inflight_body_bytes=3 << 20)
    body = b"a,b\n" + b"1.5,2.5\n" * ((2 << 20) // 8)  # 2 MiB of CSV
    r = client.post("/v1/jobs/diagnostics", content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 202, r.text
    assert app.state.body_bytes_in_flight == len(body)  # after the 202 (parsing 2 MiB takes longer)
    for _ in range(400):
        if client.get(r.headers["location"]).json()["status"] not in ("queued", "running"):
            break
        time.sleep(0.05)
    time.sleep(0.1)  # the watcher's done callback
    assert app.state.body_bytes_in_flight == 0
