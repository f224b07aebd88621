"""POST /v1/pool (Rubin's rules over HTTP) against R's mice, the library, the OpenAPI document.

Reference values: tests/data/mice/pool.json, written by
tests/data/mice/make_pool_fixtures.R (mice 3.15.0). (The worker pool's own tests are
tests/api/test_pool.py.)
"""

from __future__ import annotations

import json
import math
import pickle
import re
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import imputer
from api.schemas.pool import POOL_EXAMPLE, PoolRequest
from api.tasks import PoolTask
from imputer.mi.pool import TABLE_COLUMNS
from tests.api.conftest import DATA

pytestmark = pytest.mark.timeout(120)

PROBLEM = "application/problem+json"
CASES: dict[str, dict[str, Any]] = json.loads((DATA / "mice" / "pool.json").read_text())
#: our column -> (fixture block, mice's name)
MICE = {
    "estimate": ("pooled", "estimate"), "ubar": ("pooled", "ubar"), "b": ("pooled", "b"),
    "t": ("pooled", "t"), "se": ("summary", "std.error"), "df": ("pooled", "df"),
    "riv": ("pooled", "riv"), "lambda": ("pooled", "lambda"), "fmi": ("pooled", "fmi"),
    "statistic": ("summary", "statistic"), "p_value": ("summary", "p.value"),
    "ci_low": ("summary", "conf.low"), "ci_high": ("summary", "conf.high"),
}  # fmt: skip


def _body(name: str, spread: str) -> dict[str, Any]:
    case = CASES[name]
    dfcom = None if case["dfcom"] == "Inf" else case["dfcom"]
    return {
        "terms": case["terms"],
        "estimates": case["estimates"],
        spread: case[spread],
        "dfcom": dfcom,
        "conf_level": case["conf_level"],
    }


def _cases() -> list[tuple[str, str]]:
    return [(n, s) for n in sorted(CASES) for s in ("variances", "covariances") if CASES[n][s] is not None]


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def _response_validator(spec: dict[str, Any]) -> jsonschema.Draft202012Validator:
    ref = spec["paths"]["/v1/pool"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**ref, "components": spec["components"]})


# ------------------------------------------------------------------ answers


@pytest.mark.parametrize(("name", "spread"), _cases())
def test_answer_matches_mice_and_the_library(
    client: TestClient, spec: dict[str, Any], name: str, spread: str
) -> None:
    case = CASES[name]
    r = client.post("/v1/pool", json=_body(name, spread))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    answer = r.json()
    _response_validator(spec).validate(answer)
    # exactly the library's to_dict() on the same numbers
    est = pd.DataFrame(np.array(case["estimates"], dtype=float), columns=case["terms"])
    dfcom = None if case["dfcom"] == "Inf" else case["dfcom"]
    lib = imputer.pool(est, np.array(case[spread], dtype=float), dfcom=dfcom, conf_level=case["conf_level"])
    assert answer == json.loads(json.dumps(lib.to_dict(), allow_nan=False))
    # and mice's numbers (non-finite ones are null on the wire)
    assert answer["terms"] == case["terms"] and answer["m"] == case["m"]
    assert list(answer["table"]) == list(TABLE_COLUMNS)
    for column, (block, mice_name) in MICE.items():
        want = [float(v) for v in case[block][mice_name]]
        got = [answer["table"][column][t] for t in case["terms"]]
        for g, w in zip(got, want):
            if math.isfinite(w):
                assert g == pytest.approx(w, rel=1e-10, abs=0), (column, g, w)
            else:
                assert g is None, column
    if spread == "covariances":
        np.testing.assert_allclose(np.array(answer["cov"]["data"], dtype=float), np.array(case["cov"]), rtol=1e-10)
    else:
        off = ~np.eye(len(case["terms"]), dtype=bool)
        assert all(v is None for v in np.array(answer["cov"]["data"], dtype=object)[off])


