"""Multivariate-normal EM engine.

* :func:`impute` -- maximum-likelihood (or ridge posterior-mode) estimate of
  ``N_p(mu, Sigma)`` from incomplete rows by EM, SQUAREM-accelerated, with every missing
  cell filled by its conditional expectation; returns an :class:`ImputeResult` (with
  standard errors of the estimates from the observed information, built on first use).
* :func:`fill_conditional` -- conditional means and variances of the missing cells under
  given ``(mu, Sigma)``, for new rows.
"""

from __future__ import annotations

from imputer.mvn.api import impute
from imputer.mvn.conditional import fill_conditional
from imputer.mvn.result import ImputeResult

__all__ = ["ImputeResult", "fill_conditional", "impute"]
