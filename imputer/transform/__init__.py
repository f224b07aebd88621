"""Transformed and bounded columns for the normal EM: ``impute(..., transforms=, bounds=)``.

* :mod:`imputer.transform._maps`: the transforms, their inverses' conditional moments,
  truncation to bounds;
* :mod:`imputer.transform._spec`: checking ``transforms``/``bounds`` against the data;
* :mod:`imputer.transform.api`: the fit on the transformed table and the fills;
* :mod:`imputer.transform.result`: :class:`TransformedImputeResult`.
"""

import imputer.mvn  # noqa: F401 - first: imputer.mvn.api imports this package's result (import cycle)
from imputer.transform.result import TransformedImputeResult

__all__ = ["TransformedImputeResult"]
