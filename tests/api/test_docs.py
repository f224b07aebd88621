"""/docs and /redoc work without internet: every script and stylesheet they load is served
by the app itself (issue 14), and they need no API key."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_pages_load_only_local_assets(client: TestClient, page: str) -> None:
    r = client.get(page)
    assert r.status_code == 200
    html = r.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html) + re.findall(r"url: ?['\"]([^'\"]+)['\"]", html)
    assert urls, html
    assert not [u for u in urls if u.startswith(("http:", "https:", "//"))], urls
    for url in urls:
        got = client.get(url)
        assert got.status_code == 200, url
        assert len(got.content) > 100, url


def test_assets_are_the_real_scripts(client: TestClient) -> None:
    js = client.get("/static/docs/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith(("application/javascript", "text/javascript"))
    assert b"SwaggerUIBundle" in js.content
    assert b"Redoc" in client.get("/static/docs/redoc.standalone.js").content


def test_docs_need_no_key(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.settings import Settings, get_settings

    client.app.dependency_overrides[get_settings] = lambda: Settings(api_keys="secret")  # type: ignore[attr-defined]
    try:
        assert client.get("/docs").status_code == 200
        assert client.get("/redoc").status_code == 200
        assert client.post("/v1/impute", json={}).status_code == 401
    finally:
        client.app.dependency_overrides.pop(get_settings, None)  # type: ignore[attr-defined]
