"""POST /v1/impute: categories through JSON, CSV and Parquet bodies intact; the column-type options
(categorical, continuous, means, transforms, bounds, integer, panel, idvars) from a CSV or Parquet
request's query; bad column specs as 422s at the option's field, naming column and value.

The reference is the library on the same table (:func:`imputer.impute`).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

import imputer
from tests.api._assert import assert_422_at
from tests.api.conftest import split_of

pytestmark = pytest.mark.timeout(120)

DATA = Path(__file__).resolve().parents[1] / "data"
PARQUET = "application/vnd.apache.parquet"
PANEL = {"time": "year", "unit": "country", "polytime": 1, "intercs": False}


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    """150 rows; ``a`` an ordered category with a level never observed ('z'), ``b`` 0/1, ``x1``, ``x2``."""
    df = pd.read_csv(DATA / "glom" / "sim.csv")
    df["a"] = pd.Categorical(df["a"], categories=["u", "v", "w", "z"], ordered=True)
    return df


@pytest.fixture(scope="module")
def freetrade() -> pd.DataFrame:
    return pd.read_csv(DATA / "amelia" / "freetrade.csv")


def _parquet(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    return out.getvalue()


def _completed(r: Any, accept: str) -> pd.DataFrame:
    assert r.status_code == 200, r.text
    if accept == PARQUET:
        return pd.read_parquet(io.BytesIO(r.content))
    if accept == "text/csv":
        return pd.read_csv(io.StringIO(r.text))
    body = r.json()["completed"]
    return pd.DataFrame(body["data"], columns=body["columns"])


@pytest.mark.parametrize("accept", [PARQUET, "application/json", "text/csv"])
def test_a_parquet_category_comes_back_with_its_levels(client: TestClient, sim: pd.DataFrame, accept: str) -> None:
    r = client.post("/v1/impute?categorical=auto", content=_parquet(sim), headers={"content-type": PARQUET, "accept": accept})
    out = _completed(r, accept)
    want = imputer.impute(sim, categorical="auto").completed
    assert out["a"].astype(str).tolist() == want["a"].astype(str).tolist()
    if accept == PARQUET:  # the categories (the unobserved 'z' too) and their order kept
        assert out["a"].dtype == sim["a"].dtype
    assert out.notna().all().all()


def test_an_arrow_dictionary_column_is_a_category(client: TestClient, sim: pd.DataFrame) -> None:
    """A dictionary column written without pandas' metadata (Arrow, R, polars) is categorical under "auto"."""
    table = pa.table({
        "a": pa.array(sim["a"].astype(object).where(sim["a"].notna(), None).tolist()).dictionary_encode(),
        "x1": pa.array(sim["x1"]), "x2": pa.array(sim["x2"]),
    })
    buf = io.BytesIO()
    pq.write_table(table, buf)
    r = client.post("/v1/impute?categorical=auto", content=buf.getvalue(), headers={"content-type": PARQUET, "accept": PARQUET})
    out = _completed(r, PARQUET)
    sent = pd.read_parquet(io.BytesIO(buf.getvalue()))
    assert isinstance(out["a"].dtype, pd.CategoricalDtype) and list(out["a"].cat.categories) == ["u", "w", "v"]  # the dictionary's
    want = imputer.impute(sent, categorical="auto").completed
    assert out["a"].astype(str).tolist() == want["a"].astype(str).tolist()


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_text_levels_travel_through_json_and_csv(client: TestClient, sim: pd.DataFrame, kind: str) -> None:
    text = sim.assign(a=sim["a"].astype(object).where(sim["a"].notna(), None))
    if kind == "json":
        r = client.post("/v1/impute", json={"data": split_of(text), "options": {"categorical": ["a", "b"]}})
    else:
        r = client.post("/v1/impute?categorical=a&categorical=b", content=text.to_csv(index=False).encode(),
                        headers={"content-type": "text/csv"})
    out = _completed(r, "application/json")
    want = imputer.impute(text, categorical=["a", "b"]).completed
    assert out["a"].tolist() == want["a"].tolist() and set(out["a"]) == {"u", "v", "w"}


def test_continuous_from_the_query_and_the_json_body(client: TestClient, sim: pd.DataFrame) -> None:
    """``b`` (0/1) is categorical under "auto" unless listed in continuous."""
    r = client.post("/v1/impute?categorical=auto&continuous=b", content=_parquet(sim), headers={"content-type": PARQUET})
    assert r.status_code == 200, r.text
    assert r.json()["categorical"] == ["a"] and r.json()["continuous"] == ["b", "x1", "x2"]
    numbers = split_of(sim.drop(columns="a"))
    j = client.post("/v1/impute", json={"data": numbers, "options": {"categorical": "auto"}})
    assert j.status_code == 200 and j.json()["categorical"] == ["b"]
    j = client.post("/v1/impute", json={"data": numbers, "options": {"categorical": "auto", "continuous": ["b"]}})
    assert j.status_code == 200 and j.json()["columns"] == ["b", "x1", "x2"]  # no categorical column left: the normal


OPTIONS = {"panel": PANEL, "transforms": {"gdp.pc": "log"}, "bounds": {"tariff": [0, None]}, "idvars": ["signed"], "ridge": 2.0}


