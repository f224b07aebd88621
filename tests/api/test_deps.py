"""The query rules of api/deps.py: an unknown (misspelled) query parameter is a 422 naming it on every
route that takes options, and the JSON-only routes (/v1/pool, /v1/mixed) refuse any query parameter,
as the table routes refuse one sent with a JSON body; the parameters the routes read still work."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.routers.mixed import _MATRIX_EXAMPLE
from api.schemas.pool import POOL_EXAMPLE
from tests.api._assert import assert_422_at

pytestmark = pytest.mark.timeout(120)

CSV = b"a,b,g\n1.5,2,x\n,3,x\n2.5,,y\n3,4.5,y\n4,5,z\n5,6.5,z\n"
MIXED = {"formula": "b ~ a + (1 | g)"}


def _csv(client: TestClient, path: str, params: dict[str, Any], upload: bool = False) -> Any:
    if upload:
        return client.post(path, params=params, files={"file": ("t.csv", CSV, "text/csv")})
    return client.post(path, params=params, content=CSV, headers={"content-type": "text/csv"})


@pytest.mark.parametrize(
    ("path", "params", "typo", "msg"),
    [
        ("/v1/impute", {}, "rigde", r"^unknown query parameter \(did you mean 'ridge'\?\)$"),
        ("/v1/impute", {}, "max_iters", r"^unknown query parameter \(did you mean 'max_iter'\?\)$"),
        ("/v1/jobs/impute", {}, "rigde", r"^unknown query parameter \(did you mean 'ridge'\?\)$"),
        ("/v1/diagnostics", {}, "column", r"^unknown query parameter \(did you mean 'columns'\?\)$"),
        ("/v1/jobs/diagnostics", {}, "column", r"^unknown query parameter \(did you mean 'columns'\?\)$"),
        ("/v1/diagnostics/disperse", {}, "start", r"^unknown query parameter \(did you mean 'starts'\?\)$"),
        ("/v1/mixed/frame", MIXED, "methd", r"^unknown query parameter \(did you mean 'method'\?\)$"),
        ("/v1/jobs/mixed/frame", MIXED, "methd", r"^unknown query parameter \(did you mean 'method'\?\)$"),
        ("/v1/impute", {}, "zzz", r"^unknown query parameter; this endpoint reads sep, decimal, na_values, index_col, "
                                  r"passthrough, model, columns, tol, max_iter, ridge, "),
    ],
)
@pytest.mark.parametrize("upload", [False, True], ids=["csv", "upload"])
def test_unknown_query_parameter_is_422_naming_it(
    client: TestClient, path: str, params: dict, typo: str, msg: str, upload: bool
) -> None:
    r = _csv(client, path, {**params, typo: "5"}, upload)
    assert_422_at(r, ["query", typo], msg)
    assert r.json()["detail"].startswith(f"query.{typo}: unknown query parameter")


def test_every_unknown_parameter_is_named_once(client: TestClient) -> None:
    r = client.post("/v1/impute?rigde=5&foo=1&foo=2&ridge=1", content=CSV, headers={"content-type": "text/csv"})
    assert r.status_code == 422, r.text
    assert [e["loc"] for e in r.json()["errors"]] == [["query", "rigde"], ["query", "foo"]]


@pytest.mark.parametrize(
    ("path", "body", "params"),
    [
        ("/v1/pool", POOL_EXAMPLE, {"dfcom": "3"}),
        ("/v1/jobs/pool", POOL_EXAMPLE, {"dfcom": "3"}),
        ("/v1/mixed", _MATRIX_EXAMPLE, {"method": "ML"}),
        ("/v1/jobs/mixed", _MATRIX_EXAMPLE, {"method": "ML"}),
    ],
)
def test_json_only_routes_refuse_query_parameters(client: TestClient, path: str, body: dict, params: dict) -> None:
    assert client.post(path, json=body).status_code in (200, 202)
    r = client.post(path, json=body, params={**params, "x": "1"})
    name = next(iter(params))
    assert_422_at(r, ["query", name], r"^not read: this endpoint takes no query parameters; its options go in the "
                                      r"JSON body$")
    assert [e["loc"] for e in r.json()["errors"]] == [["query", name], ["query", "x"]]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/impute", {"ridge": "1", "columns": ["a", "b"], "passthrough": "g", "sep": ",", "decimal": ".",
                        "na_values": "-99", "max_iter": "500", "tol": "1e-8", "conditional_var": "true"}),
        ("/v1/diagnostics", {"columns": ["a", "b"], "na_values": "-99"}),
        ("/v1/diagnostics/disperse", {"starts": "2", "seed": "1", "columns": ["a", "b"]}),
        ("/v1/mixed/frame", {**MIXED, "method": "ML", "tol": "1e-9", "na_action": "drop"}),
    ],
)
def test_the_parameters_a_route_reads_still_work(client: TestClient, path: str, params: dict) -> None:
    r = _csv(client, path, params)
    assert r.status_code == 200, r.text
