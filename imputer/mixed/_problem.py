r"""A mixed model's covariance parameters as an EM problem (:class:`MixedProblem`).

Random term ``i`` has ``d_i`` effects per level (``d_i = 1``: a variance component
``s2_i``; ``d_i > 1``: random intercepts and slopes) with covariance ``G_i`` (``d_i x d_i``,
``u_i ~ N(0, K_i (x) G_i)`` in level-major order). ``G_i`` is *unstructured* (``"us"``,
every variance and covariance free) or *diagonal* (``"diag"``, lme4's ``||``). The full
parameter ``theta`` (:class:`Layout`) stacks each term's free entries -- the lower
triangle of ``G_i`` row by row (``vech``), or its diagonal -- then the residual variance
``s2_e``; with scalar terms only it is ``(s2_1, ..., s2_k, s2_e)``. For a set of
*active* terms (the others held at zero on the boundary, see
:mod:`imputer.mixed._emreml`) the packed vector ``x`` holds the active terms' entries
then ``s2_e``. One EM map ``x -> F(x)`` and the REML (or ML) log-likelihood at ``x``
come from an :class:`Engine`: Henderson's mixed-model equations
(:class:`~imputer.mixed._emreml.MMEEngine`) or the EMMA spectral path
(:class:`~imputer.mixed._spectral.SpectralEngine`, one scalar kernel term).

Feasible: every entry finite, ``s2_e > 0`` and every active ``G_i`` positive definite
(its Cholesky factorisation exists). EM keeps ``G_i`` positive definite in exact
arithmetic (the M-step ``G = (V'V + s2_e sum_l C^{ll}) / q`` adds a positive
semi-definite to a positive definite matrix); a SQUAREM extrapolation that leaves the
cone is infeasible and the driver falls back to the EM step. An EM update that is not
positive definite (underflow toward the boundary) is reported as singular (``step``
returns ``(None, L(x))``).

Convergence measure (``tol``): ``max_j |x'_j - x_j| / max(s_j, 1e-10 T)`` where ``s_j``
is ``|x'_j|`` for a variance and ``sqrt(x'_aa x'_bb)`` (the two variances' geometric
mean, so a covariance is judged on the scale of a correlation) for a covariance, and
``T`` the sum of the updated variances (the floor). With scalar terms only this is the
largest change of a variance relative to itself.

After the fit, :meth:`Engine.final` gives the typed estimates :class:`Estimates` (fixed
effects, their covariance, BLUPs and their prediction error variances).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import numpy as np

__all__ = ["Engine", "Estimates", "Layout", "MixedProblem"]

#: Floor of the relative convergence measure, as a share of the total variance.
FLOOR = 1e-10


@dataclass(frozen=True)
class Layout:
    """Where each term's covariance entries sit in the full parameter ``theta``.

    Attributes
    ----------
    dims : tuple of int
        ``d_i``, effects per level of each term.
    structures : tuple of str
        ``"us"`` (unstructured) or ``"diag"`` per term (``"us"`` for ``d_i = 1``).
    """

    dims: tuple[int, ...]
    structures: tuple[str, ...]

    @staticmethod
    def scalar(k: int) -> Layout:
        """``k`` variance components (one effect per level each)."""
        return Layout(dims=(1,) * k, structures=("us",) * k)

    @property
    def k(self) -> int:
        return len(self.dims)

    def width(self, i: int) -> int:
        """Number of free entries of term ``i``."""
        d = self.dims[i]
        return d if self.structures[i] == "diag" else d * (d + 1) // 2

    # The layout is immutable: offsets, slots and entry indices are computed once (an EM
    # evaluation asks for them per term, and building them each time cost as much as a
    # small model's linear algebra).
    @cached_property
    def offsets(self) -> tuple[int, ...]:
        out, off = [], 0
        for i in range(self.k):
            out.append(off)
            off += self.width(i)
        return tuple(out + [off])

    @cached_property
    def _slots(self) -> tuple[slice, ...]:
        o = self.offsets
        return tuple(slice(o[i], o[i + 1]) for i in range(self.k))

    @cached_property
    def _entries(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        out = []
        for d, s in zip(self.dims, self.structures):
            if s == "diag":
                a = np.arange(d)
                out.append((a, a))
            else:
                out.append(np.tril_indices(d))
        return tuple(out)

    @property
    def size(self) -> int:
        """Length of ``theta`` without the residual."""
        return self.offsets[-1]

    def slot(self, i: int) -> slice:
        return self._slots[i]

    def entries(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each free entry of term ``i`` in ``G_i``."""
        return self._entries[i]

    def matrix(self, theta: np.ndarray, i: int) -> np.ndarray:
        """``G_i`` (d_i, d_i) from ``theta``."""
        d = self.dims[i]
        if d == 1:
            return np.array([[float(theta[self.offsets[i]])]])
        G = np.zeros((d, d))
        r, c = self._entries[i]
        G[r, c] = theta[self._slots[i]]
        G[c, r] = theta[self._slots[i]]
        return G

    def vector(self, G: np.ndarray, i: int) -> np.ndarray:
        """Free entries of term ``i`` from ``G_i`` (the inverse of :meth:`matrix`)."""
        r, c = self._entries[i]
        return np.asarray(G, dtype=float)[r, c]

    def variances(self) -> np.ndarray:
        """Mask over ``theta`` (residual included, last) of the entries that are variances."""
        mask = np.zeros(self.size + 1, dtype=bool)
        for i in range(self.k):
            r, c = self.entries(i)
            mask[self.slot(i)] = r == c
        mask[-1] = True
        return mask

    def partners(self) -> tuple[np.ndarray, np.ndarray]:
        """For each entry of ``theta``, the positions of its two variances (itself for a variance)."""
        pa = np.arange(self.size + 1)
        pb = np.arange(self.size + 1)
        for i in range(self.k):
            r, c = self.entries(i)
            o = self.offsets[i]
            pos = {}
            for j, (a, b) in enumerate(zip(r, c)):
                if a == b:
                    pos[int(a)] = o + j
            for j, (a, b) in enumerate(zip(r, c)):
                pa[o + j] = pos[int(a)]
                pb[o + j] = pos[int(b)]
        return pa, pb


