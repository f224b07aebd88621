"""POST /v1/mixed/frame with the table as CSV or Parquet (raw, or one file uploaded as a form) and
the model in the query: the same answers as the JSON body (which the lme4 tests of
tests/api/test_mixed.py and test_mixed_formula.py check), and errors at the query's fields."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.api._assert import assert_422_at
from tests.api.conftest import DATA, split_of

pytestmark = pytest.mark.timeout(120)

_SLEEP = pd.read_csv(DATA / "sleepstudy.csv")


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def _send(client: TestClient, how: str, frame: pd.DataFrame, params: dict[str, Any]) -> Any:
    if how == "csv":
        return client.post("/v1/mixed/frame", params=params, content=_csv(frame), headers={"content-type": "text/csv"})
    if how == "parquet":
        return client.post("/v1/mixed/frame", params=params, content=_parquet(frame),
                           headers={"content-type": "application/vnd.apache.parquet"})
    return client.post("/v1/mixed/frame", params=params, files={"file": ("table.csv", _csv(frame), "text/csv")})


_MODELS = {
    "formula": ({"formula": "Reaction ~ Days + (Days | Subject)"}, {"formula": "Reaction ~ Days + (Days | Subject)"}),
    "keywords": ({"response": "Reaction", "fixed": "Days", "random": "(Days | Subject)", "method": "ML", "tol": 1e-9},
                 {"response": "Reaction", "fixed": ["Days"], "random": ["(Days | Subject)"],
                  "options": {"method": "ML", "tol": 1e-9}}),
}


@pytest.mark.parametrize("how", ["csv", "parquet", "upload"])
@pytest.mark.parametrize("model", sorted(_MODELS))
def test_table_bodies_answer_as_the_json_body(client: TestClient, how: str, model: str) -> None:
    params, body = _MODELS[model]
    ref = client.post("/v1/mixed/frame", json={"data": split_of(_SLEEP), **body})
    assert ref.status_code == 200, ref.text
    r = _send(client, how, _SLEEP, params)
    assert r.status_code == 200, r.text
    assert r.json() == ref.json()


def test_multitrait_by_repeated_response(client: TestClient) -> None:
    rows = [["A", 49.4, 20.1], ["A", 50.1, 19.7], ["A", 49.8, None], ["B", 52.2, 20.2], ["B", 52.9, 20.1],
            ["B", 52.6, 20.6], ["C", 52.3, 20.6], ["C", None, 19.6], ["C", 53.7, 20.9], ["D", 49.6, 20.8],
            ["D", 51.2, 21.3], ["D", 50.7, 20.9], ["E", 50.3, 19.1], ["E", 50.9, None], ["E", 51.7, 20.3]]
    frame = pd.DataFrame(rows, columns=["variety", "yield", "height"])
    ref = client.post("/v1/mixed/frame", json={"data": split_of(frame), "response": ["yield", "height"],
                                              "random": ["variety"]})
    assert ref.status_code == 200, ref.text
    r = _send(client, "csv", frame, {"response": ["yield", "height"], "random": "variety"})
    assert r.status_code == 200, r.text
    assert r.json() == ref.json() and r.json()["covariances"]["variety"]["columns"] == ["yield", "height"]


def test_contrasts_as_a_json_object_in_the_query(client: TestClient) -> None:
    frame = pd.read_csv(DATA / "lme4" / "cake.csv")
    formula = "angle ~ recipe * temperature + (1 | recipe:replicate)"
    ref = client.post("/v1/mixed/frame", json={"data": split_of(frame), "formula": formula,
                                              "contrasts": {"temperature": "poly"}})
    assert ref.status_code == 200, ref.text
    r = _send(client, "csv", frame, {"formula": formula, "contrasts": '{"temperature": "poly"}'})
    assert r.status_code == 200, r.text
    assert r.json() == ref.json() and r.json()["contrasts"]["temperature"] == "poly"


@pytest.mark.parametrize(
    ("params", "loc", "match"),
    [
        ({}, ["query"], r"^a CSV or Parquet table needs the model in the query: 'formula', or 'response' and 'random'$"),
        ({"response": "Reaction"}, ["query"], r"needs the model in the query"),
        ({"formula": "Reaction ~ Days + (1 | Subject)", "random": "Subject"}, ["query"],
         r"^give either 'formula' or \['random'\], not both$"),
        ({"formula": "Reaction ~ (1 | Subject)", "method": "REMLX"}, ["query", "method"], r"'REML' or 'ML'"),
        ({"formula": "Reaction ~ (1 | Subject)", "contrasts": "{not json"}, ["query", "contrasts"], r"valid dictionary"),
        ({"formula": "Reaction ~ (1 | Subject)", "contrasts": '{"Days": "helmert"}'}, ["query", "contrasts", "Days"],
         r"'treatment' or 'poly'"),
        ({"formula": "Reaction ~ (1 | Subject)", "max_iter": 0}, ["query", "max_iter"], r"greater than or equal to 1"),
    ],
    ids=["nothing", "no-random", "both", "method", "contrasts-text", "contrasts-value", "max-iter"],
)
def test_a_bad_query_is_a_422_at_its_field(client: TestClient, params: dict[str, Any], loc: list[Any], match: str) -> None:
    assert_422_at(_send(client, "csv", _SLEEP, params), loc, match)


def test_a_column_the_data_lack_is_named(client: TestClient) -> None:
    r = _send(client, "upload", _SLEEP, {"formula": "Reaction ~ Days + (1 | Nope)"})
    assert r.status_code == 422, r.text
    assert "column 'Nope' is not in data" in r.json()["detail"]


def test_a_query_with_a_json_body_is_refused_not_ignored(client: TestClient) -> None:
    body = {"data": split_of(_SLEEP), "formula": "Reaction ~ Days + (1 | Subject)"}
    assert client.post("/v1/mixed/frame", json=body).json()["method"] == "REML"
    r = client.post("/v1/mixed/frame", json=body, params={"method": "ML"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"].startswith("query.method: not read with a JSON body")


def test_the_job_api_takes_the_same_tables(client: TestClient) -> None:
    r = client.post("/v1/jobs/mixed/frame", params={"formula": "Reaction ~ Days + (1 | Subject)"},
                    content=_csv(_SLEEP), headers={"content-type": "text/csv"})
    assert r.status_code == 202, r.text
    assert r.json()["kind"] == "mixed/frame"
