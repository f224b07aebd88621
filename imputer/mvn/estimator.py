"""EMImputer: the multivariate-normal EM imputer as a scikit-learn-style transformer.

Model. Rows ``x_i`` in ``R^p`` are i.i.d. ``N(mu, Sigma)`` with cells missing at random.
:meth:`EMImputer.fit` computes the maximum-likelihood (or, with ``ridge > 0``, the
posterior-mode) estimate ``(mu, Sigma)`` by EM, with the engine of :func:`imputer.impute`
run directly on the float columns. :meth:`EMImputer.transform` fills each missing cell of
a (possibly new) row with its conditional expectation given the row's observed cells
``o`` under the fitted parameters,

.. math::

    E[x_m \\mid x_o] = \\mu_m + \\Sigma_{mo} \\Sigma_{oo}^{-1} (x_o - \\mu_o),

leaving observed cells bit-for-bit unchanged (a row with nothing observed gets ``mu``);
:meth:`EMImputer.conditional_variance` gives ``Var(x_m | x_o)``, computed only when asked.
``model="t"`` fits the multivariate t (:func:`imputer.impute_t`) and fills by the same
formula at its location and scale matrix; ``model="mixture"`` a Gaussian mixture
(:func:`imputer.impute_mixture`), filling with the responsibility-weighted conditional
means ``sum_k r_k E_k[x_m | x_o]`` (:mod:`imputer.mvn._estimator_models`).
``categorical=`` fits the general location model (:func:`imputer.impute_glom`) and fills new
rows' missing levels with their most probable level, numbers with the cell-mixture
conditional means (:mod:`imputer.mvn._estimator_glom`; a level unseen in ``fit`` is an
error naming column and value); ``transforms=``/``bounds=`` fit the normal on the
transformed scale and fill with original-scale, truncated conditional expectations
(:mod:`imputer.mvn._estimator_transform`).

Validation. ``X`` is converted as scikit-learn converts array-likes (its messages, which
``check_estimator`` matches); the options, which columns are numeric
(:func:`imputer.columns.is_modelled`) and the checks on each column's values and on the
number of rows are the engine's own (:mod:`imputer.mvn._validate`,
:data:`imputer.options.MVN_OPTIONS`).

scikit-learn is optional. When it is importable the estimator derives from
``sklearn.base.BaseEstimator`` and ``TransformerMixin`` (so ``clone``, ``Pipeline``,
``GridSearchCV`` and ``set_output`` work as for any scikit-learn transformer); otherwise
from small local classes with the same behaviour for ``get_params``/``set_params``,
``fit_transform``, ``set_output(transform="pandas")`` and ``repr``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imputer._gaussian.linalg import Infeasible
from imputer._gaussian.patterns import build_patterns
from imputer._gaussian.prior import RidgePrior
from imputer.errors import ImputerTypeError, ImputerValueError, NotFittedError
from imputer.mvn import _engine as engine
from imputer.mvn import _estimator_glom as glom
from imputer.mvn._estimator_local import _LocalBaseEstimator, _LocalTransformerMixin
from imputer.mvn import _estimator_models as models
from imputer.mvn import _estimator_transform as transform_cols
from imputer.mvn._estimator_input import to_float_matrix as _to_float_matrix
from imputer.mvn._fit import (
    blas_threads,
    conditional_variances,
    fill_missing,
    standardise,
)
from imputer.mvn._problem import warn_if_unreliable
from imputer.mvn._scaling import Scaling, scaling_of
from imputer.mvn._validate import check_column, check_options, check_prior, check_rows, standardised_start
from imputer.options import MVN_OPTIONS

__all__ = ["EMImputer"]

#: How a user of EMImputer (which has no ``columns``) leaves a column out of the model: the
#: remedy ending the messages about a column with no observed value or no variance.
_LEAVE_OUT = ("drop it from X before fitting (in a pipeline, route it around EMImputer with a ColumnTransformer, "
              "sklearn.compose)")

#: the fitted attributes of the general location model (``categorical=``)
_GLOM_ATTRS = ("categorical_", "continuous_", "categories_", "probabilities_", "cell_means_", "within_covariance_",
               "mean_model_", "_categorical_dtypes")


try:  # pragma: no branch - exercised both ways by the tests
    from sklearn.base import BaseEstimator as _Base
    from sklearn.base import TransformerMixin as _Mixin

    HAS_SKLEARN = True
except ImportError:  # pragma: no cover - covered by reloading with sklearn hidden
    _Base, _Mixin = _LocalBaseEstimator, _LocalTransformerMixin  # type: ignore[misc,assignment]
    HAS_SKLEARN = False


# ------------------------------------------------------------------------------ estimator


class EMImputer(_Mixin, _Base):  # type: ignore[misc,valid-type]
    """Multivariate-normal EM imputer (scikit-learn transformer conventions).

    The options are those of :func:`imputer.impute` (:data:`imputer.options.MVN_OPTIONS`)
    and are checked by the same rules in :meth:`fit`; every column of ``X`` is modelled.

    Parameters
    ----------
    tol : float, default 1e-7
        Convergence tolerance, in standard-deviation units: EM stops when one EM step
        changes no mean or covariance entry by more than tol, times (1 - the EM rate
        estimated along the way) for the accelerated normal model, so that its estimate
        is within about tol of the maximiser. See :func:`imputer.impute`.
    max_iter : int, default 1000
        Iteration limit (accelerated: accepted iterates of one or two EM steps for the
        normal model, SQUAREM cycles of up to three for the t); stopping there without
        meeting tol is a warning and converged=false.
    ridge : float, default 0.0
        Strength lambda >= 0 of an inverse-Wishart prior on the covariance worth lambda
        pseudo-rows with the observed variances and no correlation, which EM then
        maximises the log-posterior under; 0 is maximum likelihood, > 0 gives a
        positive-definite estimate for wide (p >= n) or collinear data.
    prior : {"ridge", "amelia"}, default "ridge"
        Convention of the ridge prior: ridge (imputer's: the covariance is (A + lambda I) /
        (n + lambda) on the standardised scale) or amelia (Amelia's empri: (A + lambda I) /
        (n + lambda + p + 2) on Amelia's scale, whose unit is the sample standard deviation),
        for the same estimates as Amelia with empri = ridge. The normal model only; see
        :func:`imputer.impute`.
    accelerate : bool, default True
        Acceleration of EM (Anderson for the normal model, SQUAREM for the t) with a
        safeguard that never lets the objective decrease; off runs plain EM. (Normal and
        t only: the mixture always accelerates.)
    model : {"normal", "t", "mixture"}, default "normal"
        The multivariate normal, the multivariate t (:func:`imputer.impute_t`) or a
        Gaussian mixture (:func:`imputer.impute_mixture`).
    dof : float or None, default None
        ``model="t"``: fixed degrees of freedom ``> 0``; None estimates them.
    n_components, covariance_type, n_init, seed
        ``model="mixture"``: as for :func:`imputer.impute_mixture` (a list of counts fits
        each, the lowest BIC kept); ignored by the other models. ``dof`` with another
        model, or ``accelerate=False`` with the mixture, is an error in :meth:`fit`.
    add_indicator : bool, default False
        As scikit-learn's ``SimpleImputer``: :meth:`transform` appends one 0/1 column
        per feature that had missing values in ``fit`` (1 where the cell was missing),
        named ``missingindicator_<feature>``.
    categorical : "auto", list or dict of labels, optional
        Model these columns as categorical by the general location model
        (:func:`imputer.impute_glom`; the rules of :func:`imputer.impute`'s ``categorical``,
        an array's columns named ``x0 ..``), ``continuous`` and ``means`` as there. Then
        ``transform`` fills a missing level with its most probable one given the row's
        observed cells and returns a DataFrame under ``set_output(transform="pandas")`` (a
        ``category`` column with the categories it had in ``fit``), else an object array.
        A level that ``fit`` never saw is an :class:`~imputer.errors.ImputerValueError`
        naming the column, the value and the row (set the cell to missing to impute it).
        Normal model only; not with ``transforms``/``bounds``/``ridge``.
    continuous, means
        With ``categorical``: as for :func:`imputer.impute_glom`.
    transforms, bounds : dict, optional
        As for :func:`imputer.impute` (``{"income": "log"}``, ``{"tariff": (0, None)}``, keys
        the feature names): the normal is fitted on the transformed scale (``mean_`` and
        ``covariance_`` are on it), fills are original-scale conditional expectations,
        truncated to the bounds; new rows' observed values are checked as in ``fit``.
    start : (mean, cov), optional
        Starting values of EM instead of the engine's own, as for :func:`imputer.impute`:
        a mean, shape (n_features,), and a positive definite covariance, shape
        (n_features, n_features), arrays in the features' order or a Series and a
        DataFrame labelled by feature name (a previous fit's ``mean_`` and
        ``covariance_``, or the best run of :func:`imputer.disperse`). Where the
        objective has several maxima EM ends at the one its start leads to. Normal model
        only; not with ``categorical``, ``transforms``, ``bounds`` or a Dask DataFrame.

    Attributes
    ----------
    mean_ : ndarray, shape (n_features,)
        Estimated mean (the t: its location; the mixture: ``sum_k pi_k mu_k``).
    covariance_ : ndarray, shape (n_features, n_features)
        Estimated covariance (the t: ``dof/(dof-2) scale_``, NaN when ``dof <= 2``; the
        mixture: its marginal covariance, law of total variance).
    scale_, dof_, row_weights_ : ndarray (p, p), float, ndarray (n,)
        ``model="t"``: scale matrix, degrees of freedom, the rows' precision weights.
    weights_, means_, covariances_ : ndarray (K,), (K, p), (K, p, p)
        ``model="mixture"``: the components (also ``n_components_``, ``covariance_type_``,
        ``bic_``, ``bic_table_``).
    categorical_, continuous_ : ndarray of labels
        ``categorical=``: the categorical and continuous columns (``mean_`` and
        ``covariance_`` are then the continuous columns' marginal mean and covariance).
    categories_ : list of ndarray
        ``categorical=``: each categorical column's levels (those observed in ``fit``).
    probabilities_, cell_means_, within_covariance_ : Series (C,), DataFrame (C, p), DataFrame (p, p)
        ``categorical=``: cell probabilities and means labelled by the level combinations, and
        the common within-cell covariance; ``mean_model_``: ``"saturated"`` or ``"additive"``.
    column_maps_ : tuple of ColumnMap
        ``transforms=``/``bounds=``: each column's scale and bounds.
    indicator_features_ : ndarray of int, shape (k,)
        ``add_indicator=True``: the features with missing values in ``fit``, whose
        indicator columns :meth:`transform` appends in this order.
    n_features_in_ : int
        Number of columns seen in ``fit``.
    feature_names_in_ : ndarray of str, shape (n_features,)
        Column names seen in ``fit``; only set when ``X`` was a DataFrame with string
        column names.
    n_iter_ : int
        Iterations used: accelerated iterates (one or two EM steps each for the normal
        model, SQUAREM cycles of up to three for the t), plain EM steps otherwise.
    converged_ : bool
        Whether EM met ``tol`` within ``max_iter`` (False also when the covariance heads
        to singular).
    loglik_ : float
        Observed-data log-likelihood at the estimate, all constants included (also when
        ``ridge > 0``: the log-posterior EM then maximises is not this number), equal to
        ``imputer.impute(X).loglik``.

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
        tol: float = MVN_OPTIONS["tol"].default,
        max_iter: int = MVN_OPTIONS["max_iter"].default,
        ridge: float = MVN_OPTIONS["ridge"].default,
        prior: str = MVN_OPTIONS["prior"].default,
        accelerate: bool = MVN_OPTIONS["accelerate"].default,
        model: str = "normal",
        dof: float | None = None,
        n_components: int | list[int] = 2,
        covariance_type: str = "full",
        n_init: int = 10,
        seed: int | None = None,
        add_indicator: bool = False,
        categorical: Any = None,
        continuous: Any = None,
        means: str | None = None,
        transforms: Any = None,
        bounds: Any = None,
        start: Any = None,
    ) -> None:
        self.tol = tol
        self.max_iter = max_iter
        self.ridge = ridge
        self.prior = prior
        self.accelerate = accelerate
        self.model = model
        self.dof = dof
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.seed = seed
        self.add_indicator = add_indicator
        self.categorical = categorical
        self.continuous = continuous
        self.means = means
        self.transforms = transforms
        self.bounds = bounds
        self.start = start

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
            Numeric data (with ``categorical=``, categorical columns of any dtype); NaN /
            None / ``pd.NA`` mark missing cells. A Dask DataFrame is fitted partition by
            partition (:mod:`imputer.dask.estimator`: the normal model, ``ridge``,
            ``add_indicator``); ``prior="amelia"``, ``transforms``, ``bounds``,
            ``categorical``, ``continuous``, ``means`` and ``start`` are then an
            :class:`~imputer.errors.ImputerTypeError` naming them.
        y : ignored

        Returns
        -------
        EMImputer
            ``self``, fitted.

        Raises
        ------
        ImputerValueError, ImputerTypeError
            Input scikit-learn would refuse, an option out of range, a column with no
            observed value or a constant column, ``n_samples <= n_features`` without
            a ridge prior (the rules of :func:`imputer.impute`).

        Warns
        -----
        ConvergenceWarning
            No convergence within ``max_iter``, or the covariance heading to singular.
        """
        self._check_start_alone(X)
        if type(X).__module__.split(".")[0] in ("dask", "dask_expr"):  # imputer/dask/estimator.py
            from imputer.dask import estimator as dask_estimator

            return dask_estimator.fit(self, X)  # type: ignore[no-any-return]
        if self.categorical is not None or self.continuous is not None or self.means is not None:
            if self._fit_glom(X):
                return self
        values, names = _to_float_matrix(X, where="fit")
        n, p = values.shape
        if n < 2:
            raise ImputerValueError(
                "EMImputer.fit: X has 1 sample (n_samples=1); estimating a covariance "
                "needs at least 2 rows"
            )
        model = models.check_model(self)
        if not isinstance(self.add_indicator, (bool, np.bool_)):
            raise ImputerTypeError(f"add_indicator must be a bool, got {type(self.add_indicator).__name__}")
        tol, max_iter, ridge, accelerate = check_options(self.tol, self.max_iter, self.ridge, self.accelerate)
        prior = check_prior(self.prior)
        if model != "normal" and prior != "ridge" and ridge > 0:
            raise ImputerValueError(f"prior={prior!r} is available for model='normal' only, got model={model!r}")
        labels = tuple(names) if names is not None else tuple(f"x{j}" for j in range(p))
        columns = tuple(values[:, j] for j in range(p))  # contiguous: values is Fortran-ordered
        for label, v in zip(labels, columns, strict=True):
            check_column(label, v, leave_out=_LEAVE_OUT)
        self._forget()
        maps = transform_cols.check_maps(self, labels, values, X.index if isinstance(X, pd.DataFrame) else None, "fit")
        if maps is not None:
            if model != "normal":
                raise ImputerValueError(f"EMImputer: transforms and bounds apply to model='normal' only, not {model!r}")
            values = transform_cols.to_model_scale(maps, values)
            columns = tuple(values[:, j] for j in range(p))
            self.column_maps_ = maps
        if self.add_indicator:
            self.indicator_features_ = np.flatnonzero(np.isnan(values).any(axis=0))
        mask = np.isnan(values)
        # every model's columns checked here, so that the messages give EMImputer's remedy (the t's and
        # the mixture's engines would give impute's, columns=)
        scaling = scaling_of(labels, columns, mask, leave_out=_LEAVE_OUT)
        if model != "normal":
            options = {"tol": tol, "max_iter": max_iter, "ridge": ridge}
            if model == "t":
                fitted = models.fit_t(values, labels, dof=self.dof, accelerate=accelerate, **options)
            else:
                fitted = models.fit_mixture(values, labels, **models.mixture_options(self), **options)
            self.__dict__.update(fitted)
            self.model_ = model
            self._set_names(p, names)
            return self
        check_rows(n, p, ridge)
        patterns = build_patterns(mask)
        del mask
        kernel = RidgePrior.of(prior, ridge, scaling.n_observed)
        start = standardised_start(self.start, labels, scaling.center, scaling.scale)
        fit = engine.run(
            columns, patterns, scaling, tol=tol, max_iter=max_iter, ridge=kernel, accelerate=accelerate, fill=False,
            start=start,
        ).fit
        warn_if_unreliable(fit, tol, max_iter, stacklevel=2, n_rows=n, ridge=ridge)
        self.mean_ = scaling.mean_to_original(fit.mu)
        self.covariance_ = scaling.cov_to_original(fit.sigma)
        self.model_ = model
        self._set_names(p, names)
        self.n_iter_ = int(fit.n_iter)
        self.converged_ = bool(fit.converged)
        self.loglik_ = float(fit.loglik + scaling.loglik_offset(kernel)[0])
        return self

    def _forget(self) -> None:
        """Drop the attributes of an earlier fit with another model or option."""
        for name in ("scale_", "dof_", "row_weights_", "weights_", "means_", "covariances_", "covariance_type_",
                     "n_components_", "bic_", "bic_table_", "indicator_features_", "column_maps_", *_GLOM_ATTRS):
            self.__dict__.pop(name, None)

    def _check_start_alone(self, X: Any) -> None:
        """``start`` only with the plain normal model (the engine's own start elsewhere)."""
        if self.start is None:
            return
        others = [name for name, given in (
            ("model=" + repr(self.model), self.model != "normal"),
            ("categorical", self.categorical is not None or self.continuous is not None or self.means is not None),
            ("transforms", bool(self.transforms)),
            ("bounds", bool(self.bounds)),
            ("a Dask DataFrame", type(X).__module__.split(".")[0] in ("dask", "dask_expr")),
        ) if given]
        if others:
            raise ImputerTypeError(
                f"EMImputer: start applies to the normal model only, not with {', '.join(others)}"
            )

    def _fit_glom(self, X: Any) -> bool:
        """``categorical=``: fit the general location model (False when ``"auto"`` finds no categorical column)."""
        fitted = glom.fit_estimator(self, X)
        if fitted is None:
            return False
        attributes, n_features, names = fitted
        self._forget()
        self.__dict__.update(attributes)
        self._set_names(n_features, names)
        return True

    def _set_names(self, p: int, names: list[str] | None) -> None:
        self.n_features_in_ = p
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    # ------------------------------------------------------------------------ transform
    def _check_fitted(self, where: str) -> None:
        if not hasattr(self, "mean_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call 'fit' with "
                f"appropriate arguments before using '{where}'."
            )

    def _indicators(self, where: str) -> np.ndarray | None:
        """The indicator columns' features (``indicator_features_``), None without ``add_indicator``.

        As scikit-learn's transformers: the output follows what ``fit`` learned, so
        ``add_indicator=True`` set after a fit without it (which recorded no features with
        missing values) is a :class:`~imputer.errors.NotFittedError` asking for ``fit`` again.
        """
        if not self.add_indicator:
            return None
        features = getattr(self, "indicator_features_", None)
        if features is None:
            raise NotFittedError(
                f"EMImputer.{where}: add_indicator=True was set after this EMImputer was fitted without it, so "
                "fit recorded no missing-value indicators; call 'fit' again (or set add_indicator=False)"
            )
        return features

    def _check_columns(self, n_cols: int, names: list[str] | None) -> None:
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
        if n_cols != self.n_features_in_:
            raise ImputerValueError(
                f"EMImputer.transform: X has {n_cols} features, but EMImputer is "
                f"expecting {self.n_features_in_} features as input"
            )

    def _standard_form(self) -> tuple[Scaling, np.ndarray]:
        """The fitted normal in units of its own standard deviations: ``(x - mean_) / sd``.

        Returns the map ``x = mean_ + sd z`` and the correlation matrix, shape (p, p),
        the covariance of ``z`` (whose mean is 0).
        """
        cov = self.scale_ if self.model_ == "t" else self.covariance_
        sd = np.sqrt(np.diag(cov))
        corr = cov / np.outer(sd, sd)
        return Scaling(center=self.mean_, scale=sd, n_observed=np.zeros(sd.size)), corr

    def _input(self, X: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted(where)
        values, names = _to_float_matrix(X, where=where)
        self._check_columns(values.shape[1], names)
        return values, np.isnan(values)

    def transform(self, X: Any) -> Any:
        """Fill missing cells with their conditional mean under the fitted parameters.

        Parameters
        ----------
        X : DataFrame or array-like, shape (n_samples, n_features_in_)
            Same columns (and, for a DataFrame fitted with names, same names and order)
            as in ``fit``.

        Returns
        -------
        ndarray, shape (n_samples, n_features_in_ + k)
            Completed data (a DataFrame under ``set_output(transform="pandas")``), then,
            with ``add_indicator=True``, the ``k`` missing-value indicator columns. With
            ``categorical=``: missing levels are the most probable ones, an object array
            (a DataFrame keeping each column's dtype, a ``category`` the categories of
            ``fit``, under ``set_output(transform="pandas")``).

        Raises
        ------
        NotFittedError
            Not fitted, or ``add_indicator=True`` set after a fit without it (call ``fit`` again).
        ImputerValueError
            Other columns than in ``fit``; with ``categorical=``, a level ``fit`` never saw
            (naming the column, the value and the row); with ``transforms=``/``bounds=``, an
            observed value outside the transform's domain or the bounds.
        """
        if type(X).__module__.split(".")[0] in ("dask", "dask_expr"):  # a lazy Dask DataFrame, by partition
            from imputer.dask import estimator as dask_estimator

            return dask_estimator.transform(self, X)
        if getattr(self, "categorical_", None) is not None:
            return self._transform_glom(X)
        out, mask = self._input(X, "transform")  # out: a Fortran-ordered copy of X
        indicators = self._indicators("transform")
        if getattr(self, "column_maps_", None) is not None:  # new rows' values checked, gaps or not
            transform_cols.check_maps(
                self, tuple(self._input_names()), out, X.index if isinstance(X, pd.DataFrame) else None, "transform"
            )
        if mask.any() and self.model_ == "mixture":
            models.mixture_fill(out, mask, self)
        elif mask.any() and getattr(self, "column_maps_", None) is not None:
            model, var = self._model_scale_moments(out, mask, X, "transform")
            out = transform_cols.back(self.column_maps_, out, mask, model, var)
        elif mask.any():
            self._fill_normal(out, mask)
        if indicators is not None:
            out = np.hstack([out, mask[:, indicators].astype(np.float64)])
        if isinstance(self, _LocalTransformerMixin):  # without scikit-learn
            return self._wrap_output(out, X)
        return out  # scikit-learn's set_output wraps this when asked

    def _fill_normal(self, out: np.ndarray, mask: np.ndarray) -> None:
        """Overwrite ``out``'s missing cells with their conditional means under the fitted normal (or t)."""
        scaling, corr = self._standard_form()
        p = out.shape[1]
        columns = tuple(out[:, j] for j in range(p))
        try:
            with blas_threads(p):
                data = standardise(mask, columns, scaling)
                fill_missing(data, np.zeros(p), corr, out, scaling)
        except Infeasible:
            raise ImputerValueError("cov must be positive definite (its Cholesky factorisation failed)") from None

    def _model_scale_moments(self, values: np.ndarray, mask: np.ndarray, X: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
        """``transforms``/``bounds``: the new rows checked, their conditional means and variances on the model scale."""
        index = X.index if isinstance(X, pd.DataFrame) else None
        transform_cols.check_maps(self, tuple(self._input_names()), values, index, where)
        model = transform_cols.to_model_scale(self.column_maps_, values)
        var = self._conditional_variance(model, mask)
        self._fill_normal(model, mask)
        return model, var

    def _transform_glom(self, X: Any) -> Any:
        """``transform`` under the general location model (:mod:`imputer.mvn._estimator_glom`)."""
        self._check_fitted("transform")
        frame, names = glom.to_frame(X, "transform")
        self._check_columns(frame.shape[1], names)
        indicators = self._indicators("transform")
        out, mask = glom.glom_fill(self, frame)
        if indicators is not None:
            labels = self._input_names()
            for j in indicators:
                out[f"missingindicator_{labels[j]}"] = mask[:, j].astype(np.float64)
        return out if self._pandas_output() else out.to_numpy(dtype=object)

    def conditional_variance(self, X: Any) -> np.ndarray:
        """Variance of each filled cell given the row's observed cells (0 where observed).

        Parameters
        ----------
        X : DataFrame or array-like, shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray, shape (n_samples, n_features_in_)
            ``Var(x_j | x_o)`` at the missing cells (the marginal variance in a row with
            nothing observed), 0 at the observed cells; a DataFrame labelled like
            :meth:`transform`'s (without indicator columns) under
            ``set_output(transform="pandas")``. With ``transforms=``/``bounds=``: on the
            original scale, of the truncated distribution.

        Raises
        ------
        ImputerTypeError
            Fitted with ``categorical=`` (not available for the general location model).
        """
        if getattr(self, "categorical_", None) is not None:
            raise ImputerTypeError("EMImputer.conditional_variance: not available with categorical= (the general location model)")
        values, mask = self._input(X, "conditional_variance")
        if mask.any() and getattr(self, "column_maps_", None) is not None:
            model, var = self._model_scale_moments(values, mask, X, "conditional_variance")
            return self._labelled(transform_cols.back(self.column_maps_, values, mask, model, var, variances=True), X)
        return self._labelled(self._conditional_variance(values, mask), X)

    def _conditional_variance(self, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = np.zeros(values.shape, order="F")
        if mask.any() and self.model_ == "mixture":
            return models.mixture_fill(values, mask, self, variances=True)  # type: ignore[return-value]
        if mask.any():
            scaling, corr = self._standard_form()
            try:
                with blas_threads(out.shape[1]):
                    conditional_variances(build_patterns(mask), corr, scaling.scale, out)
            except Infeasible:
                raise ImputerValueError("cov must be positive definite (its Cholesky factorisation failed)") from None
            if self.model_ == "t":  # (nu + d^2)/(nu + p_o - 2) times the normal's at (mean_, scale_)
                factor = models.t_variance_factor(values, mask, self.mean_, self.scale_, self.dof_)
                out[mask] *= np.broadcast_to(factor[:, None], out.shape)[mask]
        return out

    def _labelled(self, out: np.ndarray, X: Any) -> Any:
        """``out`` as a DataFrame (``X``'s index, the input feature names) when ``set_output``
        asked for pandas output, else as it is."""
        if not self._pandas_output():
            return out
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(out, index=index, columns=self._input_names())

    def _pandas_output(self) -> bool:
        """Whether ``set_output`` asked for pandas output."""
        if isinstance(self, _LocalTransformerMixin):
            return self._output == "pandas"
        from sklearn.utils._set_output import _get_output_config

        return bool(_get_output_config("transform", self)["dense"] == "pandas")

    def _input_names(self) -> np.ndarray:
        fitted = getattr(self, "feature_names_in_", None)
        if fitted is not None:
            return np.asarray(fitted, dtype=object)
        return np.asarray([f"x{j}" for j in range(self.n_features_in_)], dtype=object)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names: the input's, then ``missingindicator_<name>`` per indicator.

        Parameters
        ----------
        input_features : array-like of str, optional
            Must match ``feature_names_in_`` when that is set, else have length
            ``n_features_in_``. Default: ``feature_names_in_`` or ``x0 .. x{p-1}``.

        Returns
        -------
        ndarray of str objects, shape (n_features_in_ + k,)
            ``k`` indicator columns with ``add_indicator=True``, none otherwise.

        Raises
        ------
        NotFittedError
            Not fitted, or ``add_indicator=True`` set after a fit without it (as :meth:`transform`).
        """
        self._check_fitted("get_feature_names_out")
        names = self._names_in(input_features)
        features = self._indicators("get_feature_names_out")
        if features is None:
            return names
        indicators = [f"missingindicator_{names[j]}" for j in features]
        return np.asarray([*names, *indicators], dtype=object)

    def _names_in(self, input_features: Any) -> np.ndarray:
        fitted = getattr(self, "feature_names_in_", None)
        if input_features is None:
            return self._input_names()
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
