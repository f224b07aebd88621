"""Tests of the driver's Newton points on EM's fixed point (:mod:`imputer._em.fdnewton`).

* on a linear map (nothing logged) one Newton point is the fixed point, made with ``d``
  evaluations of the map;
* on slow maps (rates up to 1 - 1e-6) a problem that offers ``newton_mask`` reaches the
  fixed point to ``tol`` relative in a few dozen evaluations, where SQUAREM alone stops
  ``tol / (1 - rate)`` from it after hundreds or thousands;
* refused Newton points (infeasible, or an objective below the EM step's) leave SQUAREM's
  path and its stop untouched and cost ``d`` evaluations per doubling of the wait
  between tries; no point is made where the Jacobian is no contraction; plain EM never
  tries them;
* every way a run ends is reported as before (a map with no fixed point stays
  "singular").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from imputer._em import fdnewton, run_em
from tests.imputer._em.test_squarem import FnProblem, assert_monotone, heading_to_singular

Step = Callable[[np.ndarray], tuple[np.ndarray | None, float]]


class MaskedProblem(FnProblem):
    """:class:`FnProblem` that offers Newton points with the given mask (None: offers none)."""

    def __init__(self, step: Step, mask: np.ndarray | None, feasible: Callable[[np.ndarray], bool] = lambda x: True):
        super().__init__(step, feasible)
        self.mask = mask

    def newton_mask(self) -> np.ndarray | None:
        return self.mask

    def distance(self, x_old: np.ndarray, x_new: np.ndarray) -> float:
        return float(np.max(np.abs(x_new - x_old) / np.abs(x_new)))


def slow_positive(eigs: np.ndarray, seed: int) -> tuple[Step, np.ndarray]:
    """``log x -> z* + A (log x - z*)`` with symmetric ``A`` (eigenvalues ``eigs``): a map of
    positive vectors contracting to ``x* = exp(z*)`` (entries from 3e-4 to 7), monotone for
    ``L(x) = -||log x - z*||^2``; ``L = -inf`` where an entry is not positive."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((eigs.size, eigs.size)))
    a = q @ np.diag(eigs) @ q.T
    z_star = rng.uniform(-8.0, 2.0, size=eigs.size)

    def step(x: np.ndarray) -> tuple[np.ndarray, float]:
        if np.any(x <= 0):
            return x, -np.inf
        d = np.log(x) - z_star
        return np.exp(z_star + a @ d), -float(d @ d)

    return step, np.exp(z_star)


SLOW = [np.array([1 - 1e-6, 0.9, 0.3]), np.array([0.99999, 0.9999, 0.999, 0.5]), np.array([0.999] * 3 + [0.1] * 3)]


def test_one_newton_point_of_a_linear_map_is_its_fixed_point() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(-0.3, 0.3, size=(4, 4))
    x_star = rng.normal(size=4)
    calls = []

    def evaluate(x: np.ndarray) -> tuple[np.ndarray, float]:
        calls.append(x)
        return x_star + a @ (x - x_star), 0.0

    x = x_star + rng.normal(size=4)
    point = fdnewton.newton_point(evaluate, x, evaluate(x)[0], np.zeros(4, dtype=bool))
    assert point is not None
    np.testing.assert_allclose(point.x, x_star, rtol=0, atol=1e-8)
    assert point.rate == pytest.approx(max(abs(np.linalg.eigvals(a))), rel=1e-6)
    assert len(calls) == 1 + 4  # F(x), then one per coordinate


@pytest.mark.parametrize("eigs", SLOW, ids=["rate 1-1e-6", "rates 0.99999..0.5", "three at 0.999"])
@pytest.mark.parametrize("seed", [0, 1])
def test_newton_points_reach_a_slow_fixed_point_to_tol(eigs: np.ndarray, seed: int) -> None:
    step, x_star = slow_positive(eigs, seed)
    start = x_star * np.exp(np.random.default_rng(seed + 10).uniform(-1.0, 1.0, size=x_star.size))
    tol = 1e-10
    newton = run_em(MaskedProblem(step, np.ones(x_star.size, dtype=bool)), start, tol=tol, max_iter=100_000)
    squarem = run_em(MaskedProblem(step, None), start, tol=tol, max_iter=3_000)
    assert newton.trace.converged
    assert_monotone(newton)
    err = np.max(np.abs(newton.x - x_star) / x_star)
    assert err <= 10 * tol
    assert newton.trace.n_evals <= 80
    # SQUAREM alone takes several times the evaluations (or does not converge in 3,000
    # iterations), and its stop on EM's change leaves it farther
    assert squarem.trace.n_evals >= 3 * newton.trace.n_evals
    assert np.max(np.abs(squarem.x - x_star) / x_star) > err


