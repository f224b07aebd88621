"""POST /v1/impute with ``options.categorical``: the general location model, the same answer as the library.

The reference is ``imputer.impute(frame, categorical=..., means=...)`` with the same options:
the JSON answer equals its ``to_dict()`` (through JSON) and validates against the OpenAPI
document and ``ImputeGlomResponse``; the CSV answer is its completed table (the empty cells
of a listed text column being its missing cells). What the model does not take is a 422.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import imputer
from api.schemas.impute_glom import ImputeGlomResponse
from api.schemas.impute_mi import ImputeMIResponse
from api.tasks import mi_payload
from tests.api._assert import assert_422_at
from tests.api.conftest import answer_of, split_of

pytestmark = pytest.mark.timeout(120)

SIM = Path(__file__).resolve().parents[1] / "data" / "glom" / "sim.csv"


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return pd.read_csv(SIM)


@pytest.fixture(scope="module")
def validator(client: TestClient) -> jsonschema.Draft202012Validator:
    spec = client.get("/openapi.json").json()
    schema = spec["paths"]["/v1/impute"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": spec["components"]})


def _reference(frame: pd.DataFrame, **kw: Any) -> dict[str, Any]:
    return answer_of(lambda: imputer.impute(frame, **kw).to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    "options",
    [{"categorical": ["a", "b"]}, {"categorical": ["a", "b"], "means": "additive", "tol": 1e-9}, {"categorical": "auto"},
     {"categorical": ["a", "b"], "probabilities": "pairwise"}],
    ids=["listed", "additive", "auto", "pairwise"],
)
def test_json_matches_the_library(client: TestClient, validator, sim: pd.DataFrame, options: dict[str, Any]) -> None:
    data = split_of(sim)  # numbers to 10 digits (pandas' to_json): the reference fits what was sent
    r = client.post("/v1/impute", json={"data": data, "options": options})
    assert r.status_code == 200, r.text
    body = r.json()
    sent = pd.DataFrame(data["data"], columns=data["columns"], index=data["index"]).astype({"b": float, "x1": float, "x2": float})
    assert body == _reference(sent, **options)
    validator.validate(body)
    ImputeGlomResponse.model_validate(body)
    assert set(body) == set(ImputeGlomResponse.model_fields)
    assert body["level_probabilities"].keys() == set(body["categorical"])


@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
def test_csv_query_matches_the_library(client: TestClient, sim: pd.DataFrame, accept: str) -> None:
    content = sim.to_csv(index=False).encode()
    r = client.post("/v1/impute?categorical=a&categorical=b&means=saturated", content=content,
                    headers={"content-type": "text/csv", "accept": accept})
    assert r.status_code == 200, r.text
    expected = imputer.impute(sim, categorical=["a", "b"], means="saturated")
    if accept == "text/csv":
        written = pd.read_csv(io.StringIO(r.text))
        assert written["a"].tolist() == expected.completed["a"].tolist()  # "" in the CSV text: missing, filled
        pd.testing.assert_frame_equal(written[["b", "x1", "x2"]], expected.completed[["b", "x1", "x2"]], check_exact=True)
        return
    assert r.json()["loglik"] == pytest.approx(expected.loglik, rel=1e-12)


def test_csv_query_pairwise_probabilities(client: TestClient) -> None:
    sim3 = pd.read_csv(SIM.with_name("sim3.csv"))
    r = client.post("/v1/impute?categorical=a&categorical=b&categorical=c&probabilities=pairwise",
                    content=sim3.to_csv(index=False).encode(), headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    expected = imputer.impute(sim3, categorical=["a", "b", "c"], probabilities="pairwise")
    assert r.json()["probability_model"] == "pairwise"
    assert r.json()["loglik"] == pytest.approx(expected.loglik, rel=1e-12)


@pytest.mark.parametrize(
    ("method", "probabilities"), [("bootstrap", "saturated"), ("posterior", "saturated"), ("posterior", "pairwise")]
)
def test_multiple_imputation_json_matches_the_library(
    client: TestClient, validator, sim: pd.DataFrame, method: str, probabilities: str
) -> None:
    data = split_of(sim)
    options = {"categorical": ["a", "b"], "m": 2, "seed": 3, "method": method, "means": "additive",
               "probabilities": probabilities}
    r = client.post("/v1/impute", json={"data": data, "options": options})
    assert r.status_code == 200, r.text
    body = r.json()
    sent = pd.DataFrame(data["data"], columns=data["columns"], index=data["index"]).astype({"b": float, "x1": float, "x2": float})
    want = answer_of(lambda: mi_payload(imputer.multiple_impute(
        sent, m=2, seed=3, method=method, categorical=["a", "b"], means="additive", probabilities=probabilities,
    )), allow_nan=False)
    assert body == want
    assert body["model"] == "glom" and body["estimates"]["probability_model"] == probabilities
    validator.validate(body)
    ImputeMIResponse.model_validate(body)


def test_multiple_imputation_csv_draws_the_empty_text_cells(client: TestClient, sim: pd.DataFrame) -> None:
    r = client.post("/v1/impute?categorical=a&categorical=b&m=2&seed=5", content=sim.to_csv(index=False).encode(),
                    headers={"content-type": "text/csv", "accept": "text/csv"})
    assert r.status_code == 200, r.text
    written = pd.read_csv(io.StringIO(r.text))
    expected = imputer.multiple_impute(sim, m=2, seed=5, categorical=["a", "b"]).long()
    assert written["a"].tolist() == expected["a"].tolist()  # "" in the CSV text: missing, drawn
    assert not written[["a", "b", "x1", "x2"]].isna().any().any()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"categorical": ["a"], "model": "t"}, "not available with model"),
        ({"categorical": ["a"], "m": 2, "burn_in": 3}, "burn_in applies to method='posterior' only"),
        ({"categorical": ["a"], "ridge": 1.0, "columns": ["x1"]}, "not available with columns, ridge"),
        ({"categorical": ["a"], "conditional_var": True}, "not available with conditional_var"),
        ({"means": "additive"}, "means applies with categorical only"),
        ({"probabilities": "pairwise"}, "probabilities applies with categorical only"),
    ],
)
def test_what_the_model_does_not_take_is_a_422(client: TestClient, sim: pd.DataFrame, options: dict[str, Any], match: str) -> None:
    r = client.post("/v1/impute", json={"data": split_of(sim), "options": options})
    assert_422_at(r, ["body", "options"], match)


def test_library_errors_name_the_column(client: TestClient, sim: pd.DataFrame) -> None:
    r = client.post("/v1/impute", json={"data": split_of(sim), "options": {"categorical": ["nope"]}})
    assert r.status_code == 422, r.text
    assert "categorical: unknown column 'nope'" in r.text


def _flags() -> pd.DataFrame:
    """A boolean answer and a text group, both with gaps, and a numeric column depending on them."""
    flag = [True, False, None, True, False, True, None, False, True, False, True, False]
    group = ["a", "b", "a", None, "b", "a", "b", "a", None, "b", "a", "b"]
    x = [1.0, 2.1, 1.2, 0.9, None, 1.1, 2.2, 1.9, 1.0, 2.0, None, 2.3]
    return pd.DataFrame({"flag": pd.array(flag, dtype="boolean"), "group": pd.array(group, dtype="object"), "x": x})


def test_json_booleans_are_a_categorical_column(client: TestClient) -> None:
    # true/false cells (with nulls) travel as a nullable boolean column: filled with a level, never 0.37
    frame = _flags()
    rows = [[None if pd.isna(v) else v for v in row] for row in frame.astype(object).itertuples(index=False)]
    body = {"data": {"columns": list(frame.columns), "data": rows}, "options": {"categorical": ["flag", "group"]}}
    r = client.post("/v1/impute", json=body)
    assert r.status_code == 200, r.text
    out = r.json()["completed"]["data"]
    ref = imputer.impute(frame, categorical=["flag", "group"]).completed
    assert [row[0] for row in out] == [bool(v) for v in ref["flag"]]
    assert all(type(row[0]) is bool for row in out)
    assert [row[0] for row, given in zip(out, rows) if given[0] is not None] == [g[0] for g in rows if g[0] is not None]


@pytest.mark.parametrize(
    ("cells", "match"),
    [
        ([1.0, True, 2.0, 3.0, 4.0], r"column 'b' holds numbers, but 1 of its 5 non-null cells is not a number: true \(row 1\)"),
        ([False, 1, 2, None, True, 3], r"column 'b' holds numbers, but 2 of its 5 non-null cells are not a number: false \(row 0\); true \(row 4\)"),
    ],
)
def test_booleans_among_numbers_are_named(client: TestClient, cells: list[Any], match: str) -> None:
    rows = [[float(i), c] for i, c in enumerate(cells)]
    r = client.post("/v1/impute", json={"data": {"columns": ["a", "b"], "data": rows}})
    assert r.status_code == 422, r.text
    assert re.search(match, r.json()["detail"]), r.text
