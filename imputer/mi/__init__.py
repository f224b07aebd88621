"""Multiple imputation under the multivariate normal, and Rubin's rules.

* :func:`multiple_impute` (:mod:`imputer.mi.api`) -> :class:`MultipleImputation`
  (:mod:`imputer.mi.result`); ``analyze(fn)`` -> :class:`Analyses`
  (:mod:`imputer.mi.analyses`), whose ``pool()`` applies Rubin's rules.
* Kernels: :mod:`imputer.mi._istep` (draw the missing cells), :mod:`imputer.mi._pstep`
  (draw the parameters), :mod:`imputer.mi._posterior` (data augmentation),
  :mod:`imputer.mi._bootstrap` (bootstrap EM), :mod:`imputer.mi._rate` (EM rate, WLF,
  burn-in and spacing).
"""

from __future__ import annotations

from imputer.mi.analyses import Analyses
from imputer.mi.api import multiple_impute
from imputer.mi.result import MultipleImputation

__all__ = ["Analyses", "MultipleImputation", "multiple_impute"]
