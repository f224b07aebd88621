"""Tests of the generic SQUAREM driver on problems with known fixed points."""

from __future__ import annotations

import numpy as np
import pytest

from imputer._squarem import squarem

# Dempster, Laird & Rubin (1977), genetic linkage: counts (125, 18, 20, 34) with cell
# probabilities (1/2 + t/4, (1 - t)/4, (1 - t)/4, t/4). The MLE solves the quadratic
# 197 t^2 - 15 t - 68 = 0, i.e. t* = (15 + sqrt(15^2 + 4 * 197 * 68)) / (2 * 197).
_COUNTS = np.array([125.0, 18.0, 20.0, 34.0])
_T_STAR = (15.0 + np.sqrt(15.0**2 + 4.0 * 197.0 * 68.0)) / (2.0 * 197.0)


def _linkage_step(x: np.ndarray) -> tuple[np.ndarray, float]:
    t = float(x[0])
    if not 0.0 < t < 1.0:
        return x, -np.inf
    y1, y2, y3, y4 = _COUNTS
    loglik = y1 * np.log(2.0 + t) + (y2 + y3) * np.log(1.0 - t) + y4 * np.log(t)
    x12 = y1 * (t / 4.0) / (0.5 + t / 4.0)  # E-step: expected count of the t/4 half of cell 1
    return np.array([(x12 + y4) / (x12 + y2 + y3 + y4)]), float(loglik)


def _abs_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)))


def _slow_linear(eigs: np.ndarray, seed: int):
    """x -> A x + b with symmetric A (eigenvalues eigs): a contraction towards x*,
    monotone for L(x) = -||x - x*||^2, mimicking EM's linear convergence."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((eigs.size, eigs.size)))
    a = q @ np.diag(eigs) @ q.T
    x_star = rng.standard_normal(eigs.size)

    def step(x: np.ndarray) -> tuple[np.ndarray, float]:
        d = x - x_star
        return x_star + a @ d, -float(d @ d)

    return step, x_star


@pytest.mark.parametrize("accelerate", [True, False])
def test_linkage_reaches_closed_form_mle(accelerate: bool) -> None:
    res = squarem(_linkage_step, np.array([0.1]), distance=_abs_distance, tol=1e-13,
                  max_iter=500, accelerate=accelerate)
    assert res.converged
    assert res.x[0] == pytest.approx(_T_STAR, abs=1e-11)
    assert np.all(np.diff(res.history) >= -1e-12 * np.abs(res.history[:-1]))


@pytest.mark.parametrize("eigs", [np.array([0.999, 0.9, 0.5]), np.array([0.99] * 4 + [0.1] * 4)])
@pytest.mark.parametrize("seed", [0, 1])
def test_acceleration_same_fixed_point_far_fewer_evaluations(eigs: np.ndarray, seed: int) -> None:
    step, x_star = _slow_linear(eigs, seed)
    x0 = np.zeros(eigs.size)
    fast = squarem(step, x0, distance=_abs_distance, tol=1e-10, max_iter=100_000)
    slow = squarem(step, x0, distance=_abs_distance, tol=1e-10, max_iter=100_000, accelerate=False)
    assert fast.converged and slow.converged
    np.testing.assert_allclose(fast.x, x_star, atol=1e-7)
    np.testing.assert_allclose(slow.x, x_star, atol=1e-6)
    assert fast.n_evals * 5 < slow.n_evals
    assert np.all(np.diff(fast.history) >= -1e-12 * np.maximum(1.0, np.abs(fast.history[:-1])))


def test_infeasible_extrapolation_falls_back_and_stays_monotone() -> None:
    # The fixed point sits next to the feasibility boundary x > 0 (as a variance
    # component converging to zero does), so long extrapolations overshoot it.
    target = 1e-3

    def step(x: np.ndarray) -> tuple[np.ndarray, float]:
        if x[0] <= 0.0:
            return x, -np.inf
        d = x[0] - target
        return np.array([target + 0.98 * d]), -d * d

    res = squarem(step, np.array([5.0]), distance=_abs_distance, tol=1e-12, max_iter=10_000)
    assert res.converged
    assert res.x[0] == pytest.approx(target, abs=1e-9)
    assert np.all(np.diff(res.history) >= -1e-15)


def test_max_iter_reports_not_converged() -> None:
    step, _ = _slow_linear(np.array([0.9999]), 0)
    res = squarem(step, np.zeros(1), distance=_abs_distance, tol=1e-14, max_iter=3, accelerate=False)
    assert not res.converged
    assert res.n_iter == 3 and res.n_evals == 3 and res.history.size == 3


def test_callback_sees_every_accepted_iterate() -> None:
    seen: list[float] = []
    res = squarem(_linkage_step, np.array([0.5]), distance=_abs_distance, tol=1e-12,
                  max_iter=100, callback=lambda x, obj: seen.append(obj))
    assert seen == list(res.history)
