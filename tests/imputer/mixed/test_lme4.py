"""fit_mixed against lme4 and against exact closed-form solutions of balanced designs.

Reference values and where they come from
-----------------------------------------
* Published lme4 1.1-31 REML fits, ``tests/data/SOURCE.md`` (Dyestuff, Penicillin,
  sleepstudy): variance components, fixed effects and REML log-likelihood, compared at
  1e-5 relative (the published digits).
* lme4 fits made by ``tests/data/lme4/make_fixtures.R`` (``tests/data/lme4/*.json``,
  tight bobyqa control, see the README there) for Dyestuff, Dyestuff2 (Batch variance
  exactly 0), Penicillin, Pastes (``(1|batch) + (1|batch:cask)``) and sleepstudy, REML and
  ML: variance components (1e-6 relative -- the tight lme4 fits are themselves about 5e-8
  from the exact Dyestuff optimum), fixed effects, log-likelihood, AIC/BIC, BLUPs,
  prediction error variances and fitted values.
* Closed-form ANOVA (method-of-moments) solutions, which equal REML for balanced designs
  whenever they are interior, written out below; tested at 1e-8.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer

DATA = Path(__file__).resolve().parents[2] / "data"
FIXTURES = DATA / "lme4"

# ---------------------------------------------------------------------------------------
# Models: response, fixed-effect columns (besides the intercept), random-effect factors
# (an "a:b" factor is the interaction of columns a and b, labelled "A:a" as lme4 does).
MODELS: dict[str, dict] = {
    "dyestuff": {"file": "dyestuff.csv", "y": "Yield", "fixed": [], "random": ["Batch"]},
    "dyestuff2": {"file": "lme4/dyestuff2.csv", "y": "Yield", "fixed": [], "random": ["Batch"]},
    "penicillin": {"file": "penicillin.csv", "y": "diameter", "fixed": [], "random": ["plate", "sample"]},
    "pastes": {"file": "lme4/pastes.csv", "y": "strength", "fixed": [], "random": ["batch", "batch:cask"]},
    "sleepstudy": {"file": "sleepstudy.csv", "y": "Reaction", "fixed": ["Days"], "random": ["Subject"]},
}
METHODS = ["REML", "ML"]

# Tolerances (relative unless stated)
RTOL_VC = 1e-6  # variance components vs tight lme4
RTOL_EXACT = 1e-8  # vs closed-form solutions
RTOL_LOGLIK = 1e-9


def load(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / MODELS[name]["file"], dtype={"Subject": str})


def factor(data: pd.DataFrame, term: str) -> pd.Series:
    parts = term.split(":")
    out = data[parts[0]].astype(str)
    for p in parts[1:]:
        out = out + ":" + data[p].astype(str)
    return out


def design(name: str) -> tuple[pd.Series, pd.DataFrame, dict]:
    """y, X (labelled like lme4's fixef) and ZETA (Z as labelled dummy DataFrames)."""
    spec = MODELS[name]
    data = load(name)
    y = data[spec["y"]].astype(float)
    X = pd.DataFrame({"(Intercept)": np.ones(len(data))}, index=data.index)
    for c in spec["fixed"]:
        X[c] = data[c].astype(float)
    zeta = {}
    for term in spec["random"]:
        f = factor(data, term)
        levels = sorted(f.unique())
        Z = pd.DataFrame(
            (f.to_numpy()[:, None] == np.array(levels)[None, :]).astype(float),
            columns=levels,
            index=data.index,
        )
        zeta[term] = {"Z": Z}
    return y, X, zeta


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


_FITS: dict[tuple[str, str], imputer.MixedResult] = {}


def fit(name: str, method: str):
    key = (name, method)
    if key not in _FITS:
        y, X, zeta = design(name)
        _FITS[key] = imputer.fit_mixed(y, X, zeta, method=method)
    return _FITS[key]


def lme4_name(term: str) -> str:
    return term  # lme4 names a (1 | a:b) term "a:b" too


# ---------------------------------------------------------------------------------------
# Published values (tests/data/SOURCE.md, lme4 1.1-31, REML)
PUBLISHED = {
    "dyestuff": ({"Batch": 1764.05, "residual": 2451.25}, {"(Intercept)": 1527.5}, -159.8271),
    "penicillin": (
        {"plate": 0.716908, "sample": 3.73092, "residual": 0.302415},
        {"(Intercept)": 22.97222},
        -165.4303,
    ),
    "sleepstudy": (
        {"Subject": 1378.178, "residual": 960.4566},
        {"(Intercept)": 251.40510, "Days": 10.46729},
        -893.2325,
    ),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_lme4_reml(name: str) -> None:
    vc, fe, ll = PUBLISHED[name]
    res = fit(name, "REML")
    assert res.converged
    for k, v in vc.items():
        assert res.var_comp[k] == pytest.approx(v, rel=1e-5), k
    for k, v in fe.items():
        assert res.beta[k] == pytest.approx(v, rel=1e-5), k
    assert res.loglik == pytest.approx(ll, rel=1e-5)


# ---------------------------------------------------------------------------------------
# lme4 fixtures, REML and ML
CASES = [(n, m) for n in MODELS for m in METHODS]


@pytest.mark.parametrize(("name", "method"), CASES)
def test_variance_components_match_lme4(name: str, method: str) -> None:
    ref = fixture(name)[method]
    res = fit(name, method)
    assert res.converged
    assert list(res.var_comp.index) == [*MODELS[name]["random"], "residual"]
    scale = ref["var_comp"]["Residual"]
    for term in MODELS[name]["random"]:
        want = ref["var_comp"][lme4_name(term)]
        got = res.var_comp[term]
        assert got >= 0.0
        # relative where interior; absolute (vs the residual variance) at the boundary
        assert abs(got - want) <= RTOL_VC * max(want, 1e-3 * scale), (term, got, want)
    assert res.var_comp["residual"] == pytest.approx(scale, rel=RTOL_VC)


@pytest.mark.parametrize(("name", "method"), CASES)
def test_fixed_effects_and_likelihood_match_lme4(name: str, method: str) -> None:
    ref = fixture(name)[method]
    res = fit(name, method)
    for k, v in ref["fixef"].items():
        assert res.beta[k] == pytest.approx(v, rel=RTOL_VC), k
    # lme4's logLik (with constants); our optimum may only be higher (ties at 1e-9)
    assert res.loglik == pytest.approx(ref["loglik"], rel=RTOL_LOGLIK)
    assert res.loglik >= ref["loglik"] - RTOL_LOGLIK * abs(ref["loglik"])
    assert res.aic == pytest.approx(ref["aic"], rel=RTOL_LOGLIK)
    assert res.bic == pytest.approx(ref["bic"], rel=RTOL_LOGLIK)
    var_beta = np.asarray(res.var_beta, dtype=float)
    np.testing.assert_allclose(var_beta, np.array(ref["vcov_fixef"]), rtol=1e-5)


@pytest.mark.parametrize(("name", "method"), CASES)
def test_blups_and_pev_match_lme4(name: str, method: str) -> None:
    ref = fixture(name)[method]
    res = fit(name, method)
    for term in MODELS[name]["random"]:
        want_u = pd.Series(ref["ranef"][lme4_name(term)])
        got_u = res.u[term]
        assert set(got_u.index.astype(str)) == set(want_u.index)
        got_u = pd.Series(got_u.to_numpy(), index=got_u.index.astype(str)).loc[want_u.index]
        scale = max(float(np.max(np.abs(want_u))), 1e-3 * np.sqrt(ref["var_comp"]["Residual"]))
        np.testing.assert_allclose(got_u.to_numpy(), want_u.to_numpy(), rtol=0, atol=1e-5 * scale)
        want_pev = pd.Series(ref["pev"][lme4_name(term)])
        got_pev = res.pev[term]
        got_pev = pd.Series(got_pev.to_numpy(), index=got_pev.index.astype(str)).loc[want_pev.index]
        pev_scale = max(ref["var_comp"][lme4_name(term)], 1e-3 * ref["var_comp"]["Residual"])
        np.testing.assert_allclose(
            got_pev.to_numpy(), want_pev.to_numpy(), rtol=1e-5, atol=1e-6 * pev_scale
        )
    fitted = np.asarray(res.fitted, dtype=float)
    np.testing.assert_allclose(fitted, np.array(ref["fitted"]), rtol=1e-6)


def test_dyestuff2_batch_component_is_on_the_boundary() -> None:
    for method in METHODS:
        res = fit("dyestuff2", method)
        assert res.converged
        assert res.var_comp["Batch"] <= 1e-8 * res.var_comp["residual"]
        assert "Batch" in list(res.boundary)
        np.testing.assert_allclose(res.u["Batch"].to_numpy(), 0.0, atol=1e-6)
    # interior fits report no boundary component
    assert len(list(fit("dyestuff", "REML").boundary)) == 0


# ---------------------------------------------------------------------------------------
# Closed-form solutions of balanced designs.
#
# One-way (a groups of m rows, here Dyestuff: a = 6, m = 5; sleepstudy: a = 18 subjects,
# m = 10 days, the same Days design in every group). V has two eigen-strata: between
# groups (a dimensions, eigenvalue lam1 = s2_e + m s2_a) and within groups (a(m - 1)
# dimensions, eigenvalue s2_e). The intercept lies in the between stratum; covariates
# whose pattern repeats in every group (Days) lie, once centred, in the within stratum
# (p_w of them). With SSA = m sum_i (ybar_i - ybar)^2 and SSE the residual sum of squares
# of the within-group regression (group means + covariates):
#   REML: lam1 = SSA / (a - 1),  s2_e = SSE / (a(m - 1) - p_w)
#   ML:   lam1 = SSA / a,        s2_e = SSE / (a(m - 1))
#   s2_a = (lam1 - s2_e) / m  (interior when positive), b = OLS,
#   BLUP u_i = m s2_a / lam1 * (ybar_i - xbar_i' b).
# Two-way crossed without replication (Penicillin, I = 24 plates x J = 6 samples):
#   MS_A = J sum_i (ybar_i. - ybar)^2 / (I - 1), MS_B = I sum_j (ybar_.j - ybar)^2 / (J - 1),
#   MS_E = sum_ij (y_ij - ybar_i. - ybar_.j + ybar)^2 / ((I - 1)(J - 1));
#   REML: s2_e = MS_E, s2_plate = (MS_A - MS_E) / J, s2_sample = (MS_B - MS_E) / I.
# Two-stage nested (Pastes, 10 batches x 3 casks x 2 assays):
#   MS_B = 6 sum_b (ybar_b - ybar)^2 / 9, MS_C = 2 sum_bc (ybar_bc - ybar_b)^2 / 20,
#   MS_E = sum (y - ybar_bc)^2 / 30;
#   REML: s2_e = MS_E, s2_cask = (MS_C - MS_E) / 2, s2_batch = (MS_B - MS_C) / 6.
# In all these designs GLS = OLS for the fixed effects.


def _one_way(name: str, method: str) -> dict:
    spec = MODELS[name]
    data = load(name)
    g = factor(data, spec["random"][0])
    y = data[spec["y"]].to_numpy(float)
    a = g.nunique()
    m = len(y) // a
    X = np.column_stack([np.ones(len(y))] + [data[c].to_numpy(float) for c in spec["fixed"]])
    b = np.linalg.lstsq(X, y, rcond=None)[0]
    means = pd.Series(y).groupby(g.to_numpy()).mean()
    ssa = m * float(np.sum((means.to_numpy() - y.mean()) ** 2))
    # within-group regression: group dummies + covariates
    D = pd.get_dummies(g).to_numpy(float)
    W = np.column_stack([D] + [data[c].to_numpy(float) for c in spec["fixed"]])
    sse = float(np.sum((y - W @ np.linalg.lstsq(W, y, rcond=None)[0]) ** 2))
    p_w = len(spec["fixed"])
    if method == "REML":
        lam1, s2e = ssa / (a - 1), sse / (a * (m - 1) - p_w)
    else:
        lam1, s2e = ssa / a, sse / (a * (m - 1))
    s2a = (lam1 - s2e) / m
    resid_means = pd.Series(y - X @ b).groupby(g.to_numpy()).mean()
    blup = m * s2a / lam1 * resid_means
    names = list(spec["fixed"])
    return {
        "var_comp": {spec["random"][0]: s2a, "residual": s2e},
        "beta": dict(zip(["(Intercept)", *names], b)),
        "u": {spec["random"][0]: blup},
    }


def _penicillin_reml() -> dict:
    data = load("penicillin")
    Y = data.pivot(index="plate", columns="sample", values="diameter").to_numpy(float)
    n_i, n_j = Y.shape
    m = Y.mean()
    ms_a = n_j * np.sum((Y.mean(axis=1) - m) ** 2) / (n_i - 1)
    ms_b = n_i * np.sum((Y.mean(axis=0) - m) ** 2) / (n_j - 1)
    res = Y - Y.mean(axis=1, keepdims=True) - Y.mean(axis=0, keepdims=True) + m
    ms_e = np.sum(res**2) / ((n_i - 1) * (n_j - 1))
    return {
        "var_comp": {"plate": (ms_a - ms_e) / n_j, "sample": (ms_b - ms_e) / n_i, "residual": ms_e},
        "beta": {"(Intercept)": m},
    }


def _pastes_reml() -> dict:
    data = load("pastes").sort_values(["batch", "cask"], kind="stable")
    y = data["strength"].to_numpy(float).reshape(10, 3, 2)
    m = y.mean()
    mb = y.mean(axis=(1, 2))
    mc = y.mean(axis=2)
    ms_b = 6 * np.sum((mb - m) ** 2) / 9
    ms_c = 2 * np.sum((mc - mb[:, None]) ** 2) / 20
    ms_e = np.sum((y - mc[:, :, None]) ** 2) / 30
    return {
        "var_comp": {"batch": (ms_b - ms_c) / 6, "batch:cask": (ms_c - ms_e) / 2, "residual": ms_e},
        "beta": {"(Intercept)": m},
    }


EXACT = {
    ("dyestuff", "REML"): lambda: _one_way("dyestuff", "REML"),
    ("dyestuff", "ML"): lambda: _one_way("dyestuff", "ML"),
    ("sleepstudy", "REML"): lambda: _one_way("sleepstudy", "REML"),
    ("sleepstudy", "ML"): lambda: _one_way("sleepstudy", "ML"),
    ("penicillin", "REML"): _penicillin_reml,
    ("pastes", "REML"): _pastes_reml,
}


@pytest.mark.parametrize(("name", "method"), sorted(EXACT))
def test_balanced_designs_match_closed_form(name: str, method: str) -> None:
    exact = EXACT[(name, method)]()
    assert all(v > 0 for v in exact["var_comp"].values())  # interior: ANOVA = REML
    res = fit(name, method)
    for k, v in exact["var_comp"].items():
        assert res.var_comp[k] == pytest.approx(v, rel=RTOL_EXACT), k
    for k, v in exact["beta"].items():
        assert res.beta[k] == pytest.approx(v, rel=RTOL_EXACT), k
    for term, want in exact.get("u", {}).items():
        got = res.u[term]
        got = pd.Series(got.to_numpy(), index=got.index.astype(str)).loc[want.index.astype(str)]
        np.testing.assert_allclose(
            got.to_numpy(), want.to_numpy(), rtol=0, atol=RTOL_EXACT * float(np.max(np.abs(want)))
        )


def test_closed_forms_agree_with_lme4() -> None:
    """The formulas above are right: they reproduce lme4's tight fits (to lme4's ~1e-7)."""
    for (name, method), make in EXACT.items():
        ref = fixture(name)[method]["var_comp"]
        for k, v in make()["var_comp"].items():
            assert v == pytest.approx(ref["Residual" if k == "residual" else k], rel=1e-6), (name, k)


# ---------------------------------------------------------------------------------------
# The DataFrame entry point builds the same model from column names (lme4's formula
# terms: "batch:cask" is the interaction, levels "A:a").
@pytest.mark.parametrize(("name", "method"), CASES)
def test_frame_entry_point_matches_lme4(name: str, method: str) -> None:
    spec = MODELS[name]
    ref = fixture(name)[method]
    res = imputer.fit_mixed_frame(
        load(name), spec["y"], fixed=spec["fixed"] or None, random=spec["random"], method=method
    )
    assert list(res.var_comp.index) == [*spec["random"], "residual"]
    assert list(res.beta.index) == list(ref["fixef"])
    resid = ref["var_comp"]["Residual"]
    for term in spec["random"]:
        want = ref["var_comp"][lme4_name(term)]
        assert abs(res.var_comp[term] - want) <= RTOL_VC * max(want, 1e-3 * resid), term
        want_u = pd.Series(ref["ranef"][lme4_name(term)])
        got_u = res.u[term]
        assert sorted(map(str, got_u.index)) == sorted(want_u.index)
        got_u = pd.Series(got_u.to_numpy(), index=got_u.index.astype(str)).loc[want_u.index]
        scale = max(float(np.max(np.abs(want_u))), 1e-3 * np.sqrt(resid))
        np.testing.assert_allclose(got_u.to_numpy(), want_u.to_numpy(), rtol=0, atol=1e-5 * scale)
    for k, v in ref["fixef"].items():
        assert res.beta[k] == pytest.approx(v, rel=RTOL_VC), k
    assert res.loglik == pytest.approx(ref["loglik"], rel=RTOL_LOGLIK)