def test_terms_default_and_dfcom_null(client: TestClient) -> None:
    body = {"estimates": [[1.0, 2.0], [1.2, 2.5], [0.9, 2.1]], "variances": [[0.1, 0.2]] * 3}
    r = client.post("/v1/pool", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["terms"] == ["0", "1"] and answer["dfcom"] is None and answer["conf_level"] == 0.95
    lib = imputer.pool(np.array(body["estimates"]), np.array(body["variances"]))
    assert answer["table"]["df"] == {"0": lib.table["df"][0], "1": lib.table["df"][1]}


def test_openapi_example_is_valid_and_answers(client: TestClient, spec: dict[str, Any]) -> None:
    op = spec["paths"]["/v1/pool"]["post"]
    content = op["requestBody"]["content"]
    assert set(content) == {"application/json"}
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/PoolRequest"}
    assert content["application/json"]["example"] == POOL_EXAMPLE
    PoolRequest.model_validate_json(json.dumps(POOL_EXAMPLE), strict=True)
    r = client.post("/v1/pool", json=POOL_EXAMPLE)
    assert r.status_code == 200, r.text
    _response_validator(spec).validate(r.json())
    assert spec["components"]["schemas"]["PoolRequest"]["additionalProperties"] is False
    for status in ["401", "406", "413", "415", "422", "500", "503", "504"]:
        assert op["responses"][status]["content"] == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _objects(schema: Any, components: dict[str, Any], seen: set[str]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] not in seen:
            name = ref.rsplit("/", 1)[1]
            seen.add(name)
            out.append((name, components["schemas"][name]))
            out += _objects(components["schemas"][name], components, seen)
        for key, value in schema.items():
            if key != "$ref":
                out += _objects(value, components, seen)
    elif isinstance(schema, list):
        for item in schema:
            out += _objects(item, components, seen)
    return out


def test_response_schema_forbids_unknown_keys_and_requires_the_rest(spec: dict[str, Any]) -> None:
    ref = spec["paths"]["/v1/pool"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    objects = dict(_objects(ref, spec["components"], set()))
    assert {"PoolResponse", "PoolTable", "LabelledMatrix"} <= set(objects)
    assert set(objects["PoolTable"]["properties"]) == set(TABLE_COLUMNS)
    for name, schema in objects.items():
        assert schema.get("additionalProperties") is False, name
        assert set(schema["properties"]) == set(schema.get("required", [])), name


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d: d.update(unexpected=1),
        lambda d: d["table"].pop("lambda"),
        lambda d: d["table"].update(lambda_=d["table"]["df"]),
        lambda d: d.update(m="three"),
    ],
    ids=["extra", "missing_column", "python_name", "wrong_type"],
)
def test_schema_check_fails_on_a_drifting_body(spec: dict[str, Any], spoil: Any) -> None:
    body = json.loads(json.dumps(imputer.pool([1.0, 1.2, 0.9], [0.04, 0.05, 0.045]).to_dict(), allow_nan=False))
    _response_validator(spec).validate(body)
    spoil(body)
    with pytest.raises(jsonschema.ValidationError):
        _response_validator(spec).validate(body)


def test_task_runs_without_http_and_pickles() -> None:
    task = PoolTask(body=json.dumps(POOL_EXAMPLE).encode())
    assert pickle.loads(pickle.dumps(task)) == task
    status, media, body, _ = task.run()
    assert status == 200 and media == "application/json"
    assert json.loads(body)["terms"] == POOL_EXAMPLE["terms"]


# ------------------------------------------------------------------ errors


