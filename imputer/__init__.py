"""imputer: EM imputation for incomplete tables and EM-REML mixed models.

Two engines share one exception root (:mod:`imputer.errors`):

* :func:`impute` / :class:`EMImputer` -- maximum-likelihood multivariate-normal
  estimation with missing values by the EM algorithm, filling every missing
  cell with its conditional expectation.
* :func:`fit_mixed` -- variance components, fixed effects and BLUPs of
  ``y = X b + sum_i Z_i u_i + e`` by EM-REML, predicting missing ``y``.
"""

from __future__ import annotations

from imputer.errors import (
    ConvergenceWarning,
    ImputerError,
    ImputerTypeError,
    ImputerValueError,
    ImputerWarning,
    NotFittedError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "ImputerError",
    "ImputerValueError",
    "ImputerTypeError",
    "NotFittedError",
    "ImputerWarning",
    "ConvergenceWarning",
]

# --- engines (each line is owned by the engine's module; keep one import per line) ---
from imputer.mvn import ImputeResult, impute  # noqa: E402  (mvn engine)

__all__ += ["ImputeResult", "impute"]
from imputer.mvn.estimator import EMImputer  # noqa: E402  (scikit-learn-style estimator)

__all__ += ["EMImputer"]
from imputer.mixed import MixedResult, fit_mixed, fit_mixed_frame  # noqa: E402  (mixed-model engine)

__all__ += ["MixedResult", "fit_mixed", "fit_mixed_frame"]