def test_covariance_entries_are_differenced_in_place_and_variances_in_logs() -> None:
    # entry 1 may be negative (a covariance): only entries 0 and 2 are logged
    eigs = np.array([0.9999, 0.99, 0.5])
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    a = q @ np.diag(eigs) @ q.T
    x_star = np.array([2.0, -0.7, 0.05])

    def step(x: np.ndarray) -> tuple[np.ndarray, float]:
        if x[0] <= 0 or x[2] <= 0:
            return x, -np.inf
        d = np.array([np.log(x[0] / x_star[0]), x[1] - x_star[1], np.log(x[2] / x_star[2])])
        e = a @ d
        return x_star * np.array([np.exp(e[0]), 1.0, np.exp(e[2])]) + np.array([0.0, e[1], 0.0]), -float(d @ d)

    mask = np.array([True, False, True])
    run = run_em(MaskedProblem(step, mask), np.array([1.0, 0.4, 0.3]), tol=1e-10, max_iter=10_000)
    assert run.trace.converged
    np.testing.assert_allclose(run.x, x_star, rtol=1e-9)
    assert run.trace.n_evals <= 60


def test_refused_newton_points_leave_squarem_to_finish_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    step, x_star = slow_positive(np.array([0.999, 0.99, 0.5]), 0)
    made: set[bytes] = set()

    def recording(x: np.ndarray) -> tuple[np.ndarray, float]:
        fx, obj = step(x)
        made.add(np.asarray(fx).tobytes())
        return fx, obj

    start = 2.0 * x_star
    made.add(start.tobytes())
    tries = []
    real = fdnewton.newton_point
    monkeypatch.setattr(fdnewton, "newton_point", lambda *a: tries.append(1) or real(*a))
    # only the start and EM updates are feasible: every Newton point (and every SQUAREM
    # extrapolation) is refused
    only_updates = lambda x: np.asarray(x).tobytes() in made  # noqa: E731
    run = run_em(MaskedProblem(recording, np.ones(3, dtype=bool), only_updates), start, tol=1e-10, max_iter=100_000)
    alone = run_em(MaskedProblem(recording, None, only_updates), start, tol=1e-10, max_iter=100_000)
    assert run.trace.converged
    assert_monotone(run)
    # SQUAREM's path and its stop on EM's change, untouched by the refused points
    np.testing.assert_array_equal(run.x, alone.x)
    assert run.trace.n_iter == alone.trace.n_iter
    assert run.trace.n_rejected - alone.trace.n_rejected == len(tries) >= 3
    # the wait between tries doubles at each refusal: about log2(iterations) tries of d = 3 evaluations
    assert len(tries) <= np.log2(run.trace.n_iter) + 2
    assert run.trace.n_evals == alone.trace.n_evals + 3 * len(tries)


def test_a_newton_point_is_kept_only_where_the_jacobian_contracts() -> None:
    # an EM map with a rate above 1 at the start (moving away from a saddle) and a maximum
    # further on: no Newton point is tried until the Jacobian's spectral radius is below 1
    calls = []

    def evaluate(x: np.ndarray) -> tuple[np.ndarray, float]:
        calls.append(x)
        return 1.02 * x, 0.0  # J = 1.02 in logs

    x = np.array([0.5])
    assert fdnewton.newton_point(evaluate, x, evaluate(x)[0], np.ones(1, dtype=bool)) is None
    assert len(calls) == 2  # F(x) and one difference: no point made


def test_plain_em_never_tries_newton_points() -> None:
    step, x_star = slow_positive(np.array([0.99, 0.5]), 2)
    run = run_em(MaskedProblem(step, np.ones(2, dtype=bool)), 2.0 * x_star, tol=1e-8, max_iter=100_000, accelerate=False)
    assert run.trace.converged
    assert run.trace.n_evals == run.trace.n_iter  # one evaluation per iteration: no differences


def test_a_map_without_a_fixed_point_still_ends_singular() -> None:
    base = heading_to_singular()
    problem = MaskedProblem(base.step, np.ones(1, dtype=bool), base.feasible)
    run = run_em(problem, np.array([1.0]), tol=1e-12, max_iter=10_000)
    assert run.trace.stop_reason == "singular"
    assert_monotone(run)


@pytest.mark.parametrize(
    ("mask", "d", "expected"),
    [
        (np.ones(3, dtype=bool), 3, True),
        (None, 3, False),  # the problem offers none
        (np.ones(2, dtype=bool), 3, False),  # a mask of the wrong length is ignored
        (np.ones(fdnewton.MAX_DIM + 1, dtype=bool), fdnewton.MAX_DIM + 1, False),  # too many parameters
    ],
)
def test_which_problems_get_newton_points(mask: np.ndarray | None, d: int, expected: bool) -> None:
    problem = MaskedProblem(lambda x: (x, 0.0), mask)
    assert (fdnewton.newton_mask(problem, d) is not None) is expected
    assert fdnewton.newton_mask(FnProblem(lambda x: (x, 0.0)), d) is None