@dataclass(frozen=True, eq=False)
class Estimates:
    """Estimates at given covariance parameters (what :meth:`Engine.final` returns).

    Attributes
    ----------
    b : ndarray, shape (p,)
        Fixed effects (GLS), in the engine's centred response (add the OLS fit back).
    var_b : ndarray, shape (p, p)
        Their covariance.
    u : tuple of ndarray, one (q_i, d_i) per term
        BLUPs of each term's levels and effects (zeros for a term on the boundary).
    pev : tuple of ndarray, one (q_i, d_i, d_i) per term
        Prediction error covariance ``Var(u_l - u_l_hat)`` of each level's effects (zeros
        on the boundary).
    """

    b: np.ndarray = field(repr=False)
    var_b: np.ndarray = field(repr=False)
    u: tuple[np.ndarray, ...] = field(repr=False)
    pev: tuple[np.ndarray, ...] = field(repr=False)


class Engine(Protocol):
    """What the EM problem and the boundary probes need from an engine (Henderson or spectral)."""

    k: int
    n: int
    layout: Layout

    def evaluate(
        self, sig2: np.ndarray, s2e: float, active: tuple[int, ...]
    ) -> tuple[float, np.ndarray | None]:
        """Log-likelihood at ``(theta[:-1], s2e)`` and the EM update of ``theta`` (None: infeasible)."""
        ...

    def score_at_zero(self, sig2: np.ndarray, s2e: float, active: tuple[int, ...], j: int) -> float:
        """Largest feasible directional derivative of the log-likelihood at ``G_j = 0`` (``j`` not active)."""
        ...

    def final(self, sig2: np.ndarray, s2e: float, active: tuple[int, ...]) -> Estimates:
        """Fixed effects, their covariance, and per term BLUPs and PEVs."""
        ...


