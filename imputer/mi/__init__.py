"""Multiple imputation under the multivariate normal (or the t, or a Gaussian mixture), and Rubin's rules.

* :func:`pool` / :class:`Pooled` -- combine ``m`` analyses of multiply imputed data by
  Rubin's rules (R's ``mice::pool``).
* :func:`multiple_impute` (:mod:`imputer.mi.api`) -> :class:`MultipleImputation`
  (:mod:`imputer.mi.result`); ``analyze(fn)`` -> :class:`Analyses`
  (:mod:`imputer.mi.analyses`), whose ``pool()`` applies Rubin's rules. Imported on
  first use (PEP 562), so that ``import imputer`` does not load them.
* Kernels: :mod:`imputer.mi._istep` (draw the missing cells; :mod:`imputer.mi._dense`
  their statistics at the pattern level), :mod:`imputer.mi._pstep` (draw the parameters),
  :mod:`imputer.mi._posterior` (data augmentation), :mod:`imputer.mi._bootstrap`
  (bootstrap EM), :mod:`imputer.mi._rate` (EM rate, worst linear function, burn-in and
  spacing).
"""

from __future__ import annotations

import importlib

from imputer.mi.pool import Pooled, pool

_LAZY = {
    "Analyses": "imputer.mi.analyses",
    "MultipleImputation": "imputer.mi.result",
    "multiple_impute": "imputer.mi.api",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imputer.mi' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["Analyses", "MultipleImputation", "Pooled", "multiple_impute", "pool"]
