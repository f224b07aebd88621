"""Random slopes with a covariance matrix (lme4's bar notation) against lme4.

Reference values: ``tests/data/lme4/slopes_*.json``, made by
``tests/data/lme4/make_slopes_fixtures.R`` (lme4 1.1-31, bobyqa with ``rhoend = 1e-12``
and the gradient check at 1e-8; ``slopes_sessionInfo.txt``): sleepstudy
``Reaction ~ Days + (Days | Subject)`` and ``(Days || Subject)``, Orthodont
``distance ~ age + Sex + (age | Subject)``, Oxboys ``height ~ age + (age | Subject)``
and ``height ~ age + age2 + (age + age2 | Subject)`` (a 3 x 3 G), ChickWeight
``weight ~ Time + Diet + (Time | Chick)`` (unbalanced), REML and ML.

Compared: every covariance entry to 1e-5 on the correlation scale
(``|G_ab - G*_ab| <= 1e-5 sqrt(G*_aa G*_bb)``), the residual variance, fixed effects and
their standard errors to 1e-5 relative, the log-likelihood to 1e-9 relative and never
lower than lme4's (ties at 1e-10 relative), AIC/BIC, BLUPs and Henderson's prediction
error variances (lme4's ``G - G Z'PZ G``), fitted values.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer

DATA = Path(__file__).resolve().parents[2] / "data"
FIXTURES = DATA / "lme4"

#: model -> (csv, response, fixed columns, random terms, lme4 name of each fixed effect)
MODELS: dict[str, tuple[str, str, list[str], list[str], dict[str, str]]] = {
    "sleepstudy": ("sleepstudy.csv", "Reaction", ["Days"], ["(Days | Subject)"], {}),
    "sleepstudy_diag": ("sleepstudy.csv", "Reaction", ["Days"], ["(Days || Subject)"], {}),
    "orthodont": ("lme4/orthodont.csv", "distance", ["age", "Sex"], ["(age | Subject)"], {"Sex[T.Male]": "SexMale"}),
    "oxboys": ("lme4/oxboys.csv", "height", ["age"], ["(age | Subject)"], {}),
    "oxboys_quad": ("lme4/oxboys.csv", "height", ["age", "age2"], ["(age + age2 | Subject)"], {}),
    "chickweight": (
        "lme4/chickweight.csv", "weight", ["Time", "Diet"], ["(Time | Chick)"],
        {f"Diet[T.{k}]": f"Diet{k}" for k in (2, 3, 4)},
    ),
}
METHODS = ["REML", "ML"]
CASES = [(m, meth) for m in MODELS for meth in METHODS]
RTOL = 1e-5


def load(name: str) -> pd.DataFrame:
    df = pd.read_csv(DATA / MODELS[name][0], dtype={"Subject": str, "Chick": str, "Diet": str})
    if name == "oxboys_quad":
        df["age2"] = df["age"] ** 2
    return df


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"slopes_{name}.json").read_text())


_FITS: dict[tuple[str, str], imputer.MixedResult] = {}


def fit(name: str, method: str) -> imputer.MixedResult:
    if (name, method) not in _FITS:
        _, y, fixed, random, _ = MODELS[name]
        _FITS[(name, method)] = imputer.fit_mixed_frame(load(name), y, fixed=fixed, random=random, method=method)
    return _FITS[(name, method)]


def group(name: str) -> str:
    return MODELS[name][3][0].split("|")[-1].strip(" )")


@pytest.mark.parametrize(("name", "method"), CASES)
def test_covariances_match_lme4(name: str, method: str) -> None:
    ref = fixture(name)[method]
    res = fit(name, method)
    g = group(name)
    assert res.converged and res.boundary == ()
    want = ref["covariances"][g]
    got = res.covariances[g]
    assert list(got.index) == list(got.columns) == want["names"]
    Gw = np.array(want["data"])
    scale = np.sqrt(np.outer(np.diag(Gw), np.diag(Gw)))
    assert np.max(np.abs(got.to_numpy() - Gw) / scale) <= RTOL
    np.testing.assert_allclose(res.correlations[g].to_numpy(), np.array(ref["correlations"][g]["data"]), rtol=0, atol=RTOL)
    assert res.var_comp["residual"] == pytest.approx(ref["sigma2"], rel=RTOL)
    # var_comp: the term's variances (intercept under the group's name), then the residual
    labels = [g if e == "(Intercept)" else f"{g}.{e}" for e in want["names"]]
    assert list(res.var_comp.index) == [*labels, "residual"]
    np.testing.assert_array_equal(res.var_comp.iloc[:-1].to_numpy(), np.diag(got.to_numpy()))


@pytest.mark.parametrize(("name", "method"), CASES)
def test_fixed_effects_ses_and_loglik_match_lme4(name: str, method: str) -> None:
    ref = fixture(name)[method]
    res = fit(name, method)
    rename = MODELS[name][4]
    beta = res.beta.rename(index=lambda k: rename.get(k, k))
    assert list(beta.index) == list(ref["fixef"])
    np.testing.assert_allclose(beta.to_numpy(), np.array(list(ref["fixef"].values())), rtol=RTOL)
    se_ref = np.sqrt(np.diag(np.array(ref["vcov_fixef"])))
    np.testing.assert_allclose(res.se_beta.to_numpy(), se_ref, rtol=RTOL)
    assert res.loglik == pytest.approx(ref["loglik"], rel=1e-9)
    assert res.loglik >= ref["loglik"] - 1e-10 * abs(ref["loglik"])  # ours never lower
    assert res.aic == pytest.approx(ref["aic"], rel=1e-9)
    assert res.bic == pytest.approx(ref["bic"], rel=1e-9)


@pytest.mark.parametrize(("name", "method"), CASES)
def test_blups_pev_and_fitted_match_lme4(name: str, method: str) -> None:
    ref = fixture(name)[method]
    res = fit(name, method)
    g = group(name)
    for field, got in (("ranef", res.u[g]), ("pev", res.pev[g])):
        want = ref[field][g]
        assert isinstance(got, pd.DataFrame) and list(got.columns) == want["effects"]
        got = got.set_axis(got.index.astype(str)).loc[want["levels"]]
        W = np.array(want["data"])
        # per effect, relative to the largest value of that effect
        tol = RTOL * np.max(np.abs(W), axis=0)
        assert np.all(np.abs(got.to_numpy() - W) <= tol), (field, np.max(np.abs(got.to_numpy() - W) / tol))
    want_fit = np.array(ref["fitted"])
    np.testing.assert_allclose(res.fitted.to_numpy(), want_fit, rtol=0, atol=1e-6 * np.max(np.abs(want_fit)))


@pytest.mark.parametrize("method", METHODS)
def test_independent_effects_have_exactly_zero_covariance(method: str) -> None:
    res = fit("sleepstudy_diag", method)
    G = res.covariances["Subject"].to_numpy()
    assert G[0, 1] == 0.0 and G[1, 0] == 0.0
    assert res.correlations["Subject"].iloc[0, 1] == 0.0
    # AIC counts 2 fixed + 2 variances + residual
    assert res.aic == pytest.approx(-2 * res.loglik + 2 * 5)


@pytest.mark.parametrize("method", METHODS)
def test_zeta_form_equals_frame_form(method: str) -> None:
    """fit_mixed with Z given as a list of matrices (one per effect) is the same model."""
    df = load("sleepstudy")
    subj = sorted(df["Subject"].unique())
    Z1 = pd.DataFrame((df["Subject"].to_numpy()[:, None] == np.array(subj)).astype(float), columns=subj)
    Z2 = Z1.mul(df["Days"].to_numpy(), axis=0)
    X = pd.DataFrame({"(Intercept)": 1.0, "Days": df["Days"].astype(float)})
    zeta = {"Subject": {"Z": [Z1, Z2], "effects": ["(Intercept)", "Days"]}}
    a = imputer.fit_mixed(df["Reaction"], X, zeta, method=method)
    b = fit("sleepstudy", method)
    pd.testing.assert_frame_equal(a.covariances["Subject"], b.covariances["Subject"], rtol=1e-9)
    pd.testing.assert_series_equal(a.beta, b.beta, rtol=1e-9)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-12)
    np.testing.assert_allclose(a.u["Subject"].to_numpy(), b.u["Subject"].to_numpy(), rtol=1e-7, atol=1e-9)
    diag = imputer.fit_mixed(df["Reaction"], X, {"Subject": {**zeta["Subject"], "structure": "diagonal"}}, method=method)
    ref = fit("sleepstudy_diag", method)
    pd.testing.assert_frame_equal(diag.covariances["Subject"], ref.covariances["Subject"], rtol=1e-9)


def test_summary_prints_lme4s_random_effects_table() -> None:
    text = fit("sleepstudy", "REML").summary()
    lines = text.splitlines()
    at = lines.index("Random effects:")
    head, first, second, resid = lines[at + 1 : at + 5]
    assert head.split() == ["Groups", "Name", "Variance", "Std.Dev.", "Corr"]
    assert first.split()[:2] == ["Subject", "(Intercept)"] and len(first.split()) == 4
    assert second.split()[0] == "Days" and second.split()[-1] == "0.0656"  # lme4 prints 0.07
    assert resid.split()[0] == "residual"
    assert float(first.split()[2]) == pytest.approx(612.09, rel=1e-5)
    assert float(second.split()[1]) == pytest.approx(35.0717, rel=1e-5)


def test_to_dict_carries_covariances_and_effect_tables() -> None:
    res = fit("sleepstudy", "REML")
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    cov = d["covariances"]["Subject"]
    assert cov["columns"] == ["(Intercept)", "Days"]
    np.testing.assert_array_equal(np.array(cov["data"]), res.covariances["Subject"].to_numpy())
    u = d["u"]["Subject"]
    assert u["columns"] == ["(Intercept)", "Days"] and len(u["index"]) == 18 and len(u["data"][0]) == 2
    assert d["correlations"]["Subject"]["data"][0][0] == 1.0


# ---------------------------------------------------------------------------------------
# Singular fits (lme4's isSingular): simulated data in tests/data/lme4/boundary.csv, made
# by make_slopes_fixtures.R. y1 has slope = 0.5 x intercept in every group (optimum:
# correlation exactly 1); y2 has no slope variance ((x | g): a singular G with a tiny
# slope variance; (x || g) ML: the slope variance exactly 0). (x || g) REML on y2 is
# interior with a tiny slope variance, where EM is slow (about 5 s): left to benchmarks.
BOUNDARY = [
    ("boundary_corr", "y1", "(x | g)", "REML"),
    ("boundary_corr", "y1", "(x | g)", "ML"),
    ("boundary_slope", "y2", "(x | g)", "REML"),
    ("boundary_slope", "y2", "(x | g)", "ML"),
    ("boundary_diag", "y2", "(x || g)", "ML"),
]


@pytest.mark.parametrize(("name", "response", "term", "method"), BOUNDARY, ids=[f"{b[0]}-{b[3]}" for b in BOUNDARY])
def test_singular_fits_are_found_and_reported(name: str, response: str, term: str, method: str) -> None:
    ref = fixture(name)[method]
    assert ref["singular"]
    res = imputer.fit_mixed_frame(pd.read_csv(FIXTURES / "boundary.csv"), response, fixed=["x"], random=[term], method=method)
    assert res.converged and res.boundary == ("g",)
    assert res.loglik >= ref["loglik"] - 1e-10 * abs(ref["loglik"])
    assert res.loglik == pytest.approx(ref["loglik"], rel=1e-9)
    Gw = np.array(ref["covariances"]["g"]["data"])
    G = res.covariances["g"].to_numpy()
    floor = 1e-4 * ref["sigma2"]
    scale = np.sqrt(np.outer(np.maximum(np.diag(Gw), floor), np.maximum(np.diag(Gw), floor)))
    assert np.max(np.abs(G - Gw) / scale) <= RTOL
    # singular: a correlation of exactly +-1 (to rounding) or a variance of exactly 0
    R = res.correlations["g"].to_numpy()
    assert np.any(np.diag(G) == 0.0) or abs(abs(R[0, 1]) - 1.0) <= 1e-12
    assert re.search(r"on the boundary \(singular\): +g\n", res.summary())
