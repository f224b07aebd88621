r"""Observed-data information of a multivariate normal with values missing at random (private).

Parameters ``theta = (mu, vech Sigma)``: the ``p`` means, then the upper triangle of
``Sigma`` row by row (``Sigma_11, Sigma_12, ..., Sigma_1p, Sigma_22, ...``; ``q =
p(p+1)/2`` entries), each off-diagonal entry counted once (a change of ``theta_ab``
moves both ``Sigma_ab`` and ``Sigma_ba``).

Observed-data log-likelihood, rows grouped by missingness pattern ``g`` (observed set
``O``, ``n_g`` rows):

.. math::

    \ell = \sum_g \big[-\tfrac{n_g}{2}\log|\Sigma_{OO}|
        - \tfrac12 \operatorname{tr}(K_g S_g)\big] + \text{const},\qquad
    K_g = \operatorname{embed}_O(\Sigma_{OO}^{-1}),

with ``e_i = x_{i,O} - mu_O`` zero-padded to length ``p``, ``d_g = sum_i e_i`` and
``S_g = sum_i e_i e_i'`` over the pattern's rows (``K_g`` is zero in the missing rows and
columns; ``K_g = Lambda - Lambda_{.M} (Lambda_MM)^{-1} Lambda_{M.}`` with ``Lambda =
Sigma^{-1}``). Its second derivatives, for symmetric directions ``A, B`` of ``Sigma``
and with ``u_g = K_g d_g``, ``M_g = K_g S_g K_g``, ``N_g = (n_g/2) K_g - M_g``:

.. math::

    -\partial^2\ell/\partial\mu\,\partial\mu' = \sum_g n_g K_g, \qquad
    -\partial^2\ell/\partial\mu\,\partial\Sigma[B] = \sum_g K_g B u_g,\qquad
    \partial^2\ell/\partial\Sigma[A]\,\partial\Sigma[B] = \sum_g \operatorname{tr}(N_g A K_g B).

With ``A = E_ab + E_ba`` (``E_aa`` on the diagonal) and ``Y = sum_g vech(N_g)
vech(K_g)'`` and ``Z = Y + Y'``, the covariance block of the information is

.. math::

    I_{(ab),(cd)} = -\frac{Z_{\{ad\},\{bc\}} + Z_{\{ac\},\{bd\}}}{(1+\delta_{ab})(1+\delta_{cd})},

(``Z`` accumulated by symmetric rank-2 updates, BLAS ``syr2k``: half the work of ``Y``)
and the cross block ``I_{a,(bc)} = (R_{abc} + R_{acb}) / (1 + delta_bc)`` with ``R_abc
= sum_g (K_g)_ab (u_g)_c``. Everything is a sum over patterns of per-pattern
statistics ``(n_g, d_g, S_g)``; patterns are processed in chunks (bounded memory), the
rows of a chunk in blocks (no loop over rows). A pattern with nothing observed
contributes nothing.

An inverse-Wishart prior kernel ``|Sigma|^{-lambda/2} exp(-tr(lambda D Sigma^{-1})/2)``
has the covariance terms of one all-observed pattern with ``n_g = lambda``, ``S_g =
lambda D`` and no mean terms (flat prior on ``mu``): adding it gives the curvature of
the log-posterior.

The complete-data information (the curvature of EM's ``Q`` function at its fixed point)
is ``n Lambda`` for the means, zero across, and ``(n_c/2) D_p'(Lambda ⊗ Lambda) D_p``
for ``vech Sigma``, i.e. ``n_c (Lambda_ad Lambda_bc + Lambda_ac Lambda_bd) / ((1 +
delta_ab)(1 + delta_cd))``, with ``n_c = n + lambda`` under the prior; its inverse is
``Sigma / n`` and ``Cov(s_ab, s_cd) = (Sigma_ac Sigma_bd + Sigma_ad Sigma_bc) / n_c``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np
from scipy.linalg.blas import dsyr2k as syr2k

from imputer._gaussian.linalg import precision
from imputer._gaussian.patterns import Patterns

__all__ = [
    "InformationSums",
    "PatternMoments",
    "add_pattern_information",
    "assemble_information",
    "complete_information",
    "complete_information_product",
    "complete_variances",
    "information_sums",
    "n_parameters",
    "observed_information",
    "vech_indices",
    "zero_information_sums",
]

#: Numbers per temporary (``p x p`` matrices of a pattern chunk, outer products of a row block).
_ELEMENTS = 1 << 20


def n_parameters(p: int) -> int:
    """``p + p(p+1)/2``: means and covariance entries."""
    return p + p * (p + 1) // 2


@functools.lru_cache(maxsize=16)
def vech_indices(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each ``vech`` entry (upper triangle, row-major), shape (q,) each (read-only, cached)."""
    a, b = np.triu_indices(p)
    a, b = a.astype(np.intp), b.astype(np.intp)
    a.flags.writeable = False
    b.flags.writeable = False
    return a, b


