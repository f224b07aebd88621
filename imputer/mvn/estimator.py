"""EMImputer: the multivariate-normal EM imputer as a scikit-learn-style transformer.

Model. Rows ``x_i`` in ``R^p`` are i.i.d. ``N(mu, Sigma)`` with cells missing at random.
:meth:`EMImputer.fit` computes the maximum-likelihood (or, with ``ridge > 0``, the
posterior-mode) estimate ``(mu, Sigma)`` by EM through :func:`imputer.impute`.
:meth:`EMImputer.transform` fills each missing cell of a (possibly new) row with its
conditional expectation given the row's observed cells ``o`` under the fitted parameters,

.. math::

    E[x_m \\mid x_o] = \\mu_m + \\Sigma_{mo} \\Sigma_{oo}^{-1} (x_o - \\mu_o),

leaving observed cells bit-for-bit unchanged (a row with nothing observed gets ``mu``).

scikit-learn is optional. When it is importable the estimator derives from
``sklearn.base.BaseEstimator`` and ``TransformerMixin`` (so ``clone``, ``Pipeline``,
``GridSearchCV`` and ``set_output`` work as for any scikit-learn transformer); otherwise
from small local classes with the same behaviour for ``get_params``/``set_params``,
``fit_transform``, ``set_output(transform="pandas")`` and ``repr``.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd

from imputer.errors import ImputerTypeError, ImputerValueError, NotFittedError
from imputer.mvn import impute
from imputer.mvn.conditional import fill_conditional

__all__ = ["EMImputer"]


def _impute_defaults() -> dict[str, Any]:
    params = inspect.signature(impute).parameters
    return {k: params[k].default for k in ("tol", "max_iter", "ridge", "accelerate")}


_DEFAULTS = _impute_defaults()


# ------------------------------------------------------------------ local sklearn stand-ins


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
        if self._output != "pandas":
            return out
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(
            out, index=index, columns=self.get_feature_names_out()  # type: ignore[attr-defined]
        )


try:  # pragma: no branch - exercised both ways by the tests
    from sklearn.base import BaseEstimator as _Base
    from sklearn.base import TransformerMixin as _Mixin

    HAS_SKLEARN = True
except ImportError:  # pragma: no cover - covered by reloading with sklearn hidden
    _Base, _Mixin = _LocalBaseEstimator, _LocalTransformerMixin  # type: ignore[misc,assignment]
    HAS_SKLEARN = False


# ------------------------------------------------------------------------- input handling


def _to_float_matrix(X: Any, *, where: str) -> tuple[np.ndarray, list[str] | None]:
    """Validate ``X`` and return it as float64 ``(n, p)`` with NaN for missing.

    The second value is the list of column names when ``X`` is a DataFrame whose
    column names are all strings (scikit-learn's rule for ``feature_names_in_``).
    """
    if hasattr(X, "tocsr") or hasattr(X, "toarray"):
        raise ImputerTypeError(
            f"EMImputer.{where}: sparse input is not supported; pass a dense array "
            "(X.toarray()) or a DataFrame"
        )
    names: list[str] | None = None
    if isinstance(X, pd.DataFrame):
        if X.columns.has_duplicates:
            dup = X.columns[X.columns.duplicated()][0]
            raise ImputerValueError(f"EMImputer.{where}: duplicate column name {dup!r}")
        for col in X.columns:
            dtype = X[col].dtype
            if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
                raise ImputerTypeError(
                    f"EMImputer.{where}: column {col!r} has non-numeric dtype {dtype}; "
                    "EMImputer models numeric columns only (select them, or use "
                    "imputer.impute, which carries other columns through)"
                )
        if all(isinstance(c, str) for c in X.columns):
            names = list(X.columns)
        values = X.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        arr = np.asarray(X)
        if np.iscomplexobj(arr):
            raise ImputerValueError(f"EMImputer.{where}: Complex data not supported")
        if arr.dtype.kind not in "biuf":
            try:
                if arr.ndim == 2:
                    arr = pd.DataFrame(arr).apply(pd.to_numeric).to_numpy(
                        dtype=np.float64, na_value=np.nan
                    )
                else:
                    arr = arr.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise ImputerTypeError(
                    f"EMImputer.{where}: X must be numeric: every argument must be a string "
                    f"or a number convertible to float, got dtype {arr.dtype} ({exc})"
                ) from None
        if arr.ndim != 2:
            raise ImputerValueError(
                f"EMImputer.{where}: Expected 2D array, got {arr.ndim}D array instead. "
                "Reshape your data with X.reshape(-1, 1) for a single feature or "
                "X.reshape(1, -1) for a single sample"
            )
        values = np.array(arr, dtype=np.float64)
    if values.shape[0] == 0:
        raise ImputerValueError(
            f"EMImputer.{where}: Found array with 0 sample(s) (shape={values.shape}) while "
            "a minimum of 1 is required."
        )
    if values.shape[1] == 0:
        raise ImputerValueError(
            f"EMImputer.{where}: Found array with 0 feature(s) (shape={values.shape}) while "
            "a minimum of 1 is required."
        )
    bad = np.isinf(values).any(axis=0)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        label = names[j] if names is not None else f"x{j}"
        raise ImputerValueError(
            f"EMImputer.{where}: column {label!r} contains an infinite value"
        )
    return values, names


# ------------------------------------------------------------------------------ estimator


class EMImputer(_Mixin, _Base):  # type: ignore[misc,valid-type]
    """Multivariate-normal EM imputer (scikit-learn transformer conventions).

    Parameters
    ----------
    tol : float
        Convergence tolerance passed to :func:`imputer.impute`: the largest change of a
        mean or covariance entry between EM iterates, in standard-deviation units.
    max_iter : int
        Maximum number of EM iterations.
    ridge : float
        Strength of the ridge prior on the covariance (0 = plain maximum likelihood); see
        :func:`imputer.impute`.
    accelerate : bool
        Use SQUAREM acceleration of EM.

    Attributes
    ----------
    mean_ : ndarray, shape (n_features,)
        Estimated mean.
    covariance_ : ndarray, shape (n_features, n_features)
        Estimated covariance.
    n_features_in_ : int
        Number of columns seen in ``fit``.
    feature_names_in_ : ndarray of str, shape (n_features,)
        Column names seen in ``fit``; only set when ``X`` was a DataFrame with string
        column names.
    n_iter_ : int
        EM iterations used.
    converged_ : bool
        Whether EM met ``tol`` within ``max_iter``.
    loglik_ : float
        Observed-data log-likelihood (log-posterior when ``ridge > 0``) at the estimate.
    result_ : ImputeResult
        The full result of :func:`imputer.impute` on the training data.

    Examples
    --------
    >>> import numpy as np
    >>> from imputer import EMImputer
    >>> X = np.array([[1.0, 2.0], [2.0, np.nan], [3.0, 6.5], [4.0, 8.0]])
    >>> EMImputer().fit(X).transform([[5.0, np.nan]]).shape
    (1, 2)
    """

    def __init__(
        self,
        *,
        tol: float = _DEFAULTS["tol"],
        max_iter: int = _DEFAULTS["max_iter"],
        ridge: float = _DEFAULTS["ridge"],
        accelerate: bool = _DEFAULTS["accelerate"],
    ) -> None:
        self.tol = tol
        self.max_iter = max_iter
        self.ridge = ridge
        self.accelerate = accelerate

    # -- scikit-learn tags: NaN is the point of this estimator.
    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.allow_nan = True
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"allow_nan": True}

    # ------------------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> EMImputer:
        """Estimate the mean and covariance of ``X`` by EM.

        Parameters
        ----------
        X : DataFrame or array-like, shape (n_samples, n_features)
            Numeric data; NaN / None / ``pd.NA`` mark missing cells.
        y : ignored

        Returns
        -------
        EMImputer
            ``self``, fitted.
        """
        values, names = _to_float_matrix(X, where="fit")
        if values.shape[0] < 2:
            raise ImputerValueError(
                "EMImputer.fit: X has 1 sample (n_samples=1); estimating a covariance "
                "needs at least 2 rows"
            )
        labels = names if names is not None else [f"x{j}" for j in range(values.shape[1])]
        frame = pd.DataFrame(values, columns=pd.Index(labels, dtype=object))
        result = impute(
            frame,
            columns=labels,
            tol=self.tol,
            max_iter=self.max_iter,
            ridge=self.ridge,
            accelerate=self.accelerate,
        )
        self.result_ = result
        self.mean_ = result.mean.loc[labels].to_numpy(dtype=np.float64)
        self.covariance_ = result.cov.loc[labels, labels].to_numpy(dtype=np.float64)
        self.n_features_in_ = values.shape[1]
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.n_iter_ = int(result.n_iter)
        self.converged_ = bool(result.converged)
        self.loglik_ = float(result.loglik)
        return self

    # ------------------------------------------------------------------------ transform
    def _check_fitted(self, where: str) -> None:
        if not hasattr(self, "mean_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call 'fit' with "
                f"appropriate arguments before using '{where}'."
            )

    def _check_columns(self, X: Any, values: np.ndarray, names: list[str] | None) -> None:
        fitted = getattr(self, "feature_names_in_", None)
        if fitted is not None and names is not None and list(fitted) != names:
            unexpected = [c for c in names if c not in set(fitted)]
            missing = [c for c in fitted if c not in set(names)]
            detail = []
            if unexpected:
                detail.append(f"unseen at fit time: {unexpected}")
            if missing:
                detail.append(f"seen at fit time but missing: {missing}")
            if not detail:
                detail.append(f"same names in a different order; expected {list(fitted)}")
            raise ImputerValueError(
                "EMImputer.transform: the feature names should match those passed during "
                "fit (" + "; ".join(detail) + ")"
            )
        if values.shape[1] != self.n_features_in_:
            raise ImputerValueError(
                f"EMImputer.transform: X has {values.shape[1]} features, but EMImputer is "
                f"expecting {self.n_features_in_} features as input"
            )

    def transform(self, X: Any) -> Any:
        """Fill missing cells with their conditional mean under the fitted parameters.

        Parameters
        ----------
        X : DataFrame or array-like, shape (n_samples, n_features_in_)
            Same columns (and, for a DataFrame fitted with names, same names and order)
            as in ``fit``.

        Returns
        -------
        ndarray, shape (n_samples, n_features_in_)
            Completed data (a DataFrame under ``set_output(transform="pandas")``).
        """
        self._check_fitted("transform")
        values, names = _to_float_matrix(X, where="transform")
        self._check_columns(X, values, names)
        filled, _ = fill_conditional(values, self.mean_, self.covariance_)
        missing = np.isnan(values)
        out = values.copy()
        out[missing] = np.asarray(filled, dtype=np.float64)[missing]
        if isinstance(self, _LocalTransformerMixin):  # without scikit-learn
            return self._wrap_output(out, X)
        return out  # scikit-learn's set_output wraps this when asked

    def conditional_variance(self, X: Any) -> np.ndarray:
        """Variance of each filled cell given the row's observed cells (0 where observed).

        Parameters
        ----------
        X : DataFrame or array-like, shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray, shape (n_samples, n_features_in_)
        """
        self._check_fitted("conditional_variance")
        values, names = _to_float_matrix(X, where="conditional_variance")
        self._check_columns(X, values, names)
        _, cond_var = fill_conditional(values, self.mean_, self.covariance_)
        return np.where(np.isnan(values), np.asarray(cond_var, dtype=np.float64), 0.0)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names (the input's: this transformer is one-to-one).

        Parameters
        ----------
        input_features : array-like of str, optional
            Must match ``feature_names_in_`` when that is set, else have length
            ``n_features_in_``. Default: ``feature_names_in_`` or ``x0 .. x{p-1}``.

        Returns
        -------
        ndarray of str objects, shape (n_features_in_,)
        """
        self._check_fitted("get_feature_names_out")
        fitted = getattr(self, "feature_names_in_", None)
        if input_features is None:
            if fitted is not None:
                return np.asarray(fitted, dtype=object)
            return np.asarray([f"x{j}" for j in range(self.n_features_in_)], dtype=object)
        given = [str(c) for c in input_features]
        if fitted is not None and given != list(fitted):
            raise ImputerValueError(
                "get_feature_names_out: input_features is not equal to feature_names_in_ "
                f"({given} vs {list(fitted)})"
            )
        if len(given) != self.n_features_in_:
            raise ImputerValueError(
                f"get_feature_names_out: input_features should have length equal to "
                f"n_features_in_ ({self.n_features_in_}), got {len(given)}"
            )
        return np.asarray(given, dtype=object)
