r"""The four covariance structures of a Gaussian mixture (scikit-learn's names).

For component ``k`` with responsibilities ``r_ik``, ``N_k = sum_i r_ik`` and the expected
scatter about its updated mean ``A_k = sum_i r_ik E[(x_i - mu_k)(x_i - mu_k)' | x_{i,O}]``
(from the weighted E-step), the M-step under the ridge prior of strength ``lambda``
(inverse-Wishart kernel on each covariance with scale ``I``, the engine's standardised
units; ``lambda = 0`` is maximum likelihood) is

=============  =========================================  =====================  ==========
type           covariance                                 M-step                 mclust
=============  =========================================  =====================  ==========
``full``       ``Sigma_k`` unrestricted                   ``(A_k + lambda I) / (N_k + lambda)``   VVV
``tied``       ``Sigma_k = Sigma`` for all ``k``          ``(sum_k A_k + lambda I) / (n + lambda)`` EEE
``diag``       ``Sigma_k = diag(s_k)``                    ``(diag A_k + lambda) / (N_k + lambda)``  VVI
``spherical``  ``Sigma_k = s_k G``                        ``sum_j (A_k,jj + lambda) / g_j / (p (N_k + lambda))``  VII
=============  =========================================  =====================  ==========

``spherical`` is spherical in the caller's units (as in scikit-learn and mclust), which
the engine's standardisation ``z_j = (x_j - c_j) / s_j`` turns into ``G = diag(g)``,
``g_j = 1 / s_j^2``; ``full``, ``tied`` and ``diag`` are the same structures in both units.

each the maximiser of ``Q_k - (lambda/2)[log|Sigma| + tr(Sigma^{-1})]`` over its
structure (one prior term per covariance: one for ``tied``, ``K`` otherwise). The
packed free parameters (for SQUAREM, whose extrapolations keep the structure) are the
lower triangles (``full``: ``K p(p+1)/2``; ``tied``: ``p(p+1)/2``), the variances
(``diag``: ``K p``) or the ``K`` variances (``spherical``). The model's free-parameter
count (for AIC/BIC) adds ``K p`` means and ``K - 1`` weights, as scikit-learn counts.
"""

from __future__ import annotations

import numpy as np

__all__ = ["COVARIANCE_TYPES", "CovarianceType"]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


class CovarianceType:
    """Packing, M-step and prior terms of one covariance structure for ``K`` components, ``p`` columns."""

    def __init__(self, name: str, k: int, p: int, shape: np.ndarray | None = None) -> None:
        self.name, self.k, self.p = name, k, p
        # spherical in the original units: Sigma_k = s_k diag(shape) in the engine's units
        self.shape = np.ones(p) if shape is None else np.asarray(shape, dtype=float)
        self._rows, self._cols = np.tril_indices(p)
        self.size = {
            "full": k * self._rows.size,
            "tied": self._rows.size,
            "diag": k * p,
            "spherical": k,
        }[name]

    @property
    def n_priors(self) -> int:
        """How many covariances carry a prior term (1 for ``tied``, ``K`` otherwise)."""
        return 1 if self.name == "tied" else self.k

    def n_parameters(self) -> int:
        """Free parameters of the mixture: covariances, ``K p`` means, ``K - 1`` weights."""
        return self.size + self.k * self.p + self.k - 1

    def pack(self, covs: np.ndarray) -> np.ndarray:
        """Free parameters of ``covs`` (shape (K, p, p)), shape (size,)."""
        if self.name == "full":
            return covs[:, self._rows, self._cols].reshape(-1)
        if self.name == "tied":
            return covs[0][self._rows, self._cols].copy()
        diag = np.diagonal(covs, axis1=1, axis2=2)
        return diag.reshape(-1).copy() if self.name == "diag" else diag[:, 0] / self.shape[0]

    def unpack(self, x: np.ndarray) -> np.ndarray:
        """Covariances, shape (K, p, p), of packed free parameters."""
        k, p = self.k, self.p
        covs = np.zeros((k, p, p))
        if self.name in ("full", "tied"):
            vals = x.reshape(-1 if self.name == "full" else 1, self._rows.size)
            covs[:, self._rows, self._cols] = vals
            covs[:, self._cols, self._rows] = vals
        else:
            d = x.reshape(k, p) if self.name == "diag" else x[:, None] * self.shape
            idx = np.arange(p)
            covs[:, idx, idx] = d
        return covs

    def project(self, covs: np.ndarray, nk: np.ndarray) -> np.ndarray:
        """The structure's version of unrestricted covariances (``N_k``-weighted pooling for ``tied``)."""
        return self.mstep(covs * nk[:, None, None], nk, 0.0)

    def mstep(self, scatters: np.ndarray, nk: np.ndarray, ridge: float) -> np.ndarray:
        """Covariances, shape (K, p, p), from scatters ``A_k`` (shape (K, p, p)) and ``N_k`` (shape (K,))."""
        k, p = self.k, self.p
        eye = np.eye(p)
        if self.name == "full":
            out = (scatters + ridge * eye) / (nk + ridge)[:, None, None]
        elif self.name == "tied":
            sigma = (scatters.sum(axis=0) + ridge * eye) / (float(nk.sum()) + ridge)
            out = np.broadcast_to(sigma, (k, p, p)).copy()
        else:
            d = np.diagonal(scatters, axis1=1, axis2=2)
            d = (d + ridge) / (nk + ridge)[:, None]
            if self.name == "spherical":
                d = (d / self.shape).mean(axis=1, keepdims=True) * self.shape
            out = np.zeros((k, p, p))
            idx = np.arange(p)
            out[:, idx, idx] = d
        return 0.5 * (out + out.transpose(0, 2, 1))

    def penalty(self, ridge: float, precs: list[tuple[np.ndarray, float]]) -> float:
        """``(lambda/2) sum [log|Sigma| + tr(Sigma^-1)]`` over the covariances with a prior."""
        if ridge <= 0.0:
            return 0.0
        terms = precs[: self.n_priors]
        return 0.5 * ridge * sum(logdet + float(np.trace(lam)) for lam, logdet in terms)
