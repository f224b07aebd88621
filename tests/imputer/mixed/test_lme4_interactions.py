"""Fixed-effect interactions and polynomial contrasts against lme4.

Reference values: ``tests/data/lme4/interactions_*.json``, made by
``tests/data/lme4/make_interactions.R`` (lme4 1.1-31, REML, bobyqa with ``rhoend = 1e-12``;
``interactions_sessionInfo.txt``):

* ``cake_poly``: lme4's cake, ``angle ~ recipe * temperature + (1 | recipe:replicate)`` with
  ``temperature`` an ordered factor (R codes it by ``contr.poly``), factor x factor;
* ``cake_treatment``: the same with ``temperature`` unordered (treatment coding);
* ``orthodont_int``: ``distance ~ age * Sex + (age | Subject)``, numeric x factor;
* ``cake_numeric``: ``angle ~ recipe * temp + temp:replicate_n + (1 | recipe:replicate)``,
  factor x numeric and numeric x numeric.

Compared: the fixed-effect columns (names, in R's order, ours mapped by
``col[T.level]`` -> ``collevel``), fixed effects and their standard errors to 1e-5
relative, the variance components (covariance entries on the correlation scale) and the
residual variance to 1e-5, the REML log-likelihood to 1e-9 relative, the number of levels
of each grouping term (lme4's ``ngrps``). Each model is fitted through the formula
interface; ``test_formula.py`` shows the keyword form gives the same fit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer

DATA = Path(__file__).resolve().parents[2] / "data" / "lme4"
RTOL = 1e-5


def cake(temperature: str) -> pd.DataFrame:
    df = pd.read_csv(DATA / "cake.csv")
    if temperature == "ordered":
        df["temperature"] = pd.Categorical(df["temperature"], ordered=True)
    elif temperature == "unordered":
        df["temperature"] = pd.Categorical(df["temperature"])
    df["replicate_n"] = df["replicate"]
    return df


#: model -> (data, formula, contrasts)
MODELS = {
    "cake_poly": (lambda: cake("ordered"), "angle ~ recipe * temperature + (1 | recipe:replicate)", {"temperature": "poly"}),
    "cake_treatment": (lambda: cake("unordered"), "angle ~ recipe * temperature + (1 | recipe:replicate)", None),
    "orthodont_int": (
        lambda: pd.read_csv(DATA / "orthodont.csv", dtype={"Subject": str, "Sex": str}),
        "distance ~ age * Sex + (age | Subject)",
        None,
    ),
    "cake_numeric": (
        lambda: cake("numeric"),
        "angle ~ recipe * temp + temp:replicate_n + (1 | recipe:replicate)",
        None,
    ),
}


def r_name(label: str) -> str:
    """Our label in R's spelling: ``recipe[T.B]:temperature.L`` -> ``recipeB:temperature.L``."""
    return re.sub(r"\[T\.([^\]]*)\]", r"\1", label)


@pytest.fixture(scope="module", params=list(MODELS))
def case(request: pytest.FixtureRequest) -> tuple[dict, imputer.MixedResult]:
    make, formula, contrasts = MODELS[request.param]
    ref = json.loads((DATA / f"interactions_{request.param}.json").read_text())
    assert ref["formula"].replace(" ", "") == formula.replace(" ", "")
    return ref["REML"], imputer.fit_mixed_frame(make(), formula, contrasts=contrasts)


def test_fixed_effect_columns_are_rs(case: tuple[dict, imputer.MixedResult]) -> None:
    ref, res = case
    assert [r_name(c) for c in res.beta.index] == ref["x_columns"]
    assert {k: f"contr.{v}" for k, v in res.contrasts.items()} == ref["contrasts"]


def test_fixed_effects_and_standard_errors_match_lme4(case: tuple[dict, imputer.MixedResult]) -> None:
    ref, res = case
    names = ref["x_columns"]
    beta = np.array([ref["fixef"][k] for k in names])
    se = np.array([ref["se_fixef"][k] for k in names])
    scale = np.sqrt(np.diag(np.asarray(ref["vcov_fixef"])))
    # relative to the estimate, or to its standard error where the estimate is near 0
    assert np.all(np.abs(res.beta.to_numpy() - beta) <= RTOL * np.maximum(np.abs(beta), scale))
    np.testing.assert_allclose(res.se_beta.to_numpy(), se, rtol=RTOL)
    V = np.asarray(ref["vcov_fixef"])
    assert np.all(np.abs(res.var_beta.to_numpy() - V) <= RTOL * np.outer(scale, scale))


def test_variance_components_and_loglik_match_lme4(case: tuple[dict, imputer.MixedResult]) -> None:
    ref, res = case
    assert res.converged and res.boundary == ()
    for term, G in ref["covariances"].items():
        names = G["names"] if isinstance(G["names"], list) else [G["names"]]
        ours = res.covariances[term]
        assert list(ours.index) == names
        Gr = np.asarray(G["data"], dtype=float).reshape(len(names), len(names))
        sd = np.sqrt(np.diag(Gr))
        assert np.all(np.abs(ours.to_numpy() - Gr) <= RTOL * np.outer(sd, sd))
    assert res.var_comp["residual"] == pytest.approx(ref["sigma2"], rel=RTOL)
    assert res.loglik == pytest.approx(ref["loglik"], rel=1e-9)
    assert res.n_obs == ref["nobs"]
    assert {k: len(v) for k, v in res.u.items()} == ref["ngrps"]
    groups = "; ".join(f"{k}, {v}" for k, v in ref["ngrps"].items())
    assert f"Number of obs: {ref['nobs']}, groups: {groups}" in res.summary()


def test_contr_poly_is_rs() -> None:
    from imputer.mixed._fixed import contr_poly

    ref = json.loads((DATA / "interactions_contr_poly.json").read_text())
    np.testing.assert_allclose(contr_poly(6), ref["contr_poly_6"], rtol=0, atol=1e-14)
    assert ref["names"] == [".L", ".Q", ".C", "^4", "^5"]
