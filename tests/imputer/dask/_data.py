"""Helpers of the Dask engine's tests: MAR tables, comparison with the in-memory fit.

The reference is the in-memory engine (:func:`imputer.impute` on the same pandas table),
itself checked against direct likelihood maximisation in ``tests/imputer/mvn``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imputer

#: Largest difference allowed between the Dask and the in-memory estimates, in SD units.
SD_TOL = 1e-10


def mar_table(n: int, p: int, seed: int) -> pd.DataFrame:
    """``n x p`` correlated normal rows; column 0 complete, the others missing at random given it."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((p, p)) / 2 + np.eye(p)
    x = rng.standard_normal((n, p)) @ a + np.arange(p) * 10.0
    prob = 0.3 / (1.0 + np.exp(-(x[:, 0] - x[:, 0].mean())))  # missingness depends on column 0
    miss = rng.random((n, p)) < prob[:, None]
    miss[:, 0] = False
    x[miss] = np.nan
    frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(p)])
    frame["site"] = np.where(rng.random(n) < 0.5, "north", "south")  # carried through
    return frame


def assert_same_estimates(got: object, ref: imputer.ImputeResult, spare: int = 0) -> None:
    """Mean and covariance within ``SD_TOL`` standard deviations; the rest as the reference's,
    the iterations and evaluations within ``spare`` of its (the history compared over the
    iterations both made)."""
    sd = np.sqrt(np.diag(ref.cov.to_numpy()))
    assert list(got.mean.index) == list(ref.mean.index)
    assert np.max(np.abs(got.mean.to_numpy() - ref.mean.to_numpy()) / sd) <= SD_TOL
    assert np.max(np.abs(got.cov.to_numpy() - ref.cov.to_numpy()) / np.outer(sd, sd)) <= SD_TOL
    assert np.max(np.abs(got.corr.to_numpy() - ref.corr.to_numpy())) <= SD_TOL
    assert got.loglik == pytest.approx(ref.loglik, rel=1e-12)
    assert abs(got.n_iter - ref.n_iter) <= spare and abs(got.n_evals - ref.n_evals) <= spare
    assert got.converged == ref.converged
    # the iterates on the way agree to rounding amplified by SQUAREM's extrapolations
    both = min(got.n_iter, ref.n_iter)
    np.testing.assert_allclose(got.loglik_history[:both], ref.loglik_history[:both], rtol=1e-10)
    pd.testing.assert_series_equal(got.n_missing, ref.n_missing)
    assert got.n_patterns == ref.n_patterns and got.n_rows == ref.n_rows


