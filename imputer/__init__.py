"""imputer: EM imputation for incomplete tables and EM-REML mixed models.

Two engines share one exception root (:mod:`imputer.errors`):

* :func:`impute` / :class:`EMImputer` -- maximum-likelihood multivariate-normal
  estimation with missing values by the EM algorithm, filling every missing
  cell with its conditional expectation; :func:`multiple_impute` draws ``m``
  completed tables for inference (Rubin's rules).
* :func:`impute_t` -- the same for the multivariate t (heavy tails, outliers down-weighted),
  by ECME, with estimated or fixed degrees of freedom; :func:`impute_mixture` for a
  Gaussian mixture (clusters), filling each cell with the mixture's conditional mean.
* :func:`fit_mixed` / :func:`fit_mixed_frame` -- variance components, fixed effects
  and BLUPs of ``y = X b + sum_i Z_i u_i + e`` by EM-REML, predicting missing ``y``.

and diagnostics to look at before trusting either (:mod:`imputer.diagnostics`):
:func:`patterns` (the missingness pattern table) and :func:`mcar_test` (Little's test).
Their pictures, and checks of a fit, are in :mod:`imputer.plot` (``from imputer import
plot``; matplotlib is optional and imported on first use); the one-file HTML report in
:mod:`imputer.diagnostics.report` (``imputer diagnose IN --report FILE.html``).
"""

from __future__ import annotations

from imputer._em.monitor import Progress
from imputer.diagnostics import MCARTest, PatternTable, mcar_test, patterns
from imputer.errors import (
    ConvergenceWarning,
    ImputerError,
    ImputerTypeError,
    ImputerValueError,
    ImputerWarning,
    NotFittedError,
)
from imputer.mi import Pooled, pool
from imputer.mixed import MixedResult, fit_mixed, fit_mixed_frame
from imputer.mixture import MixtureImputeResult, impute_mixture
from imputer.mvn import ImputeResult, impute
from imputer.mvt import TImputeResult, impute_t

__version__ = "0.1.0"


#: names imported on first use (PEP 562), with their modules
_LAZY = {
    "EMImputer": "imputer.mvn.estimator",
    "multiple_impute": "imputer.mi.api",
    "MultipleImputation": "imputer.mi.result",
}


def __getattr__(name: str) -> object:
    """``imputer.EMImputer`` and multiple imputation are imported on first use (PEP 562).

    ``EMImputer``'s base classes come from scikit-learn when it is installed, and
    importing scikit-learn takes longer than the rest of imputer together; ``import
    imputer`` (and so ``imputer --version``) does not pay for it, nor for the multiple
    imputation modules, until they are asked for.
    """
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imputer' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "__version__",
    "ConvergenceWarning",
    "EMImputer",
    "ImputeResult",
    "ImputerError",
    "ImputerTypeError",
    "ImputerValueError",
    "ImputerWarning",
    "MCARTest",
    "MixedResult",
    "MultipleImputation",
    "MixtureImputeResult",
    "NotFittedError",
    "PatternTable",
    "Pooled",
    "Progress",
    "TImputeResult",
    "fit_mixed",
    "fit_mixed_frame",
    "impute",
    "impute_mixture",
    "impute_t",
    "mcar_test",
    "multiple_impute",
    "patterns",
    "pool",
]
