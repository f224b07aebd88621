r"""Restarted GMRES for a matrix-free operator, its Arnoldi basis orthogonalised by classical Gram-Schmidt twice.

Solves ``A x = b`` for an operator ``A`` given only as ``v -> A v`` (Saad & Schultz 1986). Each
cycle builds an orthonormal basis ``V_k`` of the Krylov space ``span(r, A r, ..., A^{k-1} r)``
of its starting residual ``r`` and the Hessenberg matrix ``H_k`` with ``A V_k = V_{k+1} H_k``;
the iterate ``x + V_k y``, ``y = argmin |beta e_1 - H_k y|``, minimises the residual over that
space, and the residual's norm ``|beta e_1 - H_k y|`` is known at every step from the Givens
rotations that triangularise ``H_k``. A cycle ends when that norm is at most ``rtol |b|`` or
after ``restart`` steps; the next cycle starts from the true residual ``b - A x``.

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

import numpy as np
from scipy.linalg import solve_triangular

__all__ = ["gmres"]


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
    m = b.size
    x = np.zeros(m)
    b_norm = float(np.linalg.norm(b))
    if b_norm == 0.0:
        return x, True
    target = rtol * b_norm
    restart = min(restart, m)
    r = np.array(b, dtype=float)
    basis = np.empty((restart + 1, m))  # rows: the orthonormal vectors (C order: each row contiguous)
    for cycle in range(cycles):
        beta = float(np.linalg.norm(r)) if cycle else b_norm
        if beta <= target:
            return x, True
        k, res = _cycle(apply, r, beta, basis, target)
        x += res
        if k < 0:  # the estimate reached the target
            return x, True
        if cycle + 1 < cycles:
            r = b - apply(x)
    return x, False


def _cycle(
    apply: Callable[[np.ndarray], np.ndarray], r: np.ndarray, beta: float, basis: np.ndarray, target: float
) -> tuple[int, np.ndarray]:
    """One GMRES cycle from residual ``r`` (norm ``beta``): ``(-1 if the target was reached else
    the steps taken, the correction V_k y)``."""
    restart = basis.shape[0] - 1
    hess = np.zeros((restart + 1, restart))
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
