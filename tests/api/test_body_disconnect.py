"""A client that leaves during the upload is not a server error (issue 14, hardening item 7).

Before: starlette's ``ClientDisconnect`` escaped ``read_body`` and was logged twice with
its traceback (the 500 handler and the server). Now: one INFO line, an unsent 499.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from api.main import create_app
from api.settings import get_settings
from tests.api.conftest import base_settings


@pytest.mark.parametrize("path", ["/v1/impute", "/v1/jobs/impute", "/v1/pool"])
def test_upload_aborted_by_the_client(path: str, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: base_settings()
    content_type = b"application/json" if path == "/v1/pool" else b"text/csv"
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"a,b\n1,2\n", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        # a small declared length: read without asking the (here not started) pool first
        "headers": [(b"host", b"testserver"), (b"content-type", content_type), (b"content-length", b"100")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
    }
    with caplog.at_level(logging.INFO):
        asyncio.run(app(scope, receive, send))  # raised ClientDisconnect before
    assert sent[0]["status"] == 499
    assert [r.levelno for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert [r.getMessage() for r in caplog.records if r.name == "api"] == [
        f"client left {path} during the upload (8 bytes received)"
    ]
