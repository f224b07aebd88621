"""imputer: EM imputation for incomplete tables and EM-REML mixed models.

Two engines share one exception root (:mod:`imputer.errors`):

* :func:`impute` / :class:`EMImputer` -- maximum-likelihood multivariate-normal
  estimation with missing values by the EM algorithm, filling every missing
  cell with its conditional expectation.
* :func:`fit_mixed` / :func:`fit_mixed_frame` -- variance components, fixed effects
  and BLUPs of ``y = X b + sum_i Z_i u_i + e`` by EM-REML, predicting missing ``y``.

and diagnostics to look at before trusting either (:mod:`imputer.diagnostics`):
:func:`patterns` (the missingness pattern table) and :func:`mcar_test` (Little's test).
Their pictures, and checks of a fit, are in :mod:`imputer.plot` (``from imputer import
plot``; matplotlib is optional and imported on first use); the one-file HTML report in
:mod:`imputer.diagnostics.report` (``imputer diagnose IN --report FILE.html``).
"""

from __future__ import annotations

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

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``imputer.EMImputer`` is imported on first use (PEP 562).

    Its base classes come from scikit-learn when it is installed, and importing
    scikit-learn takes longer than the rest of imputer together; ``import imputer``
    (and so ``imputer --version``) does not pay for it until ``EMImputer`` is asked for.
    """
    if name == "EMImputer":
        from imputer.mvn.estimator import EMImputer

        globals()["EMImputer"] = EMImputer
        return EMImputer
    raise AttributeError(f"module 'imputer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"EMImputer"})

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
    "MixtureImputeResult",
    "NotFittedError",
    "PatternTable",
    "Pooled",
    "fit_mixed",
    "fit_mixed_frame",
    "impute",
    "impute_mixture",
    "mcar_test",
    "patterns",
    "pool",
]
