"""POST /v1/impute in JSON, CSV and Parquet: same numbers as imputer.impute."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import imputer
from api.formats import frame_from_split
from api.schemas.common import SplitFrame
from api.schemas.impute import ImputeResponse
from tests.api.conftest import answer_of, split_of

pytestmark = pytest.mark.timeout(120)


def reference(frame: pd.DataFrame, conditional_var: bool = False, **kw: Any) -> dict[str, Any]:
    """What the service must return: the engine's to_dict, through JSON, with its warnings."""
    return answer_of(lambda: imputer.impute(frame, **kw).to_dict(conditional_var=conditional_var))


def test_json_split_matches_the_engine(client: TestClient, airquality: pd.DataFrame) -> None:
    r = client.post("/v1/impute", json={"data": split_of(airquality)})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body == reference(airquality)
    ImputeResponse.model_validate(body)
    assert "conditional_var" not in body
    assert body["n_missing"] == {"Ozone": 37, "Solar.R": 7, "Wind": 0, "Temp": 0, "Month": 0, "Day": 0}
    completed = np.array(body["completed"]["data"], dtype=float)
    assert np.isfinite(completed).all()
    observed = airquality.notna().to_numpy()
    np.testing.assert_array_equal(completed[observed], airquality.to_numpy(dtype=float)[observed])


def test_response_has_exactly_the_engine_keys(client: TestClient, airquality: pd.DataFrame) -> None:
    r = client.post("/v1/impute", json={"data": split_of(airquality), "options": {"conditional_var": True}})
    expected = reference(airquality, conditional_var=True)
    assert set(r.json()) == set(expected) == set(ImputeResponse.model_fields)
    assert r.json()["conditional_var"] == expected["conditional_var"]


@pytest.mark.parametrize(
    "options",
    [
        {"columns": ["Ozone", "Solar.R", "Wind", "Temp"]},
        {"tol": 1e-10, "max_iter": 5000, "accelerate": False},
        {"ridge": 0.5},
        {"ridge": 5.0, "prior": "amelia"},
        {"max_iter": 2},
    ],
)
def test_options_reach_the_engine(client: TestClient, airquality: pd.DataFrame, options: dict[str, Any]) -> None:
    r = client.post("/v1/impute", json={"data": split_of(airquality), "options": options})
    assert r.status_code == 200, r.text
    assert r.json() == reference(airquality, **options)


def test_not_converged_is_a_result_not_an_error(client: TestClient, airquality: pd.DataFrame) -> None:
    r = client.post("/v1/impute", json={"data": split_of(airquality), "options": {"max_iter": 1}})
    assert r.status_code == 200
    assert r.json()["converged"] is False
    assert r.json()["n_iter"] == 1


def test_index_and_text_columns_pass_through(client: TestClient) -> None:
    body = {
        "data": {
            "columns": ["site", "x", "y"],
            "index": ["r1", "r2", "r3", "r4", "r5"],
            "data": [["a", 1.0, 2.1], ["b", 2.0, None], ["a", 3.0, 5.9], ["b", None, 8.2], ["a", 5.0, 9.8]],
        },
        "options": {"columns": ["x", "y"]},
    }
    r = client.post("/v1/impute", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["columns"] == ["x", "y"]
    assert out["completed"]["index"] == ["r1", "r2", "r3", "r4", "r5"]
    assert [row[0] for row in out["completed"]["data"]] == ["a", "b", "a", "b", "a"]
    assert all(v is not None for row in out["completed"]["data"] for v in row)


def test_csv_in_json_out(client: TestClient, airquality: pd.DataFrame, airquality_csv: bytes) -> None:
    r = client.post("/v1/impute?tol=1e-9", content=airquality_csv, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json() == reference(airquality, tol=1e-9)


def test_csv_in_csv_out(client: TestClient, airquality: pd.DataFrame, airquality_csv: bytes) -> None:
    r = client.post(
        "/v1/impute", content=airquality_csv, headers={"content-type": "text/csv", "accept": "text/csv"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    back = pd.read_csv(io.StringIO(r.text))
    expected = imputer.impute(airquality).completed
    assert list(back.columns) == list(airquality.columns)
    np.testing.assert_allclose(back.to_numpy(dtype=float), expected.to_numpy(dtype=float), rtol=1e-15)


def test_csv_parse_options(client: TestClient, airquality: pd.DataFrame) -> None:
    text = airquality.to_csv(sep=";", decimal=",", na_rep="-", index_label="row")
    r = client.post(
        "/v1/impute?sep=;&decimal=,&na_values=-&index_col=row",
        content=text.encode(),
        headers={"content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["mean"] == pytest.approx(reference(airquality)["mean"], rel=1e-12)
    assert r.json()["completed"]["index"] == list(range(len(airquality)))


def test_csv_query_options(client: TestClient, airquality: pd.DataFrame, airquality_csv: bytes) -> None:
    r = client.post(
        "/v1/impute?columns=Ozone&columns=Solar.R&columns=Temp&ridge=0.1&conditional_var=true",
        content=airquality_csv,
        headers={"content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == reference(
        airquality, conditional_var=True, columns=["Ozone", "Solar.R", "Temp"], ridge=0.1
    )


def test_parquet_in(client: TestClient, airquality: pd.DataFrame) -> None:
    buf = io.BytesIO()
    airquality.to_parquet(buf)
    r = client.post(
        "/v1/impute", content=buf.getvalue(), headers={"content-type": "application/vnd.apache.parquet"}
    )
    assert r.status_code == 200, r.text
    assert r.json() == reference(airquality)


def test_parquet_in_csv_out(client: TestClient, airquality: pd.DataFrame) -> None:
    buf = io.BytesIO()
    airquality.to_parquet(buf)
    r = client.post(
        "/v1/impute",
        content=buf.getvalue(),
        headers={"content-type": "application/vnd.apache.parquet", "accept": "text/csv"},
    )
    assert r.status_code == 200
    assert pd.read_csv(io.StringIO(r.text)).notna().all().all()


@pytest.mark.parametrize(
    ("data", "options", "detail"),
    [
        ({"columns": ["a", "b"], "data": [[1.0, 2.0], [2.0, None], [3.0, 5.0]]},
         {"columns": ["a", "zz"]}, "columns: unknown column 'zz'"),
        ({"columns": ["a", "b"], "data": [["x", 1.0], ["y", None], ["z", 2.0]]},
         {"columns": ["a", "b"]}, "column 'a'"),
        ({"columns": ["a", "b"], "data": [[1.0, 1.0], [2.0, None], [3.0, 1.0]]},
         {}, "column 'b' is constant"),
        ({"columns": ["a", "b"], "data": [[None, 1.0], [None, 2.0], [None, 4.0]]},
         {}, "column 'a'"),
    ],
)
def test_engine_errors_are_422_naming_the_column(
    client: TestClient, data: dict[str, Any], options: dict[str, Any], detail: str
) -> None:
    r = client.post("/v1/impute", json={"data": data, "options": options})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["title"] == "Invalid data or options"
    assert problem["instance"] == "/v1/impute"
    assert detail in problem["detail"]
    with pytest.raises(imputer.ImputerError):
        imputer.impute(frame_from_split(SplitFrame(**data)), **options)