def _embedded_observed_precisions(sigma: np.ndarray, both: np.ndarray) -> np.ndarray:
    """``K_g = embed_O(Sigma_OO^-1)`` for patterns given by ``both`` (G, p, p), True on ``O x O``.

    One batched inverse of ``Sigma`` embedded in the identity (``Sigma_OO`` on ``O x O``,
    the identity elsewhere), zeroed outside ``O x O`` and symmetrised: for small ``p``
    one call for all patterns, whatever their sizes.
    """
    k = np.linalg.inv(np.where(both, sigma, np.eye(sigma.shape[0])))
    k += k.transpose(0, 2, 1)
    k *= 0.5
    k *= both
    return k


def _observed_precisions(lam: np.ndarray, miss: np.ndarray) -> np.ndarray:
    """``K_g = embed_O(Sigma_OO^-1)`` for patterns with missing columns ``miss`` (G, m): (G, p, p)."""
    g, m = miss.shape
    lm = np.ascontiguousarray(lam[:, miss].transpose(1, 0, 2))  # (G, p, m)
    cm = np.linalg.inv(lam[miss[:, :, None], miss[:, None, :]])  # (G, m, m)
    k = lam[None, :, :] - lm @ cm @ lm.transpose(0, 2, 1)
    rows = np.arange(g)[:, None]
    k[rows, miss, :] = 0.0
    k[rows, :, miss] = 0.0
    return 0.5 * (k + k.transpose(0, 2, 1))


