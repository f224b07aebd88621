"""POST /v1/impute with ``m``: multiple imputation, the same answer as ``imputer.multiple_impute``.

The reference is the library called with the same seed: the JSON answer must equal
:func:`api.tasks.mi_payload` of it (``to_dict()`` without the drawn parameters, the EM
estimate with its standard errors), the CSV answer its ``long()`` table. Every answer is
validated against the OpenAPI document (as tests/api/test_response_schema.py does).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import imputer
from api.routers.impute import MI_EXAMPLE
from api.schemas.impute_mi import ImputeMIResponse
from api.tasks import mi_payload
from tests.api._assert import assert_422_at
from tests.api.conftest import answer_of, split_of

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]


def reference(frame: pd.DataFrame, m: int, **kw: Any) -> dict[str, Any]:
    """What the service must return: the library's answer with the same seed, through JSON, with its warnings."""
    return answer_of(lambda: mi_payload(imputer.multiple_impute(frame, m, **kw)))


@pytest.fixture(scope="module")
def validator(client: TestClient) -> jsonschema.Draft202012Validator:
    spec = client.get("/openapi.json").json()
    schema = spec["paths"]["/v1/impute"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": spec["components"]})


@pytest.mark.parametrize(
    "options",
    [
        {"m": 3, "seed": 1},
        {"m": 2, "seed": 4, "method": "bootstrap"},
        {"m": 4, "seed": 2, "burn_in": 3, "thin": 2},
        {"m": 2, "seed": 9, "columns": ["Ozone", "Solar.R", "Wind", "Temp"], "ridge": 0.5, "tol": 1e-9},
        {"m": 2, "seed": 5, "method": "bootstrap", "ridge": 3.0, "prior": "amelia"},
    ],
    ids=["posterior", "bootstrap", "burn-in-thin", "columns-ridge-tol", "bootstrap-amelia"],
)
def test_json_matches_the_library(
    client: TestClient, validator: jsonschema.Draft202012Validator, airquality: pd.DataFrame, options: dict[str, Any]
) -> None:
    r = client.post("/v1/impute", json={"data": split_of(airquality), "options": options})
    assert r.status_code == 200, r.text
    body = r.json()
    kw = {k: v for k, v in options.items() if k != "m"}
    assert body == reference(airquality, options["m"], **kw)
    validator.validate(body)
    ImputeMIResponse.model_validate(body)
    assert set(body) == set(ImputeMIResponse.model_fields)
    # the long table is the library's long()
    long = imputer.multiple_impute(airquality, options["m"], **kw).long()
    assert body["long"]["columns"] == [".imp", ".id", *airquality.columns]
    assert len(body["long"]["data"]) == options["m"] * len(airquality)
    np.testing.assert_array_equal(np.array(body["long"]["data"], dtype=float), long.to_numpy(dtype=float))
    # the estimates carry their standard errors
    est = body["estimates"]
    assert set(est["se_mean"]) == set(body["columns"])
    assert all(v is not None and v > 0 for v in est["se_mean"].values())
    assert body["method"] == options.get("method", "posterior") and body["m"] == options["m"]


def test_same_seed_same_answer_other_seed_other_draws(client: TestClient, airquality: pd.DataFrame) -> None:
    def ask(seed: int) -> dict[str, Any]:
        r = client.post("/v1/impute", json={"data": split_of(airquality), "options": {"m": 2, "seed": seed}})
        assert r.status_code == 200, r.text
        return r.json()

    a, b, c = ask(5), ask(5), ask(6)
    assert a == b
    assert a["long"]["data"] != c["long"]["data"]
    assert a["estimates"] == c["estimates"]  # the EM estimate does not depend on the seed


def test_csv_body_query_options_csv_answer(client: TestClient, airquality: pd.DataFrame, airquality_csv: bytes) -> None:
    r = client.post(
        "/v1/impute?m=3&seed=7&method=bootstrap", content=airquality_csv,
        headers={"content-type": "text/csv", "accept": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.text.splitlines()[0] == ".imp,.id,Ozone,Solar.R,Wind,Temp,Month,Day"
    back = pd.read_csv(io.StringIO(r.text))
    expected = imputer.multiple_impute(airquality, 3, seed=7, method="bootstrap").long()
    np.testing.assert_array_equal(back.to_numpy(dtype=float), expected.to_numpy(dtype=float))


def test_csv_body_json_answer(
    client: TestClient, validator: jsonschema.Draft202012Validator, airquality: pd.DataFrame, airquality_csv: bytes
) -> None:
    r = client.post("/v1/impute?m=2&seed=3&thin=2", content=airquality_csv, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json() == reference(airquality, 2, seed=3, thin=2)
    validator.validate(r.json())


def test_parquet_body_with_query_options(client: TestClient, airquality: pd.DataFrame) -> None:
    pytest.importorskip("pyarrow")
    buf = io.BytesIO()
    airquality.to_parquet(buf, index=False)
    r = client.post(
        "/v1/impute?m=2&seed=8", content=buf.getvalue(), headers={"content-type": "application/vnd.apache.parquet"}
    )
    assert r.status_code == 200, r.text
    assert r.json() == reference(airquality, 2, seed=8)


def test_text_columns_and_index_in_the_long_table(client: TestClient) -> None:
    body = {
        "data": {
            "columns": ["site", "x", "y"],
            "index": ["r1", "r2", "r3", "r4", "r5", "r6"],
            "data": [["a", 1.0, 2.1], ["b", 2.0, None], ["a", 3.0, 5.9], ["b", None, 8.2], ["a", 5.0, 9.8], ["b", 4.0, 8.1]],
        },
        "options": {"m": 2, "seed": 1},
    }
    r = client.post("/v1/impute", json=body)
    assert r.status_code == 200, r.text
    long = r.json()["long"]
    assert long["columns"] == [".imp", ".id", "site", "x", "y"]
    assert [row[:3] for row in long["data"]] == [[j, i, s] for j in (1, 2) for i, s in
                                                 zip(body["data"]["index"], ["a", "b", "a", "b", "a", "b"])]


def test_the_openapi_example_answers(client: TestClient, validator: jsonschema.Draft202012Validator) -> None:
    spec = client.get("/openapi.json").json()
    examples = spec["paths"]["/v1/impute"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert examples["multiple imputation"]["value"] == MI_EXAMPLE
    r = client.post("/v1/impute", json=MI_EXAMPLE)
    assert r.status_code == 200, r.text
    validator.validate(r.json())
    single = client.post("/v1/impute", json=examples["conditional means"]["value"])
    assert single.status_code == 200 and "completed" in single.json()
    validator.validate(single.json())
    m_schema = spec["components"]["schemas"]["ImputeOptions"]["properties"]["m"]
    assert {"type": "integer", "minimum": 1, "maximum": 100} in m_schema["anyOf"]


def test_readme_curl_example_answers(client: TestClient) -> None:
    """README's `curl` example of multiple imputation: its body answers 200 with 5 imputations."""
    readme = (ROOT / "README.md").read_text()
    bodies = re.findall(r"curl -s -X POST \$B/v1/impute -H 'Content-Type: application/json' -d '(\{[^']*\})'", readme)
    mi_bodies = [json.loads(b) for b in bodies if '"m"' in b]
    assert len(mi_bodies) == 1
    body = mi_bodies[0]
    assert body == MI_EXAMPLE  # the OpenAPI example
    r = client.post("/v1/impute", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["m"] == body["options"]["m"]
    # the CSV example: its query on the shipped file answers the long table
    query = re.search(r'curl -s -X POST "\$B/v1/impute\?(m=[^"]*)" -H .Content-Type: text/csv. -H .Accept: text/csv.', readme)
    assert query is not None
    csv = (ROOT / "examples" / "airquality.csv").read_bytes()
    r = client.post(f"/v1/impute?{query.group(1)}", content=csv, headers={"content-type": "text/csv", "accept": "text/csv"})
    assert r.status_code == 200, r.text
    assert len(r.text.splitlines()) == 1 + 20 * 153


@pytest.mark.parametrize(
    ("options", "loc", "match"),
    [
        ({"m": 0}, ["body", "options", "m"], r"greater than or equal to 1"),
        ({"m": 1.5}, ["body", "options", "m"], r"valid integer"),
        ({"m": "3"}, ["body", "options", "m"], r"valid integer"),
        ({"m": 101}, ["body", "options", "m"], r"less than or equal to 100"),
        ({"m": 2, "method": "x"}, ["body", "options", "method"], r"'posterior' or 'bootstrap'"),
        ({"m": 2, "seed": "a"}, ["body", "options", "seed"], r"valid integer"),
        ({"m": 2, "seed": -1}, ["body", "options", "seed"], r"greater than or equal to 0"),
        ({"m": 2, "thin": 0}, ["body", "options", "thin"], r"greater than or equal to 1"),
        ({"seed": 1}, ["body", "options"], r"seed apply to multiple imputation only: give m"),
        ({"method": "bootstrap", "thin": 2}, ["body", "options"], r"method, thin apply to multiple imputation only"),
        ({"m": 2, "conditional_var": True}, ["body", "options"], r"conditional_var applies to a single imputation"),
        ({"m": 2, "accelerate": False}, ["body", "options"], r"accelerate=false applies to a single imputation"),
    ],
    ids=["m-0", "m-fraction", "m-string", "m-too-many", "method", "seed-text", "seed-negative", "thin-0",
         "seed-without-m", "method-thin-without-m", "conditional-var", "no-accelerate"],
)
def test_bad_options_are_422_naming_the_option(
    client: TestClient, airquality: pd.DataFrame, options: dict[str, Any], loc: list[Any], match: str
) -> None:
    r = client.post("/v1/impute", json={"data": split_of(airquality), "options": options})
    assert_422_at(r, loc, match)


@pytest.mark.parametrize(
    ("query", "loc", "match"),
    [
        ("m=0", ["query", "m"], r"greater than or equal to 1"),
        ("m=1.5", ["query", "m"], r"valid integer"),
        ("m=101", ["query", "m"], r"less than or equal to 100"),
        ("m=2&method=x", ["query", "method"], r"'posterior' or 'bootstrap'"),
        ("m=2&seed=a", ["query", "seed"], r"valid integer"),
        ("seed=3", ["query"], r"seed apply to multiple imputation only: give m"),
    ],
    ids=["m-0", "m-fraction", "m-too-many", "method", "seed-text", "seed-without-m"],
)
def test_bad_query_options_are_422(client: TestClient, airquality_csv: bytes, query: str, loc: list[Any], match: str) -> None:
    r = client.post(f"/v1/impute?{query}", content=airquality_csv, headers={"content-type": "text/csv"})
    assert_422_at(r, loc, match, prefix=True)


@pytest.mark.parametrize(
    ("kind", "where"), [("json", "options.m"), ("csv", "m")], ids=["json-body", "csv-query"]
)
def test_too_many_rows_is_422_naming_m(
    client: TestClient, settings_override: Callable[..., None], airquality: pd.DataFrame, airquality_csv: bytes,
    kind: str, where: str,
) -> None:
    settings_override(max_mi_rows=1000)
    if kind == "json":
        r = client.post("/v1/impute", json={"data": split_of(airquality), "options": {"m": 7}})
    else:
        r = client.post("/v1/impute?m=7", content=airquality_csv, headers={"content-type": "text/csv"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == (
        f"{where}: 7 imputations of 153 rows make a long table of 1,071 rows, above the limit of 1,000 "
        "(IMPUTER_MAX_MI_ROWS); ask for m <= 6"
    )
    ok = client.post("/v1/impute", json={"data": split_of(airquality), "options": {"m": 6, "seed": 1}})
    assert ok.status_code == 200, ok.text


def test_engine_errors_are_422(client: TestClient) -> None:
    body = {"data": {"columns": ["a", "b", "c"], "data": [[1.0, 2.0, None], [2.0, None, 1.0]]}, "options": {"m": 2}}
    r = client.post("/v1/impute", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["title"] == "Invalid data or options"


def test_without_m_the_answer_is_unchanged(client: TestClient, airquality: pd.DataFrame) -> None:
    r = client.post("/v1/impute", json={"data": split_of(airquality)})
    assert r.status_code == 200
    assert r.json() == answer_of(lambda: imputer.impute(airquality).to_dict())


def test_standard_errors_are_null_beyond_the_size_limit() -> None:
    # 90 columns: 4,185 parameters > MAX_PARAMETERS (4,096); the answer still fits the schema
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 90))
    x[rng.random(x.shape) < 0.02] = np.nan
    frame = pd.DataFrame(x, columns=[f"c{i}" for i in range(90)])
    payload = mi_payload(imputer.multiple_impute(frame, 1, seed=1, method="bootstrap", ridge=1.0))
    est = payload["estimates"]
    assert [est[k] for k in ("vcov", "se_mean", "se_cov", "fraction_missing_info", "worst_fraction_missing_info")] == [None] * 5
    ImputeMIResponse.model_validate({**payload, "warnings": []})
    assert len(est["mean"]) == 90


def test_without_a_seed_the_answer_names_one_that_repeats_it(client: TestClient, airquality: pd.DataFrame) -> None:
    first = client.post("/v1/impute", json={"data": split_of(airquality), "options": {"m": 2}})
    assert first.status_code == 200, first.text
    seed = first.json()["seed"]
    assert isinstance(seed, int) and 0 <= seed <= 2**63 - 1
    again = client.post("/v1/impute", json={"data": split_of(airquality), "options": {"m": 2, "seed": seed}})
    assert again.json() == first.json()
