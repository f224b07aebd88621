"""Multivariate-t EM imputation (robust to heavy tails and outliers): :func:`impute_t`."""

from __future__ import annotations

from imputer.mvt.api import impute_t
from imputer.mvt.result import TImputeResult

__all__ = ["TImputeResult", "impute_t"]
