"""imputer._krylov.gmres against a direct solve and SciPy's GMRES (the same iterates); its deflation
against exact eigenvectors and the products it saves on a sequence of systems."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as ssl

from imputer._krylov import Deflation, gmres, gmres_deflated


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


def _slow_system(m: int, slow: int, seed: int, drift: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``I - J`` for ``J = U diag(e) U' + drift * G / sqrt(m)``: ``slow`` eigenvalues of ``J``
    between 0.7 and 0.999 (EM's slow directions), the rest in [0, 0.7]; also ``U``'s slow
    columns and a right-hand side."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((m, m)))
    e = np.concatenate([1.0 - np.geomspace(1e-3, 0.3, slow), rng.uniform(0.0, 0.7, m - slow)])
    j = (u * e) @ u.T + drift * rng.standard_normal((m, m)) / np.sqrt(m)
    return np.eye(m) - j, u[:, :slow], rng.standard_normal(m)


def test_a_deflation_maps_an_invariant_subspace_to_one_and_leaves_the_rest() -> None:
    a, slow, _ = _slow_system(200, 12, 0)
    q = slow.T  # exact eigenvectors: T = Q' A Q diagonal
    t = q @ a @ q.T
    deflation = Deflation(((q, np.linalg.inv(t) - np.eye(12)),))
    assert deflation.size == 12 and Deflation().size == 0
    v = np.random.default_rng(1).standard_normal(200)
    np.testing.assert_array_equal(Deflation().apply(v), v)
    # A M^-1 q = q on the subspace; elsewhere (orthogonal to it) A M^-1 = A
    for k in range(12):
        np.testing.assert_allclose(a @ deflation.apply(q[k]), q[k], atol=1e-10)
    w = v - q.T @ (q @ v)
    np.testing.assert_allclose(a @ deflation.apply(w), a @ w, atol=1e-12)
    # the preconditioned operator's smallest eigenvalue: 1e-3 before, the first non-slow one after
    before = np.min(np.abs(np.linalg.eigvals(a)))
    after = np.min(np.abs(np.linalg.eigvals(a @ np.column_stack([deflation.apply(c) for c in np.eye(200)]))))
    assert before == pytest.approx(1e-3, rel=1e-8) and after > 0.29


def test_harvested_vectors_span_the_slow_eigenvectors() -> None:
    a, slow, b = _slow_system(300, 6, 2)
    _, converged, deflation = gmres_deflated(_Counted(a), b, rtol=1e-10, restart=120, cycles=1, deflation=Deflation(), harvest=6)
    assert converged and deflation.size == 6
    q, _ = deflation.factors[0]
    # the three slowest eigenvectors lie in the harvested span (sines of the angles)
    resid = slow[:, :3] - q.T @ (q @ slow[:, :3])
    assert np.max(np.linalg.norm(resid, axis=0)) < 1e-3


@pytest.mark.parametrize(("drift", "seed"), [(0.0, 3), (1e-3, 4), (1e-2, 5)])
def test_deflation_cuts_the_products_on_a_sequence_of_systems(drift: float, seed: int) -> None:
    """Ten systems (the same matrix, or one drifting a little each time), each to rtol=1e-2,
    the preconditioner carried from one to the next: fewer products in all, every solution
    at the tolerance of the true residual."""
    rng = np.random.default_rng(seed)
    a0, _, _ = _slow_system(400, 40, seed)
    plain = deflated = 0
    deflation = Deflation()
    for k in range(10):
        a = a0 + k * drift * rng.standard_normal((400, 400)) / 20.0
        b = rng.standard_normal(400)
        op = _Counted(a)
        gmres(op, b, rtol=1e-2, restart=100, cycles=2)
        plain += op.products
        op = _Counted(a)
        x, converged, deflation = gmres_deflated(op, b, rtol=1e-2, restart=100, cycles=2, deflation=deflation, harvest=10)
        deflated += op.products
        assert converged and np.linalg.norm(b - a @ x) <= 1e-2 * np.linalg.norm(b)
    # at most 10 vectors a solve, from the solves of at least 10 steps
    assert 2 <= len(deflation.factors) <= 10 and deflation.size <= 10 * len(deflation.factors)
    assert deflated < 0.7 * plain, (deflated, plain)


def test_short_solves_harvest_nothing() -> None:
    # a cycle of fewer than `harvest` steps adds no factor (its Ritz vectors are poor)
    a, _, b = _slow_system(300, 6, 6)
    op = _Counted(a)
    _, converged, deflation = gmres_deflated(op, b, rtol=0.5, restart=100, cycles=1, deflation=Deflation(), harvest=10)
    assert converged and op.products < 10 and deflation.size == 0
    op = _Counted(a)
    _, _, deflation = gmres_deflated(op, b, rtol=1e-6, restart=100, cycles=1, deflation=Deflation(), harvest=10)
    assert op.products >= 10 and 0 < deflation.size <= 10


def test_deflated_without_a_preconditioner_or_harvest_is_gmres() -> None:
    a, b = _system(300, 0.9, 7)
    x, _ = gmres(_Counted(a), b, rtol=1e-6, restart=20, cycles=3)
    y, _, deflation = gmres_deflated(_Counted(a), b, rtol=1e-6, restart=20, cycles=3, deflation=Deflation(), harvest=0)
    np.testing.assert_array_equal(x, y)
    assert deflation.size == 0


def _saddle_system(
    m: int, negative: tuple[float, ...], seed: int, low: float = 1e-3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric ``I - J`` with the eigenvalues ``negative`` (``J`` above 1: a saddle of the
    objective the map climbs) and the rest in [low, 1]; also ``|I - J|^{-1}`` and a right-hand side."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((m, m)))
    theta = np.concatenate([negative, np.geomspace(low, 1.0, m - len(negative))])
    return (u * theta) @ u.T, (u / np.abs(theta)) @ u.T, rng.standard_normal(m)


@pytest.mark.parametrize("negative", [(-1e-3,), (-0.05, -2e-3, -1e-4), (-0.5,)])
def test_the_saddle_free_step_is_the_absolute_inverse(negative: tuple[float, ...]) -> None:
    # a full Krylov space (m steps): the Ritz values are the eigenvalues, GMRES's iterate A^-1 b
    a, abs_inv, b = _saddle_system(60, negative, 8)
    x, converged, _ = gmres_deflated(_Counted(a), b, rtol=1e-13, restart=60, cycles=1, deflation=Deflation(), harvest=0)
    y, _, _ = gmres_deflated(_Counted(a), b, rtol=1e-13, restart=60, cycles=1, deflation=Deflation(), harvest=0, flip_below=-1e-5)
    scale = np.max(np.abs(abs_inv @ b))
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(y, abs_inv @ b, rtol=0, atol=1e-6 * scale)
    # the flip moved the step, by twice the negative eigenvalues' components
    moved = np.linalg.solve(a, b) - abs_inv @ b
    assert np.max(np.abs(moved)) > 1e-4 * scale
    np.testing.assert_allclose(x - y, moved, rtol=0, atol=1e-6 * scale)


def test_no_eigenvalue_below_the_threshold_leaves_the_step() -> None:
    a, _, b = _saddle_system(60, (-1e-6,), 9)  # above flip_below = -1e-5
    x, _, d1 = gmres_deflated(_Counted(a), b, rtol=1e-3, restart=60, cycles=2, deflation=Deflation(), harvest=10)
    y, _, d2 = gmres_deflated(_Counted(a), b, rtol=1e-3, restart=60, cycles=2, deflation=Deflation(), harvest=10, flip_below=-1e-5)
    np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(d1.factors[0][1], d2.factors[0][1])


def test_a_flipped_factor_maps_the_negative_eigenvalues_to_minus_one() -> None:
    a, abs_inv, b = _saddle_system(80, (-0.02, -3e-3), 10, low=0.05)
    _, _, deflation = gmres_deflated(_Counted(a), b, rtol=1e-12, restart=80, cycles=1, deflation=Deflation(), harvest=6, flip_below=-1e-5)
    assert deflation.size == 6
    pre = a @ np.column_stack([deflation.apply(c) for c in np.eye(80)])
    vals = np.sort(np.linalg.eigvals(pre).real)
    # the two negative eigenvalues at -1, the other harvested ones (the smallest positive) at 1
    np.testing.assert_allclose(vals[:2], [-1.0, -1.0], atol=1e-6)
    assert vals[2] > 0.0
    # the next solve, preconditioned by it, still takes the saddle-free step
    b2 = np.random.default_rng(11).standard_normal(80)
    y, converged, _ = gmres_deflated(_Counted(a), b2, rtol=1e-13, restart=80, cycles=1, deflation=deflation, harvest=0, flip_below=-1e-5)
    np.testing.assert_allclose(y, abs_inv @ b2, rtol=0, atol=1e-6 * np.max(np.abs(abs_inv @ b2)))
