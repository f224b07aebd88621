r"""The ridge prior on the covariance: an inverse-Wishart kernel in standardised units.

In the engine's standardised units (:mod:`imputer.mvn._scaling`) the prior kernel is

.. math::

    \pi(\Sigma) \propto |\Sigma|^{-a/2} \exp\big(-\tfrac{\lambda}{2}\operatorname{tr}(D \Sigma^{-1})\big),

flat in ``mu``, with ``lambda`` the ``ridge`` argument (pseudo-rows), ``D`` diagonal and
``a`` the weight of the log-determinant. The log-posterior is the observed-data
log-likelihood minus the penalty ``(a/2) log|Sigma| + (lambda/2) tr(D Sigma^-1)``, and the
M-step's covariance is ``(A + lambda D) / (V + a)`` (``A`` the expected scatter about the
new mean, ``V`` the rows' covariance weight). Two conventions:

``"ridge"`` (imputer's default)
    ``a = lambda`` and ``D = I``: ``lambda`` pseudo-rows with the observed variances
    (divisor ``n_j``) and no correlation, ``Sigma = (A + lambda I) / (n + lambda)``.
``"amelia"`` (Amelia's ``empri``)
    ``a = lambda + p + 2`` and ``D = diag(n_j / (n_j - 1))`` when ``lambda > 0`` (plain
    maximum likelihood at ``lambda = 0``), which is Amelia's M-step
    ``Sigma = (A + lambda I_A) / (n + lambda + p + 2)`` (Amelia II 1.8, ``src/em.cpp``)
    on Amelia's standardised scale, whose unit is the sample standard deviation (divisor
    ``n_j - 1``) rather than ours (divisor ``n_j``): ``I_A = D`` in our units. Amelia's C
    code stores ``empri`` in an ``int``, so it truncates a fractional ``empri`` (pass
    Amelia an integer to compare), and its ``autopri`` may raise ``empri`` by ``0.01 n``
    when its EM chain stops being monotone; neither is copied here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imputer._gaussian.linalg import precision

__all__ = ["PRIORS", "RidgePrior", "as_prior"]

#: the names of the conventions (the ``prior`` argument of the public functions)
PRIORS = ("ridge", "amelia")


@dataclass(frozen=True, eq=False)
class RidgePrior:
    """The kernel ``|Sigma|^{-a/2} exp(-(lambda/2) tr(D Sigma^-1))`` (module docstring).

    Attributes
    ----------
    weight : float
        ``lambda >= 0``, the pseudo-rows of the trace term.
    logdet_weight : float
        ``a >= 0``, the weight of ``log|Sigma|`` (added to the M-step's divisor).
    scale : ndarray, shape (p,), or None
        Diagonal of ``D``; None for the identity.
    """

    weight: float
    logdet_weight: float
    scale: np.ndarray | None = None

    @classmethod
    def of(cls, convention: str, ridge: float, n_observed: np.ndarray) -> RidgePrior:
        """The prior of a convention (``"ridge"`` or ``"amelia"``) for columns observed ``n_observed`` times."""
        ridge = float(ridge)
        if convention == "ridge" or ridge == 0.0:
            return cls(ridge, ridge)
        n_obs = np.asarray(n_observed, dtype=float)
        return cls(ridge, ridge + n_obs.size + 2.0, n_obs / (n_obs - 1.0))

    @property
    def active(self) -> bool:
        """True when the prior changes the objective (``lambda > 0`` or ``a > 0``)."""
        return self.weight > 0.0 or self.logdet_weight > 0.0

    def diagonal(self, p: int) -> np.ndarray:
        """``lambda`` times the diagonal of ``D``, shape (p,)."""
        return self.weight * (np.ones(p) if self.scale is None else self.scale)

    def penalty(self, cov: np.ndarray, *, prec: tuple[np.ndarray, float] | None = None) -> float:
        """``(a/2) log|Sigma| + (lambda/2) tr(D Sigma^-1)`` (0 for an inactive prior)."""
        if not self.active:
            return 0.0
        lam, logdet = prec or precision(cov)
        trace = float(np.trace(lam)) if self.scale is None else float(np.diag(lam) @ self.scale)
        return 0.5 * (self.logdet_weight * logdet + self.weight * trace)

    def add_to_scatter(self, scatter: np.ndarray) -> None:
        """``scatter += lambda D`` in place (the M-step's numerator)."""
        if self.weight > 0.0:
            scatter.flat[:: scatter.shape[0] + 1] += self.diagonal(scatter.shape[0])


def as_prior(ridge: float | RidgePrior) -> RidgePrior:
    """A :class:`RidgePrior`: itself, or imputer's ``"ridge"`` convention for a number."""
    if isinstance(ridge, RidgePrior):
        return ridge
    return RidgePrior(float(ridge), float(ridge))
