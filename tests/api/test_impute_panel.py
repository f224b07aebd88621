"""POST /v1/impute with options.transforms, bounds, panel, idvars, integer: the library's answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import imputer
from api.schemas.impute_panel import ImputeExtendedResponse, extended_payload
from api.tasks import mi_payload
from tests.api._assert import assert_422_at
from tests.api.conftest import answer_of, split_of

pytestmark = pytest.mark.timeout(120)

FREETRADE = Path(__file__).resolve().parents[1] / "data" / "amelia" / "freetrade.csv"
PANEL = {"time": "year", "unit": "country", "polytime": 1, "intercs": True, "lags": [], "leads": []}


@pytest.fixture(scope="module")
def freetrade() -> pd.DataFrame:
    return pd.read_csv(FREETRADE)


@pytest.fixture(scope="module")
def validator(client: TestClient) -> jsonschema.Draft202012Validator:
    spec = client.get("/openapi.json").json()
    schema = spec["paths"]["/v1/impute"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": spec["components"]})


@pytest.mark.parametrize(
    "options",
    [
        {"transforms": {"gdp.pc": "log", "usheg": ["logit", 0, 1]}, "bounds": {"tariff": [0, None]}, "idvars": ["year"]},
        {"panel": PANEL, "bounds": {"tariff": [0, None]}, "transforms": {"pop": "log"}},
    ],
    ids=["transforms-bounds-idvars", "panel"],
)
def test_single_imputation_is_the_librarys(
    client: TestClient, validator: jsonschema.Draft202012Validator, freetrade: pd.DataFrame, options: dict[str, Any]
) -> None:
    r = client.post("/v1/impute", json={"data": split_of(freetrade), "options": options})
    assert r.status_code == 200, r.text
    body = r.json()
    kw = {k: (tuple(v) if k == "transforms" else v) for k, v in options.items()}
    if "transforms" in kw:
        kw["transforms"] = {c: tuple(s) if isinstance(s, list) else s for c, s in options["transforms"].items()}
    if "bounds" in kw:
        kw["bounds"] = {c: tuple(b) for c, b in options["bounds"].items()}
    want = answer_of(lambda: extended_payload(imputer.impute(freetrade, **kw).to_dict()))
    assert set(body) == set(want)
    for key in ("columns", "model_columns", "passthrough", "transforms", "panel", "idvars", "covariates", "n_missing"):
        assert body.get(key) == want.get(key), key
    # the JSON table's dtypes differ from read_csv's (EM's path to the same estimate, to ~1e-9)
    got, exp = (pd.DataFrame(d["completed"]["data"], columns=d["completed"]["columns"]) for d in (body, want))
    num = [c for c in freetrade.columns if c != "country"]
    np.testing.assert_allclose(got[num].to_numpy(dtype=float), exp[num].to_numpy(dtype=float), rtol=1e-6)
    assert got["country"].tolist() == freetrade["country"].tolist()
    validator.validate(body)
    ImputeExtendedResponse.model_validate(body)
    assert body["completed"]["columns"] == list(freetrade.columns)


def test_multiple_imputation_with_bounds_and_integer(client: TestClient, freetrade: pd.DataFrame) -> None:
    options = {"m": 2, "seed": 3, "ridge": 2.0, "panel": PANEL, "bounds": {"tariff": [0, None]}, "integer": ["signed"]}
    r = client.post("/v1/impute", json={"data": split_of(freetrade), "options": options})
    assert r.status_code == 200, r.text
    body = r.json()
    want = answer_of(lambda: mi_payload(imputer.multiple_impute(
        freetrade, 2, seed=3, ridge=2.0, panel=PANEL, bounds={"tariff": (0, None)}, integer=["signed"],
    )))
    assert set(body) == set(want) and body["columns"] == want["columns"]
    long = pd.DataFrame(body["long"]["data"], columns=body["long"]["columns"])
    assert long["tariff"].min() >= 0 and np.array_equal(long["signed"], np.rint(long["signed"]))


@pytest.mark.parametrize(
    ("options", "loc", "match"),
    [
        ({"integer": ["signed"]}, ["body", "options"], "integer applies to multiple imputation"),
        ({"panel": {"time": "year", "polytime": 5}}, ["body", "options", "panel", "polytime"], "less than or equal to 3"),
        ({"transforms": {"tariff": "cube"}}, ["body", "options", "transforms", "tariff"], "log"),
        ({"model": "t", "bounds": {"tariff": [0, None]}}, ["body", "options"], "bounds apply to model 'normal' only"),
    ],
)
def test_malformed_options_are_422(
    client: TestClient, freetrade: pd.DataFrame, options: dict[str, Any], loc: list[str], match: str
) -> None:
    r = client.post("/v1/impute", json={"data": split_of(freetrade), "options": options})
    assert_422_at(r, loc, match, prefix=True)


def test_data_errors_are_problems_naming_the_column(client: TestClient, freetrade: pd.DataFrame) -> None:
    r = client.post("/v1/impute", json={"data": split_of(freetrade), "options": {"panel": {"time": "tariff"}}})
    assert r.status_code == 422, r.text
    assert "panel['time']: column 'tariff' has 58 missing value(s)" in r.json()["detail"]
