r"""Restarted GMRES for a matrix-free operator, its Arnoldi basis orthogonalised by classical Gram-Schmidt twice.

Solves ``A x = b`` for an operator ``A`` given only as ``v -> A v`` (Saad & Schultz 1986). Each
cycle builds an orthonormal basis ``V_k`` of the Krylov space ``span(r, A r, ..., A^{k-1} r)``
of its starting residual ``r`` and the Hessenberg matrix ``H_k`` with ``A V_k = V_{k+1} H_k``;
the iterate ``x + V_k y``, ``y = argmin |beta e_1 - H_k y|``, minimises the residual over that
space, and the residual's norm ``|beta e_1 - H_k y|`` is known at every step from the Givens
rotations that triangularise ``H_k``. A cycle ends when that norm is at most ``rtol |b|`` or
after ``restart`` steps; the next cycle starts from the true residual ``b - A x``.

Deflation across a sequence of systems (:func:`gmres_deflated`). Where ``A`` has a few
eigenvalues near 0 (``I - J`` for a slowly contracting map ``J``), GMRES spends most of its
steps on them. The harmonic Ritz pairs of the cycle's space, ``(H_k^T H_k) g = theta
S_k^T g`` (``S_k`` the first ``k`` rows of the ``(k + 1) x k`` matrix ``H_k``; Morgan 1995),
estimate them; the factor ``F = I + Q (T^{-1} - I) Q^T`` (``Q = V_k R`` orthonormal over the
``l`` vectors ``V_k g`` with ``theta`` nearest 0, and ``T = Q^T A Q = R^T S_k R`` by the
Arnoldi relation) right-preconditions the next system, mapping those
eigenvalues to 1 (Erhel, Burrage & Pohl 1996; Baglama, Calvetti, Golub & Reichel 1998,
who accumulate the factors over restarts). With right preconditioning the residual that
GMRES minimises is the system's own, so the tolerance holds whatever the preconditioner's
quality; a stale one costs products, not accuracy.

Saddle-free steps (``flip_below``). Where ``A = I - J`` for the Jacobian ``J`` of a fixed-point
map at a saddle of the objective the map climbs, some eigenvalues of ``A`` are negative (``J``
has eigenvalues above 1: the map moves away from the saddle along their eigenvectors, slowly),
and the Newton step ``A^{-1} b`` moves towards the saddle along them. The saddle-free step
(Dauphin et al. 2014, for Newton's method on a Hessian) takes ``|A|^{-1} b`` instead, on the
approximate eigenvalues: from the first cycle's Arnoldi relation, with ``S_k = G diag(theta)
G^{-1}`` and ``c = G^{-1} beta e_1``, the Galerkin (FOM) solution's terms ``c_j / theta_j (V_k
g_j)`` with real ``theta_j < flip_below`` are replaced by ``c_j / |theta_j| (V_k g_j)``, i.e.
``2 c_j / |theta_j| (V_k g_j)`` is added to GMRES's iterate; and a factor harvested from such a
solve maps those eigenvalues to -1 instead of 1 (``|T|^{-1}`` for ``T^{-1}``), so that the next
solve sees them as well conditioned as the others, and still negative, which flips them again.

Why not :func:`scipy.sparse.linalg.gmres`, which computes the same iterates: its Arnoldi step
orthogonalises against the basis one vector at a time in a Python loop (modified Gram-Schmidt),
``k`` NumPy calls at step ``k``: about 0.5 ms a step at ``k`` near 50, where the operator of
the fills' Newton step (:mod:`imputer.mvn._fillnewton`) costs 0.05-1 ms a product. Here each
step is classical Gram-Schmidt applied twice ("CGS2", Giraud, Langou & Rozloznik 2005: as
orthogonal as modified Gram-Schmidt to working precision), i.e. four matrix-vector products with
the stored basis (BLAS-2), whatever ``k``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eig, solve_triangular

__all__ = ["Deflation", "gmres", "gmres_deflated"]


@dataclass(frozen=True)
class Deflation:
    r"""A right preconditioner ``M^{-1} = F_1 F_2 ... F_j`` built from earlier solves' harmonic Ritz vectors.

    Each factor ``F = I + Q (T^{-1} - I) Q^T`` (``Q``: ``l`` orthonormal vectors spanning
    the approximate invariant subspace of the operator ``B = A M^{-1}`` of its solve that
    belongs to the eigenvalues nearest 0; ``T = Q^T B Q``) maps those eigenvalues to 1 (the
    negative ones to -1 for a saddle-free solve, whose factor holds ``|T|^{-1} - I``) and
    leaves the rest of the spectrum where it was (exactly so for an invariant subspace):
    Erhel, Burrage & Pohl (1996), Baglama, Calvetti, Golub & Reichel (1998). Built for a
    sequence of systems whose operators change little from one to the next.

    Attributes
    ----------
    factors : tuple of (ndarray, ndarray)
        Per factor ``(Q^T, T^{-1} - I)`` (or ``|T|^{-1} - I``), shapes ``(l, m)`` and ``(l, l)``,
        oldest first.
    """

    factors: tuple[tuple[np.ndarray, np.ndarray], ...] = ()

    @property
    def size(self) -> int:
        """The vectors held, all factors."""
        return sum(q.shape[0] for q, _ in self.factors)

    def apply(self, v: np.ndarray) -> np.ndarray:
        """``M^{-1} v``, shape (m,)."""
        for q, w in reversed(self.factors):  # the newest factor acts first
            v = v + (w @ (q @ v)) @ q
        return v


def gmres(
    apply: Callable[[np.ndarray], np.ndarray], b: np.ndarray, *, rtol: float, restart: int, cycles: int
) -> tuple[np.ndarray, bool]:
    """Approximate ``A^{-1} b`` from ``x = 0`` by GMRES(``restart``), at most ``cycles`` cycles.

    Parameters
    ----------
    apply : callable
        ``v -> A v`` for ``v`` of shape (m,), returning shape (m,).
    b : ndarray, shape (m,)
        Right-hand side.
    rtol : float
        Stop once the residual's norm is at most ``rtol * |b|``.
    restart : int
        Krylov dimension of one cycle (``1 <= restart``; at most ``m`` is used).
    cycles : int
        Most cycles (``>= 1``): at most ``cycles * (restart + 1)`` products.

    Returns
    -------
    x : ndarray, shape (m,)
        The last iterate (0 for ``b = 0``).
    converged : bool
        Whether the residual's norm reached ``rtol * |b|`` (by the cycle's own estimate,
        exact in exact arithmetic).
    """
    x, converged, _ = _gmres(apply, b, rtol, restart, cycles, None, 0, None)
    return x, converged


def gmres_deflated(
    apply: Callable[[np.ndarray], np.ndarray],
    b: np.ndarray,
    *,
    rtol: float,
    restart: int,
    cycles: int,
    deflation: Deflation,
    harvest: int,
    flip_below: float | None = None,
) -> tuple[np.ndarray, bool, Deflation]:
    """:func:`gmres` right-preconditioned by ``deflation``, which it extends for the next system.

    Parameters
    ----------
    apply, b, rtol, restart, cycles
        As :func:`gmres` (``rtol`` on the true residual ``b - A x``).
    deflation : Deflation
        The preconditioner (``Deflation()``: none).
    harvest : int
        Harmonic Ritz vectors (those of the values nearest 0) of the last cycle's operator
        ``A M^{-1}`` to add as a new factor (a complex pair counts twice), taken only from a
        cycle of at least ``harvest`` steps: from shorter spaces they approximate the
        eigenvectors poorly, and deflating by them cost products (``n = 10``, ``p = 200``,
        solves of 7-13 products: 251 -> 276 products in a fit taking up to 10 vectors from
        any cycle of 2 steps or more, 242 with this rule).
    flip_below : float, optional
        Take the saddle-free step (module docstring): the first cycle's real Ritz values
        below it (a negative number) are flipped, and so are the harvested factor's.
        None (default): the solution of ``A x = b``.

    Returns
    -------
    x : ndarray, shape (m,)
    converged : bool
    deflation : Deflation
        ``deflation`` with the new factor (unchanged if none could be formed).
    """
    x, converged, factor = _gmres(apply, b, rtol, restart, cycles, deflation, harvest, flip_below)
    if factor is not None:
        deflation = Deflation(deflation.factors + (factor,))
    return x, converged, deflation


def _gmres(
    apply: Callable[[np.ndarray], np.ndarray],
    b: np.ndarray,
    rtol: float,
    restart: int,
    cycles: int,
    deflation: Deflation | None,
    harvest: int,
    flip_below: float | None,
) -> tuple[np.ndarray, bool, tuple[np.ndarray, np.ndarray] | None]:
    """:func:`gmres_deflated`'s work: ``(x, converged, the harvested factor or None)``."""
    m = b.size
    x = np.zeros(m)
    b_norm = float(np.linalg.norm(b))
    if b_norm == 0.0:
        return x, True, None
    target = rtol * b_norm
    restart = min(restart, m)
    precond = None if deflation is None or not deflation.factors else deflation.apply
    op = apply if precond is None else (lambda v: apply(precond(v)))
    r = np.array(b, dtype=float)
    basis = np.empty((restart + 1, m))  # rows: the orthonormal vectors (C order: each row contiguous)
    hess = np.full((restart + 1, restart), np.nan)
    converged = False
    flip = None  # the saddle-free correction, in the preconditioned variable
    for cycle in range(cycles):
        beta = float(np.linalg.norm(r)) if cycle else b_norm
        if beta <= target:
            converged = True
            break
        k, res = _cycle(op, r, beta, basis, hess, target)
        if cycle == 0 and flip_below is not None:
            flip = _flip_correction(basis, hess, beta, flip_below)
        x += res if precond is None else precond(res)
        if k < 0:  # the estimate reached the target
            converged = True
            break
        if cycle + 1 < cycles:
            r = b - apply(x)
    used = _steps_of(hess)
    factor = _harvest(basis, hess, used, harvest, flip_below) if harvest and used >= max(2, harvest) else None
    if flip is not None:
        x += flip if precond is None else precond(flip)
    return x, converged, factor


