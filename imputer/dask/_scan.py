r"""One pass over the partitions: the scaling, the start values and the counts (private).

Per partition, with ``o_ij = 1`` where cell ``(i, j)`` is observed (finite), a shift
``a`` (the partition's column means) and ``y_ij = o_ij (x_ij - a_j)``:

.. math::

    N = O^\top O, \qquad T = Y^\top O, \qquad S = Y^\top Y,

that is ``N_jk`` rows observing both ``j`` and ``k``, ``T_jk = sum_{both} (x_j - a_j)``
and ``S_jk = sum_{both} (x_j - a_j)(x_k - a_k)``. Moving the shift to ``c = a - d``
changes them to

.. math::

    T'_{jk} = T_{jk} + d_j N_{jk}, \qquad
    S'_{jk} = S_{jk} + d_k T_{jk} + d_j T_{kj} + d_j d_k N_{jk},

so the moments of two partitions are added after moving both to one shift (an
associative merge, for a tree reduction; shifts near the data keep the cancellation
small). From the total: column ``j``'s observed mean ``c_j = a_j + T_jj / N_jj`` and
standard deviation ``s_j = sqrt(S'_jj / N_jj)`` at shift ``c`` (the in-memory
:func:`~imputer.mvn._scaling.scaling_of`), and the pairwise-complete correlation
``R_jk = S'_jk / (s_j s_k N_jk)`` (0 when ``N_jk = 0``), from which the in-memory start
values follow (:func:`~imputer.dask._kernels.start_from_correlation`). Infinite cells are
counted (an error, as in memory) and otherwise left out.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from imputer.dask._kernels import Scaling
from imputer.mvn._scaling import constant, too_large
from imputer.mvn._validate import infinite_value, no_observed_value

__all__ = ["Moments", "Totals", "finish", "merge", "moments", "pattern_keys"]


@dataclass(frozen=True, eq=False)
class Moments:
    """Pairwise moments of some rows about a shift (module docstring); additive by :func:`merge`.

    Attributes
    ----------
    n, n_complete : int
        Rows, and rows with every modelled cell observed.
    shift : ndarray, shape (p,)
    N, T, S : ndarray, shape (p, p)
    n_inf : ndarray of int64, shape (p,)
        Infinite cells per column.
    patterns : ndarray of uint64, shape (G, ceil(p / 64))
        The distinct missingness patterns (rows of the missing mask as bits).
    """

    n: int
    n_complete: int
    shift: np.ndarray
    N: np.ndarray
    T: np.ndarray
    S: np.ndarray
    n_inf: np.ndarray
    patterns: np.ndarray


def pattern_keys(miss: np.ndarray) -> np.ndarray:
    """The rows of a missing mask ``(n, p)`` as 64-bit words, shape ``(n, ceil(p / 64))`` (bit ``j % 64`` of word ``j // 64``)."""
    n, p = miss.shape
    keys = np.zeros((n, max(1, (p + 63) // 64)), dtype=np.uint64)
    for j in range(p):
        keys[:, j // 64] |= miss[:, j].astype(np.uint64) << np.uint64(j % 64)
    return keys


def _pattern_keys(miss: np.ndarray) -> np.ndarray:
    """The distinct rows of a missing mask (n, p) as 64-bit words, shape (G, ceil(p / 64))."""
    keys = pattern_keys(miss)
    if keys.shape[1] == 1:  # one sortable integer per row (a 2-D unique is 50x slower)
        return np.unique(keys[:, 0])[:, None]
    return np.unique(keys, axis=0)


def moments(values: tuple[np.ndarray, ...]) -> Moments:
    """The :class:`Moments` of one partition's modelled columns (float64, NaN missing)."""
    n, p = values[0].shape[0], len(values)
    x = np.empty((n, p))
    for j, v in enumerate(values):
        x[:, j] = v
    inf = np.isinf(x)
    n_inf = inf.sum(axis=0).astype(np.int64)
    if n_inf.any():
        x[inf] = np.nan
    obs = ~np.isnan(x)
    o = obs.astype(float)
    N = o.T @ o
    nj = np.diag(N).copy()
    np.copyto(x, 0.0, where=~obs)
    shift = np.divide(x.sum(axis=0), nj, out=np.zeros(p), where=nj > 0)
    x -= shift
    np.copyto(x, 0.0, where=~obs)
    pats = _pattern_keys(~obs)
    return Moments(
        n=n,
        n_complete=int(obs.all(axis=1).sum()),
        shift=shift,
        N=N,
        T=x.T @ o,
        S=x.T @ x,
        n_inf=n_inf,
        patterns=pats,
    )


def _distinct(keys: np.ndarray) -> np.ndarray:
    return np.unique(keys[:, 0])[:, None] if keys.shape[1] == 1 else np.unique(keys, axis=0)


def _moved(m: Moments, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(T', S')`` of ``m`` about ``shift`` (module docstring)."""
    d = m.shift - shift
    T = m.T + d[:, None] * m.N
    S = m.S + m.T * d[None, :] + m.T.T * d[:, None] + m.N * np.outer(d, d)
    return T, S


def merge(*parts: Moments) -> Moments:
    """The :class:`Moments` of the rows of all ``parts`` (about the first observed shift per column)."""
    first = parts[0]
    shift = first.shift.copy()
    seen = np.diag(first.N) > 0
    for m in parts[1:]:
        new = ~seen & (np.diag(m.N) > 0)
        shift[new] = m.shift[new]
        seen |= new
    T = np.zeros_like(first.T)
    S = np.zeros_like(first.S)
    for m in parts:
        t, s = _moved(m, shift)
        T += t
        S += s
    return Moments(
        n=sum(m.n for m in parts),
        n_complete=sum(m.n_complete for m in parts),
        shift=shift,
        N=sum((m.N for m in parts), np.zeros_like(first.N)),
        T=T,
        S=S,
        n_inf=sum((m.n_inf for m in parts), np.zeros_like(first.n_inf)),
        patterns=_distinct(np.concatenate([m.patterns for m in parts])),
    )


@dataclass(frozen=True, eq=False)
class Totals:
    """What the scan tells about the table.

    Attributes
    ----------
    n_rows : int
    n_missing : ndarray of int64, shape (p,)
    n_patterns : int
        Distinct missingness patterns, the complete one included if present.
    scaling : Scaling
        Observed means and standard deviations (divisor ``n_j``).
    corr : ndarray, shape (p, p)
        Pairwise-complete correlation (0 where no row observes a pair; 1 on the diagonal).
    """

    n_rows: int
    n_missing: np.ndarray
    n_patterns: int
    scaling: Scaling
    corr: np.ndarray


def finish(m: Moments, columns: tuple[Hashable, ...], *, leave_out: str | None = None) -> Totals:
    """Scaling, correlation and counts of the merged moments, with the in-memory checks.

    ``leave_out``: how the caller's user leaves a column out of the model, ending the
    messages (None: :func:`imputer.impute`'s, ``columns=``; :class:`imputer.EMImputer`
    passes its own).

    Raises
    ------
    ImputerValueError
        A column with no observed value or with an infinite value, a column whose mean
        or variance overflows, a constant column (the messages of :func:`imputer.impute`).
    """
    nj = np.diag(m.N).copy()
    for j, c in enumerate(columns):
        if nj[j] == 0:
            raise no_observed_value(c) if leave_out is None else no_observed_value(c, leave_out)
        if m.n_inf[j]:
            raise infinite_value(c)
    with np.errstate(over="ignore", invalid="ignore"):
        center = m.shift + np.diag(m.T) / nj
        _, S = _moved(m, center)
        scale = np.sqrt(np.diag(S) / nj)
    for j, c in enumerate(columns):
        cj, sj = float(center[j]), float(scale[j])
        if not (np.isfinite(cj) and np.isfinite(sj * sj)):
            raise too_large(c)
        if not sj > 16 * np.finfo(float).eps * max(abs(cj), np.finfo(float).tiny):
            raise constant(c, cj) if leave_out is None else constant(c, cj, leave_out)
    corr = np.divide(S / np.outer(scale, scale), m.N, out=np.zeros_like(S), where=m.N > 0)
    np.fill_diagonal(corr, 1.0)
    return Totals(
        n_rows=m.n,
        n_missing=(m.n - nj).astype(np.int64),
        n_patterns=int(m.patterns.shape[0]),
        scaling=Scaling(center=center, scale=scale, n_observed=nj),
        corr=corr,
    )
