"""Local stand-ins for scikit-learn's ``BaseEstimator`` and ``TransformerMixin`` (:class:`~imputer.EMImputer` without scikit-learn).

``get_params``/``set_params``/``repr``/``clone`` and ``fit_transform``/``set_output(transform="pandas")``
with scikit-learn's behaviour; :mod:`imputer.mvn.estimator` derives from them when scikit-learn
is not importable.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd

from imputer.errors import ImputerValueError

__all__ = ["_LocalBaseEstimator", "_LocalTransformerMixin"]


class _LocalBaseEstimator:
    """``get_params``/``set_params``/``repr`` as in ``sklearn.base.BaseEstimator``."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(
            name
            for name, par in sig.parameters.items()
            if name != "self" and par.kind not in (par.VAR_POSITIONAL, par.VAR_KEYWORD)
        )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters by name (``deep`` is accepted for compatibility)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> _LocalBaseEstimator:
        """Set constructor parameters; unknown names raise :class:`ImputerValueError`."""
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ImputerValueError(
                    f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {valid}."
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            k: p.default for k, p in inspect.signature(type(self).__init__).parameters.items()
        }
        shown = [f"{k}={v!r}" for k, v in self.get_params().items() if defaults.get(k) != v]
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_clone__(self) -> _LocalBaseEstimator:
        twin = type(self)(**self.get_params())
        if "_output" in self.__dict__:  # keep set_output's choice, as scikit-learn does
            twin._output = self._output  # type: ignore[attr-defined]
        return twin


class _LocalTransformerMixin:
    """``fit_transform`` and ``set_output`` as in ``sklearn.base.TransformerMixin``."""

    _output: str = "default"

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        return self.fit(X, y, **fit_params).transform(X)  # type: ignore[attr-defined]

    def set_output(self, *, transform: str | None = None) -> _LocalTransformerMixin:
        """``transform="pandas"`` makes ``transform`` return a labelled DataFrame."""
        if transform is None:
            return self
        if transform not in ("default", "pandas"):
            raise ImputerValueError(
                f"set_output: transform must be 'default' or 'pandas', got {transform!r}"
            )
        self._output = transform
        return self

    def _wrap_output(self, out: np.ndarray, X: Any) -> Any:
        if self._output != "pandas" or isinstance(out, pd.DataFrame):
            return out
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(
            out, index=index, columns=self.get_feature_names_out()  # type: ignore[attr-defined]
        )
