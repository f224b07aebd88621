"""Small request habits that were refused or misreported (issue 14, hardening items 9 and 11):
a UTF-8 byte-order mark before a JSON body, ``HEAD /healthz``, an empty ``index_col``."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.api._assert import assert_422_at

BODY = {"data": {"columns": ["a", "b"], "data": [[1.0, 2.0], [2.0, None], [3.0, 5.0], [4.0, 1.0]]}}


@pytest.mark.parametrize("route", ["/v1/impute", "/v1/diagnostics"])
def test_json_body_with_a_byte_order_mark(client: TestClient, route: str) -> None:
    raw = json.dumps(BODY).encode()
    plain = client.post(route, content=raw, headers={"content-type": "application/json"})
    marked = client.post(route, content=b"\xef\xbb\xbf" + raw, headers={"content-type": "application/json"})
    assert marked.status_code == 200, marked.text
    assert marked.json() == plain.json()


def test_head_healthz(client: TestClient) -> None:
    r = client.head("/healthz")
    assert r.status_code == 200
    assert r.content == b""


def test_empty_index_col_is_422_at_the_parameter(client: TestClient) -> None:
    r = client.post("/v1/impute?index_col=", content=b"a,b\n1,2\n2,\n3,5\n", headers={"content-type": "text/csv"})
    assert_422_at(r, ["query", "index_col"], "at least 1 character")


@pytest.mark.parametrize("path", ["/readyz", "/"])
def test_head_wherever_get(client: TestClient, path: str) -> None:
    # RFC 9110: HEAD is GET without the body (was 405); the same status and headers
    get, head = client.get(path), client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length"):
        assert head.headers[name] == get.headers[name], name
