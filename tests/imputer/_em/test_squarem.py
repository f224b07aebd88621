"""Tests of the EM driver (:func:`imputer._em.run_em`) on problems with known fixed points.

* the DLR genetic-linkage EM reaches its closed-form MLE;
* SQUAREM reaches the fixed point of slow linear maps with far fewer evaluations;
* infeasible extrapolations fall back and the history stays non-decreasing;
* every way a run ends (converged, max_iter, stopped, singular, infeasible) is reported
  in the trace with the documented iterate, and ``n_evals`` counts the calls of ``step``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from imputer._em import EMRun, run_em

Step = Callable[[np.ndarray], tuple[np.ndarray | None, float]]

# Dempster, Laird & Rubin (1977), genetic linkage: counts (125, 18, 20, 34) with cell
# probabilities (1/2 + t/4, (1 - t)/4, (1 - t)/4, t/4). The MLE solves the quadratic
# 197 t^2 - 15 t - 68 = 0, i.e. t* = (15 + sqrt(15^2 + 4 * 197 * 68)) / (2 * 197).
_COUNTS = np.array([125.0, 18.0, 20.0, 34.0])
_T_STAR = (15.0 + np.sqrt(15.0**2 + 4.0 * 197.0 * 68.0)) / (2.0 * 197.0)


class FnProblem:
    """An EM problem from plain functions (packed = typed parameters); counts ``step`` calls."""

    def __init__(self, step: Step, feasible: Callable[[np.ndarray], bool] = lambda x: True) -> None:
        self._step = step
        self._feasible = feasible
        self.calls = 0

    def pack(self, params: np.ndarray) -> np.ndarray:
        return np.asarray(params, dtype=float)

    def unpack(self, x: np.ndarray) -> np.ndarray:
        return x.copy()

    def step(self, x: np.ndarray) -> tuple[np.ndarray | None, float]:
        self.calls += 1
        return self._step(x)

    def distance(self, x_old: np.ndarray, x_new: np.ndarray) -> float:
        return float(np.max(np.abs(x_old - x_new)))

    def feasible(self, x: np.ndarray) -> bool:
        return self._feasible(x)


def _linkage_step(x: np.ndarray) -> tuple[np.ndarray, float]:
    t = float(x[0])
    if not 0.0 < t < 1.0:
        return x, -np.inf
    y1, y2, y3, y4 = _COUNTS
    loglik = y1 * np.log(2.0 + t) + (y2 + y3) * np.log(1.0 - t) + y4 * np.log(t)
    x12 = y1 * (t / 4.0) / (0.5 + t / 4.0)  # E-step: expected count of the t/4 half of cell 1
    return np.array([(x12 + y4) / (x12 + y2 + y3 + y4)]), float(loglik)


def linkage() -> FnProblem:
    return FnProblem(_linkage_step, lambda x: bool(0.0 < x[0] < 1.0))


def slow_linear(eigs: np.ndarray, seed: int) -> tuple[FnProblem, np.ndarray]:
    """x -> A x + b with symmetric A (eigenvalues eigs): a contraction towards x*,
    monotone for L(x) = -||x - x*||^2, mimicking EM's linear convergence."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((eigs.size, eigs.size)))
    a = q @ np.diag(eigs) @ q.T
    x_star = rng.standard_normal(eigs.size)

    def step(x: np.ndarray) -> tuple[np.ndarray, float]:
        d = x - x_star
        return x_star + a @ d, -float(d @ d)

    return FnProblem(step), x_star


def near_boundary(target: float = 1e-3, rate: float = 0.98) -> FnProblem:
    """The fixed point sits next to the feasibility boundary x > 0 (as a variance
    component converging to zero does), so long extrapolations overshoot it."""

    def step(x: np.ndarray) -> tuple[np.ndarray, float]:
        if x[0] <= 0.0:
            return x, -np.inf
        d = x[0] - target
        return np.array([target + rate * d]), -d * d

    return FnProblem(step, lambda x: bool(x[0] > 0.0))


_SINGULAR_BELOW = 1e-6


