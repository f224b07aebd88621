"""Shared data for the multivariate-t tests: airquality and simulated t data with MAR holes.

``t_data(n, p, seed, ...)`` draws ``x = mu + z / sqrt(w)``, ``z ~ N(0, Sigma)``,
``w ~ Gamma(nu/2, rate nu/2)`` (a t with ``nu`` degrees of freedom), plants ``outliers``
complete rows far out (``OUTLIER_ROWS``), and, with ``mar=True``, removes cells of the
columns after the first with a probability that rises with the first column (missing at
random; the outlier rows stay complete).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[2] / "data"
AIR_COLUMNS = ["Ozone", "Solar.R", "Wind", "Temp"]
#: the rows of ``t_data`` that hold the planted outliers
OUTLIER_ROWS = (7, 101, 202)


def t_data(n: int, p: int, *, seed: int, nu: float = 4.0, mar: bool = True, outliers: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(p, p))
    sigma = a @ a.T / p + np.diag(rng.uniform(0.3, 1.0, p))
    scale = rng.uniform(0.5, 20.0, p)
    sigma *= np.outer(scale, scale)
    mu = rng.normal(0.0, 10.0, p)
    z = rng.multivariate_normal(np.zeros(p), sigma, size=n)
    w = rng.gamma(nu / 2.0, 2.0 / nu, size=n)
    x = mu + z / np.sqrt(w)[:, None]
    if outliers:
        for k, i in enumerate(OUTLIER_ROWS):
            x[i] = mu + (12.0 + 4 * k) * np.sqrt(np.diag(sigma)) * np.where(np.arange(p) % 2 == 0, 1.0, -1.0)
    if mar:
        u = (x[:, 0] - np.median(x[:, 0])) / np.std(x[:, 0])
        prob = 1.0 / (1.0 + np.exp(-(-1.2 + 1.5 * u)))
        miss = rng.random((n, p)) < prob[:, None]
        miss[:, 0] = False
        if outliers:
            miss[list(OUTLIER_ROWS)] = False
        x[miss] = np.nan
    return pd.DataFrame(x, columns=[f"v{j}" for j in range(p)])


def datasets() -> dict[str, pd.DataFrame]:
    air = pd.read_csv(DATA / "airquality.csv")[AIR_COLUMNS]
    return {
        "airquality": air,
        "t_mar": t_data(300, 3, seed=11),
        "airquality_complete": air.dropna().reset_index(drop=True),
        "t_complete": t_data(250, 3, seed=12, mar=False),
    }


@pytest.fixture(scope="session")
def mvt_data() -> dict[str, pd.DataFrame]:
    return datasets()
