"""The GLOM against the direct maximisation of its observed-data likelihood and closed forms.

Reference values: tests/data/glom/reference.json, made by tests/data/glom/make_reference.py
with tests/reference/glom_direct.py (BFGS on an unconstrained parameterisation; no EM).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imputer
from tests.reference.glom_direct import glom_loglik

MODELS = ["saturated", "additive"]


@pytest.fixture(scope="module", params=MODELS)
def fitted(request: pytest.FixtureRequest, sim: pd.DataFrame) -> tuple[str, imputer.GlomImputeResult]:
    return request.param, imputer.impute_glom(sim, categorical=["a", "b"], means=request.param, tol=1e-10)


def _codes(df: pd.DataFrame) -> np.ndarray:
    return np.column_stack([
        pd.Categorical(df["a"], categories=["u", "v", "w"]).codes,
        pd.Categorical(df["b"], categories=[0.0, 1.0]).codes,
    ])


def test_loglik_not_below_direct_maximum(fitted, reference) -> None:
    model, res = fitted
    assert res.means == model
    assert res.loglik >= reference[model]["loglik"] - 1e-9


def test_estimates_match_direct_maximum(fitted, reference) -> None:
    model, res = fitted
    ref = reference[model]
    # cells in itertools.product order of the sorted levels: the MultiIndex's order
    assert list(res.probabilities.index) == [(a, b) for a in "uvw" for b in (0.0, 1.0)]
    np.testing.assert_allclose(res.probabilities.to_numpy(), ref["pi"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(res.cell_means.to_numpy(), ref["means"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(res.cov.to_numpy(), ref["sigma"], atol=1e-5, rtol=0)


def test_loglik_is_the_reference_formula_at_the_estimate(fitted, sim) -> None:
    _, res = fitted
    direct = glom_loglik(
        _codes(sim), sim[["x1", "x2"]].to_numpy(), [3, 2], res.probabilities.to_numpy(), res.cell_means.to_numpy(),
        res.cov.to_numpy(),
    )
    assert res.loglik == pytest.approx(direct, rel=1e-12)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("accelerate", [True, False])
def test_em_never_decreases_loglik(sim, model, accelerate) -> None:
    res = imputer.impute_glom(sim, categorical=["a", "b"], means=model, accelerate=accelerate, tol=1e-9)
    hist = res.loglik_history
    assert hist.size > 2
    assert np.all(np.diff(hist) >= -1e-10 * abs(hist[-1]))
    assert hist[-1] <= res.loglik + 1e-9


def test_additive_means_are_main_effects(fitted) -> None:
    model, res = fitted
    m = res.cell_means.to_numpy().reshape(3, 2, 2)  # (a, b, column)
    interaction = m[:, 1] - m[:, 0] - (m[0, 1] - m[0, 0])
    if model == "additive":
        np.testing.assert_allclose(interaction, 0.0, atol=1e-12)
    else:  # the simulated interaction (a = w, b = 1) shows in the saturated means
        assert np.abs(interaction).max() > 0.5


@pytest.mark.parametrize("levels", [["p", "q"], ["p", "q", "r", "s"]])
def test_one_observed_categorical_is_closed_form(levels) -> None:
    rng = np.random.default_rng(len(levels))
    n = 60
    g = np.array(levels, dtype=object)[np.arange(n) % len(levels)]
    x = rng.normal(size=(n, 3)) + np.arange(n)[:, None] % len(levels)
    df = pd.DataFrame({"g": g, "x": x[:, 0], "y": x[:, 1], "z": x[:, 2]})
    res = imputer.impute_glom(df, categorical=["g"], means="saturated")
    cols = ["x", "y", "z"]
    means = df.groupby("g")[cols].mean()
    resid = df[cols].to_numpy() - means.loc[df["g"]].to_numpy()
    pooled = resid.T @ resid / n  # within-level covariance, divisor n (maximum likelihood)
    np.testing.assert_allclose(res.cell_means.to_numpy(), means.loc[levels].to_numpy(), atol=1e-10, rtol=0)
    np.testing.assert_allclose(res.cov.to_numpy(), pooled, atol=1e-10, rtol=0)
    np.testing.assert_allclose(res.probabilities.to_numpy(), df["g"].value_counts().loc[levels].to_numpy() / n, atol=1e-12)


def test_no_categorical_column_is_impute_normal(sim) -> None:
    cont = sim[["x1", "x2"]]
    glom = imputer.impute_glom(cont, categorical=[], tol=1e-10)
    mvn = imputer.impute(cont, tol=1e-10)
    assert glom.n_cells == 1
    assert glom.loglik == pytest.approx(mvn.loglik, rel=1e-10)
    np.testing.assert_allclose(glom.cell_means.to_numpy()[0], mvn.mean.to_numpy(), atol=1e-7)
    np.testing.assert_allclose(glom.cov.to_numpy(), mvn.cov.to_numpy(), atol=1e-7)
    np.testing.assert_allclose(glom.completed.to_numpy(), mvn.completed.to_numpy(), atol=1e-6)


def test_categorical_only_is_the_multinomial(sim) -> None:
    """No continuous column: EM for the cell probabilities alone; its likelihood is the reference's with p = 0."""
    res = imputer.impute_glom(sim[["a", "b"]], categorical=["a", "b"], tol=1e-10)
    direct = glom_loglik(_codes(sim), np.zeros((len(sim), 0)), [3, 2], res.probabilities.to_numpy(), np.zeros((6, 0)), np.zeros((0, 0)))
    assert res.loglik == pytest.approx(direct, rel=1e-12)
    # the fully observed rows alone: the margins of the MLE match no simpler closed form, but
    # the probabilities of a saturated multinomial add to one and the rows' posteriors are proper
    assert res.probabilities.sum() == pytest.approx(1.0, abs=1e-12)
    for frame in res.level_probabilities.values():
        np.testing.assert_allclose(frame.sum(axis=1), 1.0, atol=1e-12)
