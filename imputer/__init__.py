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
  and BLUPs of ``y = X b + sum_i Z_i u_i + e`` by EM-REML, predicting missing ``y``;
  ``fit_mixed_frame`` also takes a Dask DataFrame (:mod:`imputer.dask.mixed`).

and diagnostics to look at before trusting either (:mod:`imputer.diagnostics`):
:func:`patterns` (the missingness pattern table), :func:`mcar_test` (Little's test) and,
to check that the estimate does not depend on EM's start, :func:`disperse`.
Their pictures, and checks of a fit, are in :mod:`imputer.plot` (``from imputer import
plot``; matplotlib is optional and imported on first use); the one-file HTML report in
:mod:`imputer.diagnostics.report` (``imputer diagnose IN --report FILE.html``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imputer.errors import (
    ConvergenceWarning,
    ImputerError,
    ImputerTypeError,
    ImputerValueError,
    ImputerWarning,
    NotFittedError,
)

if TYPE_CHECKING:  # the names of _LAZY, for type checkers and IDEs
    from imputer._em.monitor import Progress
    from imputer.diagnostics import Dispersion, MCARTest, PatternTable, disperse, mcar_test, patterns
    from imputer.mi import Pooled, pool
    from imputer.mi.api import multiple_impute
    from imputer.mi.result import MultipleImputation
    from imputer.mixed import MixedResult, fit_mixed, fit_mixed_frame
    from imputer.mixture import MixtureImputeResult, impute_mixture
    from imputer.glom import GlomImputeResult, impute_glom
    from imputer.mvn import ImputeResult, impute
    from imputer.mvn.estimator import EMImputer
    from imputer.mvt import TImputeResult, impute_t

__version__ = "0.1.0"


#: names imported on first use (PEP 562), with their modules
_LAZY = {
    "Progress": "imputer._em.monitor",
    "Dispersion": "imputer.diagnostics",
    "MCARTest": "imputer.diagnostics",
    "PatternTable": "imputer.diagnostics",
    "disperse": "imputer.diagnostics",
    "mcar_test": "imputer.diagnostics",
    "patterns": "imputer.diagnostics",
    "Pooled": "imputer.mi",
    "pool": "imputer.mi",
    "MixedResult": "imputer.mixed",
    "fit_mixed": "imputer.mixed",
    "fit_mixed_frame": "imputer.mixed",
    "MixtureImputeResult": "imputer.mixture",
    "impute_mixture": "imputer.mixture",
    "GlomImputeResult": "imputer.glom",
    "impute_glom": "imputer.glom",
    "ImputeResult": "imputer.mvn",
    "impute": "imputer.mvn",
    "TImputeResult": "imputer.mvt",
    "impute_t": "imputer.mvt",
    "EMImputer": "imputer.mvn.estimator",
    "multiple_impute": "imputer.mi.api",
    "MultipleImputation": "imputer.mi.result",
}


def __getattr__(name: str) -> object:
    """Every public function and class is imported on first use (PEP 562, SPEC 1).

    ``import imputer`` loads only the exceptions, so ``import imputer`` and ``imputer
    --version`` take milliseconds; the first ``imputer.impute`` (or any other name here)
    imports pandas, NumPy, SciPy and the engine it needs, and ``EMImputer`` scikit-learn.
    Type checkers see the names through the ``TYPE_CHECKING`` imports above.
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
    "Dispersion",
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
    "disperse",
    "fit_mixed",
    "fit_mixed_frame",
    "GlomImputeResult",
    "impute_glom",
    "impute",
    "impute_mixture",
    "impute_t",
    "mcar_test",
    "multiple_impute",
    "patterns",
    "pool",
]
