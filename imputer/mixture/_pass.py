"""What one pass of a mixture kernel gives (private): :class:`ComponentPass`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ComponentPass"]


@dataclass(frozen=True, eq=False)
class ComponentPass:
    """What one pass gives at ``(pi, mu, Sigma)``.

    Attributes
    ----------
    loglik : float
        ``sum_i log sum_k pi_k N(z_{i,O}; mu_{k,O}, Sigma_{k,OO})``.
    precs : ndarray, shape (K, p, p)
        ``Sigma_k^{-1}``.
    logdets : ndarray, shape (K,)
        ``log|Sigma_k|``.
    resp, log_dens : ndarray, shape (n, K), or None
        Responsibilities and ``log N(z_{i,O}; mu_{k,O}, Sigma_{k,OO})``, original row
        order (when asked for).
    nk : ndarray, shape (K,), or None
        ``N_k = sum_i r_ik`` (when statistics were asked for, as the two below).
    s1 : ndarray, shape (K, p), or None
        ``sum_i r_ik zhat_ik``.
    s2 : ndarray, shape (K, p, p), or None
        ``sum_i r_ik (zhat_ik zhat_ik' + C_{kM_i})`` (``C`` embedded): the expected
        second moments ``sum_i r_ik E_k[z_i z_i' | z_{i,O}]``.
    """

    loglik: float
    precs: np.ndarray
    logdets: np.ndarray
    resp: np.ndarray | None
    log_dens: np.ndarray | None
    nk: np.ndarray | None
    s1: np.ndarray | None
    s2: np.ndarray | None