def heading_to_singular() -> FnProblem:
    """A 'variance' s halved by every EM step while L(s) = -log(s) increases: no maximum.

    Feasible for s >= 1e-6; an update below that is reported singular, (None, L(s)).
    """

    def step(x: np.ndarray) -> tuple[np.ndarray | None, float]:
        s = float(x[0])
        if not s >= _SINGULAR_BELOW:
            return x, -np.inf
        new = np.array([0.5 * s])
        return (None if new[0] < _SINGULAR_BELOW else new), -np.log(s)

    return FnProblem(step, lambda x: bool(x[0] >= _SINGULAR_BELOW))


def assert_monotone(run: EMRun) -> None:
    h = run.trace.history
    assert np.all(np.diff(h) >= -1e-12 * np.maximum(1.0, np.abs(h[:-1])))


# ------------------------------------------------------------------------ fixed points
@pytest.mark.parametrize("accelerate", [True, False])
def test_linkage_reaches_closed_form_mle(accelerate: bool) -> None:
    run = run_em(linkage(), np.array([0.1]), tol=1e-13, max_iter=500, accelerate=accelerate)
    assert run.trace.converged and run.trace.stop_reason == "converged"
    assert run.x[0] == pytest.approx(_T_STAR, abs=1e-11)
    assert np.all(np.diff(run.trace.history) >= -1e-12 * np.abs(run.trace.history[:-1]))


@pytest.mark.parametrize("eigs", [np.array([0.999, 0.9, 0.5]), np.array([0.99] * 4 + [0.1] * 4)])
@pytest.mark.parametrize("seed", [0, 1])
def test_acceleration_same_fixed_point_far_fewer_evaluations(eigs: np.ndarray, seed: int) -> None:
    problem, x_star = slow_linear(eigs, seed)
    x0 = np.zeros(eigs.size)
    fast = run_em(problem, x0, tol=1e-10, max_iter=100_000)
    slow = run_em(problem, x0, tol=1e-10, max_iter=100_000, accelerate=False)
    assert fast.trace.converged and slow.trace.converged
    np.testing.assert_allclose(fast.x, x_star, atol=1e-7)
    np.testing.assert_allclose(slow.x, x_star, atol=1e-6)
    assert fast.trace.n_evals * 5 < slow.trace.n_evals
    assert_monotone(fast)


def test_infeasible_extrapolation_falls_back_and_stays_monotone() -> None:
    run = run_em(near_boundary(), np.array([5.0]), tol=1e-12, max_iter=10_000)
    assert run.trace.converged
    assert run.x[0] == pytest.approx(1e-3, abs=1e-9)
    assert np.all(np.diff(run.trace.history) >= -1e-15)


# ------------------------------------------------------------------------ how runs end
@pytest.mark.parametrize("accelerate", [True, False])
def test_max_iter_reports_not_converged(accelerate: bool) -> None:
    problem, _ = slow_linear(np.array([0.9999]), 0)
    run = run_em(problem, np.zeros(1), tol=1e-14, max_iter=3, accelerate=accelerate)
    assert run.trace.stop_reason == "max_iter" and not run.trace.converged
    assert run.trace.n_iter == 3
    if not accelerate:
        assert run.trace.n_evals == 3 and run.trace.history.size == 3


@pytest.mark.parametrize("accelerate", [True, False])
@pytest.mark.parametrize("threshold", [-6.0, -1e-6])
def test_stop_hook_ends_the_run_at_a_feasible_accepted_iterate(accelerate: bool, threshold: float) -> None:
    seen: list[tuple[np.ndarray, float]] = []

    def stop(x: np.ndarray, obj: float) -> bool:
        seen.append((x.copy(), obj))
        return obj > threshold

    problem, _ = slow_linear(np.array([0.9, 0.5]), 3)
    x0 = np.full(2, 3.0)
    run = run_em(problem, x0, tol=1e-14, max_iter=1000, accelerate=accelerate, stop=stop)
    assert run.trace.stop_reason == "stopped" and not run.trace.converged
    last_x, last_obj = seen[-1]
    assert last_obj > threshold and all(obj <= threshold for _, obj in seen[:-1])
    np.testing.assert_array_equal(run.x, last_x)
    assert problem.feasible(run.x)
    assert run.trace.history[-1] == last_obj
    assert [obj for _, obj in seen] == list(run.trace.history)


