"""Multiple imputation and Rubin's rules.

* :func:`pool` / :class:`Pooled` -- combine ``m`` analyses of multiply imputed data by
  Rubin's rules (R's ``mice::pool``).
"""

from __future__ import annotations

from imputer.mi.pool import Pooled, pool

__all__ = ["Pooled", "pool"]