def _with(**changes: Any) -> bytes:
    body = {**POOL_EXAMPLE, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    ("body", "loc", "msg"),
    [
        (_with(estimates=[[1.0, 2.0]]), ["body", "estimates"], "List should have at least 2 items"),
        (_with(estimates=[[1.0, 2.0], [1.0]]), ["body", "estimates"], "row 1 has 1 entries, row 0 has 2"),
        (_with(estimates=...), ["body", "estimates"], "Field required"),
        (_with(terms=["a"]), ["body", "terms"], "'terms' has 1 names but 'estimates' has 2 columns"),
        (_with(terms=["a", "a"]), ["body", "terms"], "'terms' must be unique"),
        (_with(terms=[]), ["body", "terms"], "List should have at least 1 item"),
        (_with(variances=[[0.1, -0.2], [0.1, 0.2], [0.1, 0.2]]), ["body", "variances", 0, 1], "greater than or equal to 0"),
        (_with(variances=[[0.1, 0.2], [0.1, 0.2]]), ["body", "variances"], r"must be m x k = 3 x 2 like 'estimates', got 2 rows"),
        (_with(variances=[[0.1], [0.1], [0.1]]), ["body", "variances"], r"got 3 rows of \[1\] entries"),
        (_with(variances=...), ["body"], "give exactly one of 'variances' .* and 'covariances'"),
        (_with(covariances=[[[1, 0], [0, 1]]] * 3), ["body"], "give exactly one of"),
        (_with(variances=..., covariances=[[[1, 0], [0, 1]]] * 2), ["body", "covariances"], r"m x k x k = 3 x 2 x 2"),
        (_with(variances=..., covariances=[[[1, 0], [0, 1]], [[1, 0], [0, 1]], [[1]]]), ["body", "covariances"], "matrix 2 has 1 rows"),
        (_with(variances=..., covariances=[[[1, 0], [0, 1]], [[1, 0], [0, -1]], [[1, 0], [0, 1]]]), ["body", "covariances"], r"matrix 1 has a negative variance on its diagonal \(entry \[1\]\[1\]\)"),
        (_with(dfcom=0), ["body", "dfcom"], "greater than 0"),
        (_with(dfcom=-5), ["body", "dfcom"], "greater than 0"),
        (_with(dfcom=True), ["body", "dfcom"], "valid number"),
        (_with(dfcom="97"), ["body", "dfcom"], "valid number"),
        (_with(conf_level=1), ["body", "conf_level"], "less than 1"),
        (_with(conf_level=0), ["body", "conf_level"], "greater than 0"),
        (_with(m=3), ["body", "m"], "Extra inputs are not permitted"),
        (_with(estimates=[["1", 2.0], [1.0, 2.0], [1.0, 2.0]]), ["body", "estimates", 0, 0], "valid number"),
        (_with().replace(b"2.01", b"NaN"), ["body", "estimates", 0, 0], "finite number"),
        (_with().replace(b"97", b"Infinity"), ["body", "dfcom"], "finite number"),
    ],
)  # fmt: skip
def test_invalid_request_is_422_naming_the_field(client: TestClient, body: bytes, loc: list[Any], msg: str) -> None:
    r = client.post("/v1/pool", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    problem = r.json()
    assert problem["title"] == "Invalid request" and problem["instance"] == "/v1/pool"
    assert problem["errors"][0]["loc"] == loc, problem
    assert any(re.search(msg, e["msg"]) for e in problem["errors"]), problem
    assert "Traceback" not in r.text


def test_engine_error_is_422(client: TestClient) -> None:
    r = client.post("/v1/pool", json={"estimates": [[], []], "variances": [[], []]})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert r.json()["title"] == "Invalid data or options"
    assert r.json()["detail"] == "estimates: no term to pool"


def test_media_types(client: TestClient) -> None:
    r = client.post("/v1/pool", content=b"a,b\n1,2\n", headers={"content-type": "text/csv"})
    assert r.status_code == 415 and r.headers["content-type"] == PROBLEM
    assert r.json()["detail"] == "Unsupported media type 'text/csv'; send one of: application/json."
    r = client.post("/v1/pool", json=POOL_EXAMPLE, headers={"accept": "text/csv"})
    assert r.status_code == 406 and r.headers["content-type"] == PROBLEM


def test_readme_curl_example_answers(client: TestClient) -> None:
    """The README's `curl ... /v1/pool` body is the OpenAPI example and answers 200."""
    readme = (DATA.parent.parent / "README.md").read_text()
    match = re.search(r"curl -s -X POST \$B/v1/pool .*? -d '(\{.*?\})'", readme, re.S)
    assert match is not None
    body = json.loads(match.group(1))
    assert body == POOL_EXAMPLE
    r = client.post("/v1/pool", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["terms"] == ["(Intercept)", "x"]
