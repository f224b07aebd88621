r"""EM-REML / EM-ML fit: SQUAREM-accelerated EM, Newton steps and boundary detection (:func:`fit_components`).

The parameter ``theta`` stacks each term's covariance entries (``s2_i`` for a scalar
term, the free entries of ``G_i`` for a term with several effects; see
:class:`~imputer.mixed._problem.Layout`) and ``s2_e``. One EM map ``theta -> F(theta)``
and the log-likelihood at ``theta`` come from an engine (:class:`MMEEngine`, Henderson's
equations; or :class:`~imputer.mixed._spectral.SpectralEngine`), wrapped as an EM problem
(:class:`~imputer.mixed._problem.MixedProblem`). EM never decreases the likelihood and
keeps every component positive; the driver (:func:`imputer._em.run_em`, SQUAREM)
extrapolates and falls back to plain EM whenever an extrapolated point is infeasible
(a component <= 0) or has a lower likelihood, so the recorded history is non-decreasing.
With scalar variance components only, where EM is slow (its rate, estimated by each
SQUAREM cycle, at least 0.5: a component small but not zero makes it 0.9999 or closer to
1) the driver tries Newton's point for EM's fixed point, the variances in logs
(:mod:`imputer._em.fdnewton`; one EM evaluation per parameter for the Jacobian), kept
only where it is no worse than the EM step (see :meth:`MixedProblem.newton_mask
<imputer.mixed._problem.MixedProblem.newton_mask>` for why terms with several effects
keep SQUAREM alone).

Convergence: the fit stops when every free variance component (and the residual) is
estimated to be within ``tol`` of the optimum, relative to its updated value (floored at
``1e-10`` of the updated total ``sum(F(theta))``; the measure is
``max_i |F(theta)_i - theta_i| / max(F(theta)_i, 1e-10 sum(F(theta)))``,
:func:`imputer.mixed._problem.distance`). Where EM is fast that is one EM step's change;
where it is slow and Newton points are kept, the change divided by ``1 - rate`` (at a
rate of 0.99999 a change of ``tol`` leaves the estimate ``1e5 tol`` away: SQUAREM alone
stopped 2e-5 from the optimum on 100,000 rows with components 1e-5 of the residual), or
Newton's last move. A
component crawling towards zero is settled by the boundary probe below.

Zero boundary. Where the REML/ML optimum has ``s2_i = 0``, EM (accelerated or not)
approaches it only sublinearly (``s2_i`` falls like ``1/t``). Whenever a component's share
``s2_i / sum(theta)`` drops below ``1e-2`` (and again each time it falls another factor 10
after a rejected probe), :func:`fit_components` *probes the boundary*: it fits the model
without that component and accepts ``s2_i = 0`` when (a) the likelihood there is at least the current
one and (b) the derivative of the log-likelihood in ``s2_i`` at ``0`` is ``<= 0`` (the
Karush-Kuhn-Tucker condition for a maximum on the boundary). Accepted components are
reported in ``boundary``. The EM driver's ``stop`` hook hands control back for a probe.
A probe runs in two stages so that a rejected one stays cheap: the reduced model first
gets ``_PROBE_STEPS = 10`` iterations; if it has not converged and the score at zero
there is positive (leaving the boundary raises the likelihood), the probe is rejected
at once; only otherwise does the reduced model run on to convergence for the test
above. (A small but non-zero component probed early -- ScotsSec's ``second`` -- used to
run the rejected reduced model for thousands of slowly converging iterations.) A
rejection only defers the decision: the component is probed again once it has fallen
another factor 10, and acceptance is always decided on a converged reduced fit.

Singular covariance terms. A term with several effects can have its optimum at a
singular ``G_i`` (a correlation of +-1, a zero variance): when it approaches one, the
fit probes the reduced-rank model instead (:mod:`imputer.mixed._rank`), accepted on the
same two conditions (likelihood, and the score in the left-out direction ``<= 0``).

Trace. The runs of one fit (between probes, and inside each probe's sub-fit) compose into
one :class:`~imputer._em.EMTrace`: iterations, EM-map evaluations and rejected
extrapolations add up (the probes' extra engine evaluations -- the log-likelihood before
a probe, the score at zero, the final log-likelihood -- count as evaluations); the
history concatenates the runs' histories, keeping from an accepted probe only the values
not below the log-likelihood it started from, so it stays non-decreasing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imputer._em import EMTrace, StopHook, StopReason, TraceFields, run_em
from imputer.mixed._mme import Gram, System
from imputer.mixed._problem import Engine, Estimates, Layout, MixedProblem
from imputer.mixed._rank import EngineInputs, ReducedEngine, complement, null_direction, scales, singularity

__all__ = ["Engine", "MMEEngine", "MixedFit", "fit_components"]

_PROBE_SHARE = 1e-2
_SCORE_TOL = 1e-9
#: Iterations of a zero-boundary probe's first stage (the reduced model runs on to
#: convergence only if the score at zero there does not reject the boundary).
_PROBE_STEPS = 10


class MMEEngine:
    """Mixed-model-equation engine: one :class:`System` per active set, cached.

    Parameters
    ----------
    gram : Gram
    ml : bool
    layout : Layout, optional
        The terms' covariance structures (default: scalar variance components).
    inputs : EngineInputs, optional
        The observed rows the Gram was formed from; needed for the reduced-rank probe
        of covariance terms (:mod:`imputer.mixed._rank`), which is skipped without them.
    """

    def __init__(self, gram: Gram, ml: bool, layout: Layout | None = None, inputs: EngineInputs | None = None):
        self.g = gram
        self.inputs = inputs
        self.k = gram.k
        self.n, self.p = gram.n, gram.p
        self.r = gram.r
        self.ml = ml
        self.layout = Layout.scalar(gram.k) if layout is None else layout
        self._systems: dict[tuple[int, ...], System] = {}

    def system(self, active: tuple[int, ...]) -> System:
        if active not in self._systems:
            self._systems[active] = System(self.g, active)
        return self._systems[active]

    def dense_size(self) -> int:
        """Order ``m`` of the dense Schur complement with every term active."""
        return self.system(tuple(range(self.k))).m

    def evaluate(self, sig2: np.ndarray, s2e: float, active: tuple[int, ...]):
        return self.system(active).evaluate(self.layout, sig2, s2e, self.ml)

    def score_at_zero(self, sig2: np.ndarray, s2e: float, active: tuple[int, ...], j: int) -> float:
        return self.system(active).score_at_zero(self.layout, sig2, s2e, j, self.ml)

    def term_size(self, theta: np.ndarray, i: int) -> float:
        """How large term ``i`` is in ``theta``: its variance (``d = 1``), else
        ``sum_a G_aa tr(Z*_a'Z*_a) / n``, the effects' average contribution to ``Var(y)``."""
        G = self.layout.matrix(theta, i)
        if G.shape[0] == 1:
            return float(G[0, 0])
        return float(np.diag(G) @ np.diag(self.g.ZZbsum[i])) / self.n

    def final(self, sig2: np.ndarray, s2e: float, active: tuple[int, ...]) -> Estimates:
        """``b`` (p,), ``var_b``, and per term ``u`` (q_i, d_i), ``pev`` (q_i, d_i, d_i)."""
        sol = self.system(active).final(self.layout, sig2, s2e)
        u: list[np.ndarray] = []
        pev: list[np.ndarray] = []
        for i in range(self.k):
            L = self.g.L[i]
            d = self.g.d[i]
            q = (self.r[i] if L is None else L.shape[0]) // d
            if i not in active:
                u.append(np.zeros((q, d)))
                pev.append(np.zeros((q, d, d)))
                continue
            v, Cii = sol.v[i], sol.Cii[i]
            if L is None:
                u.append(v.reshape(q, d))
                pev.append(s2e * Cii)
            else:
                u.append((L @ v).reshape(q, d))
                M = (L @ Cii).reshape(q, d, -1)
                pev.append(s2e * np.einsum("lac,lbc->lab", M, L.reshape(q, d, -1)))
        return Estimates(b=sol.b, var_b=sol.var_b, u=tuple(u), pev=tuple(pev))


def term_size(engine: Engine, theta: np.ndarray, i: int) -> float:
    """:meth:`MMEEngine.term_size`, or the variance ``theta[i]`` for an engine of scalar terms."""
    f = getattr(engine, "term_size", None)
    return float(theta[i]) if f is None else f(theta, i)


@dataclass(frozen=True, eq=False)
class MixedFit(TraceFields):
    """Outcome of :func:`fit_components`.

    Attributes
    ----------
    theta : ndarray, shape (k + 1,)
        Variance components, residual last (components on the boundary are 0).
    active : tuple of int
        Components free at the estimate.
    boundary : tuple of int
        Components settled at zero (the complement of ``active``).
    loglik : float
        REML (or ML) log-likelihood at ``theta``.
    trace : EMTrace
        The composed trace of every run and probe (module docstring).
    reduced : (ReducedEngine, MixedFit) or None
        After an accepted reduced-rank probe: the reduced engine and its fit (``theta``
        is then that fit's, expanded; some ``G_i`` singular).
    n_iter, n_evals, converged, history
        Read-only properties: the trace's (:class:`~imputer._em.TraceFields`).
    """

    theta: np.ndarray = field(repr=False)
    active: tuple[int, ...]
    boundary: tuple[int, ...]
    loglik: float
    trace: EMTrace
    reduced: tuple[ReducedEngine, MixedFit] | None = field(default=None, repr=False)
    #: zero-boundary probes rejected during the fit: term -> its size then (a later fit
    #: from this one's end re-probes a term only once it has fallen another factor 10)
    rejected: dict[int, float] = field(default_factory=dict, repr=False)

    def estimates(self, engine: Engine) -> Estimates:
        """:meth:`Engine.final` at the estimate (through the reduced engine of an accepted rank probe)."""
        if self.reduced is None:
            return engine.final(self.theta[:-1], float(self.theta[-1]), self.active)
        red, sub = self.reduced
        return red.expand_estimates(sub.estimates(red.inner))


def _fit_active(
    engine: Engine,
    theta: np.ndarray,
    active: tuple[int, ...],
    tol: float,
    max_iter: int,
    accelerate: bool,
    stop: StopHook | None,
) -> tuple[np.ndarray, EMTrace]:
    """EM (SQUAREM, Newton steps) on the active components and the residual, from ``theta`` (k + 1,).

    ``stop(theta_full, loglik) -> bool`` is checked at every accepted iterate; True ends
    the run there (``stop_reason="stopped"``). Returns the full ``theta`` and the trace.
    """
    problem = MixedProblem(engine, active)
    hook = None if stop is None else (lambda x, obj: stop(problem.unpack(x), obj))
    run = run_em(problem, problem.pack(theta), tol=tol, max_iter=max_iter, accelerate=accelerate, stop=hook)
    return problem.unpack(run.x), run.trace


def fit_components(
    engine: Engine,
    theta0: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    accelerate: bool,
    active: tuple[int, ...] | None = None,
    rank_probes: bool = True,
    rejected: dict[int, float] | None = None,
) -> MixedFit:
    """Maximise the REML/ML likelihood from ``theta0`` (active components > 0).

    Parameters
    ----------
    engine : MMEEngine or SpectralEngine
    theta0 : ndarray, shape (k + 1,)
    tol : float
        Convergence tolerance (see :mod:`imputer.mixed._problem`).
    max_iter : int
        Budget of outer iterations, boundary probes included.
    accelerate : bool
        SQUAREM and Newton steps (True) or plain EM.
    active : tuple of int, optional
        Components free to vary (default all); the others are held at zero. A boundary
        probe calls this function recursively without the probed component, so that
        several components can settle on the boundary.
    rank_probes : bool, default True
        Probe singular covariance terms (:mod:`imputer.mixed._rank`; needs an
        :class:`MMEEngine` with ``inputs``). Off inside a probe's direction search.
    rejected : dict of int -> float, optional
        Zero-boundary probes already rejected (term -> its size then), as
        :attr:`MixedFit.rejected` of a fit this one continues.

    Returns
    -------
    MixedFit
    """
    k = engine.k
    layout: Layout = getattr(engine, "layout", None) or Layout.scalar(k)
    theta = np.asarray(theta0, dtype=float).copy()
    active = tuple(range(k)) if active is None else tuple(active)
    trace: EMTrace | None = None
    reason: StopReason = "max_iter"
    rejected = {} if rejected is None else dict(rejected)
    rejected_rank: dict[int, float] = {}
    can_reduce = rank_probes and getattr(engine, "inputs", None) is not None

    def candidates(th: np.ndarray) -> list[int]:
        sizes = {i: term_size(engine, th, i) for i in range(k)}
        total = float(sum(sizes.values()) + th[-1])
        return [
            i for i in active
            if sizes[i] < _PROBE_SHARE * total and sizes[i] < rejected.get(i, np.inf) / 10.0
        ]

    def rank_candidates(th: np.ndarray) -> list[tuple[int, np.ndarray, float]]:
        if not can_reduce:
            return []
        sizes = {i: term_size(engine, th, i) for i in range(k)}
        total = float(sum(sizes.values()) + th[-1])
        out = []
        for i in active:
            if layout.dims[i] < 2:
                continue
            G, D = layout.matrix(th, i), scales(engine.g, i)
            n0, _ = null_direction(G, D, layout.structures[i])
            lam = singularity(G, D, total)
            if lam < _PROBE_SHARE and lam < rejected_rank.get(i, np.inf) / 10.0:
                out.append((i, n0, lam))
        return out

    while trace is None or trace.n_iter < max_iter:
        n_iter = 0 if trace is None else trace.n_iter
        theta, run = _fit_active(
            engine, theta, active, tol, max_iter - n_iter, accelerate,
            stop=lambda th, obj: bool(candidates(th)) or bool(rank_candidates(th)),
        )
        trace = run if trace is None else trace.then(run)
        cands = candidates(theta)
        if not cands:
            rcands = rank_candidates(theta)
            if not rcands:
                reason = run.stop_reason
                break
            j, n0, lam = min(rcands, key=lambda c: c[2])
            ll_cur, _ = engine.evaluate(theta[:-1], float(theta[-1]), active)
            budget = max(1, max_iter - trace.n_iter)
            ok, red, sub, probe_trace = _probe_rank(engine, theta, active, j, n0, ll_cur, tol, budget, accelerate)
            trace = trace.then(probe_trace, floor=ll_cur if ok else np.inf, extra_evals=2)
            if ok:
                boundary = tuple(i for i in range(k) if i not in sub.active)
                trace = EMTrace(
                    n_iter=trace.n_iter, n_evals=trace.n_evals, converged=True, history=trace.history,
                    stop_reason="converged", n_rejected=trace.n_rejected, changes=trace.changes,
                )
                return MixedFit(
                    theta=red.expand_theta(sub.theta), active=sub.active, boundary=boundary,
                    loglik=sub.loglik, trace=trace, reduced=(red, sub),
                )
            rejected_rank[j] = lam
            continue
        j = min(cands, key=lambda i: term_size(engine, theta, i))
        ll_cur, _ = engine.evaluate(theta[:-1], float(theta[-1]), active)
        reduced = tuple(i for i in active if i != j)
        trial = theta.copy()
        trial[layout.slot(j)] = 0.0
        budget = max(1, max_iter - trace.n_iter)
        # first stage: a few iterations of the reduced model, then the score at zero
        sub = fit_components(
            engine, trial, tol=tol, max_iter=min(budget, _PROBE_STEPS), accelerate=accelerate, active=reduced
        )
        score = engine.score_at_zero(sub.theta[:-1], float(sub.theta[-1]), sub.active, j)
        extra = 2  # the log-likelihood here, the score
        probe = sub.trace
        leaves = np.isfinite(score) and score * sub.theta[-1] > _SCORE_TOL * engine.n
        if not sub.converged and not leaves and sub.trace.stop_reason == "max_iter" and budget > sub.n_iter:
            # second stage: on to convergence only while the boundary still looks like the optimum
            sub = fit_components(
                engine, sub.theta, tol=tol, max_iter=budget - sub.n_iter, accelerate=accelerate,
                active=sub.active, rejected=sub.rejected,
            )
            score = engine.score_at_zero(sub.theta[:-1], float(sub.theta[-1]), sub.active, j)
            probe = probe.then(sub.trace)
            extra += 1
        ok = (
            sub.converged
            and np.isfinite(score)
            and score * sub.theta[-1] <= _SCORE_TOL * engine.n
            and sub.loglik >= ll_cur - 1e-12 * max(1.0, abs(ll_cur))
        )
        trace = trace.then(probe, floor=ll_cur if ok else np.inf, extra_evals=extra)
        if ok:
            theta, active = sub.theta.copy(), sub.active
        else:
            rejected[j] = term_size(engine, theta, j)
    assert trace is not None
    ll, _ = engine.evaluate(theta[:-1], float(theta[-1]), active)
    history = trace.history
    if np.isfinite(ll) and (history.size == 0 or ll >= history[-1] - 1e-12 * max(1.0, abs(ll))):
        history = np.append(history, ll)
    if history.size == 0:
        history = np.asarray([ll])
    trace = EMTrace(
        n_iter=trace.n_iter,
        n_evals=trace.n_evals + 1,  # the final log-likelihood
        converged=reason == "converged",
        history=history,
        stop_reason=reason,
        n_rejected=trace.n_rejected,
        changes=trace.changes,
    )
    boundary = tuple(i for i in range(k) if i not in active)
    return MixedFit(
        theta=theta, active=active, boundary=boundary, loglik=float(ll), trace=trace, rejected=rejected
    )


def _probe_rank(
    engine: MMEEngine,
    theta: np.ndarray,
    active: tuple[int, ...],
    j: int,
    n0: np.ndarray,
    ll_cur: float,
    tol: float,
    max_iter: int,
    accelerate: bool,
) -> tuple[bool, ReducedEngine, MixedFit, EMTrace]:
    """The reduced-rank probe of term ``j`` (:mod:`imputer.mixed._rank`).

    Returns whether it is accepted, the reduced engine and its fit at the best null
    direction, and the trace of every fit made (the direction search's, then the final one).
    """
    from scipy.optimize import minimize, minimize_scalar

    layout = engine.layout
    d = layout.dims[j]
    sq = np.sqrt(scales(engine.g, j))
    diag = layout.structures[j] == "diag"
    traces: list[EMTrace] = []
    best: dict = {"ll": -np.inf, "theta": theta}

    def build(nt: np.ndarray) -> ReducedEngine:
        nt = nt / np.linalg.norm(nt)
        At = np.eye(d)[:, np.abs(nt) < 0.5] if diag else complement(nt)
        return ReducedEngine(engine, j, At / sq[:, None], nt / sq)

    def profile(nt: np.ndarray) -> float:
        red = build(nt)
        sub = fit_components(
            red.inner, red.reduce_theta(best["theta"]), tol=tol, max_iter=max_iter,
            accelerate=accelerate, active=active, rank_probes=False,
        )
        traces.append(sub.trace)
        if sub.loglik > best["ll"]:
            best.update(ll=sub.loglik, red=red, sub=sub, theta=red.expand_theta(sub.theta))
        return -sub.loglik if np.isfinite(sub.loglik) else np.inf

    profile(n0)
    first0: MixedFit = best["sub"]
    red0: ReducedEngine = best["red"]
    score0 = red0.inner.score_at_zero(first0.theta[:-1], float(first0.theta[-1]), first0.active, red0.extra)
    # early rejection: at the current direction the reduced model is worse and leaving the
    # boundary raises the likelihood -- the direction search would only refine a rejection
    hopeless = first0.loglik < ll_cur and score0 * first0.theta[-1] > _SCORE_TOL * engine.n
    if diag or hopeless:
        pass
    else:
        B = complement(n0)
        if d == 2:
            minimize_scalar(
                lambda t: profile(n0 + B[:, 0] * t), bounds=(-0.5, 0.5), method="bounded",
                options={"xatol": 1e-9},
            )
        else:
            simplex = np.vstack([np.zeros(d - 1), 0.05 * np.eye(d - 1)])
            minimize(
                lambda t: profile(n0 + B @ t), np.zeros(d - 1), method="Nelder-Mead",
                options={"xatol": 1e-9, "fatol": 1e-13 * max(1.0, abs(ll_cur)), "initial_simplex": simplex},
            )
    if hopeless:
        return False, red0, first0, traces[0]
    red: ReducedEngine = best["red"]
    first: MixedFit = best["sub"]
    sub = fit_components(
        red.inner, first.theta, tol=tol, max_iter=max_iter, accelerate=accelerate, active=first.active
    )
    probe = traces[0]
    for t in traces[1:]:
        probe = probe.then(t, floor=np.inf)

    probe = probe.then(sub.trace, floor=-np.inf, extra_evals=1)
    if sub.reduced is None:
        score = red.inner.score_at_zero(sub.theta[:-1], float(sub.theta[-1]), sub.active, red.extra)
    else:  # reduced further: the left-out direction's score in the innermost model is not this one
        score = -np.inf
    ok = (
        sub.converged
        and np.isfinite(sub.loglik)
        and score * sub.theta[-1] <= _SCORE_TOL * engine.n
        and sub.loglik >= ll_cur - 1e-12 * max(1.0, abs(ll_cur))
    )
    return ok, red, sub, probe
