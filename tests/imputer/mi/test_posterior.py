"""Data augmentation against an independent row-by-row Gibbs sampler (tests/reference/mvn_gibbs.py).

Both chains target the posterior of ``(mu, Sigma)`` given the observed cells under the same
prior; their long-run means of every parameter must agree within Monte-Carlo error
(4 standard errors of the difference, each chain's standard error by batch means).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import imputer
from imputer.mi._posterior import acf
from tests.imputer.mi.simulate import mar_table
from tests.reference.mvn_gibbs import batch_means_se, gibbs_chain

N_REF = 1200
M_OURS = 600
THIN = 2


def _flat(mus: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    p = mus.shape[1]
    iu = np.triu_indices(p)
    return np.column_stack([mus, sigmas[:, iu[0], iu[1]]])


@pytest.mark.parametrize(("n", "p", "ridge", "seed"), [(40, 3, 0.0, 3), (30, 3, 4.0, 5)])
def test_chain_means_agree_with_a_row_by_row_gibbs_sampler(n: int, p: int, ridge: float, seed: int) -> None:
    df, _, _ = mar_table(n, p, seed=seed, rate=0.3)
    assert df.isna().any().any()
    mi = imputer.multiple_impute(df, m=M_OURS, ridge=ridge, seed=seed, burn_in=50, thin=THIN)
    ours = _flat(np.array([mu.to_numpy() for mu, _ in mi.params]), np.array([c.to_numpy() for _, c in mi.params]))
    mus, sigmas = gibbs_chain(df.to_numpy(), N_REF, ridge=ridge, seed=seed)
    ref = _flat(mus[100:], sigmas[100:])
    se = np.sqrt(batch_means_se(ours) ** 2 + batch_means_se(ref) ** 2)
    diff = ours.mean(axis=0) - ref.mean(axis=0)
    assert np.all(np.abs(diff) < 4 * se), diff / se
    # and the spread: posterior standard deviations agree to ~20%
    np.testing.assert_allclose(ours.std(axis=0), ref.std(axis=0), rtol=0.2)


def test_posterior_of_complete_data_is_the_jeffreys_niw() -> None:
    """No missing cell: every draw comes from IW(n-1, A) x N(xbar, Sigma/n) (original units).

    Reference: E[Sigma] = A / (n - p - 2), E[mu] = xbar, Var(mu_j) = E[Sigma_jj] / n.
    """
    rng = np.random.default_rng(2)
    x = rng.multivariate_normal([1.0, -2.0], [[4.0, 1.0], [1.0, 2.0]], size=30)
    import pandas as pd

    df = pd.DataFrame(x, columns=["a", "b"])
    mi = imputer.multiple_impute(df, m=2000, seed=4)
    assert mi.burn_in == 1 and mi.thin == 1 and mi.rate == 0.0
    sig = np.array([c.to_numpy() for _, c in mi.params])
    mus = np.array([m.to_numpy() for m, _ in mi.params])
    a = (x - x.mean(axis=0)).T @ (x - x.mean(axis=0))
    e_sigma = a / (30 - 2 - 2)
    var11 = 2 * a[0, 0] ** 2 / ((30 - 1 - 2 - 1) ** 2 * (30 - 1 - 2 - 3))
    assert abs(sig[:, 0, 0].mean() - e_sigma[0, 0]) < 4.5 * np.sqrt(var11 / 2000)
    np.testing.assert_allclose(sig.mean(axis=0), e_sigma, rtol=0.05)
    np.testing.assert_allclose(mus.mean(axis=0), x.mean(axis=0), atol=4.5 * np.sqrt(np.diag(e_sigma).max() / 30 / 2000))
    np.testing.assert_allclose(mus.var(axis=0), np.diag(e_sigma) / 30, rtol=0.15)
    # every imputation is the data itself
    for imp in mi.imputations[:3]:
        assert imp.equals(df)


def test_ridge_posterior_mean_is_impute_mode_rescaled() -> None:
    """Complete data, ridge lambda: E[Sigma] = mode * (n + lambda) / (n + lambda - p - 2) (_pstep docstring)."""
    import pandas as pd

    rng = np.random.default_rng(8)
    df = pd.DataFrame(rng.normal(size=(25, 3)) * [1.0, 3.0, 0.5], columns=list("abc"))
    lam = 3.0
    mode = imputer.impute(df, ridge=lam).cov.to_numpy()
    mi = imputer.multiple_impute(df, m=2000, ridge=lam, seed=1)
    sig = np.array([c.to_numpy() for _, c in mi.params])
    expected = mode * (25 + lam) / (25 + lam - 3 - 2)
    np.testing.assert_allclose(sig.mean(axis=0), expected, rtol=0.06, atol=0.03 * np.sqrt(np.outer(np.diag(expected), np.diag(expected))).max())


def test_wlf_diagnostic() -> None:
    df, _, _ = mar_table(150, 3, seed=9, rate=0.35)
    mi = imputer.multiple_impute(df, m=40, seed=2)
    assert mi.rate is not None and 0.0 < mi.rate < 1.0
    assert len(mi.wlf) == mi.burn_in + mi.m * mi.thin
    assert mi.wlf.index.name == "iteration" and mi.wlf_acf.index.name == "lag"
    np.testing.assert_allclose(mi.wlf_acf.to_numpy(), acf(mi.wlf.to_numpy()[mi.burn_in :], len(mi.wlf_acf) - 1))
    assert mi.wlf_acf.iloc[0] == 1.0
    # the WLF at iteration 0 is at the EM estimate, its later values vary
    assert mi.wlf.std() > 0


@pytest.mark.parametrize(("x", "lag", "expected"), [([1.0, 2.0, 3.0, 4.0], 2, [1.0, 0.25, -0.3]), ([2.0, 2.0], 1, [np.nan, np.nan])])
def test_acf_is_the_biased_estimator(x: list[float], lag: int, expected: list[float]) -> None:
    # R: acf(c(1, 2, 3, 4), lag.max = 2, plot = FALSE) -> 1.00 0.25 -0.30
    np.testing.assert_allclose(acf(np.array(x), lag), expected)


def test_extremely_slow_convergence_caps_the_chain_and_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    from imputer.mi import _rate, api

    monkeypatch.setattr(api, "em_rate", lambda *a: _rate.EMRate(rate=0.99999, direction=np.eye(9)[0], n_evals=1))
    monkeypatch.setattr(_rate, "MAX_BURN_IN", 7)
    monkeypatch.setattr(_rate, "MAX_THIN", 2)
    df, _, _ = mar_table(60, 3, seed=1)
    with pytest.warns(imputer.ConvergenceWarning, match="converges extremely slowly"):
        mi = imputer.multiple_impute(df, m=2, seed=1)
    assert (mi.burn_in, mi.thin) == (7, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        imputer.multiple_impute(df, m=2, seed=1, burn_in=3, thin=1)