def _flip_correction(basis: np.ndarray, hess: np.ndarray, beta: float, below: float) -> np.ndarray | None:
    """``sum_j 2 c_j / |theta_j| V_k g_j`` over the cycle's real Ritz values ``theta_j < below``
    (module docstring, "Saddle-free steps"), or None where there are none."""
    k = _steps_of(hess)
    if k == 0:
        return None
    try:
        vals, vecs = eig(hess[:k, :k])
    except (np.linalg.LinAlgError, ValueError):
        return None
    neg = _flipped(vals, below)
    if not np.any(neg):
        return None
    try:
        c = np.linalg.solve(vecs, beta * np.eye(k)[0])
    except np.linalg.LinAlgError:
        return None
    coef = (vecs[:, neg] * (2.0 * c[neg] / np.abs(vals[neg].real))).sum(axis=1).real
    out = coef @ basis[:k]
    return out if np.all(np.isfinite(out)) else None


def _flipped(vals: np.ndarray, below: float) -> np.ndarray:
    """Which of the (complex-typed) eigenvalues ``vals`` are real and below ``below``."""
    return np.isfinite(vals) & (vals.imag == 0.0) & (vals.real < below)


def _steps_of(hess: np.ndarray) -> int:
    """Columns of the raw Hessenberg matrix that the last cycle filled (the rest are NaN)."""
    filled = ~np.isnan(hess[0])
    return int(np.count_nonzero(filled))


