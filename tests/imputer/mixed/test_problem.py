"""Variance components as an EM problem (:mod:`imputer.mixed._problem`) and the composed trace.

* the EM map exposed by :class:`MixedProblem` has the returned estimate as a fixed point
  up to ``tol``, in both engines, and its log-likelihood there is the fit's;
* the trace of a fit with boundary probes is composed honestly: ``n_evals`` equals the
  engine's evaluations (EM map, score at zero) counted by a wrapper, the history is
  non-decreasing and ends at the reported log-likelihood;
* ``Engine.final`` returns typed :class:`Estimates`.
"""

from __future__ import annotations

import numpy as np
import pytest

from imputer.mixed._emreml import MixedFit, fit_components
from imputer.mixed._design import build_frame_problem
from imputer.mixed._problem import Estimates, MixedProblem
from imputer.mixed._validate import build_problem
from imputer.mixed.api import _engine
from tests.imputer.mixed.test_engine import FRAMES, frame


class CountingEngine:
    """Wraps an engine and counts the calls that cost an evaluation (EM map or score)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.k, self.n = engine.k, engine.n
        self.calls = 0

    def evaluate(self, sig2, s2e, active):
        self.calls += 1
        return self.engine.evaluate(sig2, s2e, active)

    def score_at_zero(self, sig2, s2e, active, j):
        self.calls += 1
        return self.engine.score_at_zero(sig2, s2e, active, j)

    def final(self, sig2, s2e, active):
        return self.engine.final(sig2, s2e, active)


def setup(problem, method: str, engine_name: str | None):
    """The engine and the default start of :func:`imputer.mixed.api.fit_problem`."""
    obs = problem.observed
    Xo, yo = problem.X[obs], problem.y[obs]
    b_ols, *_ = np.linalg.lstsq(Xo, yo, rcond=None)
    y0 = yo - Xo @ b_ols
    Zo = [c.Z[obs] for c in problem.components]
    engine, _ = _engine(problem, Xo, y0, Zo, method == "ML", engine_name)
    k = len(problem.components)
    theta0 = np.full(k + 1, float(y0 @ y0) / (Xo.shape[0] - Xo.shape[1]) / (k + 1))
    return engine, theta0


def frame_problem(name: str, method: str):
    _, resp, random = FRAMES[name]
    return build_frame_problem(frame(name), resp, None, random, None, True, method)


def kernel_problem(method: str):
    """One kernel component on 40 individuals (goes through either engine)."""
    rng = np.random.default_rng(0)
    n = 40
    G = rng.normal(size=(n, 80))
    K = G @ G.T / 80
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = X @ [1.0, 2.0] + rng.normal(size=n) + np.linalg.cholesky(K + 1e-9 * np.eye(n)) @ rng.normal(size=n)
    return build_problem(y, X, {"g": {"Z": np.eye(n), "K": K}}, method)


CASES = [(name, None) for name in sorted(FRAMES)] + [("kernel", "mme"), ("kernel", "spectral")]
# (case, accelerate); plain EM on the kernel through Henderson's equations takes seconds
RUNS = [(*case, acc) for case in CASES for acc in (True, False) if not (case == ("kernel", "mme") and not acc)]


def fit_case(name: str, engine_name: str | None, method: str, accelerate: bool, tol: float = 1e-10):
    problem = kernel_problem(method) if name == "kernel" else frame_problem(name, method)
    engine, theta0 = setup(problem, method, engine_name)
    counting = CountingEngine(engine)
    fit = fit_components(counting, theta0, tol=tol, max_iter=10_000, accelerate=accelerate)
    return engine, counting, fit


@pytest.mark.parametrize(("name", "engine_name", "accelerate"), RUNS)
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_estimate_is_a_fixed_point_of_the_em_map(name, engine_name, method, accelerate) -> None:
    tol = 1e-10
    engine, _, fit = fit_case(name, engine_name, method, accelerate, tol)
    assert isinstance(fit, MixedFit) and fit.trace.stop_reason == "converged"
    problem = MixedProblem(engine, fit.active)
    x = problem.pack(fit.theta)
    np.testing.assert_array_equal(problem.unpack(x), fit.theta)
    fx, loglik = problem.step(x)
    assert problem.distance(x, fx) <= tol
    assert loglik == pytest.approx(fit.loglik, rel=1e-13)


@pytest.mark.parametrize(("name", "engine_name", "accelerate"), RUNS)
def test_trace_composes_runs_and_probes_honestly(name, engine_name, accelerate) -> None:
    _, counting, fit = fit_case(name, engine_name, "REML", accelerate)
    trace = fit.trace
    assert trace.n_evals == counting.calls
    assert trace.converged and trace.n_iter <= trace.n_evals
    h = trace.history
    assert np.all(np.diff(h) >= -1e-12 * np.abs(h[1:]))
    assert h[-1] == pytest.approx(fit.loglik, rel=1e-12)
    if not accelerate:
        assert trace.n_rejected == 0
    if name == "dyestuff2":  # the Batch component settles on the boundary
        assert fit.boundary == (0,) and fit.theta[0] == 0.0


def test_max_iter_ends_the_composed_run() -> None:
    problem = frame_problem("pastes", "REML")
    engine, theta0 = setup(problem, "REML", None)
    fit = fit_components(engine, theta0, tol=1e-10, max_iter=3, accelerate=True)
    assert fit.trace.stop_reason == "max_iter" and not fit.converged
    assert fit.n_iter >= 3


@pytest.mark.parametrize(("name", "engine_name"), CASES)
def test_final_estimates_are_typed(name, engine_name) -> None:
    engine, _, fit = fit_case(name, engine_name, "REML", True)
    est = engine.final(fit.theta[:-1], float(fit.theta[-1]), fit.active)
    assert isinstance(est, Estimates)
    assert len(est.u) == len(est.pev) == engine.k
    assert est.var_b.shape == (est.b.size, est.b.size)
    for i in fit.boundary:
        assert not est.u[i].any() and not est.pev[i].any()
