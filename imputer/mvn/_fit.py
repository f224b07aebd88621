r"""MVN engine plumbing around the EM fit: standardise, start values, fill in.

The engine works in standardised units ``z_ij = (x_ij - c_j) / s_j`` with ``c_j`` and
``s_j`` the mean and standard deviation (divisor ``n_j``) of column ``j``'s observed
cells. Then the ridge prior's diagonal ``D = diag(s_j^2)`` is the identity and
the convergence measure is the same in both unit systems. The start is the zero mean
and the pairwise-complete correlation made positive definite (:func:`start_values`).
The EM iteration itself (packed parameters, EM map, convergence measure, singular
updates) is :mod:`imputer.mvn._problem`; after it, :func:`fill_missing` writes the
conditional means and :func:`conditional_variances` their variances.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import numpy as np
import scipy.linalg.lapack

from imputer._gaussian.chunks import cond_diagonals, iter_completed
from imputer._gaussian.layout import Block, StandardData, assemble, chunk_specs
from imputer._gaussian.linalg import Infeasible, floor_correlation, precision
from imputer._gaussian.observed import Route, chunk_routes, coef_pays, fill_block, layout_routes, observed_chunk
from imputer._gaussian.patterns import Patterns, build_patterns
from imputer._threads import single_blas_thread
from imputer.mvn._scaling import Scaling

__all__ = [
    "SINGULAR_EIG",
    "START_EIG_FLOOR",
    "blas_threads",
    "conditional_variances",
    "corr_feasible",
    "fill_missing",
    "min_corr_eig",
    "standardise",
    "start_values",
]

#: BLAS runs on one thread while the engine works, whatever ``p``. Up to ``p`` in the low
#: hundreds the row-level products are small, memory-bound GEMMs on which threads only add
#: synchronisation cost (measured 3-5x slower with 2 threads on a 2-core machine under
#: load); for wide data (``p`` from 300 to 2,000) the pattern pass is many small LAPACK
#: calls and the ``p x p`` factorisations are a few large ones, and two threads on the
#: loaded 2-core machine made one EM step 57x slower at ``p = 300`` (1.6 s against 28 ms)
#: and 8x slower at ``p = 1,000`` (3.4 s against 0.44 s): a busy core stalls every
#: threaded call. (An idle many-core machine would gain at most the threads' factor on
#: the ``p^3`` part; the engine's callers, the service's worker pool among them, run in
#: parallel processes instead.)
SINGLE_THREAD_MAX_P: int | None = None

#: Rows per block when the incomplete rows are standardised into the work array.
_STANDARDISE_ROWS = 2048

#: Smallest eigenvalue of the correlation matrix below which a covariance is treated as
#: singular (a column is, to ~5 significant digits, a linear combination of the others).
SINGULAR_EIG = 1e-10


def standardise(
    mask: np.ndarray | Patterns, values: tuple[np.ndarray, ...], scaling: Scaling, *, keep_complete: bool = False
) -> StandardData:
    """Build :class:`StandardData` from column vectors (NaN = missing) and the scaling.

    Parameters
    ----------
    mask : ndarray of bool, shape (n, p), or Patterns
        True where missing; or the patterns already built from it (so that a caller can
        release the mask before the fit).
    values : tuple of p ndarrays, each shape (n,)
        Column values in original units (NaN where missing).
    scaling : Scaling
        ``z = (x - center) / scale``.
    keep_complete : bool, default False
        Keep the complete rows in the layout (weighted E-steps, per-row functions and
        draws need them; the EM fit does not, and saves their memory).
    """
    patterns = mask if isinstance(mask, Patterns) else build_patterns(mask)
    p = len(values)
    inc = patterns.incomplete_rows
    comp = patterns.complete_rows
    # the incomplete rows go to a C-ordered work array for the row-block kernels, a block
    # of rows at a time: gathered column by column into a small buffer, standardised
    # there (contiguous rows: 1.2x faster than on the transposed view), then transposed
    # in cache (a whole-array Fortran-to-C copy is 5x slower and doubles the peak memory)
    work = np.empty((inc.size, p), dtype=float)
    buf = np.empty((p, _STANDARDISE_ROWS), dtype=float)
    center, scale = scaling.center[:, None], scaling.scale[:, None]
    for a in range(0, inc.size, _STANDARDISE_ROWS):
        b = min(a + _STANDARDISE_ROWS, inc.size)
        rows = inc[a:b]
        part = buf[:, : b - a]
        for j, v in enumerate(values):
            np.take(v, rows, out=part[j])
        part -= center
        part /= scale
        np.copyto(part, 0.0, where=np.isnan(part))
        work[a:b] = part.T
    z_comp = np.empty((comp.size, p), dtype=float, order="F")
    for j, v in enumerate(values):
        zc = z_comp[:, j]
        np.take(v, comp, out=zc)
        zc -= scaling.center[j]
        zc /= scaling.scale[j]
    s1 = np.ones(comp.size) @ z_comp
    s2 = z_comp.T @ z_comp
    complete = np.ascontiguousarray(z_comp) if keep_complete else None
    del z_comp
    return assemble(patterns, work, s1, s2, complete)


def min_corr_eig(sigma: np.ndarray) -> float:
    """Smallest eigenvalue of the correlation matrix of ``sigma``.

    0 when ``sigma`` is not finite or has a zero variance.
    """
    d = np.sqrt(np.clip(np.diag(sigma), 0.0, None))
    if not np.all(np.isfinite(sigma)) or np.any(d == 0.0):
        return 0.0
    corr = sigma / np.outer(d, d)
    return float(np.linalg.eigvalsh(corr)[0])


def corr_feasible(sigma: np.ndarray, floor: float = SINGULAR_EIG) -> bool:
    """Whether ``min_corr_eig(sigma) >= floor``, by one Cholesky factorisation.

    ``R - floor I`` (``R`` the correlation matrix of ``sigma``) has a Cholesky factor iff
    it is positive definite, i.e. iff the smallest eigenvalue of ``R`` exceeds ``floor``
    (up to rounding: both tests err by about ``p`` units in the last place of ``||R||``).
    A third of the flops of one inverse, against about 9 inverses' worth for the
    eigenvalues (:func:`min_corr_eig`); the EM map checks every update with it.
    """
    d = np.sqrt(np.clip(np.diag(sigma), 0.0, None))
    if not np.all(np.isfinite(sigma)) or np.any(d == 0.0):
        return False
    corr = sigma / np.outer(d, d)
    corr.flat[:: corr.shape[0] + 1] -= floor
    # symmetric: the C-ordered array is its own Fortran-ordered transpose (no copy)
    _, info = scipy.linalg.lapack.dpotrf(corr.T, lower=1, clean=0, overwrite_a=1)
    return info == 0


def blas_threads(p: int) -> AbstractContextManager[None]:
    """One BLAS thread while the engine runs (:data:`SINGLE_THREAD_MAX_P`: for every ``p``)."""
    return single_blas_thread(SINGLE_THREAD_MAX_P is None or p <= SINGLE_THREAD_MAX_P)


#: Smallest eigenvalue of a starting correlation matrix (:func:`start_values`).
START_EIG_FLOOR: float = 0.01


def start_values(data: StandardData) -> tuple[np.ndarray, np.ndarray]:
    """Starting point: zero mean and the pairwise-complete correlation, made positive definite.

    In standardised units the available-case means are 0 and variances 1; the
    correlation of columns ``j, k`` is estimated from the rows observing both (0 when no
    row does) and shrunk toward the identity, ``(1 - t) R + t I``, just enough to make its
    smallest eigenvalue at least 0.01. Call before the first E-step (it reads the work
    array while its missing cells are 0).
    """
    p = data.p
    s2 = data.s2_complete + data.work.T @ data.work
    observed = []
    weights = []
    for group in data.patterns.groups:
        obs = np.ones((group.n_patterns, p))
        np.put_along_axis(obs, group.miss, 0.0, axis=1)
        observed.append(obs)
        weights.append(group.counts.astype(float))
    counts = np.full((p, p), float(data.n_complete))
    if observed:
        obs_all = np.concatenate(observed)
        counts += obs_all.T @ (obs_all * np.concatenate(weights)[:, None])
    corr = np.divide(s2, counts, out=np.zeros((p, p)), where=counts > 0)
    np.fill_diagonal(corr, 1.0)
    corr = np.clip(0.5 * (corr + corr.T), -1.0, 1.0)
    return np.zeros(p), floor_correlation(corr, START_EIG_FLOOR)


def _require_positive_definite(sigma: np.ndarray) -> None:
    # where every pattern takes the observed route no p x p factorisation is made, and
    # positive-definite blocks Sigma_OO do not make Sigma so (C_M could be indefinite)
    if not corr_feasible(sigma, 0.0):
        raise Infeasible("covariance not positive definite")


def fill_missing(
    data: StandardData,
    mu: np.ndarray,
    sigma: np.ndarray,
    out: np.ndarray,
    scaling: Scaling,
    *,
    refresh: bool = True,
    method: Route = "auto",
) -> tuple[np.ndarray, ...] | None:
    """Write the conditional means of the missing cells, in original units, into ``out``.

    Parameters
    ----------
    data : StandardData
        The standardised data (its work array is overwritten, unless ``refresh`` is False).
    mu, sigma : ndarray, shapes (p,), (p, p)
        Standardised parameters (``sigma`` positive definite; unused when ``refresh`` is False).
    out : ndarray, shape (n, p)
        Receives ``center + scale * E[z_M | z_O]`` at the missing cells; other cells are
        left untouched.
    scaling : Scaling
        The map to original units.
    refresh : bool, default True
        Recompute the conditional means. False reuses what the work array holds, which
        is correct right after :func:`~imputer.mvn._problem.fit_mvn` (its last E-step is at
        the returned estimate).
    method : {"auto", "precision", "observed"}, default "auto"
        How the patterns' conditionals are computed (:mod:`imputer._gaussian.observed`):
        through the precision ``Sigma^{-1}``, from each pattern's observed block, or
        whichever costs fewer flops.

    Returns
    -------
    cond_diag : tuple of ndarray, one (G, m) per pattern group, or None
        With ``refresh``: the diagonals of the conditional covariances ``C_M`` at
        ``sigma`` (for :func:`conditional_variances`), computed on the way.
    """
    inc = data.patterns.incomplete_rows
    n = out.shape[0]
    # ``out`` is Fortran-ordered: cell (i, j) is element ``j * n + i`` of the flat view of
    # ``out.T``, so each block's missing cells are written by one 1-D scatter
    out_flat = out.T.reshape(-1) if out.flags.f_contiguous else None

    def write(blk: Block) -> None:
        miss = blk.cols
        z = np.take(data.work[blk.start : blk.stop].reshape(-1), blk.flat)
        z *= np.take(scaling.scale, miss)
        z += np.take(scaling.center, miss)
        if out_flat is None:
            out[inc[blk.start : blk.stop, None], miss] = z
        else:
            pos = miss.astype(np.intp) * n
            pos += inc[blk.start : blk.stop, None]
            np.put(out_flat, pos, z)

    if not refresh:
        for blk in data.blocks:
            write(blk)
        return None
    diags: list[list[np.ndarray]] = [[] for _ in data.patterns.groups]
    if all(layout_routes(data, method, precision_needed=False, full=False)):
        # every chunk from its observed blocks, and of each C_M only the diagonal: no
        # p x p inverse, nor m x m blocks
        _require_positive_definite(sigma)
        for spec in data.chunks:
            group = data.patterns.groups[spec.group]
            miss = group.miss[spec.pat_start : spec.pat_stop]
            oc = observed_chunk(sigma, miss, full=False, coef=coef_pays(group.counts[spec.pat_start : spec.pat_stop], miss))
            for blk in data.blocks[spec.block_start : spec.block_stop]:
                fill_block(data.work[blk.start : blk.stop], blk, oc, mu)
                write(blk)
            diags[spec.group].append(oc.cond_diag)
        return tuple(np.concatenate(d) for d in diags)
    routes = layout_routes(data, method, precision_needed=False)
    # no precision (nor log|Sigma|, which filling does not use) when no chunk needs it
    prec: np.ndarray | None
    if all(routes):
        _require_positive_definite(sigma)
        prec, logdet = None, float("nan")
    else:
        prec, logdet = precision(sigma)

    def done(first: int, stop: int) -> None:
        # write a run of completed blocks while it is in cache
        for blk in data.blocks[first:stop]:
            write(blk)

    prec_mu = None if prec is None else prec @ mu
    for ch in iter_completed(data, prec, prec_mu, rows_done=done, routes=routes, sigma=(sigma, logdet), mean=mu):
        diags[ch.spec.group].append(np.diagonal(ch.cond_t).copy())
    return tuple(np.concatenate(d) for d in diags)


def conditional_variances(
    patterns: Patterns,
    sigma: np.ndarray,
    scale: np.ndarray,
    out: np.ndarray,
    cond_diag: tuple[np.ndarray, ...] | None = None,
    *,
    method: Route = "auto",
) -> None:
    """Write ``scale_j^2 Var(z_j | z_O)`` at the missing cells of ``out`` (shape (n, p)).

    ``cond_diag`` (per group, the (G, m) diagonals of ``C_M`` at ``sigma``, as an E-step
    at ``sigma`` returns them) saves recomputing the pattern blocks; otherwise they are
    computed by ``method`` (as for :func:`fill_missing`).
    """
    if cond_diag is None:
        specs = chunk_specs(patterns)
        if all(chunk_routes(patterns, specs, None, method, precision_needed=False, full=False)):
            _require_positive_definite(sigma)
            parts: list[list[np.ndarray]] = [[] for _ in patterns.groups]
            for spec in specs:
                miss = patterns.groups[spec.group].miss[spec.pat_start : spec.pat_stop]
                parts[spec.group].append(observed_chunk(sigma, miss, full=False).cond_diag)
            cond_diag = tuple(np.concatenate(d) for d in parts)
        else:
            cond_diag = cond_diagonals(patterns, precision(sigma)[0])
    for group, cdiag in zip(patterns.groups, cond_diag):
        miss = group.miss[group.row_pattern]
        out[group.rows[:, None], miss] = scale[miss] ** 2 * cdiag[group.row_pattern]
