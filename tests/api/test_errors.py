"""Every error is problem+json with the right status: 401, 404, 406, 413, 415, 422."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.timeout(120)

PROBLEM = "application/problem+json"
GOOD = {"data": {"columns": ["a", "b"], "data": [[1.0, 2.0], [2.0, None], [3.0, 5.0], [4.0, 3.0]]}}


def assert_problem(r: Any, status: int, title: str, detail: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == status
    assert body["title"] == title
    assert set(body) >= {"type", "title", "status", "detail", "instance"}
    if detail is not None:
        assert body["detail"] == detail
    assert "Traceback" not in r.text
    return body


# ---------------------------------------------------------------- 415 / 406
@pytest.mark.parametrize(
    ("path", "content_type", "shown", "accepted"),
    [
        ("/v1/impute", "text/plain", "'text/plain'", "application/json, text/csv, application/vnd.apache.parquet"),
        ("/v1/impute", "application/x-www-form-urlencoded", "'application/x-www-form-urlencoded'",
         "application/json, text/csv, application/vnd.apache.parquet"),
        ("/v1/impute", None, "no Content-Type", "application/json, text/csv, application/vnd.apache.parquet"),
        ("/v1/mixed", "text/csv", "'text/csv'", "application/json"),
        ("/v1/mixed/frame", "text/plain", "'text/plain'", "application/json, text/csv, application/vnd.apache.parquet"),
    ],
)
def test_unsupported_media_type_is_415(
    client: TestClient, path: str, content_type: str | None, shown: str, accepted: str
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    r = client.post(path, content=b"a,b\n1,2\n", headers=headers)
    assert_problem(
        r, 415, "Unsupported Media Type", f"Unsupported media type {shown}; send one of: {accepted}."
    )


@pytest.mark.parametrize("path", ["/v1/impute", "/v1/mixed", "/v1/mixed/frame"])
def test_unacceptable_accept_is_406(client: TestClient, path: str) -> None:
    r = client.post(path, json=GOOD, headers={"accept": "application/xml"})
    body = assert_problem(r, 406, "Not Acceptable")
    assert body["detail"].startswith("Cannot answer Accept: 'application/xml'; available: application/json")


# ---------------------------------------------------------------- 413
def test_declared_length_over_limit_is_413(client: TestClient, settings_override: Callable[..., None]) -> None:
    settings_override(max_body_bytes=100)
    r = client.post("/v1/impute", content=b"x" * 101, headers={"content-type": "text/csv"})
    assert_problem(
        r, 413, "Content Too Large",
        "The request body exceeds the limit of 100 bytes (IMPUTER_MAX_BODY_BYTES).",
    )


def test_chunked_body_over_limit_is_413(client: TestClient, settings_override: Callable[..., None]) -> None:
    settings_override(max_body_bytes=1000)

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        yield b"a,b\n"
        for _ in range(100):
            yield b"1.0,2.0\n" * 10

    r = client.post("/v1/impute", content=chunks(), headers={"content-type": "text/csv"})
    assert "content-length" not in r.request.headers
    assert_problem(
        r, 413, "Content Too Large",
        "The request body exceeds the limit of 1000 bytes (IMPUTER_MAX_BODY_BYTES).",
    )


def test_body_at_the_limit_is_accepted(client: TestClient, settings_override: Callable[..., None]) -> None:
    body = b"a,b\n1,2\n2,\n3,5\n4,3\n"
    settings_override(max_body_bytes=len(body))
    r = client.post("/v1/impute", content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- 401
@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "The X-API-Key header is missing; send a key listed in IMPUTER_API_KEYS."),
        ({"x-api-key": "wrong"}, "The X-API-Key header is not valid; send a key listed in IMPUTER_API_KEYS."),
        ({"x-api-key": "s3cret "}, "The X-API-Key header is not valid; send a key listed in IMPUTER_API_KEYS."),
    ],
)
@pytest.mark.parametrize("path", ["/v1/impute", "/v1/mixed", "/v1/mixed/frame"])
def test_missing_or_wrong_key_is_401(
    client: TestClient, settings_override: Callable[..., None], path: str, headers: dict[str, str], detail: str
) -> None:
    settings_override(api_keys="s3cret, other")
    r = client.post(path, json=GOOD, headers=headers)
    assert_problem(r, 401, "Unauthorized", detail)
    assert r.headers["www-authenticate"] == 'APIKey header="X-API-Key"'


@pytest.mark.parametrize("key", ["s3cret", "other"])
def test_valid_key_passes(client: TestClient, settings_override: Callable[..., None], key: str) -> None:
    settings_override(api_keys="s3cret, other")
    r = client.post("/v1/impute", json=GOOD, headers={"x-api-key": key})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json", "/docs"])
def test_health_and_docs_stay_open(client: TestClient, settings_override: Callable[..., None], path: str) -> None:
    settings_override(api_keys="s3cret")
    assert client.get(path).status_code == 200


def test_auth_is_checked_before_the_body(client: TestClient, settings_override: Callable[..., None]) -> None:
    settings_override(api_keys="s3cret", max_body_bytes=10)
    r = client.post("/v1/impute", content=b"x" * 100, headers={"content-type": "text/csv"})
    assert r.status_code == 401


# ---------------------------------------------------------------- 422 (request validation)
FINITE = "Input should be a finite number (JSON has no NaN or Infinity: send null for a missing value)"


@pytest.mark.parametrize(
    ("body", "loc", "msg"),
    [
        (b'{"data": {"columns": ["a", "b"], "data": [[1, NaN], [2, 3]]}}',
         ["body", "data", "data", 0, 1], FINITE),
        (b'{"data": {"columns": ["a", "b"], "data": [[1, 2], [Infinity, 3]]}}',
         ["body", "data", "data", 1, 0], FINITE),
        (b'{"data": {"columns": ["a", "b"], "data": [[1, 2], [-Infinity, 3]]}}',
         ["body", "data", "data", 1, 0], FINITE),
        (b'{"data": {"columns": ["a", "b"], "data": [[1, 2], [1e999, 3]]}}',
         ["body", "data", "data", 1, 0], FINITE),
        (b'{"data": {"columns": ["a", "b"], "data": [[1, 2], [1' + b"0" * 400 + b', 3]]}}',
         ["body", "data", "data", 1, 0], FINITE),
        (b'{"data": {"columns": ["a", "b"], "data": [[1, 2], [[1], 3]]}}',  # (true is a boolean cell)
         ["body", "data", "data", 1, 0], "Input should be a valid number"),
        (b'{"data": {"columns": ["a", "b"], "data": [[1, 2], [3]]}}',
         ["body", "data"], "Value error, row 1 of 'data' has 1 cells but there are 2 columns"),
        (b'{"data": {"columns": ["a", "a"], "data": [[1, 2]]}}',
         ["body", "data"], "Value error, column names must be unique; 'a' appears twice"),
        (b'{"data": {"columns": ["a"], "index": [1, 2], "data": [[1]]}}',
         ["body", "data"], "Value error, 'index' has 2 labels but 'data' has 1 rows"),
        (b'{"data": {"columns": ["a"], "data": [[1]]}, "option": {}}',
         ["body", "option"], "Extra inputs are not permitted"),
        (b'{"data": {"columns": ["a"], "data": [[1]]}, "options": {"tol": -1}}',
         ["body", "options", "tol"], "Input should be greater than 0"),
        (b'{"data": {"columns": ["a"], "data": [[1]]}, "options": {"max_iter": 0}}',
         ["body", "options", "max_iter"], "Input should be greater than or equal to 1"),
        (b'{"data": {"columns": ["a"], "data": [[1]]}, "options": {"tol": NaN}}',
         ["body", "options", "tol"], FINITE),
        (b'{"data": {"columns": ["a"], "data": [[1]]}, "options": {"accelerate": "yes"}}',
         ["body", "options", "accelerate"], "Input should be a valid boolean"),
        (b'{"options": {}}', ["body", "data"], "Field required"),
        (b'{"data": ', ["body"], "Invalid JSON: EOF while parsing a value at line 1 column 9"),
        (b'[]', ["body"], "Input should be an object"),
    ],
)
def test_invalid_json_body_is_422_with_location(client: TestClient, body: bytes, loc: list[Any], msg: str) -> None:
    r = client.post("/v1/impute", content=body, headers={"content-type": "application/json"})
    problem = assert_problem(r, 422, "Invalid request")
    assert problem["type"] == "/problems/invalid-request"
    assert problem["errors"][0]["loc"] == loc
    assert problem["errors"][0]["msg"] == msg
    assert problem["detail"].startswith(f"{'.'.join(map(str, loc))}: {msg}")


@pytest.mark.parametrize(
    ("query", "loc", "msg"),
    [
        ("max_iter=0", ["query", "max_iter"], "Input should be greater than or equal to 1"),
        ("tol=abc", ["query", "tol"], "Input should be a valid number, unable to parse string as a number"),
        ("ridge=-1", ["query", "ridge"], "Input should be greater than or equal to 0"),
        ("sep=;;", ["query", "sep"], "String should have at most 1 character"),
        ("accelerate=maybe", ["query", "accelerate"], "Input should be a valid boolean, unable to interpret input"),
    ],
)
def test_invalid_query_option_is_422(client: TestClient, query: str, loc: list[str], msg: str) -> None:
    r = client.post(f"/v1/impute?{query}", content=b"a,b\n1,2\n", headers={"content-type": "text/csv"})
    problem = assert_problem(r, 422, "Invalid request")
    assert problem["errors"] == [{"loc": loc, "msg": msg, "type": problem["errors"][0]["type"]}]


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        (b"", "text/csv", "body: the CSV body is empty; send a header row and data rows"),
        (b"a,b\n1,inf\n2,3\n", "text/csv",
         "body: column 'b' holds an infinite value (row 0); send finite numbers, with empty cells for missing values"),
        (b"\xff\xfe\x00a,b\n", "text/csv", None),
        (b"not parquet", "application/vnd.apache.parquet", None),
    ],
)
def test_unreadable_table_is_422(client: TestClient, body: bytes, content_type: str, detail: str | None) -> None:
    r = client.post("/v1/impute", content=body, headers={"content-type": content_type})
    problem = assert_problem(r, 422, "Invalid data or options", detail)
    assert problem["detail"].startswith("body: ")


def test_unknown_index_col_is_422(client: TestClient) -> None:
    r = client.post("/v1/impute?index_col=id", content=b"a,b\n1,2\n", headers={"content-type": "text/csv"})
    assert_problem(
        r, 422, "Invalid data or options", "index_col: 'id' is not a column of the CSV (columns: ['a', 'b'])"
    )


# ---------------------------------------------------------------- routing
def test_unknown_path_and_method_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/v2/nothing"), 404, "Not Found", "Not Found")
    assert_problem(client.get("/v1/impute"), 405, "Method Not Allowed", "Method Not Allowed")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/impute", {"data": {"columns": ["a", "b"], "data": [[1.0, 2.0], [2.0, None], [3.0, 5.0], [4.0, 3.0]]}}),
        ("/v1/diagnostics", {"data": {"columns": ["a", "b"], "data": [[1.0, 2.0], [2.0, None], [3.0, 5.0]]}}),
        ("/v1/diagnostics/disperse", {"data": {"columns": ["a", "b"], "data": [[1.0, 2.0], [2.0, None], [3.0, 5.0],
                                                                              [4.0, 3.0]]}}),
        ("/v1/jobs/impute", {"data": {"columns": ["a", "b"], "data": [[1.0, 2.0], [2.0, None], [3.0, 5.0]]}}),
    ],
)
def test_query_parameters_with_a_json_body_are_refused_by_name(client: TestClient, path: str, body: dict) -> None:
    # the JSON body carries the options: ?ridge=1 would otherwise be dropped without a word
    assert client.post(path, json=body).status_code in (200, 202)
    r = client.post(path, json=body, params={"ridge": "1", "columns": "a"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert [e["loc"] for e in problem["errors"]] == [["query", "ridge"], ["query", "columns"]]
    assert problem["detail"].startswith("query.ridge: not read with a JSON body, whose options go in the body itself")
