"""POST /v1/diagnostics in JSON, CSV and Parquet: the library's numbers, the declared schema.

Every answer is compared with the library on the same table
(``imputer.diagnostics._overview.overview(frame, columns).to_dict()``, i.e.
:func:`imputer.patterns` and :func:`imputer.mcar_test`, both tested against independent
computations in tests/imputer/diagnostics/), and validated with ``jsonschema`` against
the response schema of the served /openapi.json, as tests/api/test_response_schema.py
does for the other endpoints.
"""

from __future__ import annotations

import io
import json
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.schemas.diagnostics import DiagnosticsResponse
from imputer.diagnostics._overview import overview
from tests.api.conftest import split_of
from tests.api.test_response_schema import _objects

pytestmark = pytest.mark.timeout(120)
PATH = "/v1/diagnostics"


def reference(frame: pd.DataFrame, columns: list[str] | None = None) -> dict[str, Any]:
    """What the service must return: the library's overview, through JSON."""
    return json.loads(json.dumps(overview(frame, columns).to_dict(), allow_nan=False))


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def _validator(spec: dict[str, Any]) -> jsonschema.Draft202012Validator:
    ref = spec["paths"][PATH]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**ref, "components": spec["components"]})


def test_json_split_matches_the_library(client: TestClient, airquality: pd.DataFrame) -> None:
    r = client.post(PATH, json={"data": split_of(airquality)})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body == reference(airquality)
    assert body["mcar"]["statistic"] == pytest.approx(35.106175, abs=5e-7) and body["mcar"]["df"] == 14
    assert body["patterns"]["table"]["data"][1] == [0, 1, 1, 1, 1, 1, 35, 1]
    assert set(body) == set(DiagnosticsResponse.model_fields)


@pytest.mark.parametrize("columns", [["Ozone", "Solar.R"], ["Temp", "Ozone", "Wind"]])
def test_columns_option(client: TestClient, airquality: pd.DataFrame, columns: list[str]) -> None:
    r = client.post(PATH, json={"data": split_of(airquality), "options": {"columns": columns}})
    assert r.status_code == 200, r.text
    assert r.json() == reference(airquality, columns)
    assert r.json()["columns"] == columns


