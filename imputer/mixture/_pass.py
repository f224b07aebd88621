"""The interface of the mixture passes (private): :class:`MixturePass`, :class:`ComponentPass`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from imputer._gaussian.layout import StandardData
from imputer._gaussian.linalg import precision

__all__ = ["ComponentPass", "MixturePass", "pattern_sources", "precisions"]


@dataclass(frozen=True, eq=False)
class ComponentPass:
    """What one pass gives at ``(pi, mu, Sigma)``.

    Attributes
    ----------
    loglik : float
        ``sum_i log sum_k pi_k N(z_{i,O}; mu_{k,O}, Sigma_{k,OO})``.
    precs : ndarray, shape (K, p, p), or None
        ``Sigma_k^{-1}`` (None from the pattern pass, which does not need them).
    logdets : ndarray, shape (K,), or None
        ``log|Sigma_k|`` (as ``precs``).
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
    precs: np.ndarray | None
    logdets: np.ndarray | None
    resp: np.ndarray | None
    log_dens: np.ndarray | None
    nk: np.ndarray | None
    s1: np.ndarray | None
    s2: np.ndarray | None


def precisions(covs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Sigma_k^{-1}`` (shape (K, p, p)) and ``log|Sigma_k|`` (shape (K,)); raises ``Infeasible``."""
    pairs = [precision(c) for c in covs]
    return np.stack([a for a, _ in pairs]), np.array([b for _, b in pairs])


def pattern_sources(data: StandardData) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The layout's rows by group of patterns, the complete rows first (as one pattern).

    Returns
    -------
    list of tuple
        ``(miss, rows, orig, counts)`` per group: its patterns' missing columns (G, m),
        its rows in the layout (n_g, p; the standardised values, pattern after pattern),
        their original positions (n_g,) and each pattern's number of rows (G,).
    """
    sources = []
    if data.n_complete:
        sources.append((np.zeros((1, 0), np.intp), data.complete_rows(), data.patterns.complete_rows, np.array([data.n_complete])))
    for grp in data.patterns.groups:
        sources.append((grp.miss, data.work[grp.offset : grp.offset + grp.n_rows], grp.rows, grp.counts))
    return sources


class MixturePass(ABC):
    """A pass over the rows for all components, built once per EM run.

    Parameters
    ----------
    data : StandardData
        Layout with its complete rows kept (not modified).
    k : int
        Number of components.
    """

    def __init__(self, data: StandardData, k: int) -> None:
        self.k, self.p, self.n = k, data.p, data.n

    @abstractmethod
    def run(
        self, weights: np.ndarray, means: np.ndarray, covs: np.ndarray, *, stats: bool = True, rows: bool = False
    ) -> ComponentPass:
        """Log-likelihood and, as asked, the E-step statistics and the per-row quantities.

        Parameters
        ----------
        weights : ndarray, shape (K,)
            Mixing proportions ``pi_k``.
        means : ndarray, shape (K, p)
        covs : ndarray, shape (K, p, p)
        stats : bool, default True
            Accumulate ``N_k``, ``s_1`` and the second moments.
        rows : bool, default False
            Return the responsibilities and log-densities of every row.

        Returns
        -------
        ComponentPass

        Raises
        ------
        Infeasible
            A covariance (or one of the blocks the pass factorises) not numerically
            positive definite.
        """
