"""POST /v1/mixed/frame with a formula, contrasts and na_action (what fit_mixed_frame takes).

Reference: tests/data/lme4/interactions_cake_poly.json (make_interactions.R, lme4 1.1-31):
``angle ~ recipe * temperature + (1 | recipe:replicate)`` with temperature ordered (contr.poly).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import imputer
from api.schemas.mixed import MixedResponse
from tests.api._assert import assert_problem
from tests.api.conftest import DATA, answer_of, split_of

pytestmark = pytest.mark.timeout(120)


def test_formula_with_poly_contrasts_matches_lme4_and_the_library(client: TestClient) -> None:
    frame = pd.read_csv(DATA / "lme4" / "cake.csv")  # temperature as numbers 175..225
    formula = "angle ~ recipe * temperature + (1 | recipe:replicate)"
    body = {"data": split_of(frame), "formula": formula, "contrasts": {"temperature": "poly"}}
    r = client.post("/v1/mixed/frame", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    MixedResponse.model_validate(out)
    ref = json.loads((DATA / "lme4" / "interactions_cake_poly.json").read_text())["REML"]
    assert out["contrasts"] == {"recipe": "treatment", "temperature": "poly"}
    assert out["loglik"] == pytest.approx(ref["loglik"], rel=1e-9)
    assert out["beta"]["recipe[T.B]:temperature.L"] == pytest.approx(ref["fixef"]["recipeB:temperature.L"], rel=1e-5)
    ordered = frame.assign(temperature=pd.Categorical(frame["temperature"], ordered=True))
    assert out == answer_of(lambda: imputer.fit_mixed_frame(ordered, formula, contrasts={"temperature": "poly"}).to_dict())


def test_na_action_drop(client: TestClient) -> None:
    frame = pd.read_csv(DATA / "sleepstudy.csv")
    frame.loc[[4, 60], "Days"] = np.nan
    frame.loc[9, "Reaction"] = np.nan
    body: dict[str, Any] = {"data": split_of(frame), "formula": "Reaction ~ Days + (1 | Subject)"}
    r = client.post("/v1/mixed/frame", json=body)
    assert r.status_code == 422 and "pass na_action=\"drop\"" in r.json()["detail"]
    r = client.post("/v1/mixed/frame", json={**body, "na_action": "drop"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["n_dropped"] == 2 and out["dropped"] == [4, 60] and out["n_missing"] == 1
    assert len(out["fitted"]) == len(frame) - 2


@pytest.mark.parametrize(
    ("extra", "msg"),
    [
        ({"formula": "y ~ (1 | g)", "response": "y"}, "Value error, give either 'formula' or ['response'], not both"),
        ({"formula": "y ~ (1 | g)", "random": ["g"], "intercept": False},
         "Value error, give either 'formula' or ['random', 'intercept'], not both"),
        ({"response": "y"}, "Value error, give 'formula', or 'response' and 'random'"),
        ({}, "Value error, give 'formula', or 'response' and 'random'"),
    ],
)
def test_formula_or_columns(client: TestClient, extra: dict[str, Any], msg: str) -> None:
    body = {"data": {"columns": ["y", "g"], "data": [[1, "a"], [2, "b"]]}, **extra}
    r = client.post("/v1/mixed/frame", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["msg"] == msg


def test_formula_engine_error_names_the_column(client: TestClient) -> None:
    body = {"data": {"columns": ["y", "g"], "data": [[1, "a"], [2, "b"]]}, "formula": "y ~ x + (1 | g)"}
    r = client.post("/v1/mixed/frame", json=body)
    assert r.status_code == 422, r.text
    assert "formula: column(s) ['x'] are not in data" in r.json()["detail"]


@pytest.mark.parametrize(
    ("formula", "detail"),
    [
        ("y ~ x(1 2) + (1|g)", r"^formula: cannot parse 'y ~ x\(1 2\) \+ \(1\|g\)': invalid syntax\. .* in the term "
                               r"'x\(1 2\)'$"),
        ("y ~ x.() + (1|g)", r"^formula: cannot parse 'y ~ x\.\(\) \+ \(1\|g\)': invalid syntax in the term 'x\.\(\)'$"),
    ],
)
def test_a_formula_term_that_is_not_python_is_422(client: TestClient, formula: str, detail: str) -> None:
    # was a 500: formulaic's SyntaxError escaped parse_formula
    data = {"columns": ["g", "y", "x"], "data": [["A", 1.0, 0.5], ["A", 2.0, 1.5], ["B", 3.0, 0.7], ["B", None, 2.5],
                                                 ["C", 2.5, 1.0], ["C", 3.5, 0.1]]}
    r = client.post("/v1/mixed/frame", json={"data": data, "formula": formula})
    assert_problem(r, 422, detail)
