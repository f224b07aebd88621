"""imputer._krylov.gmres against a direct solve and SciPy's GMRES (the same iterates)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as ssl

from imputer._krylov import gmres


def _system(m: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``I - spread * G / sqrt(m)`` (G standard normal: eigenvalues in a disc of radius about
    ``spread`` around 1, as ``I - J`` of a contraction) and a right-hand side."""
    rng = np.random.default_rng(seed)
    return np.eye(m) - spread * rng.standard_normal((m, m)) / np.sqrt(m), rng.standard_normal(m)


class _Counted:
    def __init__(self, a: np.ndarray) -> None:
        self.a, self.products = a, 0

    def __call__(self, v: np.ndarray) -> np.ndarray:
        self.products += 1
        return self.a @ v


@pytest.mark.parametrize(("m", "spread", "restart", "seed"), [(40, 0.5, 10, 0), (300, 0.9, 100, 1), (500, 0.95, 30, 2), (7, 0.9, 100, 3)])
def test_converges_to_the_solution(m: int, spread: float, restart: int, seed: int) -> None:
    a, b = _system(m, spread, seed)
    op = _Counted(a)
    x, converged = gmres(op, b, rtol=1e-10, restart=restart, cycles=50)
    assert converged
    assert np.linalg.norm(a @ x - b) <= 1.01e-10 * np.linalg.norm(b)
    solution = np.linalg.solve(a, b)
    np.testing.assert_allclose(x, solution, rtol=0, atol=1e-8 * np.max(np.abs(solution)))
    assert op.products <= 50 * (restart + 1)


@pytest.mark.parametrize(("m", "restart", "cycles", "rtol"), [(300, 100, 2, 1e-2), (300, 20, 3, 1e-6), (2000, 100, 2, 1e-2)])
def test_the_same_iterates_as_scipy(m: int, restart: int, cycles: int, rtol: float) -> None:
    a, b = _system(m, 0.9, m)
    x, _ = gmres(_Counted(a), b, rtol=rtol, restart=restart, cycles=cycles)
    op = ssl.LinearOperator((m, m), matvec=lambda v: a @ v, dtype=float)
    expected, _ = ssl.gmres(op, b, rtol=rtol, atol=0.0, restart=restart, maxiter=cycles)
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-10 * np.max(np.abs(expected)))


def test_stops_at_the_tolerance_and_reports_a_short_budget() -> None:
    a, b = _system(400, 0.95, 5)
    loose = _Counted(a)
    x, converged = gmres(loose, b, rtol=1e-2, restart=100, cycles=2)
    assert converged and np.linalg.norm(a @ x - b) <= 1e-2 * np.linalg.norm(b)
    tight = _Counted(a)
    gmres(tight, b, rtol=1e-9, restart=100, cycles=5)
    assert loose.products < tight.products  # it stopped early
    short = _Counted(a)
    x, converged = gmres(short, b, rtol=1e-12, restart=3, cycles=2)
    assert not converged and short.products == 2 * 3 + 1  # two cycles of 3, one true residual between
    assert np.linalg.norm(a @ x - b) < np.linalg.norm(b)  # still progress: GMRES never increases the residual


def test_zero_right_hand_side_and_an_exact_small_space() -> None:
    a, _ = _system(30, 0.5, 0)
    x, converged = gmres(_Counted(a), np.zeros(30), rtol=1e-8, restart=10, cycles=2)
    assert converged and not x.any()
    # A = 2 I: the Krylov space of b is one-dimensional, solved in one step
    op = _Counted(2.0 * np.eye(30))
    b = np.arange(30.0)
    x, converged = gmres(op, b, rtol=1e-12, restart=10, cycles=2)
    assert converged and op.products == 1
    np.testing.assert_allclose(x, b / 2.0, rtol=1e-14)
