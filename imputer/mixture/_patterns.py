r"""Pattern-level algebra of the mixture pass, all patterns at once (private; clean input assumed).

For a pattern with observed columns ``O`` (indicator ``o``, missing ``M``) and each
component ``k``, everything follows from one Cholesky factor ``L L' = Sigma_{k,OO}``,
computed *embedded* in ``p x p`` so that all patterns are one batch: the factor of
``Sigma_k o o' + diag(1 - o)`` (elementwise product) is ``L`` on ``O x O``, the identity
on ``M x M`` and zero elsewhere. Then

* ``T = L^{-1}`` (embedded likewise) and ``W = [T, -T (mu_k o)]``: the Mahalanobis
  distance of a row's observed part is ``d = ||W x~||^2`` with ``x~ = (x o, 1)``
  (:class:`PatternFactors`); ``log|Sigma_{k,OO}| = 2 sum log diag L``;
* ``T'T`` is ``Sigma_{OO}^{-1}`` embedded, ``(Sigma_k 1 o') T'T`` holds the regression
  ``B = Sigma_{MO} Sigma_{OO}^{-1}`` on the missing rows, and ``C_M = Sigma_{MM} - B Sigma_{OM}``.
  Under component ``k`` the completed row is ``z~ = A x~`` with ``A`` the identity on the
  observed rows, ``[B, mu_M - B mu_O]`` on the missing rows and ``(0, 1)`` last.

With the weighted moments ``S~ = sum_i r_ik x~_i x~_i'`` of the pattern's rows (zero in
the missing rows and columns), the completed-data statistics of component ``k`` follow
in closed form with no per-row completion (:func:`completed_moments`):

.. math::

    \sum_i r_{ik} E_k[\tilde z_i \tilde z_i' \mid x_{i,O}]
        = \sum_{\text{patterns}} \big(A \tilde S A' + N\, C_M\big)

(``N = sum_i r_ik`` the last diagonal entry of ``S~``; ``C_M`` embedded). Its last
diagonal entry is ``N_k``, its last column ``s_1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imputer._gaussian.linalg import Infeasible
from imputer._util import LOG_2PI

__all__ = ["PatternFactors", "PatternMasks", "completed_moments", "pattern_factors"]


@dataclass(frozen=True, eq=False)
class PatternMasks:
    """Constant masks of ``G`` patterns of ``p`` columns (:meth:`of`).

    Attributes
    ----------
    obs : ndarray, shape (G, p)
        1.0 at the observed cells, 0.0 at the missing ones (``o``).
    miss : ndarray, shape (G, p)
        ``1 - o``.
    oo, mo, mm : ndarray, shape (G, 1, p, p)
        ``o o'``, ``m o'`` and ``m m'`` (``m = 1 - o``).
    eye_o : ndarray, shape (G, 1, p, p)
        ``diag(o)``.
    p_o : ndarray, shape (G, 1)
        Observed cells per pattern.
    """

    obs: np.ndarray
    miss: np.ndarray
    oo: np.ndarray
    mo: np.ndarray
    mm: np.ndarray
    eye_o: np.ndarray
    p_o: np.ndarray

    @classmethod
    def of(cls, observed: np.ndarray) -> PatternMasks:
        """The masks of a boolean ``(G, p)`` array, True where observed."""
        o = observed.astype(float)
        m = 1.0 - o
        p = o.shape[1]
        return cls(
            obs=o,
            miss=m,
            oo=(o[:, :, None] * o[:, None, :])[:, None],
            mo=(m[:, :, None] * o[:, None, :])[:, None],
            mm=(m[:, :, None] * m[:, None, :])[:, None],
            eye_o=(np.eye(p) * o[:, None, :])[:, None],
            p_o=o.sum(axis=1)[:, None],
        )


@dataclass(frozen=True, eq=False)
class PatternFactors:
    """Per pattern ``g`` and component ``k`` (module docstring).

    Attributes
    ----------
    w : ndarray, shape (G, K, p, p + 1)
        ``W / sqrt 2`` embedded (zero rows and columns at the missing cells, but for
        ``T``'s identity on ``M x M``), so that ``||w x~||^2 = d / 2``.
    base : ndarray, shape (G, K)
        ``log pi_k - (p_o log 2 pi + log|Sigma_{k,OO}|) / 2``.
    t : ndarray, shape (G, K, p, p)
        ``T`` embedded.
    """

    w: np.ndarray
    base: np.ndarray
    t: np.ndarray


def _lower_inverse(chol: np.ndarray, diag: np.ndarray) -> np.ndarray:
    """Inverses of lower-triangular matrices (shape (..., p, p), diagonals ``diag``) by forward substitution.

    Row ``i`` of ``T = L^{-1}`` is ``(e_i' - L_{i,:i} T_{:i,:}) / L_ii``: ``p`` small batched
    products (a third of the time of ``numpy.linalg.inv``'s LU solves on 10 x 10 blocks).
    """
    p = chol.shape[-1]
    t = np.zeros_like(chol)
    inv_d = 1.0 / diag
    for i in range(p):
        if i:
            row = np.matmul(chol[..., i : i + 1, :i], t[..., :i, :i])[..., 0, :]
            row *= -inv_d[..., i, None]
            t[..., i, :i] = row
        t[..., i, i] = inv_d[..., i]
    return t


def pattern_factors(masks: PatternMasks, log_weights: np.ndarray, means: np.ndarray, covs: np.ndarray) -> PatternFactors:
    """:class:`PatternFactors` of the patterns of ``masks``; :class:`Infeasible` if a block is not positive definite."""
    g, p = masks.obs.shape
    k = means.shape[0]
    s = covs[None] * masks.oo
    diag = s.reshape(g, k, p * p)[:, :, :: p + 1]
    diag += masks.miss[:, None, :]
    try:
        chol = np.linalg.cholesky(s)
    except np.linalg.LinAlgError:
        raise Infeasible("covariance block not positive definite") from None
    ld = np.diagonal(chol, axis1=2, axis2=3)
    if not np.all(ld > 0.0):
        raise Infeasible("covariance block not positive definite")
    t = _lower_inverse(chol, ld)
    w = np.empty((g, k, p, p + 1))
    w[..., :p] = t
    np.matmul(t, (means[None] * masks.obs[:, None, :])[..., None], out=w[..., p:])
    w[..., p] *= -1.0
    w *= np.sqrt(0.5)
    base = log_weights - 0.5 * (masks.p_o * LOG_2PI + 2.0 * np.log(ld).sum(axis=2))
    return PatternFactors(w, base, t)


def completed_moments(
    masks: PatternMasks, fac: PatternFactors, means: np.ndarray, covs: np.ndarray, moments: np.ndarray
) -> np.ndarray:
    """``sum_g (A S~ A' + N C_M)`` (module docstring), shape (K, p + 1, p + 1).

    ``moments`` is ``S~`` embedded, shape (G, K, p + 1, p + 1). (Every product has
    C-ordered operands: numpy multiplies transposed views without BLAS, 5-10x slower.)
    """
    g, p = masks.obs.shape
    k = means.shape[0]
    t = fac.t
    # T'T: Sigma_OO^{-1} embedded (the identity on M x M)
    prec_o = np.matmul(np.ascontiguousarray(t.transpose(0, 1, 3, 2)), t)
    lin = np.matmul(covs[None] * masks.mo, prec_o)  # B = Sigma_MO Sigma_OO^{-1} on the missing rows, 0 elsewhere
    # C_M = Sigma_MM - B Sigma_OM (B's columns are the observed ones)
    cond = covs[None] - np.matmul(lin, covs[None])
    lin += masks.eye_o  # identity on the observed rows
    mu_o = (means[None] * masks.obs[:, None, :])[..., None]
    a = np.zeros((g, k, p + 1, p + 1))
    a[:, :, :p, :p] = lin
    a[:, :, :p, p] = (means[None] - np.matmul(lin, mu_o)[..., 0]) * masks.miss[:, None, :]
    a[:, :, p, p] = 1.0
    out = np.matmul(np.matmul(a, moments), np.ascontiguousarray(a.transpose(0, 1, 3, 2))).sum(axis=0)
    cond *= masks.mm
    cond *= moments[:, :, p, p][:, :, None, None]
    out[:, :p, :p] += cond.sum(axis=0)
    return out