def _pattern_sums(
    values: tuple[np.ndarray, ...],
    rows: np.ndarray,
    loc: np.ndarray,
    miss: np.ndarray | None,
    n_patterns: int,
    center: np.ndarray,
    scale: np.ndarray,
    mu: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pattern ``d_g`` (G, p) and ``S_g`` (G, p, p) of the deviations ``z - mu``, 0 in missing cells.

    ``rows`` (r,) are sorted by their pattern ``loc`` (r,) in ``0..G-1``; ``miss`` (G, m) the
    patterns' missing columns (None: all observed).
    """
    p = mu.size
    d = np.zeros((n_patterns, p))
    s = np.zeros((n_patterns, p, p))
    step = max(1, _ELEMENTS // (p * p))
    for a in range(0, rows.size, step):
        r = rows[a : a + step]
        e = np.empty((r.size, p))
        for j, v in enumerate(values):
            np.take(v, r, out=e[:, j])
        e -= center
        e /= scale
        e -= mu
        lo = loc[a : a + step]
        if miss is not None and miss.shape[1]:
            e[np.arange(r.size)[:, None], miss[lo]] = 0.0
        starts = np.flatnonzero(np.concatenate(([True], lo[1:] != lo[:-1])))
        ids = lo[starts]
        if starts.size == 1:  # one pattern: a single product
            d[ids[0]] += e.sum(axis=0)
            s[ids[0]] += e.T @ e
            continue
        d[ids] += np.add.reduceat(e, starts, axis=0)
        s[ids] += np.add.reduceat(e[:, :, None] * e[:, None, :], starts, axis=0)
    return d, s


def _chunks(patterns: Patterns, p: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]]:
    """``(rows, loc, miss, counts)`` of chunks of patterns, the complete pattern first."""
    if patterns.complete_rows.size:
        rows = patterns.complete_rows
        yield rows, np.zeros(rows.size, dtype=np.intp), None, np.array([rows.size], dtype=np.int64)
    per_chunk = max(1, _ELEMENTS // (4 * p * p))
    for group in patterns.groups:
        starts = np.concatenate(([0], np.cumsum(group.counts)))
        for a in range(0, group.n_patterns, per_chunk):
            b = min(a + per_chunk, group.n_patterns)
            lo, hi = starts[a], starts[b]
            yield group.rows[lo:hi], group.row_pattern[lo:hi] - a, group.miss[a:b], group.counts[a:b]


class InformationSums(NamedTuple):
    """The additive pieces of the observed information of some rows (:func:`information_sums`).

    ``i_mm`` (p, p): ``sum_g n_g K_g``; ``r`` (p*p, p): ``sum_g vec(K_g) (K_g d_g)'``;
    ``z`` (q, q), upper triangle only: ``sum_g vech(N_g) vech(K_g)' +`` transpose. Sums over
    disjoint sets of rows (partitions of a table) add entry by entry (``+``).
    """

    i_mm: np.ndarray
    r: np.ndarray
    z: np.ndarray

    def __add__(self, other: object) -> InformationSums:  # type: ignore[override]
        if not isinstance(other, InformationSums):
            return NotImplemented
        return InformationSums(self.i_mm + other.i_mm, self.r + other.r, self.z + other.z)


def information_sums(
    values: tuple[np.ndarray, ...],
    patterns: Patterns,
    center: np.ndarray,
    scale: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
) -> InformationSums:
    """The pattern sums of :func:`observed_information` for these rows, before the prior.

    Parameters as :func:`observed_information`.
    """
    p = mu.size
    parts = (
        (miss, counts, *_pattern_sums(values, rows, loc, miss, counts.size, center, scale, mu))
        for rows, loc, miss, counts in _chunks(patterns, p)
    )
    return _sums_of_parts(parts, sigma)


def _sums_of_parts(
    parts: Iterable[tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]], sigma: np.ndarray
) -> InformationSums:
    """:class:`InformationSums` of chunks of patterns ``(miss, counts, d, S)`` (``miss`` None: all observed)."""
    p = sigma.shape[0]
    lam, _ = precision(sigma)
    sums = zero_information_sums(p)
    for miss, counts, d, s in parts:
        sums = add_pattern_information(sums, lam, miss, counts, d, s)
    return sums


def zero_information_sums(p: int) -> InformationSums:
    """The :class:`InformationSums` of no rows."""
    q = p * (p + 1) // 2
    return InformationSums(np.zeros((p, p)), np.zeros((p * p, p)), np.zeros((q, q), order="F"))


def add_pattern_information(
    sums: InformationSums, lam: np.ndarray, miss: np.ndarray | None, counts: np.ndarray, d: np.ndarray, s: np.ndarray
) -> InformationSums:
    """``sums`` plus the terms of ``G`` patterns given by their deviation sums (``sums.z`` updated in place).

    ``lam`` (p, p): ``Sigma^-1``; ``miss`` (G, m): the patterns' missing columns (None:
    all observed); ``counts`` (G,): ``n_g``; ``d`` (G, p), ``s`` (G, p, p): ``d_g`` and
    ``S_g`` about ``mu`` (0 in the missing cells; module docstring).
    """
    k = lam[None, :, :].copy() if miss is None else _observed_precisions(lam, miss)
    return _add_information(sums, k, counts.astype(float), d, s)


def _add_information(sums: InformationSums, k: np.ndarray, n_g: np.ndarray, d: np.ndarray, s: np.ndarray) -> InformationSums:
    """:func:`add_pattern_information` given the patterns' ``K_g`` (G, p, p) and counts (float)."""
    g, p, _ = k.shape
    a, b = vech_indices(p)
    u = np.einsum("gij,gj->gi", k, d)
    i_mm = sums.i_mm + np.einsum("g,gij->ij", n_g, k)
    r = sums.r + k.reshape(g, p * p).T @ u
    nmat = 0.5 * n_g[:, None, None] * k - k @ s @ k
    # Z += sum_g vech(N_g) vech(K_g)' + transpose: a symmetric rank-2G update (upper triangle only)
    z = syr2k(1.0, nmat[:, a, b].T, k[:, a, b].T, beta=1.0, c=sums.z, trans=0, lower=0, overwrite_c=1)
    return InformationSums(i_mm, r, z)


