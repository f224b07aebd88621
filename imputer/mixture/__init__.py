"""Gaussian-mixture EM imputation: :func:`impute_mixture` and its :class:`MixtureImputeResult`."""

from imputer.mixture.api import impute_mixture
from imputer.mixture.result import MixtureImputeResult

__all__ = ["MixtureImputeResult", "impute_mixture"]