def _harvest(
    basis: np.ndarray, hess: np.ndarray, k: int, count: int, flip_below: float | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The factor ``(Q^T, T^{-1} - I)`` of up to ``count`` harmonic Ritz vectors nearest 0
    (``|T|^{-1} - I`` on ``T``'s real eigenvalues below ``flip_below``, when given)."""
    hbar = hess[: k + 1, :k]
    hk = hbar[:k]
    try:
        vals, vecs = eig(hbar.T @ hbar, hk.T)
    except (np.linalg.LinAlgError, ValueError):
        return None
    ok = np.isfinite(vals)
    if not np.any(ok):
        return None
    order = np.argsort(np.abs(np.where(ok, vals, np.inf)))
    cols: list[np.ndarray] = []
    limit = min(count, k - 1)
    for i in order:
        if len(cols) >= limit or not ok[i]:
            break
        g = vecs[:, i]
        if np.iscomplexobj(g) and abs(vals[i].imag) > 0.0:
            if vals[i].imag < 0.0:
                continue  # its conjugate brings both parts
            if len(cols) + 2 > limit:
                break
            cols.extend([g.real, g.imag])
        else:
            cols.append(np.real(g))
    if not cols:
        return None
    r, _ = np.linalg.qr(np.array(cols).T)  # (k, l) orthonormal coefficients
    t = r.T @ hk @ r
    try:
        w = (np.linalg.inv(t) if flip_below is None else _abs_inverse(t, flip_below)) - np.eye(t.shape[0])
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(w)):
        return None
    return r.T @ basis[:k], w


def _abs_inverse(t: np.ndarray, below: float) -> np.ndarray:
    """``T^{-1}`` with ``T``'s real eigenvalues below ``below`` taken by their absolute values."""
    vals, vecs = eig(t)
    neg = _flipped(vals, below)
    if not np.any(neg):
        return np.linalg.inv(t)
    vals = np.where(neg, np.abs(vals.real), vals)
    return np.real(vecs @ np.linalg.solve(vecs.T, np.diag(1.0 / vals)).T)


def _cycle(
    apply: Callable[[np.ndarray], np.ndarray],
    r: np.ndarray,
    beta: float,
    basis: np.ndarray,
    raw: np.ndarray,
    target: float,
) -> tuple[int, np.ndarray]:
    """One GMRES cycle from residual ``r`` (norm ``beta``): ``(-1 if the target was reached else
    the steps taken, the correction V_k y)``. ``raw`` receives the unrotated Hessenberg matrix
    ``H_k`` (``(restart + 1, restart)``; the columns after the last step NaN)."""
    restart = basis.shape[0] - 1
    hess = np.zeros((restart + 1, restart))
    raw.fill(np.nan)
    cs = np.zeros(restart)
    sn = np.zeros(restart)
    g = np.zeros(restart + 1)
    g[0] = beta
    np.divide(r, beta, out=basis[0])
    steps, reached = restart, False
    for k in range(restart):
        w = apply(basis[k])
        v = basis[: k + 1]
        h = v @ w
        w -= h @ v
        h2 = v @ w  # the second pass (CGS2)
        w -= h2 @ v
        h += h2
        h_next = float(np.linalg.norm(w))
        col = hess[:, k]
        col[: k + 1] = h
        raw[:, k] = 0.0
        raw[: k + 1, k] = h
        raw[k + 1, k] = h_next
        for i in range(k):  # the earlier rotations, on the new column
            a, c = col[i], col[i + 1]
            col[i] = cs[i] * a + sn[i] * c
            col[i + 1] = cs[i] * c - sn[i] * a
        a = col[k]
        d = math.hypot(a, h_next)
        if d == 0.0:  # A v = 0 on the basis: nothing more to gain in this space
            steps = k
            break
        cs[k], sn[k] = a / d, h_next / d
        col[k], col[k + 1] = d, 0.0
        g[k + 1] = -sn[k] * g[k]
        g[k] *= cs[k]
        if abs(g[k + 1]) <= target or h_next == 0.0:
            steps, reached = k + 1, True
            break
        np.divide(w, h_next, out=basis[k + 1])
    if steps == 0:
        return (-1 if reached else 0), np.zeros_like(r)
    y = solve_triangular(hess[:steps, :steps], g[:steps], check_finite=False)
    return (-1 if reached else steps), y @ basis[:steps]