def _query(options: dict[str, Any]) -> dict[str, Any]:
    """The JSON body's options as query parameters: objects as JSON text, lists repeated."""
    return {k: json.dumps(v) if isinstance(v, dict) else v for k, v in options.items()}


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_panel_transforms_bounds_idvars_from_the_query(client: TestClient, freetrade: pd.DataFrame, kind: str) -> None:
    body, media = (freetrade.to_csv(index=False).encode(), "text/csv") if kind == "csv" else (_parquet(freetrade), PARQUET)
    r = client.post("/v1/impute", params=_query(OPTIONS), content=body, headers={"content-type": media})
    assert r.status_code == 200, r.text
    kw = {**OPTIONS, "bounds": {"tariff": (0, None)}}
    want = imputer.impute(freetrade, **kw)
    got = r.json()
    assert got["loglik"] == pytest.approx(want.loglik, rel=1e-9)
    assert got["panel"] == {**PANEL, "lags": [], "leads": []} and got["idvars"] == ["signed"]
    completed = pd.DataFrame(got["completed"]["data"], columns=got["completed"]["columns"])
    np.testing.assert_allclose(completed["tariff"].to_numpy(float), want.completed["tariff"].to_numpy(float), rtol=1e-8)
    assert completed["tariff"].min() >= 0


def test_integer_with_m_from_the_query(client: TestClient, freetrade: pd.DataFrame) -> None:
    params = {"m": 2, "seed": 1, "integer": "polity", "panel": json.dumps(PANEL), "ridge": 2.0}
    r = client.post("/v1/impute", params=params, content=freetrade.to_csv(index=False).encode(),
                    headers={"content-type": "text/csv", "accept": "text/csv"})
    assert r.status_code == 200, r.text
    long = pd.read_csv(io.StringIO(r.text))
    assert np.array_equal(long["polity"], np.rint(long["polity"])) and len(long) == 2 * len(freetrade)


@pytest.mark.parametrize(
    ("params", "loc", "match"),
    [
        ({"panel": '{"time": "year", "polytime": 5}'}, ["query", "panel", "polytime"], "less than or equal to 3"),
        ({"transforms": '{"tariff": "cube"}'}, ["query", "transforms", "tariff"], "log"),
        ({"transforms": '{"tariff": '}, ["query", "transforms"], "not valid JSON"),
        ({"bounds": '{"tariff": [5, 1]}'}, ["query", "bounds", "tariff"], r"lower 5 must be below upper 1"),
        ({"integer": "polity"}, ["query"], "integer applies to multiple imputation"),
        ({"continuous": "tariff"}, ["query"], "continuous applies with categorical only"),
        ({"categorical": "country", "idvars": "year"}, ["query"], "categorical does not combine with"),
    ],
)
def test_malformed_query_options_are_422_at_the_field(
    client: TestClient, freetrade: pd.DataFrame, params: dict[str, str], loc: list[str], match: str
) -> None:
    r = client.post("/v1/impute", params=params, content=b"a,b\n1,2\n", headers={"content-type": "text/csv"})
    assert_422_at(r, loc, match)


# --------------------------------------------------------------------------------- bad input

BAD = pd.DataFrame({"x": [1.0, 2.0, -0.5, np.nan, 3.0, 4.0], "y": [1.0, np.nan, 2.0, 3.0, 4.5, 5.0]})


@pytest.mark.parametrize(
    ("options", "field", "match"),
    [
        ({"transforms": {"x": "log"}}, ["transforms", "x"], r"^transforms\['x'\]: 'log' needs positive values, but row 2 holds -0\.5$"),
        ({"bounds": {"x": [0, None]}}, ["bounds", "x"], r"^bounds\['x'\]: row 2 holds -0\.5, outside \[0, inf\]$"),
        ({"bounds": {"y": [3, 1]}}, ["bounds", "y"], r"lower 3 must be below upper 1"),
        ({"transforms": {"y": ["logit", 5, 1]}}, ["transforms", "y"], r"the logit's range needs lo < hi, got \(5, 1\)"),
    ],
    ids=["log-non-positive", "outside-bounds", "low-above-high", "logit-range"],
)
@pytest.mark.parametrize("kind", ["json", "csv"])
def test_bad_column_specs_are_422_at_the_field(
    client: TestClient, options: dict[str, Any], field: list[str], match: str, kind: str
) -> None:
    if kind == "json":
        r = client.post("/v1/impute", json={"data": split_of(BAD), "options": options})
        assert_422_at(r, ["body", "options", *field], match)
    else:
        r = client.post("/v1/impute", params=_query(options), content=BAD.to_csv(index=False).encode(),
                        headers={"content-type": "text/csv"})
        assert_422_at(r, ["query", *field], match)


def test_openapi_shows_the_query_options(client: TestClient) -> None:
    params = {p["name"]: p for p in client.get("/openapi.json").json()["paths"]["/v1/impute"]["post"]["parameters"]}
    for name in ("transforms", "bounds", "panel"):  # JSON text, its schema as the content's
        schema = next(s for s in params[name]["schema"]["anyOf"] if s.get("type") == "string")
        assert schema["contentMediaType"] == "application/json" and "contentSchema" in schema, name
        assert "JSON text" in params[name]["description"]
    assert params["panel"]["schema"]["anyOf"][0]["contentSchema"]["properties"]["polytime"]["maximum"] == 3
    for name in ("categorical", "continuous", "idvars", "integer"):  # repeated
        assert {"type": "array", "items": {"type": "string"}} in params[name]["schema"]["anyOf"], name
