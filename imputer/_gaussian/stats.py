r"""Additive sufficient statistics of a Gaussian E-step (private).

For rows ``z_i`` completed by their conditional means ``zhat_i`` (observed cells as they
are), with conditional covariances ``C_{M_i}`` embedded in ``p x p`` (zero outside the
missing rows and columns), per-row weights ``w_i`` on the mean-product term and ``v_i``
on the conditional-covariance term:

.. math::

    W = \sum_i w_i,\quad V = \sum_i v_i,\quad s_1 = \sum_i w_i \hat z_i,\quad
    S_2 = \sum_i w_i \hat z_i \hat z_i^\top,\quad C = \sum_i v_i C_{M_i},

    H = \tfrac12 \sum_i v_i \big[m_i(\log 2\pi + 1) + \log|C_{M_i}|\big]

(``H``: the weighted entropy of the missing cells given the observed ones). Then
``sum_i E[w_i z_i z_i' | z_{i,O}]``-type moments are ``S_2 + C`` when ``w = v``; the
multivariate t needs ``E[tau_i z z'] = tau_i zhat zhat' + C_M`` (``w = tau``, ``v = 1``), a
Gaussian mixture ``w = v = r_ik`` (responsibilities). Every field is a sum over rows,
so statistics of a split of the rows add up to those of all rows (``a + b``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SufficientStats"]


@dataclass(frozen=True, eq=False)
class SufficientStats:
    """E-step statistics (module docstring); additive over rows.

    Attributes
    ----------
    weight : float
        ``W = sum w_i`` (``n`` unweighted).
    cov_weight : float
        ``V = sum v_i`` (``n`` unweighted).
    s1 : ndarray, shape (p,)
        ``sum w_i zhat_i``.
    s2 : ndarray, shape (p, p)
        ``sum w_i zhat_i zhat_i'``.
    cond : ndarray, shape (p, p)
        ``sum v_i C_{M_i}`` (embedded).
    entropy : float
        ``H = 1/2 sum v_i [m_i (log 2 pi + 1) + log|C_{M_i}|]``.
    """

    weight: float
    cov_weight: float
    s1: np.ndarray
    s2: np.ndarray
    cond: np.ndarray
    entropy: float

    @property
    def p(self) -> int:
        return int(self.s1.shape[0])

    @classmethod
    def zeros(cls, p: int) -> SufficientStats:
        """The statistics of no rows."""
        return cls(0.0, 0.0, np.zeros(p), np.zeros((p, p)), np.zeros((p, p)), 0.0)

    def __add__(self, other: SufficientStats) -> SufficientStats:
        if not isinstance(other, SufficientStats):
            return NotImplemented
        return SufficientStats(
            weight=self.weight + other.weight,
            cov_weight=self.cov_weight + other.cov_weight,
            s1=self.s1 + other.s1,
            s2=self.s2 + other.s2,
            cond=self.cond + other.cond,
            entropy=self.entropy + other.entropy,
        )

    def __radd__(self, other: object) -> SufficientStats:
        """``0 + stats`` is ``stats``, so that ``sum(parts)`` works."""
        if isinstance(other, (int, float)) and other == 0:
            return self
        return NotImplemented