def distance(a: np.ndarray, b: np.ndarray, partners: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """``max_j |b_j - a_j| / max(s_j, FLOOR T)`` (module docstring); inf when ``b`` has no positive total.

    ``partners`` (from :meth:`Layout.partners`, restricted to the packed entries) gives
    each entry's two variances; None: every entry is a variance.
    """
    if partners is None:
        scale = np.abs(b)
        total = float(np.sum(scale))
    else:
        pa, pb = partners
        scale = np.sqrt(np.abs(b[pa] * b[pb]))
        total = float(np.sum(np.abs(b[pa == pb])))
    if not np.isfinite(total) or total <= 0:
        return np.inf
    scale = np.maximum(scale, FLOOR * total)
    return float(np.max(np.abs(b - a) / scale))


def is_positive_definite(G: np.ndarray) -> bool:
    """Whether a symmetric ``G`` has a Cholesky factor (finite entries, positive pivots)."""
    if not np.all(np.isfinite(G)):
        return False
    if G.shape[0] == 1:
        return bool(G[0, 0] > 0)
    try:
        np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        return False
    return True


class MixedProblem:
    """EM-REML/ML for the active terms (an :class:`~imputer._em.EMProblem`).

    Parameters
    ----------
    engine : Engine
    active : tuple of int
        Terms free to vary; the others are held at zero.
    """

    def __init__(self, engine: Engine, active: tuple[int, ...]) -> None:
        self.engine = engine
        self.active = tuple(active)
        self.k = engine.k
        self.layout: Layout = getattr(engine, "layout", None) or Layout.scalar(engine.k)
        lay = self.layout
        idx = [np.arange(lay.offsets[i], lay.offsets[i + 1]) for i in self.active]
        self._idx = np.concatenate(idx + [np.array([lay.size])]).astype(int)
        self._full = lay.size + 1
        pa, pb = lay.partners()
        where = np.full(self._full, -1)
        where[self._idx] = np.arange(self._idx.size)
        self._partners = (where[pa[self._idx]], where[pb[self._idx]])
        self._scalar = all(lay.width(i) == 1 for i in self.active)
        # packed positions of each active term (for the positive-definiteness check)
        self._terms = [(i, where[np.arange(lay.offsets[i], lay.offsets[i + 1])]) for i in self.active]

    def pack(self, params: np.ndarray) -> np.ndarray:
        """Packed ``x = theta[active entries + residual]`` of a full ``theta``."""
        return np.asarray(params, dtype=float)[self._idx]

    def unpack(self, x: np.ndarray) -> np.ndarray:
        """Full ``theta``, zero at the inactive terms."""
        full = np.zeros(self._full)
        full[self._idx] = x
        return full

    def feasible(self, x: np.ndarray) -> bool:
        """Every entry finite, ``s2_e > 0`` and every active ``G_i`` positive definite."""
        if not np.all(np.isfinite(x)):
            return False
        if self._scalar:
            return bool(np.all(x > 0))
        if not x[-1] > 0:
            return False
        lay = self.layout
        for i, pos in self._terms:
            if lay.structures[i] == "diag" or lay.dims[i] == 1:
                if not np.all(x[pos] > 0):
                    return False
                continue
            G = np.zeros((lay.dims[i], lay.dims[i]))
            r, c = lay.entries(i)
            G[r, c] = x[pos]
            G[c, r] = x[pos]
            if not is_positive_definite(G):
                return False
        return True

    def newton_mask(self) -> np.ndarray | None:
        """Where the driver may take Newton points (:mod:`imputer._em.fdnewton`): with scalar
        terms only, every packed entry (a variance, logged there); None with a term of
        several effects.

        Terms with several effects keep SQUAREM alone: near a singular ``G_i`` (a
        correlation near +-1), Newton points carried fits with ``(1 + x + z | g)`` and an
        uncentred ``x`` there faster than SQUAREM, and the fit then stalled after the
        reduced-rank probe was rejected (3 of 7 such tables ended 0.35-0.79 below the
        maximum that SQUAREM alone reaches).
        """
        return np.ones(self._idx.size, dtype=bool) if self._scalar else None

    def distance(self, x_old: np.ndarray, x_new: np.ndarray) -> float:
        """Relative change of the covariance parameters (module docstring)."""
        return distance(x_old, x_new, None if self._scalar else self._partners)

    def step(self, x: np.ndarray) -> tuple[np.ndarray | None, float]:
        """The EM map: ``(F(x), L(x))``; ``L = -inf`` if infeasible, ``F = None`` if the update is not feasible.

        Parameters
        ----------
        x : ndarray, shape (n_packed,)

        Returns
        -------
        update : ndarray, same shape, or None
        loglik : float
            REML (or ML) log-likelihood at ``x``.
        """
        if not self.feasible(x):
            return x, -np.inf
        full = self.unpack(x)
        ll, new = self.engine.evaluate(full[:-1], float(full[-1]), self.active)
        if new is None:
            return x, -np.inf
        update = new[self._idx]
        if not self.feasible(update):
            return None, ll
        return update, ll
