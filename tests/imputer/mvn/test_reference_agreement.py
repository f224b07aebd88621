"""``imputer.impute`` agrees with an independent maximiser of the observed-data likelihood.

The reference (:mod:`tests.reference.mvn_mle`) maximises the observed-data
log-likelihood directly over the mean and a Cholesky factor of the covariance with
scipy.optimize (no EM, no shared code). Agreement is measured in standard-deviation
units of the reference estimate:

* mean: ``max_j |mu_j - mu*_j| / sqrt(S*_jj)``
* covariance: ``max_jk |S_jk - S*_jk| / sqrt(S*_jj S*_kk)``

and must be below ``1e-5``; impute's log-likelihood must not be lower than the
reference's (minus ``1e-8`` relative slack) and must equal the naive per-row
log-likelihood evaluated at impute's own estimate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.optimize

import imputer
from tests.reference.mvn_mle import _groups, _Objective, mvn_mle, observed_loglik

DATA = Path(__file__).resolve().parents[2] / "data"
AGREE = 1e-5  # standard-deviation units
LL_SLACK = 1e-8  # relative
# impute's tol is a relative parameter change; at the default the EM iterate sits
# well within AGREE of the fixed point on these data sets.
FIT_KW: dict[str, float] = {}


def _sd_units(mean: np.ndarray, cov: np.ndarray, ref_mean: np.ndarray, ref_cov: np.ndarray) -> tuple[float, float]:
    sd = np.sqrt(np.diag(ref_cov))
    return (
        float(np.max(np.abs(mean - ref_mean) / sd)),
        float(np.max(np.abs(cov - ref_cov) / np.outer(sd, sd))),
    )


def ridge_prior(lam: float, values: np.ndarray):  # type: ignore[no-untyped-def]
    """The engine's documented ridge prior (imputer/_gaussian/objective.py, imputer/mvn/_fit.py), original units.

    ``log p(Sigma) = -(lam/2) [log|Sigma| + tr(Sigma^{-1} D)]`` (flat on ``mu``), with
    ``D = diag(s_j^2)``, ``s_j`` the standard deviation (divisor ``n_j``) of column ``j``'s
    observed cells -- an inverse-Wishart-type prior pulling ``Sigma`` toward ``D``; the
    posterior mode has ``Sigma = (A + lam D) / (n + lam)``. Gradient in ``Sigma``
    (symmetric form): ``-(lam/2) (Sigma^{-1} - Sigma^{-1} D Sigma^{-1})``.
    """
    d = np.diag(np.nanvar(values, axis=0))

    def prior(mu: np.ndarray, sigma: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        inv = np.linalg.inv(sigma)
        logdet = np.linalg.slogdet(sigma)[1]
        lp = -0.5 * lam * (logdet + float(np.trace(inv @ d)))
        return lp, np.zeros_like(mu), -0.5 * lam * (inv - inv @ d @ inv)

    return prior


def _check_agreement(frame: pd.DataFrame, columns: list[str] | None = None, ridge: float = 0.0) -> None:
    res = imputer.impute(frame, columns=columns, ridge=ridge, **FIT_KW)
    cols = list(res.mean.index)
    if columns is not None:
        assert cols == columns
    values = frame[cols].to_numpy(dtype=float, na_value=np.nan)
    prior = ridge_prior(ridge, values) if ridge > 0 else None
    ref = mvn_mle(values, prior=prior)
    assert ref.grad_norm < 1e-9, "reference did not reach a stationary point"

    mean = res.mean.to_numpy(dtype=float)
    cov = res.cov.loc[cols, cols].to_numpy(dtype=float)
    d_mean, d_cov = _sd_units(mean, cov, ref.mean, ref.cov)
    assert d_mean < AGREE, f"mean differs by {d_mean:.3g} sd"
    assert d_cov < AGREE, f"covariance differs by {d_cov:.3g} sd*sd"

    # impute's loglik is the observed-data loglik at its own estimate, constants included ...
    naive = observed_loglik(values, mean, cov)
    assert res.loglik == pytest.approx(naive, rel=1e-10, abs=1e-9)
    # ... and it is (up to rounding) the maximum (of the log-posterior, with a prior).
    objective = res.loglik + (prior(mean, cov)[0] if prior is not None else 0.0)
    assert objective >= ref.objective - LL_SLACK * max(1.0, abs(ref.objective))
    assert res.converged


# ----------------------------------------------------------------- the reference itself


def test_reference_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(60, 4)) @ rng.normal(size=(4, 4))
    x[rng.random(x.shape) < 0.25] = np.nan
    f = _Objective(_groups(x), 4, 60, None)
    for _ in range(3):
        v = rng.normal(scale=0.3, size=4 + 4 + 6)
        err = scipy.optimize.check_grad(lambda w: f(w)[0], lambda w: f(w)[1], v)
        assert err < 1e-5 * max(1.0, float(np.linalg.norm(f(v)[1])))


def test_reference_objective_matches_naive_loglik() -> None:
    rng = np.random.default_rng(12)
    x = rng.normal(size=(40, 3))
    x[rng.random(x.shape) < 0.3] = np.nan
    f = _Objective(_groups(x), 3, 40, None)
    v = rng.normal(scale=0.3, size=3 + 3 + 3)
    mu, low = f.unpack(v)
    assert -40 * f(v)[0] == pytest.approx(observed_loglik(x, mu, low @ low.T), rel=1e-12)


def test_reference_complete_data_closed_form() -> None:
    # No missing cells: MLE = sample mean and the 1/n sample covariance.
    rng = np.random.default_rng(13)
    x = rng.normal(size=(50, 4)) @ rng.normal(size=(4, 4)) + 3.0
    ref = mvn_mle(x)
    np.testing.assert_allclose(ref.mean, x.mean(axis=0), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ref.cov, np.cov(x.T, bias=True), rtol=1e-9, atol=1e-10)


# ----------------------------------------------------------------------------- data sets


@pytest.mark.parametrize(
    "columns",
    [
        pytest.param(None, id="all-numeric"),  # Month and Day: fully observed covariates
        pytest.param(["Ozone", "Solar.R", "Wind", "Temp"], id="measurements-only"),
    ],
)
def test_airquality(columns: list[str] | None) -> None:
    frame = pd.read_csv(DATA / "airquality.csv")
    _check_agreement(frame, columns)


def _simulate(seed: int, n: int, p: int, mechanism: str) -> pd.DataFrame:
    """MVN rows with a random correlated covariance; MCAR cells or MAR on column x0.

    MAR: x0 is always observed and every other cell of a row is missing with
    probability ``expit(-1.2 + 1.5 * z0)`` (z0 = standardised x0), so missingness
    depends on observed values only.
    """
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(p, p))
    cov = a @ a.T + 0.5 * np.eye(p)
    mean = rng.normal(scale=5.0, size=p)
    x = rng.multivariate_normal(mean, cov, size=n)
    if mechanism == "MCAR":
        miss = rng.random((n, p)) < 0.25
    else:
        z0 = (x[:, 0] - x[:, 0].mean()) / x[:, 0].std()
        prob = 1.0 / (1.0 + np.exp(-(-1.2 + 1.5 * z0)))
        miss = rng.random((n, p)) < prob[:, None]
        miss[:, 0] = False
    x[miss] = np.nan
    return pd.DataFrame(x, columns=[f"x{j}" for j in range(p)])


@pytest.mark.parametrize("mechanism", ["MCAR", "MAR"])
@pytest.mark.parametrize(("seed", "n", "p"), [(1, 80, 2), (2, 150, 3), (3, 300, 5), (4, 500, 7)])
def test_simulated(mechanism: str, seed: int, n: int, p: int) -> None:
    _check_agreement(_simulate(seed, n, p, mechanism))


def test_simulated_mar_is_not_mcar() -> None:
    # Guard on the generator: under MAR the rows with missing x1 have larger x0.
    frame = _simulate(5, 2000, 3, "MAR")
    miss = frame["x1"].isna()
    assert frame.loc[miss, "x0"].mean() > frame.loc[~miss, "x0"].mean() + 0.3 * frame["x0"].std()
    assert frame["x0"].notna().all()


@pytest.mark.parametrize("ridge", [0.5, 5.0])
def test_airquality_ridge_posterior_mode(ridge: float) -> None:
    _check_agreement(pd.read_csv(DATA / "airquality.csv"), ["Ozone", "Solar.R", "Wind", "Temp"], ridge)


@pytest.mark.parametrize(("seed", "n", "p", "ridge"), [(6, 12, 15, 1.0), (7, 40, 6, 0.1)], ids=["wide", "narrow"])
def test_simulated_ridge_posterior_mode(seed: int, n: int, p: int, ridge: float) -> None:
    # p >= n: the likelihood has no maximum; the posterior mode exists and is unique.
    _check_agreement(_simulate(seed, n, p, "MCAR"), ridge=ridge)


def _hard(seed: int) -> pd.DataFrame:
    """Slow EM: correlations ~0.9 and half the cells missing (large fraction of missing info)."""
    rng = np.random.default_rng(seed)
    p = 4
    cov = 0.9 * np.ones((p, p)) + 0.1 * np.eye(p)
    x = rng.multivariate_normal(np.zeros(p), cov, size=200)
    x[rng.random(x.shape) < 0.5] = np.nan
    return pd.DataFrame(x, columns=[f"x{j}" for j in range(p)])


@pytest.mark.parametrize("accelerate", [True, False], ids=["squarem", "plain-em"])
def test_high_missing_information(accelerate: bool) -> None:
    frame = _hard(8)
    res = imputer.impute(frame, accelerate=accelerate)
    values = frame.to_numpy(dtype=float)
    ref = mvn_mle(values)
    assert ref.grad_norm < 1e-9
    d_mean, d_cov = _sd_units(res.mean.to_numpy(), res.cov.to_numpy(), ref.mean, ref.cov)
    assert d_mean < AGREE and d_cov < AGREE, (d_mean, d_cov, res.n_iter)
    assert res.loglik >= ref.objective - LL_SLACK * abs(ref.objective)
    assert res.converged
