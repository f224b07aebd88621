"""The mixture's conditional means through the pattern pass's items against a row-by-row computation."""

from __future__ import annotations

import numpy as np
import pytest

from imputer._gaussian.layout import build_layout
from imputer.mixture._engine import mixture_moments
from imputer.mixture._fills import fill_means
from imputer.mixture._kernel import PatternPlan
from imputer.mixture._problem import MixtureParams
from tests.imputer.mixture.test_kernel import _data, _params


@pytest.mark.parametrize(
    ("k", "n", "rate", "complete_rows"),
    # the last: patterns of over 1024 and over 128 rows (cut into items of 1024, 128 and 16)
    [(1, 150, 0.3, True), (3, 300, 0.25, True), (3, 200, 0.4, False), (4, 1600, 0.06, True)],
    ids=["K1", "K3", "K3-no-complete-rows", "K4-big-patterns"],
)
def test_fill_means_equal_the_row_by_row_computation(k: int, n: int, rate: float, complete_rows: bool) -> None:
    p = 4
    x = _data(n, p, rate, complete_rows, seed=k)
    weights, means, covs = _params(k, p, seed=10 + k)
    data = build_layout(x)
    resp = PatternPlan(data, k).run(weights, means, covs, stats=False, rows=True).resp
    got = _filled(PatternPlan(data, k), x, means, covs, resp)
    # the reference: sum_k r_ik zhat_ik, the row-by-row conditional means of _by_rows
    reference = np.where(np.isnan(x), 0.0, x)
    for i in range(n):
        m = np.isnan(x[i])
        zhat = [means[j][m] + _cond_mean_shift(x[i], means[j], covs[j]) for j in range(k)]
        reference[i, m] = sum(resp[i, j] * zhat[j] for j in range(k))
    np.testing.assert_allclose(got, reference, rtol=1e-10, atol=1e-10)
    # and the blockwise fills of the variances' path agree
    old, _ = mixture_moments(data, MixtureParams(weights, means, covs), resp)
    np.testing.assert_allclose(got, old, rtol=1e-10, atol=1e-10)


def _filled(plan: PatternPlan, x: np.ndarray, means: np.ndarray, covs: np.ndarray, resp: np.ndarray) -> np.ndarray:
    """``x`` (its own units: build_layout does not standardise) with its missing cells filled."""
    out = x.copy()
    fill_means(plan, means, covs, resp, out, np.zeros(x.shape[1]), np.ones(x.shape[1]))
    return out


def _three_components(n: int, rate: float, seed: int) -> tuple:
    """A 4-column table with missing cells, three components' parameters, the pass's plan and responsibilities."""
    x = _data(n, 4, rate, True, seed=seed)
    weights, means, covs = _params(3, 4, seed=seed + 1)
    data = build_layout(x)
    plan = PatternPlan(data, 3)
    resp = plan.run(weights, means, covs, stats=False, rows=True).resp
    return x, means, covs, data, plan, resp


def test_fills_are_written_in_the_tables_units_and_only_in_the_missing_cells() -> None:
    x, means, covs, _, plan, resp = _three_components(300, 0.25, seed=5)
    unit = _filled(plan, x, means, covs, resp)
    center, scale = np.array([1.0, -2.0, 0.5, 3.0]), np.array([2.0, 0.5, 4.0, 1.5])
    observed = np.where(np.isnan(x), np.nan, 7.0)  # any observed values: kept as they are
    fill_means(plan, means, covs, resp, observed, center, scale)
    miss = np.isnan(x)
    np.testing.assert_array_equal(observed[~miss], 7.0)
    np.testing.assert_allclose(observed[miss], (center + scale * unit)[miss], rtol=1e-14)


def _cond_mean_shift(row: np.ndarray, mu: np.ndarray, s: np.ndarray) -> np.ndarray:
    o = ~np.isnan(row)
    m = ~o
    if not o.any():
        return np.zeros(m.sum())
    return s[np.ix_(m, o)] @ np.linalg.solve(s[np.ix_(o, o)], row[o] - mu[o])


def test_fill_means_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pattern-level arrays in chunks of 7 patterns change nothing."""
    x, means, covs, data, plan, resp = _three_components(500, 0.3, seed=11)
    whole = _filled(plan, x, means, covs, resp)
    monkeypatch.setattr("imputer.mixture._kernel._PATTERN_ELEMENTS", 7 * 3 * 25)
    cut = PatternPlan(data, 3)
    assert len(cut.chunks) > 2
    np.testing.assert_allclose(_filled(cut, x, means, covs, resp), whole, rtol=1e-13, atol=1e-14)
