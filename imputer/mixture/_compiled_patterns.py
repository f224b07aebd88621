r"""The pattern level of the compiled mixture pass (private; needs numba; clean input assumed).

The same algebra as :mod:`imputer.mixture._patterns` (whose module docstring states it),
one pattern and component at a time in compiled loops instead of batched numpy calls
per group:

* :func:`pattern_factors`: the Cholesky factor ``L`` of ``Sigma_{k,OO}`` (column by
  column, as LAPACK's unblocked ``dpotf2``), ``T = L^{-1}`` by rows (as
  :func:`~imputer.mixture._patterns._lower_inverse`), ``w = [T, -T mu_O] / sqrt 2``,
  ``b = log pi_k - (p_o log 2 pi + log|Sigma_OO|) / 2``, and with ``G = Sigma_MO T'``:
  ``A = [G T, mu_M - G T mu_O]`` and ``C_M = Sigma_MM - G G'``;
* :func:`complete`: the completed-data moments ``(S~, S~ A'; A S~, A S~ A' + N C_M)``
  added in the columns' order, the last component's ``S~`` taken as the pattern's
  unweighted moments minus the others'.

Used by :class:`imputer.mixture._compiled.CompiledPlan`; compiled on first use and
cached on disk (``cache=True``).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["complete", "pattern_factors"]

LOG_2PI = math.log(2.0 * math.pi)
_SQRT_HALF = math.sqrt(0.5)


@numba.njit(cache=True, nogil=True)
def pattern_factors(  # pragma: no cover (compiled)
    obs: np.ndarray,
    miss: np.ndarray,
    covs: np.ndarray,
    means: np.ndarray,
    log_weights: np.ndarray,
    w: np.ndarray,
    base: np.ndarray,
    a: np.ndarray,
    cond: np.ndarray,
) -> bool:
    """Fill ``w`` (G, K p_o, p_o + 1), ``base`` (G, K), ``a`` (G, K, m, p_o + 1), ``cond`` (G, K, m, m) (module docstring).

    ``obs`` (G, p_o) and ``miss`` (G, m) the patterns' observed and missing columns,
    ``covs`` (K, p, p), ``means`` (K, p). False (the arrays part-filled) if an observed
    block is not numerically positive definite.
    """
    g_n, p_o = obs.shape
    m = miss.shape[1]
    k_n = covs.shape[0]
    lo = np.empty((p_o, p_o))
    t = np.zeros((p_o, p_o))
    mu_o = np.empty(p_o)
    tmu = np.empty(p_o)
    gm = np.empty((m, p_o))
    for g in range(g_n):
        for k in range(k_n):
            for i in range(p_o):
                mu_o[i] = means[k, obs[g, i]]
                for j in range(i + 1):
                    lo[i, j] = covs[k, obs[g, i], obs[g, j]]
            # Cholesky factor, column by column (LAPACK's unblocked dpotf2, lower)
            logdet = 0.0
            for j in range(p_o):
                s = lo[j, j]
                for l in range(j):
                    s -= lo[j, l] * lo[j, l]
                if not s > 0.0:
                    return False
                d = math.sqrt(s)
                lo[j, j] = d
                logdet += math.log(d)
                for i in range(j + 1, p_o):
                    s = lo[i, j]
                    for l in range(j):
                        s -= lo[i, l] * lo[j, l]
                    lo[i, j] = s / d
            # T = L^{-1} by rows: T[i, :i] = -(L[i, :i] T[:i, :i]) / L[i, i]
            for i in range(p_o):
                inv_d = 1.0 / lo[i, i]
                for j in range(i):
                    s = 0.0
                    for l in range(j, i):
                        s += lo[i, l] * t[l, j]
                    t[i, j] = -s * inv_d
                t[i, i] = inv_d
            for i in range(p_o):
                s = 0.0
                for j in range(i + 1):
                    s += t[i, j] * mu_o[j]
                tmu[i] = s
                row = k * p_o + i
                for j in range(i + 1):
                    w[g, row, j] = t[i, j] * _SQRT_HALF
                for j in range(i + 1, p_o):
                    w[g, row, j] = 0.0
                w[g, row, p_o] = -s * _SQRT_HALF
            base[g, k] = log_weights[k] - 0.5 * (p_o * LOG_2PI + 2.0 * logdet)
            if m == 0:
                continue
            # G = Sigma_MO T', B = G T, A = [B, mu_M - B mu_O], C_M = Sigma_MM - G G'
            for r in range(m):
                for i in range(p_o):
                    s = 0.0
                    for j in range(i + 1):
                        s += covs[k, miss[g, r], obs[g, j]] * t[i, j]
                    gm[r, i] = s
            for r in range(m):
                s_mu = 0.0
                for j in range(p_o):
                    s = 0.0
                    for i in range(j, p_o):
                        s += gm[r, i] * t[i, j]
                    a[g, k, r, j] = s
                    s_mu += s * mu_o[j]
                a[g, k, r, p_o] = means[k, miss[g, r]] - s_mu
                for q in range(r + 1):
                    s = covs[k, miss[g, r], miss[g, q]]
                    for i in range(p_o):
                        s -= gm[r, i] * gm[q, i]
                    cond[g, k, r, q] = s
                    cond[g, k, q, r] = s
    return True


@numba.njit(cache=True, nogil=True)
def complete(  # pragma: no cover (compiled)
    obs: np.ndarray, miss: np.ndarray, low: np.ndarray, total: np.ndarray, a: np.ndarray, cond: np.ndarray, out: np.ndarray
) -> None:
    """``out`` (K, p + 1, p + 1) incremented by the patterns' completed moments (module docstring).

    ``low`` (G, (K - 1) (p_o + 1), p_o + 1) the weighted moments ``S~`` of the first
    ``K - 1`` components, ``total`` (G, p_o + 1, p_o + 1) the unweighted ones; ``a`` and
    ``cond`` from :func:`pattern_factors`.
    """
    g_n, p_o = obs.shape
    m = miss.shape[1]
    k_n = out.shape[0]
    p = out.shape[1] - 1
    f = p_o + 1
    idx = np.empty(f, dtype=np.int64)
    s = np.empty((f, f))
    x1 = np.empty((m, f))
    for g in range(g_n):
        for i in range(p_o):
            idx[i] = obs[g, i]
        idx[p_o] = p
        for k in range(k_n):
            if k < k_n - 1:
                for i in range(f):
                    for j in range(f):
                        s[i, j] = low[g, k * f + i, j]
            else:
                for i in range(f):
                    for j in range(f):
                        v = total[g, i, j]
                        for c in range(k_n - 1):
                            v -= low[g, c * f + i, j]
                        s[i, j] = v
            for i in range(f):
                for j in range(f):
                    out[k, idx[i], idx[j]] += s[i, j]
            if m == 0:
                continue
            for r in range(m):
                for j in range(f):
                    v = 0.0
                    for i in range(f):
                        v += a[g, k, r, i] * s[i, j]
                    x1[r, j] = v
                    out[k, miss[g, r], idx[j]] += v
                    out[k, idx[j], miss[g, r]] += v
            nk = s[p_o, p_o]
            for r in range(m):
                for q in range(m):
                    v = nk * cond[g, k, r, q]
                    for j in range(f):
                        v += x1[r, j] * a[g, k, q, j]
                    out[k, miss[g, r], miss[g, q]] += v