def test_csv_body_with_parse_and_query_options(client: TestClient, airquality: pd.DataFrame) -> None:
    text = airquality.to_csv(sep=";", decimal=",", na_rep="-", index_label="row")
    r = client.post(
        f"{PATH}?sep=;&decimal=,&na_values=-&index_col=row&columns=Ozone&columns=Wind",
        content=text.encode(),
        headers={"content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == reference(airquality, ["Ozone", "Wind"])


def test_csv_body(client: TestClient, airquality: pd.DataFrame, airquality_csv: bytes) -> None:
    r = client.post(PATH, content=airquality_csv, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json() == reference(airquality)


def test_parquet_body(client: TestClient, airquality: pd.DataFrame) -> None:
    buf = io.BytesIO()
    airquality.assign(station="s").to_parquet(buf)
    r = client.post(PATH, content=buf.getvalue(), headers={"content-type": "application/vnd.apache.parquet"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == reference(airquality.assign(station="s"))
    assert body["passthrough"] == ["station"]


def test_text_columns_are_passed_through(client: TestClient) -> None:
    data = {"columns": ["site", "x", "y"], "data": [["a", 1.0, 2.1], ["b", 2.0, None], ["a", 3.0, 5.9], ["b", None, 8.2], ["a", 5.0, 9.8]]}
    r = client.post(PATH, json={"data": data})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["columns"] == ["x", "y"] and out["passthrough"] == ["site"]
    assert out["missing"] == [{"column": "x", "n_missing": 1, "share": 0.2}, {"column": "y", "n_missing": 1, "share": 0.2}]


@pytest.mark.parametrize(
    "data, mcar_error",
    [
        ({"columns": ["a", "b"], "data": [[1.0, None], [2.0, None], [3.0, None]]}, "column 'b' has no observed value"),
        ({"columns": ["a", "b"], "data": [[1.0, 2.0], [2.0, 1.0], [3.0, 7.0]]}, None),
        ({"columns": ["a"], "data": [[1.0], [None], [4.0], [2.0]]}, None),
    ],
    ids=["all-missing-column", "no-missing-cell", "one-column"],
)
def test_patterns_without_a_test_are_a_result(
    client: TestClient, spec: dict[str, Any], data: dict[str, Any], mcar_error: str | None
) -> None:
    r = client.post(PATH, json={"data": data})
    assert r.status_code == 200, r.text
    body = r.json()
    _validator(spec).validate(body)
    assert body["patterns"]["n_rows"] == len(data["data"])
    if mcar_error is None:
        assert body["mcar"]["df"] == 0 and body["mcar"]["p_value"] is None and body["mcar_error"] is None
    else:
        assert body["mcar"] is None and body["mcar_error"].startswith(mcar_error)


@pytest.mark.parametrize(
    "body, status, detail",
    [
        ({"data": {"columns": ["a", "b"], "data": [[1.0, 2.0], [2.0, None]]}, "options": {"columns": ["a", "zz"]}},
         422, "columns: unknown column 'zz'"),
        ({"data": {"columns": ["s"], "data": [["x"], ["y"]]}}, 422, "data has no numeric column to model"),
        ({"data": {"columns": ["a", "s"], "data": [[1.0, "x"], [2.0, "y"]]}, "options": {"columns": ["s"]}},
         422, "column 's' has non-numeric dtype"),
        ({"data": {"columns": ["a"], "data": [[1.0]]}, "options": {"tol": 1}}, 422, "options.tol"),
        ({"data": {"columns": ["a", "b"], "data": [[1.0]]}}, 422, "row 0 of 'data' has 1 cells but there are 2 columns"),
    ],
)
def test_errors_are_problem_details(client: TestClient, body: dict[str, Any], status: int, detail: str) -> None:
    r = client.post(PATH, json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["instance"] == PATH
    assert detail in problem["detail"]


def test_column_limit(client: TestClient, settings_override: Any) -> None:
    settings_override(max_columns=2)
    data = {"columns": ["a", "b", "c"], "data": [[1.0, 2.0, 3.0], [2.0, None, 1.0], [4.0, 1.0, None]]}
    r = client.post(PATH, json={"data": data})
    assert r.status_code == 422 and "exceed the limit of 2" in r.json()["detail"]
    assert client.post(PATH, json={"data": data, "options": {"columns": ["a", "b"]}}).status_code == 200


def test_only_json_answers(client: TestClient, airquality_csv: bytes) -> None:
    r = client.post(PATH, content=airquality_csv, headers={"content-type": "text/csv", "accept": "text/csv"})
    assert r.status_code == 406
    assert r.headers["content-type"] == "application/problem+json"
    r = client.post(PATH, content=b"x", headers={"content-type": "application/xml"})
    assert r.status_code == 415


def test_schema_forbids_unknown_keys_and_requires_the_rest(spec: dict[str, Any]) -> None:
    ref = spec["paths"][PATH]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    objects = dict(_objects(ref, spec["components"], set()))
    assert {"DiagnosticsResponse", "PatternTableOut", "MCARTestOut", "ColumnMissing"} <= set(objects)
    for name, schema in objects.items():
        if "properties" in schema:
            assert schema.get("additionalProperties") is False, name
            assert set(schema["properties"]) == set(schema.get("required", [])), name


def _payloads() -> list[tuple[str, dict[str, Any]]]:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 4))
    x[rng.random(x.shape) < 0.25] = np.nan
    x[:2] = np.nan
    many = pd.DataFrame(x, columns=list("abcd")).assign(note="n")
    return [
        ("many", reference(many)),
        ("untestable", reference(pd.DataFrame({"a": [1.0, 2.0, 4.0]}))),
        ("no-test", reference(pd.DataFrame({"a": [1.0, 2.0], "b": [np.nan, 1.0]}))),
    ]


def test_every_kind_of_answer_fits_the_schema(spec: dict[str, Any]) -> None:
    validator = _validator(spec)
    payloads = _payloads()
    for name, payload in payloads:
        assert not [e.message for e in validator.iter_errors(payload)], name
    assert payloads[0][1]["mcar"]["n_rows_excluded"] == 2 and payloads[2][1]["mcar"] is None


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d: d.update(unexpected=1),
        lambda d: d["mcar"].update(unexpected=1),
        lambda d: d["patterns"]["table"].update(unexpected=1),
        lambda d: d.pop("mcar_error"),
        lambda d: d["mcar"].update(df="many"),
        lambda d: d["missing"][0].pop("share"),
    ],
    ids=["extra", "extra-in-mcar", "extra-in-table", "missing", "wrong-type", "missing-nested"],
)
def test_the_check_fails_on_a_body_that_drifts(spec: dict[str, Any], spoil: Any) -> None:
    body = _payloads()[0][1]
    spoil(body)
    with pytest.raises(jsonschema.ValidationError):
        _validator(spec).validate(body)


def test_openapi_documents_the_endpoint(spec: dict[str, Any]) -> None:
    op = spec["paths"][PATH]["post"]
    content = op["requestBody"]["content"]
    assert set(content) == {"application/json", "text/csv", "application/vnd.apache.parquet", "multipart/form-data"}
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/DiagnosticsRequest"}
    assert "DiagnosticsRequest" in spec["components"]["schemas"]
    example = content["application/json"]["example"]
    assert {"200", "415", "422"} <= set(op["responses"])
    assert op["responses"]["422"]["content"].keys() == {"application/problem+json"}
    assert example["data"]["columns"] == ["Ozone", "Solar.R", "Wind"]


def test_the_openapi_examples_are_accepted(client: TestClient, spec: dict[str, Any]) -> None:
    content = spec["paths"][PATH]["post"]["requestBody"]["content"]
    r = client.post(PATH, json=content["application/json"]["example"])
    assert r.status_code == 200, r.text
    r2 = client.post(PATH, content=content["text/csv"]["example"].encode(), headers={"content-type": "text/csv"})
    assert r2.status_code == 200, r2.text
    assert r.json() == r2.json()
