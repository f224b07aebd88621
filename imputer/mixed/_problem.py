r"""A mixed model's variance components as an EM problem (:class:`MixedProblem`).

The full parameter is ``theta = (s2_1, ..., s2_k, s2_e)``, shape ``(k + 1,)``. For a set
of *active* components (the others held at zero on the boundary, see
:mod:`imputer.mixed._emreml`) the packed vector is ``x = theta[active + (k,)]``, the
active components then the residual variance. One EM map ``x -> F(x)`` and the REML (or
ML) log-likelihood at ``x`` come from an :class:`Engine`: Henderson's mixed-model
equations (:class:`~imputer.mixed._emreml.MMEEngine`) or the EMMA spectral path
(:class:`~imputer.mixed._spectral.SpectralEngine`).

Feasible: every packed variance finite and positive. EM keeps them positive in exact
arithmetic; an update with a component ``<= 0`` (underflow toward the boundary) is
reported as singular (``step`` returns ``(None, L(x))``).

Convergence measure (``tol``): ``max_i |x'_i - x_i| / max(|x'_i|, 1e-10 sum_i |x'_i|)``,
the largest change of a variance relative to itself, floored at ``1e-10`` of the total.

After the fit, :meth:`Engine.final` gives the typed estimates :class:`Estimates` (fixed
effects, their covariance, BLUPs and their prediction error variances).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

__all__ = ["Engine", "Estimates", "MixedProblem"]

#: Floor of the relative convergence measure, as a share of the total variance.
FLOOR = 1e-10


@dataclass(frozen=True, eq=False)
class Estimates:
    """Estimates at given variance components (what :meth:`Engine.final` returns).

    Attributes
    ----------
    b : ndarray, shape (p,)
        Fixed effects (GLS), in the engine's centred response (add the OLS fit back).
    var_b : ndarray, shape (p, p)
        Their covariance.
    u : tuple of ndarray, one (q_i,) per component
        BLUPs of each component's levels (zeros for a component on the boundary).
    pev : tuple of ndarray, one (q_i,) per component
        Prediction error variances of ``u`` (zeros on the boundary).
    """

    b: np.ndarray = field(repr=False)
    var_b: np.ndarray = field(repr=False)
    u: tuple[np.ndarray, ...] = field(repr=False)
    pev: tuple[np.ndarray, ...] = field(repr=False)


class Engine(Protocol):
    """What the EM problem and the boundary probes need from an engine (Henderson or spectral)."""

    k: int
    n: int

    def evaluate(
        self, sig2: np.ndarray, s2e: float, active: tuple[int, ...]
    ) -> tuple[float, np.ndarray | None]:
        """Log-likelihood at ``(sig2, s2e)`` and the EM update, shape (k + 1,) (None: infeasible)."""
        ...

    def score_at_zero(self, sig2: np.ndarray, s2e: float, active: tuple[int, ...], j: int) -> float:
        """Derivative of the log-likelihood in ``s2_j`` at 0 (``j`` not active)."""
        ...

    def final(self, sig2: np.ndarray, s2e: float, active: tuple[int, ...]) -> Estimates:
        """Fixed effects, their covariance, and per component BLUPs and PEVs."""
        ...


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """``max_i |b_i - a_i| / max(|b_i|, FLOOR sum|b|)`` (inf when ``b`` has no positive total)."""
    total = float(np.sum(np.abs(b)))
    if not np.isfinite(total) or total <= 0:
        return np.inf
    scale = np.maximum(np.abs(b), FLOOR * total)
    return float(np.max(np.abs(b - a) / scale))


class MixedProblem:
    """EM-REML/ML for the active variance components (an :class:`~imputer._em.EMProblem`).

    Parameters
    ----------
    engine : Engine
    active : tuple of int
        Components free to vary; the others are held at zero.
    """

    def __init__(self, engine: Engine, active: tuple[int, ...]) -> None:
        self.engine = engine
        self.active = tuple(active)
        self.k = engine.k
        self._idx = np.array(list(self.active) + [self.k])

    def pack(self, params: np.ndarray) -> np.ndarray:
        """Packed ``x = theta[active + (k,)]`` of a full ``theta``, shape (k + 1,)."""
        return np.asarray(params, dtype=float)[self._idx]

    def unpack(self, x: np.ndarray) -> np.ndarray:
        """Full ``theta``, shape (k + 1,), zero at the inactive components."""
        full = np.zeros(self.k + 1)
        full[self._idx] = x
        return full

    def feasible(self, x: np.ndarray) -> bool:
        """Every packed variance finite and positive."""
        return bool(np.all(np.isfinite(x)) and np.all(x > 0))

    def distance(self, x_old: np.ndarray, x_new: np.ndarray) -> float:
        """Relative change of the variances (module docstring)."""
        return distance(x_old, x_new)

    def step(self, x: np.ndarray) -> tuple[np.ndarray | None, float]:
        """The EM map: ``(F(x), L(x))``; ``L = -inf`` if infeasible, ``F = None`` if the update is not positive.

        Parameters
        ----------
        x : ndarray, shape (len(active) + 1,)

        Returns
        -------
        update : ndarray, same shape, or None
        loglik : float
            REML (or ML) log-likelihood at ``x``.
        """
        if not self.feasible(x):
            return x, -np.inf
        full = self.unpack(x)
        ll, new = self.engine.evaluate(full[: self.k], float(full[self.k]), self.active)
        if new is None:
            return x, -np.inf
        update = new[self._idx]
        if np.any(update <= 0):
            return None, ll
        return update, ll
