"""Multiple imputation under the multivariate t and the Gaussian mixture.

References:

* The draw step (:func:`imputer.mi._conditional.draw_conditional`) at fixed parameters
  against the model's conditional mean and variance computed independently here, row by
  row with numpy (the t: the conditional t with ``nu + p_o`` dof and scale
  ``(nu + d^2)/(nu + p_o) C_M``, variance ``(nu + d^2)/(nu + p_o - 2) C_M``; the mixture:
  responsibilities from scipy's ``multivariate_normal`` densities, law of total
  variance). Each missing cell is drawn ``R`` times; the standardised residuals
  ``(x - E) / sd`` of all cells have mean 0 and variance 1, checked to tolerances from
  the number of draws (5 standard errors: ``1/sqrt(N)`` for the mean, ``sqrt((m4 - 1)/N)``
  for the variance, with ``m4`` the residuals' own fourth moment).
* ``multiple_impute(model=...)``: the same seed gives the same imputations, observed
  cells bit-for-bit, ``pool()`` on statsmodels fits, the ``em`` result equal to the
  model's own function, and the errors naming method and model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf

import imputer
from imputer._gaussian.layout import build_layout
from imputer.errors import ImputerValueError
from imputer.mi._conditional import conditional_moments, draw_conditional, mixture_model, t_model

P = 3


def _params() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    weights = np.array([0.6, 0.4])
    means = np.array([[0.0, 0.5, -0.3], [2.0, -1.0, 1.0]])
    a = np.array([[1.0, 0.4, 0.2], [0.4, 0.8, -0.1], [0.2, -0.1, 0.6]])
    covs = np.stack([a, np.diag([0.5, 0.7, 0.4]) + 0.1])
    return weights, means, covs


@pytest.fixture(scope="module")
def holes() -> np.ndarray:
    """400 rows of a two-component mixture with about a third of the cells missing (no empty row)."""
    rng = np.random.default_rng(11)
    weights, means, covs = _params()
    comp = rng.choice(2, size=400, p=weights)
    x = np.stack([rng.multivariate_normal(means[c], covs[c]) for c in comp])
    mask = rng.random(x.shape) < 0.33
    mask[mask.all(axis=1), 0] = False
    x[mask] = np.nan
    return x


def _hand_t(x: np.ndarray, mu: np.ndarray, scale: np.ndarray, nu: float) -> tuple[np.ndarray, np.ndarray]:
    mean, var = np.where(np.isnan(x), 0.0, x), np.zeros_like(x)
    for i, row in enumerate(x):
        o, mi = ~np.isnan(row), np.isnan(row)
        if not mi.any():
            continue
        soo_inv = np.linalg.inv(scale[np.ix_(o, o)])
        dev = row[o] - mu[o]
        d2 = dev @ soo_inv @ dev
        mean[i, mi] = mu[mi] + scale[np.ix_(mi, o)] @ soo_inv @ dev
        cm = scale[np.ix_(mi, mi)] - scale[np.ix_(mi, o)] @ soo_inv @ scale[np.ix_(o, mi)]
        var[i, mi] = (nu + d2) / (nu + o.sum() - 2.0) * np.diag(cm)
    return mean, var


def _hand_mixture(x: np.ndarray, weights: np.ndarray, means: np.ndarray, covs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, var = np.where(np.isnan(x), 0.0, x), np.zeros_like(x)
    for i, row in enumerate(x):
        o, mi = ~np.isnan(row), np.isnan(row)
        if not mi.any():
            continue
        dens = np.array([w * scipy.stats.multivariate_normal(mu[o], c[np.ix_(o, o)]).pdf(row[o]) for w, mu, c in zip(weights, means, covs)])
        r = dens / dens.sum()
        m1, m2 = np.zeros(mi.sum()), np.zeros(mi.sum())
        for rk, mu, c in zip(r, means, covs):
            coef = c[np.ix_(mi, o)] @ np.linalg.inv(c[np.ix_(o, o)])
            zhat = mu[mi] + coef @ (row[o] - mu[o])
            v = np.diag(c[np.ix_(mi, mi)] - coef @ c[np.ix_(o, mi)])
            m1 += rk * zhat
            m2 += rk * (v + zhat**2)
        mean[i, mi], var[i, mi] = m1, m2 - m1**2
    return mean, var


def _model(kind: str, data, params):
    weights, means, covs = params
    if kind == "t":
        return t_model(data, means[1], covs[0], 5.0)
    return mixture_model(data, weights, means, covs)


@pytest.mark.parametrize("kind", ["t", "mixture"])
def test_moments_equal_hand_formulas(holes: np.ndarray, kind: str) -> None:
    data = build_layout(holes)
    params = _params()
    mean, var = conditional_moments(data, _model(kind, data, params))
    weights, means, covs = params
    want = _hand_t(holes, means[1], covs[0], 5.0) if kind == "t" else _hand_mixture(holes, weights, means, covs)
    np.testing.assert_allclose(mean, want[0], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(var, want[1], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("kind", ["t", "mixture"])
def test_draws_have_the_conditional_moments(holes: np.ndarray, kind: str) -> None:
    data = build_layout(holes)
    model = _model(kind, data, _params())
    mean, var = conditional_moments(data, model)
    miss = np.isnan(holes)
    rng = np.random.default_rng(5)
    reps = 60
    resid = np.concatenate([((draw_conditional(data, model, rng) - mean) / np.sqrt(np.where(miss, var, 1.0)))[miss] for _ in range(reps)])
    n = resid.size
    m4 = float(np.mean(resid**4))
    assert abs(resid.mean()) < 5.0 / np.sqrt(n)
    assert abs(np.mean(resid**2) - 1.0) < 5.0 * np.sqrt((m4 - 1.0) / n)
    # observed cells are the data exactly
    draw = draw_conditional(data, model, rng)
    np.testing.assert_array_equal(draw[~miss], holes[~miss])


def test_mixture_draws_pick_components_by_responsibility(holes: np.ndarray) -> None:
    """A row's draws fall in the components in proportion to its responsibilities (two-component check)."""
    data = build_layout(holes)
    weights, means, covs = _params()
    # a far-apart version: the component of a draw is read off its sign
    far = means.copy()
    far[1] += 40.0
    model = mixture_model(data, weights, far, covs)
    miss = np.isnan(holes)
    rows = np.flatnonzero(miss[:, 0] & ~miss[:, 1])
    rng = np.random.default_rng(2)
    hits = np.mean([draw_conditional(data, model, rng)[rows, 0] > 20.0 for _ in range(200)], axis=0)
    want = model.resp[rows, 1]
    assert np.all(np.abs(hits - want) <= 5.0 * np.sqrt(want * (1 - want) / 200) + 1e-12)


