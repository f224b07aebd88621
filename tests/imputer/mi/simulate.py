"""Shared data for the multiple-imputation tests: small MAR tables with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd


def mar_table(n: int, p: int, *, seed: int, rate: float = 0.25, scale: float = 1.0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """``(frame, mu, Sigma)``: normal rows, column 0 always observed and driving the missingness (MAR)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(p, p))
    cov = (a @ a.T / p + np.diag(rng.uniform(0.3, 1.0, p))) * scale**2
    mu = rng.normal(0.0, 3.0, p)
    x = rng.multivariate_normal(mu, cov, size=n)
    z = (x[:, 0] - x[:, 0].mean()) / x[:, 0].std()
    prob = 1.0 / (1.0 + np.exp(-(np.log(rate / (1 - rate)) + 1.0 * z)))
    miss = rng.random((n, p)) < prob[:, None]
    miss[:, 0] = False
    x[miss] = np.nan
    return pd.DataFrame(x, columns=[f"v{j}" for j in range(p)]), mu, cov
