r"""Data augmentation under the general location model (private): the P-step and the EM rate.

Complete data (standardised continuous units): row ``i`` in cell ``c_i`` with values
``z_i``; cell counts ``n_c``; the cell means ``mu = D B`` with ``D`` the identity
(saturated means) or the additive design (:mod:`imputer.glom._cells`), ``X = D[c]`` the
rows' design (``n x d``). Prior (Schafer 1997, ch. 9.3; ``mix``'s ``da.mix``): the
saturated cell probabilities Dirichlet with every hyperparameter 1/2 (Jeffreys), and
independently ``p(B, Sigma) propto |Sigma|^{-(p+1)/2}`` (flat in the means). The
complete-data posterior is

.. math::

    \pi \mid Y \sim \text{Dirichlet}(n_c + \tfrac12), \qquad
    \Sigma \mid Y \sim \mathcal W^{-1}(n - d,\ E'E), \qquad
    B \mid \Sigma, Y \sim N(\hat B,\ (X'X)^{-1} \otimes \Sigma),

``hat B = (X'X)^{-1} X'Z`` and ``E'E = Z'Z - hat B' X'X hat B`` (multivariate regression;
with ``d = 1`` this is :mod:`imputer.mi._pstep`'s Jeffreys posterior, ``W^{-1}(n - 1, A)``).
Proper when ``X'X`` is invertible (saturated means: every cell holds a row of the
completed data) and ``n - d >= p``. Drawing: Bartlett's ``Sigma = M M'``, ``M = L T^{-T}``
as in :mod:`imputer.mi._pstep` (``E'E = L L'``), then ``B = hat B + L_x^{-T} G M'`` with
``X'X = L_x L_x'`` and ``G`` a ``d x p`` matrix of standard normals.

Log-linear (pairwise) probabilities: one cycle of Bayesian IPF from the chain's current
``pi`` (:func:`imputer.glom._loglinear.bayes_ipf`, the constrained Dirichlet with the same
hyperparameters 1/2) takes the place of the Dirichlet draw; the rest is unchanged.

The chain's length: the worst rate of EM at the estimate (the largest eigenvalue of the EM
map's Jacobian, the worst fraction of missing information; Schafer 1997, ch. 3.3 and
4.4), estimated by power iteration on the EM map (:func:`em_rate`), sets burn-in and
spacing by :func:`imputer.mi._rate.chain_lengths`, as for the normal.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from imputer.glom._loglinear import bayes_ipf, margins_of
from imputer.glom._problem import GlomParams, GlomProblem
from imputer.mvn._fit import blas_threads

__all__ = ["DIRICHLET_PRIOR", "draw_glom_params", "em_rate"]

#: The Dirichlet hyperparameter of every cell (Jeffreys).
DIRICHLET_PRIOR = 0.5
#: Power iterations for the EM rate, and the size of the perturbation (standardised units).
_POWER_STEPS, _EPS = 30, 1e-4


def draw_glom_params(
    cell: np.ndarray,
    z: np.ndarray,
    design: np.ndarray | None,
    n_cells: int,
    rng: np.random.Generator,
    loglinear: tuple[tuple[int, ...], np.ndarray] | None = None,
) -> GlomParams | str:
    """One draw of ``(pi, mu, Sigma)`` from the complete-data posterior; or why it is improper.

    Parameters
    ----------
    cell : ndarray of intp, shape (n,)
        Each row's cell in the completed data.
    z : ndarray, shape (n, p)
        The completed continuous values (standardised).
    design : ndarray, shape (C, d), or None
        The additive design (None: saturated means).
    n_cells : int
    rng : numpy.random.Generator
        Consumed in order: the Dirichlet (``C`` gammas; pairwise probabilities: Bayesian
        IPF's margin gammas), ``p`` chi-squares and ``p(p-1)/2`` normals (Bartlett), ``d p``
        normals (``G``, row-major).
    loglinear : (shape, current pi), optional
        Pairwise (log-linear) probabilities: the level counts and the chain's current
        ``pi`` (C,), from which one cycle of Bayesian IPF draws the new one.

    Returns
    -------
    GlomParams, or a str: the cell with no row (saturated means), the too-small ``n - d``, or
    the margin with too few rows (pairwise probabilities).
    """
    n, p = z.shape
    counts = np.bincount(cell, minlength=n_cells).astype(float)
    if loglinear is None:
        pi = rng.dirichlet(counts + DIRICHLET_PRIOR)
    else:
        drawn = bayes_ipf(counts, loglinear[1], loglinear[0], rng)
        if drawn is None:
            return "a two-way margin of the cells has too few rows for the log-linear prior"
        pi = drawn
    if p == 0:
        return GlomParams(pi, np.zeros((n_cells, 0)), np.zeros((0, 0)))
    sums = np.zeros((n_cells, p))
    for j in range(p):
        sums[:, j] = np.bincount(cell, weights=z[:, j], minlength=n_cells)
    d = np.eye(n_cells) if design is None else design
    if design is None and counts.min() == 0:
        return f"empty cell {int(np.argmin(counts))}"
    xtx = d.T @ (counts[:, None] * d)
    k = d.shape[1]
    if n - k < p:
        return f"n - d = {n - k} < p = {p}"
    try:
        chol_x = np.linalg.cholesky(xtx)
    except np.linalg.LinAlgError:
        return "the design of the completed cells is singular (a level with no row)"
    xtz = d.T @ sums
    b_hat = np.linalg.solve(xtx, xtz)
    ee = z.T @ z - xtz.T @ b_hat
    ee = 0.5 * (ee + ee.T)
    try:
        chol_e = np.linalg.cholesky(ee)
    except np.linalg.LinAlgError:
        return "the within-cell cross-products of the completed data are singular"
    rows, cols = np.tril_indices(p, -1)
    t = np.diag(np.sqrt(rng.chisquare(n - k - np.arange(p, dtype=float))))
    t[rows, cols] = rng.standard_normal(rows.size)
    m_t = np.linalg.solve(t, chol_e.T)  # M'
    sigma = m_t.T @ m_t
    g = rng.standard_normal((k, p))
    b = b_hat + np.linalg.solve(chol_x.T, g) @ m_t
    return GlomParams(pi, d @ b, 0.5 * (sigma + sigma.T))


def em_rate(problem: GlomProblem, estimate: GlomParams) -> float:
    """The EM map's largest contraction at ``estimate``: power iteration on ``d -> F(x + d) - F(x)``.

    ``_POWER_STEPS`` EM steps of size ``_EPS``; the probabilities of cells below ``10 _EPS``
    are not perturbed (they must stay non-negative). Returns a number in ``[0, 0.999]``.
    """
    with blas_threads(max(problem.p, 1)):  # small products: no BLAS thread pool (as the fits)
        return _power(problem, estimate)


def _power(problem: GlomProblem, estimate: GlomParams) -> float:
    x0 = problem.pack(estimate)
    f0, _ = problem.step(x0)
    if f0 is None:  # pragma: no cover - a fitted estimate has weight in every cell it needs
        return 0.0
    free = np.ones(x0.size, dtype=bool)
    if not problem.loglinear:
        free[: problem.k] = estimate.pi > 10 * _EPS
    keep = _in_model(problem)
    d = keep(np.random.default_rng(0).standard_normal(x0.size) * free)  # the direction only, not the imputations' stream
    rate = 0.0
    for _ in range(_POWER_STEPS):
        norm = float(np.linalg.norm(d))
        if norm == 0.0:
            return 0.0
        d *= _EPS / norm
        f, _ = problem.step(x0 + d)
        if f is None:  # pragma: no cover - a step this small keeps every cell's weight
            break
        d = keep((f - f0) * free)
        rate = float(np.linalg.norm(d)) / _EPS
    return float(min(max(rate, 0.0), 0.999))


def _in_model(problem: GlomProblem) -> Any:
    """``d -> d`` with its ``log pi`` part projected on the pairwise model's terms (log-linear problems).

    A direction outside the model (a three-way interaction of ``log pi``) is a fixed direction
    of the EM map, whose IPF keeps the start's higher interactions: eigenvalue 1, not a rate
    of EM within the model.
    """
    if not problem.loglinear:
        return lambda d: d
    shape = problem.plan.cells.shape
    grid = np.indices(shape).reshape(len(shape), -1)  # (J, C): each cell's levels
    cols = [np.ones((1, grid.shape[1]))]
    for m in margins_of(len(shape)):
        key = np.ravel_multi_index(tuple(grid[j] for j in m), tuple(shape[j] for j in m))
        cols.append(np.equal.outer(np.arange(key.max() + 1), key).astype(float))
    u, sv, _ = np.linalg.svd(np.vstack(cols).T, full_matrices=False)
    basis = u[:, sv > 1e-10 * sv[0]]  # (C, r): an orthonormal basis of the model's log-linear span
    k = problem.k

    def keep(d: np.ndarray) -> np.ndarray:
        out = d.copy()
        out[:k] = basis @ (basis.T @ d[:k])
        return out

    return keep
