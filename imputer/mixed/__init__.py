"""EM-REML mixed models: ``y = X b + sum_i Z_i u_i + e``, ``u_i ~ N(0, s2_i K_i)``, ``e ~ N(0, s2_e I)``.

:func:`fit_mixed` takes the matrices (``y``, ``X``, ``ZETA``, as R's ``sommer::EM``);
:func:`fit_mixed_frame` builds them from a DataFrame; both return a :class:`MixedResult`.
"""

from __future__ import annotations

from imputer.mixed.api import fit_mixed, fit_mixed_frame
from imputer.mixed.result import MixedResult

__all__ = ["MixedResult", "fit_mixed", "fit_mixed_frame"]
