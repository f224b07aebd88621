"""Diagnostics of incomplete data: what is missing, and whether it looks missing completely at random.

* :func:`patterns` -- the missingness pattern table (mice's ``md.pattern``), a
  :class:`PatternTable`.
* :func:`mcar_test` -- Little's (1988) chi-square test of missing completely at random at
  the EM estimate, an :class:`MCARTest`.
* :func:`disperse` -- EM from overdispersed starting values (Amelia's ``disperse``): whether
  the estimate depends on the start (several local maxima, or a saddle point), a
  :class:`Dispersion`.
"""

from __future__ import annotations

from imputer.diagnostics.dispersion import Dispersion, disperse
from imputer.diagnostics.mcar import MCARTest, mcar_test
from imputer.diagnostics.patterns import PatternTable, patterns

__all__ = ["Dispersion", "MCARTest", "PatternTable", "disperse", "mcar_test", "patterns"]
