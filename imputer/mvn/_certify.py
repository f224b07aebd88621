r"""Cheap certificates that a covariance is feasible (private; clean input assumed).

Feasible (:func:`~imputer.mvn._fit.corr_feasible`): the smallest eigenvalue of the
correlation matrix ``R = D^{-1/2} Sigma D^{-1/2}`` (``D = diag Sigma``) is at least
:data:`~imputer.mvn._fit.SINGULAR_EIG`. The exact test is one Cholesky factorisation of
``R - floor I``; on wide data that is as much as the E-step's own factorisation, and an EM
evaluation used to make two such tests (the point, its update). Two bounds decide almost
every case from quantities the evaluation computes anyway, in ``O(p)``:

* from the precision ``Lambda = Sigma^{-1}``: ``R^{-1} = D^{1/2} Lambda D^{1/2}`` is positive
  definite, so its largest eigenvalue is at most its trace,

  .. math::

      \lambda_{\min}(R) = 1 / \lambda_{\max}(R^{-1}) \ge 1 / \sum_j \sigma_{jj} \Lambda_{jj};

* from the ridge prior: the M-step's ``Sigma' = (A + lambda D_0) / (V + a)`` with ``A``
  an expected scatter (positive semi-definite), so ``Sigma' >= F = lambda D_0 / (V + a)``
  (diagonal) in the Loewner order and

  .. math::

      \lambda_{\min}(R') \ge \min_j F_{jj} / \sigma'_{jj}.

A bound certifies only at :data:`CERTIFY_EIG`, ten thousand times the threshold: rounding
moves the computed ``R``'s eigenvalues by about ``p`` units in the last place of
``||R|| <= p`` (below 1e-11 for ``p`` up to 10,000), and where the trace is at most
``1 / CERTIFY_EIG`` the computed ``Lambda`` is accurate to about ``1e6`` units in the last
place. Below that the caller runs the exact test, so the answer is the exact test's
wherever the bounds are silent.
"""

from __future__ import annotations

import numpy as np

from imputer.mvn._fit import corr_feasible

__all__ = ["CERTIFY_EIG", "certified_by_floor", "certified_by_precision", "feasible_above", "feasible_given"]

#: A bound at or above this certifies feasibility (module docstring).
CERTIFY_EIG = 1e-6


def certified_by_precision(sigma_diag: np.ndarray, prec_diag: np.ndarray) -> bool:
    """Whether ``1 / sum_j sigma_jj Lambda_jj >= CERTIFY_EIG`` (diagonals, shape (p,) each)."""
    trace = float(np.dot(sigma_diag, prec_diag))
    return bool(np.isfinite(trace)) and 0.0 < trace <= 1.0 / CERTIFY_EIG


def certified_by_floor(sigma_diag: np.ndarray, floor_diag: np.ndarray | None) -> bool:
    """Whether ``min_j F_jj / sigma_jj >= CERTIFY_EIG`` for a diagonal ``F <= Sigma`` (None: no bound)."""
    if floor_diag is None or not np.all(np.isfinite(sigma_diag)) or not np.all(sigma_diag > 0.0):
        return False
    return bool(np.min(floor_diag / sigma_diag) >= CERTIFY_EIG)


def feasible_given(sigma: np.ndarray, prec: np.ndarray) -> bool:
    """Feasibility of ``Sigma`` (shape (p, p)) whose precision ``prec`` is at hand: certified, else the exact test."""
    return certified_by_precision(np.diag(sigma), np.diag(prec)) or corr_feasible(sigma)


def feasible_above(sigma: np.ndarray, floor_diag: np.ndarray | None) -> bool:
    """Feasibility of ``Sigma`` known to be ``>= diag(floor_diag)``: certified, else the exact test."""
    return certified_by_floor(np.diag(sigma), floor_diag) or corr_feasible(sigma)