class PatternMoments:
    """Per-pattern sums of the rows and of their outer products (0 in missing cells), kept for repeated information.

    :func:`information_sums` recomputes the deviations' sums ``d_g``, ``S_g`` from the rows
    at every ``mu``; from the raw sums ``t_g = sum_i z_i``, ``T_g = sum_i z_i z_i'`` (missing
    cells 0) they follow in ``O(G p^2)``: with ``m_g = mu`` zeroed at the pattern's missing
    columns, ``d_g = t_g - n_g m_g`` and ``S_g = T_g - t_g m_g' - m_g t_g' + n_g m_g m_g'``.

    Parameters
    ----------
    values, patterns, center, scale
        As for :func:`observed_information`.
    extra : tuple of (ndarray, ndarray, ndarray), optional
        ``(count, t, T)`` of further all-observed rows given by their sums (shapes (1,),
        (p,), (p, p)): added as one more pattern with nothing missing.
    """

    def __init__(
        self,
        values: tuple[np.ndarray, ...],
        patterns: Patterns,
        center: np.ndarray,
        scale: np.ndarray,
        extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        p = center.size
        zero = np.zeros(p)
        obs, counts_all, t_all, tt_all = [], [], [], []
        for rows, loc, miss, counts in _chunks(patterns, p):
            t, tt = _pattern_sums(values, rows, loc, miss, counts.size, center, scale, zero)
            o = np.ones((counts.size, p))
            if miss is not None:
                np.put_along_axis(o, miss, 0.0, axis=1)
            obs.append(o)
            counts_all.append(counts.astype(float))
            t_all.append(t)
            tt_all.append(tt)
        if extra is not None and extra[0][0] > 0:
            obs.append(np.ones((1, p)))
            counts_all.append(np.asarray(extra[0], dtype=float))
            t_all.append(extra[1][None, :])
            tt_all.append(extra[2][None, :, :])
        # all patterns stacked (whatever their number of missing cells): the information's
        # pattern terms are then a few batched operations per chunk of ``_ELEMENTS / (4 p^2)``
        # patterns (:func:`_embedded_observed_precisions`) instead of a dozen per group
        self._obs = np.concatenate(obs) if obs else np.zeros((0, p))
        self._counts = np.concatenate(counts_all) if obs else np.zeros(0)
        self._t = np.concatenate(t_all) if obs else np.zeros((0, p))
        self._tt = np.concatenate(tt_all) if obs else np.zeros((0, p, p))
        self._both = (self._obs[:, :, None] * self._obs[:, None, :]) > 0.0
        self._per_chunk = max(1, _ELEMENTS // (4 * p * p))

    def sums(self, mu: np.ndarray, sigma: np.ndarray) -> InformationSums:
        """The :class:`InformationSums` at ``(mu, sigma)`` (those of :func:`information_sums`, up to rounding)."""

        p = mu.size
        sums = zero_information_sums(p)
        for lo in range(0, self._counts.size, self._per_chunk):
            part = slice(lo, lo + self._per_chunk)
            n_g, t = self._counts[part], self._t[part]
            m = self._obs[part] * mu  # mu, zero at each pattern's missing cells
            d = t - n_g[:, None] * m
            tm = t[:, :, None] * m[:, None, :]
            s = self._tt[part] - tm
            s -= tm.transpose(0, 2, 1)
            s += n_g[:, None, None] * (m[:, :, None] * m[:, None, :])
            k = _embedded_observed_precisions(sigma, self._both[part])
            sums = _add_information(sums, k, n_g, d, s)
        return sums


def assemble_information(
    sums: InformationSums,
    sigma: np.ndarray,
    *,
    prior_weight: float = 0.0,
    prior_scale: np.ndarray | None = None,
    prior_logdet_weight: float | None = None,
    overwrite_sums: bool = False,
) -> np.ndarray:
    """The ``k x k`` observed information from its pattern sums, the prior's curvature added.

    Parameters as :func:`observed_information`; ``sums`` may be the sum of several
    :func:`information_sums` (over partitions of the rows). ``overwrite_sums``: the prior
    may be added into ``sums.z`` in place (no ``q x q`` copy).
    """
    p = sigma.shape[0]
    a, b = vech_indices(p)
    z = sums.z if overwrite_sums else np.array(sums.z, order="F")
    a_weight = prior_weight if prior_logdet_weight is None else prior_logdet_weight
    if prior_weight > 0.0 or a_weight > 0.0:
        lam, _ = precision(sigma)
        dvec = np.ones(p) if prior_scale is None else np.asarray(prior_scale, dtype=float)
        nmat = 0.5 * a_weight * lam - prior_weight * (lam * dvec) @ lam
        z = syr2k(1.0, nmat[a, b][:, None], lam[a, b][:, None], beta=1.0, c=z, trans=0, lower=0, overwrite_c=1)
    out = np.empty((p + a.size, p + a.size))
    out[:p, :p] = 0.5 * (sums.i_mm + sums.i_mm.T)
    r3 = sums.r.reshape(p, p, p)
    half = 1.0 / (1.0 + (a == b))
    out[:p, p:] = (r3[:, a, b] + r3[:, b, a]) * half[None, :]
    out[p:, :p] = out[:p, p:].T
    _fill_covariance_block(out[p:, p:], z, a, b, half)
    return out


def observed_information(
    values: tuple[np.ndarray, ...],
    patterns: Patterns,
    center: np.ndarray,
    scale: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    *,
    prior_weight: float = 0.0,
    prior_scale: np.ndarray | None = None,
    prior_logdet_weight: float | None = None,
) -> np.ndarray:
    """Negative Hessian of the observed-data log-likelihood (plus log prior) at ``(mu, sigma)``.

    In the units of ``z = (x - center) / scale``: :func:`assemble_information` of
    :func:`information_sums`.

    Parameters
    ----------
    values : tuple of p ndarrays, each shape (n,)
        The columns ``x``; only the observed cells (by ``patterns``) are read.
    patterns : Patterns
        Missingness patterns of the rows.
    center, scale : ndarray, shape (p,)
        The affine map to the units of ``mu`` and ``sigma``.
    mu : ndarray, shape (p,)
    sigma : ndarray, shape (p, p), positive definite
    prior_weight : float, default 0
        ``lambda`` of the inverse-Wishart kernel (0: no prior).
    prior_scale : ndarray, shape (p,), optional
        Diagonal of ``D`` (default ones).
    prior_logdet_weight : float, optional
        The kernel's weight ``a`` of ``log|Sigma|`` when it differs from ``lambda``
        (Amelia's convention, :mod:`imputer._gaussian.prior`): the kernel is then
        ``|Sigma|^{-a/2} exp(-tr(lambda D Sigma^{-1})/2)``.

    Returns
    -------
    ndarray, shape (k, k), symmetric, ``k = p + p(p+1)/2``
        Order: ``mu``, then ``vech(Sigma)`` (see the module docstring).
    """
    sums = information_sums(values, patterns, center, scale, mu, sigma)
    return assemble_information(
        sums, sigma, prior_weight=prior_weight, prior_scale=prior_scale, prior_logdet_weight=prior_logdet_weight,
        overwrite_sums=True,
    )


def _upper(z: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``z[i, j]`` of a symmetric matrix of which only the upper triangle is set."""
    return z[np.minimum(i, j), np.maximum(i, j)]


#: Largest ``q^2`` for which :func:`_fill_covariance_block` keeps its gather index (p <= 30).
_COVARIANCE_INDEX_MAX = 500 * 500


@functools.lru_cache(maxsize=4)
def _covariance_index(p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gathers of :func:`_fill_covariance_block` for ``p`` (cached): the Fortran-order
    flat positions in the upper triangle of ``z`` of ``Z_{ad,bc}`` and ``Z_{ac,bd}``, and
    ``-half_ab half_cd``, each ``(q, q)``."""
    a, b = vech_indices(p)
    q = a.size
    vidx = np.empty((p, p), dtype=np.intp)
    vidx[a, b] = np.arange(q)
    vidx[b, a] = np.arange(q)
    half = 1.0 / (1.0 + (a == b))

    def upper_flat(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return np.maximum(i, j) * q + np.minimum(i, j)  # (min, max) of a Fortran (q, q) array

    first = upper_flat(vidx[a[:, None], b[None, :]], vidx[b[:, None], a[None, :]])
    second = upper_flat(vidx[a[:, None], a[None, :]], vidx[b[:, None], b[None, :]])
    return first, second, -half[:, None] * half[None, :]


def _fill_covariance_block(out: np.ndarray, z: np.ndarray, a: np.ndarray, b: np.ndarray, half: np.ndarray) -> None:
    """``out_(ab),(cd) = -(Z_{ad,bc} + Z_{ac,bd}) half_ab half_cd``, a block of rows at a time.

    Reads only the upper triangle of the symmetric ``z``; exactly symmetric (the same two
    entries of ``z`` in both triangles).
    """
    p = int(a.max()) + 1
    if a.size * a.size <= _COVARIANCE_INDEX_MAX:
        first, second, hh = _covariance_index(p)
        zf = np.asfortranarray(z).reshape(-1, order="F")
        np.add(zf.take(first), zf.take(second), out=out)
        out *= hh
        return
    vidx = np.empty((p, p), dtype=np.intp)
    vidx[a, b] = np.arange(a.size)
    vidx[b, a] = np.arange(a.size)
    step = max(1, _ELEMENTS // a.size)
    for lo in range(0, a.size, step):
        ar, br = a[lo : lo + step, None], b[lo : lo + step, None]
        block = _upper(z, vidx[ar, b[None, :]], vidx[br, a[None, :]])
        block += _upper(z, vidx[ar, a[None, :]], vidx[br, b[None, :]])
        block *= -half[lo : lo + step, None]
        block *= half[None, :]
        out[lo : lo + step] = block


def complete_information(sigma: np.ndarray, n_mean: float, n_cov: float) -> np.ndarray:
    """Complete-data information at ``sigma`` (see the module docstring), shape (k, k)."""
    p = sigma.shape[0]
    lam, _ = precision(sigma)
    a, b = vech_indices(p)
    half = 1.0 / (1.0 + (a == b))
    i_ss = lam[a[:, None], b[None, :]] * lam[b[:, None], a[None, :]]
    i_ss += lam[a[:, None], a[None, :]] * lam[b[:, None], b[None, :]]
    i_ss *= n_cov * half[:, None] * half[None, :]
    out = np.zeros((p + a.size, p + a.size))
    out[:p, :p] = n_mean * lam
    out[p:, p:] = i_ss
    return 0.5 * (out + out.T)


def complete_information_product(lam: np.ndarray, x: np.ndarray, n_mean: float, n_cov: float) -> np.ndarray:
    """``I_com @ x`` without forming ``I_com`` (``O(p^3)``): ``(n Lambda x_mu, n_c half * vech(Lambda X Lambda))``.

    Parameters
    ----------
    lam : ndarray, shape (p, p)
        ``Sigma^-1``.
    x : ndarray, shape (k,) or (k, 1)
        ``(x_mu, vech X)`` with ``X`` symmetric.
    """
    p = lam.shape[0]
    x = np.asarray(x, dtype=float).reshape(-1)
    a, b = vech_indices(p)
    xs = np.zeros((p, p))
    xs[a, b] = x[p:]
    xs[b, a] = x[p:]
    m = lam @ xs @ lam
    return np.concatenate([n_mean * (lam @ x[:p]), n_cov * m[a, b] / (1.0 + (a == b))])


def complete_variances(sigma: np.ndarray, n_mean: float, n_cov: float) -> np.ndarray:
    """Diagonal of the inverse complete-data information: ``Sigma_jj / n``, ``(Sigma_aa Sigma_bb + Sigma_ab^2) / n_c``."""
    a, b = vech_indices(sigma.shape[0])
    diag = np.diag(sigma)
    return np.concatenate((diag / n_mean, (diag[a] * diag[b] + sigma[a, b] ** 2) / n_cov))
