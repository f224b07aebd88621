"""How an EM run went: :class:`EMTrace`, one type carried by every result.

An EM run produces a sequence of accepted iterates ``x_0, x_1, ...`` with objective
values ``L(x_0) <= L(x_1) <= ...`` (EM, and SQUAREM with its monotonicity safeguard,
never decrease the objective: a log-likelihood, a restricted log-likelihood or a
log-posterior). The trace records that sequence, the work it took and why it ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from imputer._util import readonly

__all__ = ["EMTrace", "STOP_REASONS", "StopReason", "TraceFields"]

#: Why a run ended:
#:
#: * ``"converged"``: the convergence measure fell to ``tol`` or below;
#: * ``"max_iter"``: the iteration limit was reached first;
#: * ``"singular"``: the objective increases toward the edge of the parameter space
#:   (e.g. a singular covariance), where it has no maximum;
#: * ``"stopped"``: the caller's ``stop`` hook (or a fit's ``callback``) asked to end the run early;
#: * ``"max_time"``: the fit's time limit (``max_time`` seconds) passed first;
#: * ``"infeasible"``: the starting point was not a valid parameter.
StopReason = Literal["converged", "max_iter", "singular", "stopped", "infeasible", "max_time"]
STOP_REASONS: tuple[str, ...] = get_args(StopReason)


@dataclass(frozen=True, eq=False)
class EMTrace:
    """How an EM run went.

    Attributes
    ----------
    n_iter : int
        Outer iterations (one plain EM step, one SQUAREM cycle of up to three, one Newton
        step on EM's fixed point with its Jacobian's evaluations, or one accepted Anderson
        iterate of one or two).
    n_evals : int
        Evaluations of the EM map, the honest measure of cost.
    converged : bool
        ``stop_reason == "converged"``: the convergence measure reached ``tol`` (and, for
        the multivariate normal, the estimate is not nearly singular).
    history : ndarray, shape (k,), read-only
        Objective at every accepted iterate, in order; non-decreasing. The objective is
        the one EM increases: the log-likelihood, or the log-posterior under a prior.
    stop_reason : {"converged", "max_iter", "singular", "stopped", "infeasible", "max_time"}
        Why the run ended (see :data:`StopReason`).
    n_rejected : int, default 0
        Extrapolations (SQUAREM or Anderson) and Newton points rejected by the monotonicity
        safeguard.
    changes : ndarray, shape (j,), read-only, default empty
        The convergence measure ``distance(x, F(x))`` (the parameter change of one EM
        update, compared with ``tol``) at each iteration's start ``x``, in order: one entry
        per outer iteration that evaluated its update, plus, when a SQUAREM cycle ends
        because its first EM update already moved less than ``tol``, that update's change;
        the run converged when the last is ``<= tol`` (Anderson, and SQUAREM with Newton
        points where EM is slow: ``<= tol (1 - rho_hat)``, see :mod:`imputer._em.anderson`
        and :mod:`imputer._em.squarem`; a run that a Newton step ended records that step's
        move last). Unlike ``history`` it need not decrease monotonically, but near
        the maximum it falls geometrically at EM's rate (SQUAREM: faster).
    """

    n_iter: int
    n_evals: int
    converged: bool
    history: np.ndarray = field(repr=False)
    stop_reason: StopReason
    n_rejected: int = 0
    changes: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    def __post_init__(self) -> None:
        if self.stop_reason not in STOP_REASONS:
            raise ValueError(f"stop_reason must be one of {STOP_REASONS}, got {self.stop_reason!r}")
        if self.converged != (self.stop_reason == "converged"):
            raise ValueError(f"converged={self.converged} contradicts stop_reason={self.stop_reason!r}")
        object.__setattr__(self, "history", readonly(self.history).reshape(-1))
        object.__setattr__(self, "changes", readonly(self.changes).reshape(-1))
        object.__setattr__(self, "n_iter", int(self.n_iter))
        object.__setattr__(self, "n_evals", int(self.n_evals))
        object.__setattr__(self, "n_rejected", int(self.n_rejected))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EMTrace):
            return NotImplemented
        return (
            (self.n_iter, self.n_evals, self.converged, self.stop_reason, self.n_rejected)
            == (other.n_iter, other.n_evals, other.converged, other.stop_reason, other.n_rejected)
            and self.history.shape == other.history.shape
            and bool(np.array_equal(self.history, other.history, equal_nan=True))
            and self.changes.shape == other.changes.shape
            and bool(np.array_equal(self.changes, other.changes, equal_nan=True))
        )

    def __hash__(self) -> int:
        return hash((self.n_iter, self.n_evals, self.converged, self.stop_reason, self.n_rejected, self.history.tobytes()))

    def shifted(self, offset: float) -> EMTrace:
        """The same trace with ``offset`` added to every objective value (a change of units)."""
        return EMTrace(
            self.n_iter, self.n_evals, self.converged, self.history + offset, self.stop_reason, self.n_rejected,
            self.changes,
        )

    def then(self, other: EMTrace, *, floor: float = -np.inf, extra_evals: int = 0) -> EMTrace:
        """This run continued by ``other`` (a restart from where it ended, or a sub-fit).

        Parameters
        ----------
        other : EMTrace
            The run that followed.
        floor : float, default -inf
            Only ``other``'s objective values ``>= floor`` join the history (``inf``: none),
            so that a sub-fit starting lower does not break monotonicity.
        extra_evals : int, default 0
            EM-map evaluations made between the two runs, outside either.

        Returns
        -------
        EMTrace
            Iterations, evaluations and rejected extrapolations added up; the history
            (and the changes) concatenated; ``converged`` and ``stop_reason`` are ``other``'s.
        """
        tail = other.history[other.history >= floor]
        return EMTrace(
            n_iter=self.n_iter + other.n_iter,
            n_evals=self.n_evals + other.n_evals + extra_evals,
            converged=other.converged,
            history=np.concatenate([self.history, tail]),
            stop_reason=other.stop_reason,
            n_rejected=self.n_rejected + other.n_rejected,
            changes=np.concatenate([self.changes, other.changes]),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain ints, bools, str, the history and the changes as floats (non-finite -> None)."""
        from imputer._json import finite_or_none

        return {
            "n_iter": self.n_iter,
            "n_evals": self.n_evals,
            "converged": bool(self.converged),
            "stop_reason": self.stop_reason,
            "n_rejected": self.n_rejected,
            "history": [finite_or_none(float(v)) for v in self.history],
            "changes": [finite_or_none(float(v)) for v in self.changes],
        }


class TraceFields:
    """Mixin for outcomes and results with a ``trace: EMTrace`` attribute: its fields as read-only properties.

    ``loglik_history`` is the name the public results give ``history`` (the objective at
    each accepted iterate: the log-likelihood, or the log-posterior under a prior).
    """

    trace: EMTrace

    @property
    def n_iter(self) -> int:
        """``trace.n_iter``."""
        return self.trace.n_iter

    @property
    def n_evals(self) -> int:
        """``trace.n_evals``."""
        return self.trace.n_evals

    @property
    def converged(self) -> bool:
        """``trace.converged``."""
        return self.trace.converged

    @property
    def history(self) -> np.ndarray:
        """``trace.history``."""
        return self.trace.history

    @property
    def loglik_history(self) -> np.ndarray:
        """``trace.history`` (read-only): the objective at each accepted iterate."""
        return self.trace.history