@pytest.fixture(scope="module")
def frame(holes: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame(holes[:200], columns=["a", "b", "c"])
    df["label"] = [f"r{i}" for i in range(200)]
    return df


@pytest.fixture(scope="module", params=["t", "mixture"])
def mi_model(request: pytest.FixtureRequest, frame: pd.DataFrame) -> tuple[str, imputer.MultipleImputation]:
    opts = {"dof": 6.0} if request.param == "t" else {"n_init": 2}
    return request.param, imputer.multiple_impute(frame, 3, model=request.param, seed=4, **opts)


def test_model_mi_is_reproducible_and_keeps_observed(mi_model, frame: pd.DataFrame) -> None:
    kind, mi = mi_model
    opts = {"dof": 6.0} if kind == "t" else {"n_init": 2}
    again = imputer.multiple_impute(frame, 3, model=kind, seed=4, **opts)
    assert mi == again
    assert mi.model == kind and mi.method == "bootstrap"
    obs = frame.notna()
    for imp in mi.imputations:
        assert not imp[["a", "b", "c"]].isna().any().any()
        for col in ["a", "b", "c"]:
            np.testing.assert_array_equal(imp.loc[obs[col], col].to_numpy(), frame.loc[obs[col], col].to_numpy())
        assert imp["label"].tolist() == frame["label"].tolist()
    # the imputations differ (draws, not means)
    assert not mi.imputations[0].equals(mi.imputations[1])
    other = imputer.multiple_impute(frame, 3, model=kind, seed=5, **opts)
    assert not other.imputations[0].equals(mi.imputations[0])


def test_model_mi_em_is_the_model_fit(mi_model, frame: pd.DataFrame) -> None:
    kind, mi = mi_model
    if kind == "t":
        want = imputer.impute_t(frame, dof=6.0)
        pd.testing.assert_series_equal(mi.em.mean, want.mean)
        assert mi.em.dof == 6.0
    else:
        assert isinstance(mi.em, imputer.MixtureImputeResult)
        assert mi.em.n_components == 2
    text = mi.summary()
    assert {"t": "multivariate t", "mixture": "Gaussian mixture"}[kind] in text
    d = mi.to_dict()
    assert d["model"] == kind and d["method"] == "bootstrap" and len(d["params"]) == 3


def test_model_mi_pools(mi_model) -> None:
    _, mi = mi_model
    pooled = mi.analyze(lambda d: smf.ols("b ~ a", d).fit()).pool()
    assert list(pooled.table.index) == ["Intercept", "a"]
    assert np.all(np.isfinite(pooled.table["estimate"])) and np.all(pooled.table["b"] > 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "t", "method": "posterior"}, r"method='posterior' is not available for model='t'.*method='bootstrap'"),
        ({"model": "mixture", "method": "posterior"}, r"method='posterior' is not available for model='mixture'"),
        ({"model": "gamma"}, r"model must be one of 'normal', 't', 'mixture', got 'gamma'"),
        ({"dof": 4.0}, r"dof applies to model='t' only, not model='normal'"),
        ({"model": "t", "n_components": 3}, r"n_components applies to model='mixture' only, not model='t'"),
        ({"model": "mixture", "dof": 3.0}, r"dof applies to model='t' only, not model='mixture'"),
    ],
)
def test_model_errors(frame: pd.DataFrame, kwargs: dict, match: str) -> None:
    with pytest.raises(ImputerValueError, match=match):
        imputer.multiple_impute(frame, 2, seed=1, **kwargs)


def test_readme_model_example_runs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """README's MI-under-t/mixture block runs and gives ``multiple_impute``'s results with those options."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    readme = (root / "README.md").read_text()
    start = readme.index("### Under the multivariate t or a Gaussian mixture")
    block = re.search(r"```python\n(.*?)```", readme[start : readme.index("\n## ", start)], re.S)
    assert block is not None
    monkeypatch.chdir(root)
    ns: dict[str, object] = {}
    exec(compile(block.group(1), "README.md", "exec"), ns)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    assert "Multiple imputation (Gaussian mixture)" in out
    mi_mix, mi_t = ns["mi_mix"], ns["mi_t"]
    assert mi_mix.model == "mixture" and mi_mix.m == 10 and mi_mix.em.n_components == 2  # type: ignore[attr-defined]
    assert mi_t.model == "t" and mi_t.em.dof_estimated  # type: ignore[attr-defined]
    assert list(ns["pooled_mix"].table.index) == ["Intercept", "eruptions"]  # type: ignore[attr-defined]
