"""fill_conditional against a naive per-row loop; its input checks."""

from __future__ import annotations

import numpy as np
import pytest

from imputer.errors import ImputerValueError
from imputer.mvn.conditional import fill_conditional
from tests.readme import run_python_block


def _params(p: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(p, p))
    scale = rng.uniform(0.1, 100.0, p)
    cov = (a @ a.T + 0.3 * np.eye(p)) * np.outer(scale, scale)
    return rng.normal(0.0, 50.0, p), cov


@pytest.mark.parametrize("method", ["auto", "precision", "observed"])
@pytest.mark.parametrize(
    ("n", "p", "rate", "seed"), [(200, 5, 0.3, 0), (500, 9, 0.5, 1), (50, 1, 0.4, 2), (300, 70, 0.2, 3), (40, 150, 0.92, 4)]
)
def test_matches_naive_per_row_formula(n, p, rate, seed, method, naive) -> None:
    mean, cov = _params(p, seed)
    rng = np.random.default_rng(seed + 100)
    x = rng.multivariate_normal(mean, cov, size=n)
    x[rng.random((n, p)) < rate] = np.nan
    x[: min(3, n)] = np.nan  # rows with nothing observed
    before = x.copy()
    filled, var = fill_conditional(x, mean, cov, method=method)
    assert np.array_equal(x, before, equal_nan=True)  # input untouched
    exp_filled, exp_var = naive.conditional(x, mean, cov)
    obs = ~np.isnan(x)
    assert np.array_equal(filled[obs], x[obs])  # observed cells bit-for-bit
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(filled / sd, exp_filled / sd, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(var, exp_var, rtol=1e-8, atol=1e-10 * sd.max() ** 2)
    assert np.all(var[obs] == 0.0)
    np.testing.assert_array_equal(filled[0], mean)
    np.testing.assert_allclose(var[0], np.diag(cov))


def test_nothing_missing_returns_a_copy() -> None:
    mean, cov = _params(3, 5)
    x = np.arange(12.0).reshape(4, 3)
    filled, var = fill_conditional(x, mean, cov)
    assert np.array_equal(filled, x) and filled is not x
    assert not var.any()


@pytest.mark.parametrize(
    ("values", "mean", "cov", "match"),
    [
        (np.ones(3), np.zeros(3), np.eye(3), r"values must be 2-D"),
        (np.ones((2, 3)), np.zeros(2), np.eye(3), r"mean must have shape \(3,\)"),
        (np.ones((2, 3)), np.zeros(3), np.eye(2), r"cov must have shape \(3, 3\)"),
        (np.array([[1.0, np.inf]]), np.zeros(2), np.eye(2), r"column 1 contains an infinite value"),
        (np.ones((2, 2)), np.array([0.0, np.nan]), np.eye(2), r"mean and cov must be finite"),
        (np.ones((2, 2)), np.zeros(2), np.array([[1.0, 0.5], [0.4, 1.0]]), r"cov must be symmetric"),
        (np.ones((2, 2)), np.zeros(2), np.array([[1.0, 0.0], [0.0, 0.0]]), r"non-positive diagonal"),
        (np.array([[np.nan, 1.0]]), np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]), r"positive definite"),
    ],
)
def test_bad_parameters_are_rejected(values, mean, cov, match) -> None:
    with pytest.raises(ImputerValueError, match=match):
        fill_conditional(values, mean, cov)


@pytest.mark.parametrize("method", ["auto", "precision", "observed"])
def test_an_indefinite_cov_is_rejected_whatever_the_route(method: str) -> None:
    # every observed block (a single cell) is positive: only a check of Sigma itself finds it
    cov = np.array([[1.0, 0.9, 0.9], [0.9, 1.0, -0.9], [0.9, -0.9, 1.0]])
    assert np.linalg.eigvalsh(cov)[0] < 0.0
    x = np.array([[np.nan, np.nan, 1.0], [0.5, np.nan, np.nan]])
    with pytest.raises(ImputerValueError, match=r"cov must be positive definite"):
        fill_conditional(x, np.zeros(3), cov, method=method)


def test_an_unknown_method_is_named() -> None:
    with pytest.raises(ImputerValueError, match=r"method must be one of 'auto', 'precision', 'observed', got 'dual'"):
        fill_conditional(np.ones((1, 2)), np.zeros(2), np.eye(2), method="dual")


def test_readme_example_of_the_observed_route(monkeypatch: pytest.MonkeyPatch) -> None:
    ns = run_python_block("Rows that observe few of many cells", monkeypatch)
    filled, var, cov, rows = ns["filled"], ns["var"], ns["cov"], ns["rows"]
    # the first row by the textbook formula (mean 0): Sigma_MO Sigma_OO^-1 x_O
    expected = cov[50:, :50] @ np.linalg.solve(cov[:50, :50], rows[0, :50])
    np.testing.assert_allclose(filled[0, 50:], expected, rtol=1e-8, atol=1e-9)
    assert np.array_equal(filled[:, :50], rows[:, :50]) and np.all(var[:, 50:] > 0.0) and not var[:, :50].any()
