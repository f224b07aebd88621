r"""The mixture's pattern pass compiled by numba (private; needs the ``fast`` extra; clean input assumed).

Chosen by :func:`~imputer.mixture._kernel.MixturePlan` where the numpy pattern pass
(:class:`~imputer.mixture._kernel.PatternPlan`) would be, on tables of at least
:data:`~imputer.mixture._kernel.COMPILED_MIN_ROWS` rows, when numba is installed (and
``IMPUTER_COMPILED`` is not ``0``): the numpy pass spends its time in batched calls on
small arrays (inner dimension ``p_o + 1``) and passes over ``n K`` numbers, which compiled
loops fuse. Same statistics to rounding (``tests/imputer/mixture/test_compiled.py``);
compiled on first use (about 6 s) and cached on disk (``cache=True``: later processes
load it in about 0.2 s).

:class:`CompiledPlan` is ``PatternPlan`` with its pattern level compiled
(:mod:`imputer.mixture._compiled_patterns`) and its row level as one compiled loop per
piece (:func:`piece_rows`, rows stored pattern after pattern, no items and no padding). For the patterns ``g`` of one piece (all with ``p_o`` observed cells),
per block of at most :data:`BLOCK` rows ``x~_i = (x_{i,O}', 1)'`` of one pattern:

* one BLAS product ``Y = w_g X~'`` (``w_g`` the ``K p_o x (p_o + 1)`` stack of
  ``[T_k, -T_k mu_{k,O}] / sqrt 2``, ``T_k`` the inverse Cholesky factor of
  ``Sigma_{k,OO}``) gives ``d_ik / 2 = ||y_ik||^2`` and

  .. math::

      j_{ik} = b_{gk} - \tfrac12 d_{ik}, \qquad
      b_{gk} = \log\pi_k - \tfrac12\big(p_o\log 2\pi + \log|\Sigma_{k,OO}|\big);

* the log-sum-exp with each row's own largest term ``t_i`` as the shift,
  ``l_i = t_i + log sum_k exp(max(j_ik - t_i, -700))`` (no row can underflow, so no
  far-row fix-up is needed: the one difference in numerical care from ``PatternPlan``,
  which shifts by a per-pattern constant) and ``r_ik = exp(max(j_ik - t_i, -700)) / sum_l ...``,
  the exponentials by :func:`exp_nonpositive` (vectorised; within 1 ulp of the C library's);
* one more BLAS product, ``[r_1 X~, ..., r_{K-1} X~]' X~``, adds the block's weighted
  moments ``sum_i r_ik x~_i x~_i'`` of the first ``K - 1`` components; the last one's
  (the largest weight's) are the pattern's unweighted moments minus the others'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from imputer._gaussian.layout import StandardData
from imputer._gaussian.linalg import Infeasible
from imputer.mixture._compiled_patterns import complete, pattern_factors
from imputer.mixture._kernel import _PATTERN_ELEMENTS
from imputer.mixture._pass import ComponentPass, MixturePass, pattern_sources

__all__ = ["BLOCK", "CompiledPlan", "exp_nonpositive", "piece_rows"]

#: Rows per block (the block's products and terms stay in L2).
BLOCK = 256

# exp by Cody and Waite's reduction, t = m log 2 + r with |r| <= log(2) / 2, and the
# Taylor polynomial of degree 13 (truncation below 1e-17 relative)
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_C = tuple(1.0 / math.factorial(i) for i in range(14))
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13 = _C


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def exp_nonpositive(src: np.ndarray, dst: np.ndarray, bits: np.ndarray, n: int) -> None:  # pragma: no cover (compiled)
    """``dst[:n] = exp(max(src[:n], -700))`` for ``src <= 0``, in loops that vectorise.

    ``bits`` is int64 scratch of at least ``n`` entries: ``2^m`` is built from its exponent
    bits (``m >= -1010``, a normal number) and read through a float view.
    """
    for i in range(n):
        t = max(src[i], -700.0)
        m = math.floor(t * _INV_LN2 + 0.5)
        r = (t - m * _LN2_HI) - m * _LN2_LO
        q = _C13 * r + _C12
        q = q * r + _C11
        q = q * r + _C10
        q = q * r + _C9
        q = q * r + _C8
        q = q * r + _C7
        q = q * r + _C6
        q = q * r + _C5
        q = q * r + _C4
        q = q * r + _C3
        q = q * r + _C2
        q = q * r + _C1
        dst[i] = q * r + _C0
        bits[i] = (np.int64(m) + 1023) << 52
    scale = bits[:n].view(np.float64)
    for i in range(n):
        dst[i] *= scale[i]


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def piece_rows(  # pragma: no cover (compiled)
    x: np.ndarray,
    starts: np.ndarray,
    w: np.ndarray,
    base: np.ndarray,
    log_weights: np.ndarray,
    mom: np.ndarray,
    resp: np.ndarray,
    dens: np.ndarray,
    orig: np.ndarray,
    rows: bool,
    stats: bool,
) -> float:
    """The rows of one piece (module docstring); returns their ``sum_i l_i``.

    Parameters
    ----------
    x : ndarray, shape (n_rows, p_o + 1)
        The piece's rows ``x~_i``, sorted by pattern.
    starts : ndarray, shape (G + 1,)
        Pattern ``g``'s rows are ``x[starts[g]:starts[g + 1]]``.
    w : ndarray, shape (G, K p_o, p_o + 1)
    base : ndarray, shape (G, K)
    log_weights : ndarray, shape (K,)
    mom : ndarray, shape (G, (K - 1) (p_o + 1), p_o + 1)
        Block ``k`` of rows of ``mom[g]`` incremented by ``sum_i r_ik x~_i x~_i'`` (when ``stats``).
    resp, dens : ndarray, shape (n, K)
        Responsibilities and ``j_ik - log pi_k`` written at rows ``orig`` (when ``rows``).
    orig : ndarray, shape (n_rows,)
        Each row's original position.
    rows, stats : bool
    """
    f = x.shape[1]
    p_o = f - 1
    k = base.shape[1]
    joint = np.empty((k, BLOCK))
    e = np.empty((k, BLOCK))
    bits = np.empty(k * BLOCK, dtype=np.int64)
    top = np.empty(BLOCK)
    tot = np.empty(BLOCK)
    z = np.empty((BLOCK, (k - 1) * f))
    loglik = 0.0
    for g in range(starts.size - 1):
        for a0 in range(starts[g], starts[g + 1], BLOCK):
            nb = min(BLOCK, starts[g + 1] - a0)
            xb = x[a0 : a0 + nb]
            y = np.dot(w[g], xb.T)  # (K p_o, nb)
            for c in range(k):
                jc = joint[c]
                for r in range(nb):
                    jc[r] = 0.0
                for j in range(p_o):
                    yq = y[c * p_o + j]
                    for r in range(nb):
                        jc[r] += yq[r] * yq[r]
                bc = base[g, c]
                for r in range(nb):
                    jc[r] = bc - jc[r]
            for r in range(nb):
                top[r] = joint[0, r]
            for c in range(1, k):
                for r in range(nb):
                    top[r] = max(top[r], joint[c, r])
            for c in range(k):
                for r in range(nb):
                    e[c, r] = joint[c, r] - top[r]
            for c in range(k):
                exp_nonpositive(e[c], e[c], bits, nb)
            for r in range(nb):
                tot[r] = e[0, r]
            for c in range(1, k):
                for r in range(nb):
                    tot[r] += e[c, r]
            for r in range(nb):
                loglik += math.log(tot[r]) + top[r]
                tot[r] = 1.0 / tot[r]
            for c in range(k):
                for r in range(nb):
                    e[c, r] *= tot[r]
            if rows:
                for r in range(nb):
                    i = orig[a0 + r]
                    for c in range(k):
                        resp[i, c] = e[c, r]
                        dens[i, c] = joint[c, r] - log_weights[c]
            if not stats or k == 1:
                continue
            for r in range(nb):
                for c in range(k - 1):
                    rc = e[c, r]
                    for a in range(f):
                        z[r, c * f + a] = rc * xb[r, a]
            mom[g] += np.dot(z[:nb].T, xb)
    return loglik




@dataclass(frozen=True, eq=False)
class _Piece:
    """Patterns of one group (all with ``p_o`` observed cells), at most :data:`_PATTERN_ELEMENTS` numbers of them.

    ``x`` (n_rows, p_o + 1) the rows' observed cells and a 1, pattern after pattern; ``starts`` (G + 1,) each pattern's first column; ``orig`` (n_rows,) the
    original rows; ``total`` (G, p_o + 1, p_o + 1) each pattern's unweighted moments
    ``sum_i x~_i x~_i'``; ``obs`` (G, p_o) and ``miss`` (G, m) the patterns' observed and
    missing columns.
    """

    p_o: int
    x: np.ndarray
    starts: np.ndarray
    orig: np.ndarray
    total: np.ndarray
    obs: np.ndarray
    miss: np.ndarray


def _piece(xo: np.ndarray, orig: np.ndarray, obs: np.ndarray, miss: np.ndarray, counts: np.ndarray) -> _Piece:
    """The piece of patterns ``obs`` (G, p_o) whose rows ``xo`` (as ``(x_O, 1)``) and ``orig`` follow each other."""
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.intp)
    x = np.ascontiguousarray(xo)
    total = np.stack([x[a:b].T @ x[a:b] for a, b in zip(starts[:-1], starts[1:])])
    obs = np.ascontiguousarray(obs, dtype=np.int64)
    return _Piece(obs.shape[1], x, starts, np.ascontiguousarray(orig, dtype=np.intp), total, obs, miss)


class CompiledPlan(MixturePass):
    """The rows of a layout by pattern for :meth:`run` (built once per EM run).

    Parameters as :class:`~imputer.mixture._pass.MixturePass`.
    """

    def __init__(self, data: StandardData, k: int) -> None:
        super().__init__(data, k)
        p = data.p
        sources = pattern_sources(data)
        size = max(1, _PATTERN_ELEMENTS // (k * (p + 1) ** 2))
        self.pieces: list[_Piece] = []
        for miss, rows, orig, counts in sources:
            g, m = miss.shape
            p_o = p - m
            observed = np.ones((g, p), dtype=bool)
            observed[np.arange(g)[:, None], miss] = False
            obs = np.nonzero(observed)[1].reshape(g, p_o)
            miss = np.ascontiguousarray(miss, dtype=np.int64)
            xo = np.empty((rows.shape[0], p_o + 1))
            xo[:, :p_o] = np.take_along_axis(rows, obs[np.repeat(np.arange(g), counts)], axis=1)
            xo[:, p_o] = 1.0
            row0 = np.concatenate([[0], np.cumsum(counts)])
            orig = np.asarray(orig)
            for a in range(0, g, size):
                b = min(g, a + size)
                sl = slice(row0[a], row0[b])
                self.pieces.append(_piece(xo[sl], orig[sl], obs[a:b], miss[a:b], counts[a:b]))

    def run(
        self, weights: np.ndarray, means: np.ndarray, covs: np.ndarray, *, stats: bool = True, rows: bool = False
    ) -> ComponentPass:
        """:meth:`MixturePass.run <imputer.mixture._pass.MixturePass.run>`."""
        k, p, n = self.k, self.p, self.n
        # components reordered so that the largest weight is last: its moments are the
        # total minus the others'
        perm = np.argsort(np.arange(k) == int(np.argmax(weights)), kind="stable")
        weights = np.ascontiguousarray(weights[perm])
        means, covs = np.ascontiguousarray(means[perm]), np.ascontiguousarray(covs[perm])
        with np.errstate(divide="ignore"):
            log_weights = np.log(weights)
        resp_all = np.empty((n, k)) if rows else np.empty((0, k))
        dens_all = np.empty((n, k)) if rows else np.empty((0, k))
        e_all = np.zeros((k, p + 1, p + 1))
        loglik = 0.0
        for piece in self.pieces:
            p_o, g = piece.p_o, piece.total.shape[0]
            f, m = p_o + 1, p - p_o
            w, base = np.empty((g, k * p_o, f)), np.empty((g, k))
            a, cond = np.empty((g, k, m, f)), np.empty((g, k, m, m))
            if not pattern_factors(piece.obs, piece.miss, covs, means, log_weights, w, base, a, cond):
                raise Infeasible("covariance block not positive definite")
            low = np.zeros((g, (k - 1) * f, f))
            loglik += piece_rows(piece.x, piece.starts, w, base, log_weights, low, resp_all, dens_all, piece.orig, rows, stats)
            if stats:
                complete(piece.obs, piece.miss, low, piece.total, a, cond, e_all)
        inv = np.argsort(perm)
        out_resp = resp_all[:, inv] if rows else None
        out_dens = dens_all[:, inv] if rows else None
        if not stats:
            return ComponentPass(loglik, None, None, out_resp, out_dens, None, None, None)
        e_all = e_all[inv]
        return ComponentPass(loglik, None, None, out_resp, out_dens, e_all[:, p, p], e_all[:, :p, p], e_all[:, :p, :p])
