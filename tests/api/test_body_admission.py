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