def test_stop_hook_sees_every_accepted_iterate() -> None:
    seen: list[float] = []
    run = run_em(linkage(), np.array([0.5]), tol=1e-12, max_iter=100, stop=lambda x, obj: seen.append(obj) or False)
    assert run.trace.converged
    assert seen == list(run.trace.history)


@pytest.mark.parametrize("accelerate", [True, False])
def test_singular_update_returns_the_best_feasible_iterate(accelerate: bool) -> None:
    problem = heading_to_singular()
    run = run_em(problem, np.array([1.0]), tol=1e-14, max_iter=1000, accelerate=accelerate)
    trace = run.trace
    assert trace.stop_reason == "singular" and not trace.converged
    assert problem.feasible(run.x) and np.array_equal(run.x, run.best)
    # the best point is the smallest feasible s seen: its update (s/2) falls below 1e-6
    assert _SINGULAR_BELOW <= run.x[0] < 2 * _SINGULAR_BELOW
    assert run.best_objective == pytest.approx(-np.log(run.x[0]), rel=1e-15)
    assert run.best_objective >= trace.history.max()
    assert_monotone(run)
    assert trace.n_iter < 1000


@pytest.mark.parametrize("accelerate", [True, False])
def test_infeasible_start_is_reported_without_evaluating(accelerate: bool) -> None:
    problem = linkage()
    run = run_em(problem, np.array([1.5]), tol=1e-12, max_iter=100, accelerate=accelerate)
    assert run.trace.stop_reason == "infeasible" and not run.trace.converged
    assert run.trace.n_evals == 0 == problem.calls and run.trace.history.size == 0
    np.testing.assert_array_equal(run.x, [1.5])


@pytest.mark.parametrize("accelerate", [True, False])
@pytest.mark.parametrize(
    ("make", "x0", "tol"),
    [
        (linkage, [0.1], 1e-13),
        (near_boundary, [5.0], 1e-12),
        (heading_to_singular, [1.0], 1e-14),
        (lambda: slow_linear(np.array([0.99] * 3 + [0.2]), 2)[0], [0.0] * 4, 1e-10),
    ],
)
def test_n_evals_counts_step_calls_and_history_is_monotone(make, x0, tol: float, accelerate: bool) -> None:
    problem = make()
    run = run_em(problem, np.array(x0), tol=tol, max_iter=10_000, accelerate=accelerate)
    assert run.trace.n_evals == problem.calls > 0
    assert_monotone(run)
    if not accelerate:
        assert run.trace.n_rejected == 0 and run.trace.n_evals == run.trace.n_iter


@pytest.mark.parametrize("accelerate", [True, False])
def test_converged_estimate_is_a_fixed_point_up_to_tol(accelerate: bool) -> None:
    problem, _ = slow_linear(np.array([0.95, 0.6]), 4)
    run = run_em(problem, np.zeros(2), tol=1e-9, max_iter=10_000, accelerate=accelerate)
    fx, _ = problem.step(run.x)
    assert problem.distance(run.x, fx) <= 1e-9


@pytest.mark.parametrize("accelerate", [True, False])
def test_changes_record_the_convergence_measure_of_every_iteration(accelerate: bool) -> None:
    problem, _ = slow_linear(np.array([0.9, 0.5]), 3)
    run = run_em(problem, np.zeros(2), tol=1e-9, max_iter=10_000, accelerate=accelerate)
    changes = run.trace.changes
    assert run.trace.converged
    # one per iteration, plus the first update's when a SQUAREM cycle converges there
    assert changes.size in ((run.trace.n_iter, run.trace.n_iter + 1) if accelerate else (run.trace.n_iter,))
    assert changes[-1] <= 1e-9 and np.all(changes[:-1] > 1e-9)
    if not accelerate:
        # plain EM on a linear map: the change shrinks by the largest eigenvalue, 0.9
        assert changes[-1] / changes[-2] == pytest.approx(0.9, rel=1e-3)
        assert run.trace.history.size == changes.size


def test_changes_of_a_run_that_stops_at_max_iter() -> None:
    problem, _ = slow_linear(np.array([0.9999]), 0)
    run = run_em(problem, np.zeros(1), tol=1e-14, max_iter=4, accelerate=False)
    assert run.trace.changes.size == 4 and np.all(run.trace.changes > 1e-14)
