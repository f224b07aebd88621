"""Shared test data and naive per-row formulas for the MVN engine tests.

The naive formulas loop over rows and use textbook expressions (``np.linalg.solve`` on
``Sigma_OO``; ``scipy.stats.multivariate_normal``), sharing no code with the engine,
which works with the precision matrix and per-pattern sweeps.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

DATA = Path(__file__).resolve().parents[2] / "data"


def naive_conditional(values: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ``mu_M + S_MO S_OO^-1 (x_O - mu_O)`` and ``diag(S_MM - S_MO S_OO^-1 S_OM)``."""
    filled = values.copy()
    var = np.zeros_like(values)
    for i, row in enumerate(values):
        m = np.isnan(row)
        o = ~m
        if not m.any():
            continue
        if not o.any():
            filled[i] = mean
            var[i] = np.diag(cov)
            continue
        s_oo = cov[np.ix_(o, o)]
        s_mo = cov[np.ix_(m, o)]
        filled[i, m] = mean[m] + s_mo @ np.linalg.solve(s_oo, row[o] - mean[o])
        var[i, m] = np.diag(cov[np.ix_(m, m)] - s_mo @ np.linalg.solve(s_oo, s_mo.T))
    return filled, var


def naive_completion(values: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows completed by ``mu_M + S_MO S_OO^-1 (x_O - mu_O)`` and the sum of the embedded
    ``C_M = S_MM - S_MO S_OO^-1 S_OM``, shape (p, p), row by row (every row observes a cell)."""
    zhat = values.copy()
    cond = np.zeros_like(cov)
    for i, row in enumerate(values):
        m = np.isnan(row)
        o = ~m
        if not m.any():
            continue
        reg = np.linalg.solve(cov[np.ix_(o, o)], cov[np.ix_(o, m)]).T
        zhat[i, m] = mean[m] + reg @ (row[o] - mean[o])
        cond[np.ix_(m, m)] += cov[np.ix_(m, m)] - reg @ cov[np.ix_(o, m)]
    return zhat, cond


def naive_loglik(values: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> float:
    """``sum_i log N(x_{i,O}; mu_O, S_OO)`` row by row (rows with nothing observed: 0)."""
    total = 0.0
    for row in values:
        o = ~np.isnan(row)
        if o.any():
            total += float(multivariate_normal(mean[o], cov[np.ix_(o, o)]).logpdf(row[o]))
    return total


def naive_logpost(values: np.ndarray, mean: np.ndarray, cov: np.ndarray, ridge: float) -> float:
    """Log-likelihood minus ``ridge/2 (log|S| + tr(S^-1 D))``, ``D`` = observed variances."""
    d = np.diag(np.nanvar(values, axis=0))
    sign, logdet = np.linalg.slogdet(cov)
    return naive_loglik(values, mean, cov) - 0.5 * ridge * (logdet + np.trace(np.linalg.solve(cov, d)))


def simulate(n: int, p: int, *, seed: int, mechanism: str = "mcar", rate: float = 0.2) -> pd.DataFrame:
    """Correlated normal data with MCAR or MAR (column 0 observed, drives missingness) cells."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(p, p))
    cov = a @ a.T / p + np.diag(rng.uniform(0.2, 1.0, p))
    scale = rng.uniform(0.5, 20.0, p)
    cov = cov * np.outer(scale, scale)
    x = rng.multivariate_normal(rng.normal(0.0, 10.0, p), cov, size=n)
    if mechanism == "mcar":
        miss = rng.random((n, p)) < rate
    else:
        z = (x[:, 0] - x[:, 0].mean()) / x[:, 0].std()
        prob = 1.0 / (1.0 + np.exp(-(np.log(rate / (1 - rate)) + 1.5 * z)))
        miss = rng.random((n, p)) < prob[:, None]
        miss[:, 0] = False
    x[miss] = np.nan
    return pd.DataFrame(x, columns=[f"v{j}" for j in range(p)])


@pytest.fixture(scope="session")
def airquality() -> pd.DataFrame:
    return pd.read_csv(DATA / "airquality.csv")


@pytest.fixture(scope="session")
def naive() -> SimpleNamespace:
    return SimpleNamespace(
        conditional=naive_conditional, loglik=naive_loglik, logpost=naive_logpost, simulate=simulate
    )


@pytest.fixture(params=["sklearn", "local"])
def Est(request: pytest.FixtureRequest) -> type:
    """``EMImputer`` from scikit-learn's base classes, and from the local stand-ins (loaded with sklearn hidden)."""
    from imputer.mvn import estimator as sk_module
    from tests.imputer.mvn.test_estimator import LOCAL_MODULE

    return sk_module.EMImputer if request.param == "sklearn" else LOCAL_MODULE.EMImputer


@pytest.fixture(scope="module")
def air() -> pd.DataFrame:
    """R's airquality, its four measurements."""
    return pd.read_csv(DATA / "airquality.csv")[["Ozone", "Solar.R", "Wind", "Temp"]]
