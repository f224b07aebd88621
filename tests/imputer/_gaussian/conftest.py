"""Test data and row-by-row reference formulas for the Gaussian kernel layer.

The references loop over rows with textbook expressions (``np.linalg.solve`` on
``Sigma_OO``, ``np.linalg.slogdet``), sharing no code with the kernels, which work with
the precision matrix, per-pattern sweeps and update-form conditional means.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

LOG_2PI = float(np.log(2.0 * np.pi))


def make_case(name: str) -> SimpleNamespace:
    """Data (NaN = missing), a mean and a covariance for one named case.

    * ``small``: 600 x 5, 30% MCAR: few patterns, all frequent (dense shortcut), a row with
      nothing observed, complete rows;
    * ``medium``: 300 x 12, 40% MCAR: blocks up to m ~ 10 (the sweep's einsum path);
    * ``wide``: 120 x 36, 15% MCAR plus rows with 33 and 36 missing cells (LAPACK path
      for m >= 32);
    * ``sparse``: 60 x 100, 90% MCAR: rows observing a few cells each, where the observed
      route (:mod:`imputer._gaussian.observed`) is the cheaper one.
    """
    n, p, rate, seed = {
        "small": (600, 5, 0.3, 1),
        "medium": (300, 12, 0.4, 2),
        "wide": (120, 36, 0.15, 3),
        "sparse": (60, 100, 0.9, 4),
    }[name]
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(p, p))
    cov = a @ a.T / p + np.diag(rng.uniform(0.5, 1.5, p))
    mean = rng.normal(size=p)
    x = rng.multivariate_normal(mean + 0.3, cov, size=n)
    x[rng.random((n, p)) < rate] = np.nan
    x[0] = np.nan
    if name == "wide":
        x[1:4, :33] = np.nan
    return SimpleNamespace(name=name, x=x, mean=mean, cov=cov, n=n, p=p)


CASES = ["small", "medium", "wide", "sparse"]


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest) -> SimpleNamespace:
    return make_case(request.param)


def naive_row(row: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(zhat, C embedded (p, p), log|C_M|)`` for one row, by ``Sigma_MO Sigma_OO^-1``."""
    m = np.isnan(row)
    o = ~m
    zhat = row.copy()
    c = np.zeros((row.size, row.size))
    if not m.any():
        return zhat, c, 0.0
    s_mo = cov[np.ix_(m, o)]
    s_oo = cov[np.ix_(o, o)]
    zhat[m] = mean[m] + s_mo @ np.linalg.solve(s_oo, row[o] - mean[o]) if o.any() else mean[m]
    c_m = cov[np.ix_(m, m)] - (s_mo @ np.linalg.solve(s_oo, s_mo.T) if o.any() else 0.0)
    c[np.ix_(m, m)] = c_m
    return zhat, c, float(np.linalg.slogdet(c_m)[1])


def naive_stats(x: np.ndarray, mean: np.ndarray, cov: np.ndarray, w: np.ndarray, v: np.ndarray) -> dict:
    """Weighted E-step sums, one row at a time (the formulas of imputer/_gaussian/stats.py)."""
    p = x.shape[1]
    out = {"weight": 0.0, "cov_weight": 0.0, "entropy": 0.0}
    out.update(s1=np.zeros(p), s2=np.zeros((p, p)), cond=np.zeros((p, p)))
    for row, wi, vi in zip(x, w, v):
        zhat, c, logdet = naive_row(row, mean, cov)
        m = int(np.isnan(row).sum())
        out["weight"] += wi
        out["cov_weight"] += vi
        out["s1"] += wi * zhat
        out["s2"] += wi * np.outer(zhat, zhat)
        out["cond"] += vi * c
        if m:
            out["entropy"] += 0.5 * vi * (m * (LOG_2PI + 1.0) + logdet)
    return out


def assert_stats(stats, ref: dict, rtol: float = 1e-9) -> None:  # type: ignore[no-untyped-def]
    """Every field of a SufficientStats equal to the reference (dict or SufficientStats)."""
    get = ref.get if isinstance(ref, dict) else (lambda k: getattr(ref, k))
    scale = max(1.0, float(np.max(np.abs(get("s2")))))
    for key in ("weight", "cov_weight", "entropy", "s1", "s2", "cond"):
        np.testing.assert_allclose(getattr(stats, key), get(key), rtol=rtol, atol=rtol * scale, err_msg=key)


@pytest.fixture(scope="session")
def ref() -> SimpleNamespace:
    """The reference formulas, for the test modules (conftest is not importable by name)."""
    return SimpleNamespace(row=naive_row, stats=naive_stats, assert_stats=assert_stats, make_case=make_case)
