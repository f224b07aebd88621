r"""``multiple_impute``: proper multiple imputation under the multivariate normal.

Model as :func:`imputer.impute`: rows ``x_i ~ N_p(mu, Sigma)`` i.i.d., cells missing at
random. A single table of conditional means understates every variance; multiple
imputation draws ``m`` completed tables from the posterior predictive distribution of
the missing cells, ``Y_mis^(j) ~ p(Y_mis | Y_obs)``, so that an analysis repeated on each
and combined by Rubin's rules (:meth:`MultipleImputation.analyze`, then ``.pool()``)
has honest standard errors. Two ways to draw ``theta`` for each table:

* ``method="posterior"`` (norm2): data augmentation from the EM estimate under the
  Jeffreys prior (times the ridge kernel when ``ridge > 0``): :mod:`imputer.mi._posterior`,
  prior and posterior in :mod:`imputer.mi._pstep`; burn-in and spacing from the EM
  rate of convergence (:mod:`imputer.mi._rate`).
* ``method="bootstrap"`` (Amelia): EM on a bootstrap resample of the rows per table
  (:mod:`imputer.mi._bootstrap`).

Either way, given ``theta^(j)`` every missing cell of the original rows is drawn from
its conditional normal.

``categorical=`` (the general location model, :func:`imputer.impute_glom`) draws by the
bootstrap (each imputation refits the model on a resample) or by data augmentation, and
draws each row's cell (hence its missing categories) from its posterior, then its missing
continuous cells from the cell's conditional normal (:mod:`imputer.mi._glom`,
:mod:`imputer.mi._glom_chain`).

``model="t"`` or ``"mixture"`` fits :func:`imputer.impute_t` / :func:`imputer.impute_mixture`
instead and draws by the bootstrap only: each imputation refits the model on a resample
from the whole-data fit and draws the missing cells from the refitted model's
conditional distribution (:mod:`imputer.mi._models_run`, :mod:`imputer.mi._conditional`:
the conditional multivariate t; a component from the row's responsibilities, then its
conditional normal). Randomness: ``SeedSequence(seed)`` spawns the streams -- one per
imputation for the bootstrap (imputation ``j`` depends on its own stream only, whatever
``m``), one for the chain of data augmentation (whose imputations are successive states
of one chain).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from imputer._gaussian.linalg import Infeasible
from imputer._gaussian.patterns import build_patterns
from imputer._gaussian.prior import RidgePrior
from imputer.errors import ConvergenceWarning, ImputerTypeError, ImputerValueError
from imputer.mi._bootstrap import bootstrap_draw
from imputer.mi._posterior import acf, run_chain
from imputer.mi._rate import default_lengths, em_rate
from imputer.mi.result import MultipleImputation
from imputer.mvn import _engine as engine
from imputer.mvn._fit import blas_threads, fill_missing, standardise
from imputer.mvn._problem import warn_if_unreliable
from imputer.mvn._scaling import scaling_of
from imputer.mvn._validate import check_options, check_prior, check_rows, check_start, prepare, start_in_units
from imputer.mvn.api import _completed_frame, _result
from imputer.options import MI_OPTIONS

__all__ = ["multiple_impute"]

#: The imputation models.
_MODELS = ("normal", "t", "mixture")

#: Lags of the WLF autocorrelation reported (at least this many, or 2 * thin).
_ACF_LAGS = 20


#: Columns named in the message about a singular covariance (the largest loadings first).
_MAX_NAMED = 10


def _singular_posterior(sigma_z: np.ndarray, columns: Sequence[Hashable], ridge: float, *, drawn: bool) -> str:
    """Why data augmentation cannot run on (nearly) collinear data, and the remedy (``ridge``).

    ``sigma_z`` is the EM estimate (standardised units); the columns named are those that
    load on its correlation matrix's smallest eigenvector (the near-linear combination).
    ``drawn``: the chain itself met a covariance that is not numerically positive definite
    (else the EM estimate was found singular before the chain).
    """
    d = np.sqrt(np.clip(np.diag(sigma_z), np.finfo(float).tiny, None))
    vals, vecs = np.linalg.eigh(sigma_z / np.outer(d, d))
    v = np.abs(vecs[:, 0])
    order = [int(k) for k in np.argsort(-v, kind="stable") if v[k] >= 0.05 * v.max()]
    names = [columns[k] for k in order[:_MAX_NAMED]]
    more = f" and {len(order) - _MAX_NAMED} more" if len(order) > _MAX_NAMED else ""
    what = (
        f"the covariance is (nearly) singular (smallest eigenvalue of the EM estimate's correlation matrix "
        f"{max(float(vals[0]), 0.0):.2g}; the columns {names!r}{more} are collinear, or too few rows observe them "
        "together)"
    )
    if ridge > 0:
        return (
            f"method='posterior': {what}, and ridge={ridge:g} is too weak a prior to keep the covariances drawn by "
            "data augmentation positive definite in float64; pass a larger ridge (e.g. 0.5-1% of the rows)"
        )
    cause = ("a covariance drawn by data augmentation is not numerically positive definite" if drawn else
             "without a prior (ridge=0) the posterior of the covariance is improper (or too close to it for "
             "float64), so data augmentation has nothing to draw from")
    return (
        f"method='posterior': {what}: {cause}; pass ridge > 0 (e.g. 0.5-1% of the rows) for a proper prior, "
        "as impute's warning advises (method='bootstrap' refuses singular fits as well)"
    )


def _check_seed(seed: Any) -> int:
    """An int seed (fresh entropy for None, one draw from a Generator), recorded on the result."""
    if seed is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise ImputerTypeError(f"seed must be None, a non-negative integer or a numpy Generator, got {type(seed).__name__} {seed!r}")
    if int(seed) < 0:
        raise ImputerValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_count(name: str, value: Any) -> int | None:
    return None if value is None else int(MI_OPTIONS[name].check(value))


def _check_model(model: Any, method: Any, dof: Any, n_components: Any, covariance_type: Any, n_init: Any) -> str:
    """``model`` checked; the options of another model left at their defaults."""
    if model not in _MODELS:
        raise ImputerValueError(f"model must be one of {', '.join(map(repr, _MODELS))}, got {model!r}")
    given = {"dof": dof is not None}
    given.update(
        n_components=not (isinstance(n_components, numbers.Integral) and not isinstance(n_components, bool) and n_components == 2),
        covariance_type=covariance_type != "full",
        n_init=not (isinstance(n_init, numbers.Integral) and not isinstance(n_init, bool) and n_init == 10),
    )
    own = {"dof": "t", "n_components": "mixture", "covariance_type": "mixture", "n_init": "mixture"}
    for name, on in given.items():
        if on and own[name] != model:
            raise ImputerValueError(f"{name} applies to model={own[name]!r} only, not model={model!r}")
    return str(model)


def _model_mi(prep: Any, seed_int: int, *, model: str, m: int, **options: Any) -> MultipleImputation:
    """The t or mixture path (:mod:`imputer.mi._models_run`)."""
    from imputer.mi._models_run import run_model

    p = len(prep.columns)
    mask = np.column_stack([np.isnan(v) for v in prep.values])
    n_missing = mask.sum(axis=0)
    scaling = scaling_of(prep.columns, prep.values, mask)
    patterns = build_patterns(mask)
    del mask
    out = run_model(prep, patterns, scaling, np.random.SeedSequence(seed_int), model=model, m=m, **options)
    labels = pd.Index(list(prep.columns), tupleize_cols=False)
    params = tuple(
        (pd.Series(mu, index=labels, name="mean"), pd.DataFrame(s, index=labels, columns=labels.copy())) for mu, s in out.params
    )
    assert len(labels) == p
    return MultipleImputation(
        imputations=tuple(_completed_frame(prep.frame, prep.columns, arr, n_missing) for arr in out.filled),
        original=prep.frame,
        params=params,
        em=out.em,
        method="bootstrap",
        m=m,
        seed=seed_int,
        burn_in=None,
        thin=None,
        rate=None,
        wlf=None,
        wlf_acf=None,
        redraws=tuple(out.redraws),
        model=model,
    )


def _auto_finds_none(data: Any, categorical: Any, continuous: Any) -> bool:
    """``categorical="auto"`` and no column the rule makes categorical: the normal model, as :func:`imputer.impute`."""
    if not (isinstance(categorical, str) and categorical == "auto"):
        return False
    from imputer.glom._validate import prepare_glom

    return not prepare_glom(data, "auto", continuous).categorical


def _glom_mi(data: Any, m: Any, *, categorical: Any, method: Any, model: str, seed: Any, tol: Any, max_iter: Any,
             columns: Any, ridge: Any, burn_in: Any, thin: Any, extended: tuple, **glom: Any) -> MultipleImputation:
    """The general location model's path (:mod:`imputer.mi._glom`)."""
    if categorical is None:
        raise ImputerTypeError("continuous=, means= and probabilities= go with categorical= (the general location model)")
    opts = MI_OPTIONS.check(m=m, method="bootstrap" if method is None else method)
    given = [name for name, on in (
        ("model", model != "normal"), ("columns", columns is not None), ("ridge", bool(ridge)),
        ("transforms, bounds, integer, panel or idvars", any(x is not None for x in extended)),
    ) if on]
    if given:
        raise ImputerTypeError(f"{', '.join(given)}: not available with categorical= (the general location model)")
    chain = [name for name, value in (("burn_in", burn_in), ("thin", thin)) if value is not None]
    if chain and opts["method"] != "posterior":
        raise ImputerValueError(f"{', '.join(chain)} applies to method='posterior' only (the default with "
                                "categorical= is method='bootstrap')")
    tol, max_iter, _, _ = check_options(tol, max_iter, 0.0, True)
    seed_int = _check_seed(seed)
    from imputer.mi._glom import multiple_impute_glom

    out = multiple_impute_glom(
        data, opts["m"], categorical=categorical, method=opts["method"], seed=seed_int, tol=tol, max_iter=max_iter,
        burn_in=_check_count("burn_in", burn_in), thin=_check_count("thin", thin), **glom,
    )
    return MultipleImputation(
        imputations=tuple(out.imputations), original=out.frame, params=out.params, em=out.em, method=opts["method"],
        m=opts["m"], seed=seed_int, burn_in=out.burn_in, thin=out.thin, rate=out.rate, wlf=None, wlf_acf=None,
        redraws=out.redraws, model="glom",
    )


def multiple_impute(
    data: pd.DataFrame | Any,
    m: int = MI_OPTIONS["m"].default,
    *,
    method: str | None = None,
    model: str = "normal",
    dof: float | None = None,
    n_components: int | Sequence[int] | range = 2,
    covariance_type: str = "full",
    n_init: int = 10,
    columns: Sequence[Hashable] | None = None,
    ridge: float = 0.0,
    prior: str = "ridge",
    seed: int | np.random.Generator | None = None,
    tol: float = MI_OPTIONS["tol"].default,
    max_iter: int = MI_OPTIONS["max_iter"].default,
    burn_in: int | None = None,
    thin: int | None = None,
    transforms: Mapping[Hashable, Any] | None = None,
    bounds: Mapping[Hashable, Any] | None = None,
    integer: Sequence[Hashable] | None = None,
    panel: Mapping[str, Any] | None = None,
    idvars: Sequence[Hashable] | None = None,
    categorical: Sequence[Hashable] | Mapping[Hashable, Any] | str | None = None,
    continuous: Sequence[Hashable] | None = None,
    means: str | None = None,
    probabilities: str | None = None,
    start: tuple[Any, Any] | None = None,
) -> MultipleImputation:
    """Draw ``m`` completed tables from the posterior predictive distribution of the missing cells.

    Parameters
    ----------
    data : DataFrame or 2-D array-like, shape (n, k)
        As for :func:`imputer.impute`: numeric columns are modelled, the others carried
        through; missing cells are NaN, None or ``pd.NA``.
    m : int, default 20
        Number of imputations (completed tables).
    method : {"posterior", "bootstrap"}, optional
        posterior: data augmentation, draws from the posterior of the mean and covariance
        (norm2); bootstrap: EM on a bootstrap resample of the rows for each imputation
        (Amelia). See the module docstring. Default: "posterior" for the normal,
        "bootstrap" for the t and the mixture (the only method for them) and with
        ``categorical`` (the general location model).
    model : {"normal", "t", "mixture"}, default "normal"
        The imputation model: the multivariate normal; the multivariate t
        (:func:`imputer.impute_t`; draws from the conditional t); the Gaussian mixture
        (:func:`imputer.impute_mixture`; each row's component drawn from its
        responsibilities, then its cells from that component's conditional normal).
        For t and mixture each bootstrap resample is refitted from the whole-data fit
        (:mod:`imputer.mi._bootstrap_models`).
    dof : float, optional
        model="t": fixed degrees of freedom (default: estimated, also on each resample).
    n_components : int or sequence of int, default 2
        model="mixture": components ``K``, or candidates of which the lowest BIC is
        fitted (then kept for every resample).
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
        model="mixture": the covariance structure.
    n_init : int, default 10
        model="mixture": starts of the whole-data fit.
    columns : sequence of labels, optional
        Columns to model (numeric, in this order); default: every numeric column.
        Other columns are carried through unchanged.
    ridge : float, default 0.0
        Strength lambda >= 0 of an inverse-Wishart prior on the covariance worth lambda
        pseudo-rows with the observed variances and no correlation, which EM then
        maximises the log-posterior under; 0 is maximum likelihood, > 0 gives a
        positive-definite estimate for wide (p >= n) or collinear data. For
        ``method="posterior"`` it multiplies the Jeffreys prior (:mod:`imputer.mi._pstep`)
        and needs ``n + ridge > p``.
    prior : {"ridge", "amelia"}, default "ridge"
        The ridge prior's convention, as in :func:`imputer.impute` (``"amelia"``: Amelia's
        ``empri``, for ``model="normal"``). With the bootstrap each resample is fitted as
        :func:`imputer.impute` would fit it (its own scale); the posterior draws from the
        inverse Wishart of :mod:`imputer.mi._pstep` with Amelia's kernel.
    seed : int, numpy Generator or None, optional
        Seed of the random draws (an integer, or a numpy Generator); the same seed gives
        the same imputations. Default: fresh entropy, recorded on the result. The int
        actually used is ``result.seed`` (a Generator gives one draw).
    tol : float, default 1e-7
        Convergence tolerance, in standard-deviation units: EM stops when one EM step
        changes no mean or covariance entry by more than tol, times (1 - the EM rate
        estimated along the way) for the accelerated normal model, so that its estimate
        is within about tol of the maximiser. (The EM estimate, and each bootstrap fit;
        see :func:`imputer.impute`.)
    max_iter : int, default 1000
        Iteration limit (accelerated: accepted iterates of one or two EM steps for the
        normal model, SQUAREM cycles of up to three for the t); stopping there without
        meeting tol is a warning and converged=false.
    burn_in : int >= 0, optional
        posterior: data-augmentation iterations discarded before the first imputation;
        default: chosen from the EM rate of convergence. (:mod:`imputer.mi._rate`; ignored
        by the bootstrap.)
    thin : int >= 1, optional
        posterior: iterations between successive imputations; default: chosen from the EM
        rate of convergence.
    transforms : dict, optional
        As for :func:`imputer.impute` (``{"gdp": "log", "share": ("logit", 0, 100)}``):
        the model is fitted and the cells drawn on the transformed scale, each draw mapped
        back to the column's own scale.
    bounds : dict, optional
        ``{"tariff": (0, None)}`` on untransformed or log columns: every drawn cell is
        inside its bounds, drawn from the conditional distribution truncated to them (not
        clipped): rejection, then Gibbs sweeps over the row's bounded cells as a fallback
        (:mod:`imputer.mi._truncated`).
    integer : sequence of labels, optional
        Modelled columns whose drawn cells are rounded to integers (the draw is rounded,
        not the mean; see :mod:`imputer.mi._extended`); a nullable integer column stays
        ``Int64``.
    panel : dict, optional
        A time-series cross-section, as for :func:`imputer.impute`: time polynomials (per
        unit with ``intercs``), lags and leads added to the model.
    idvars : sequence of labels, optional
        Columns carried through unmodelled and untouched.

        With any of these five (``model="normal"`` only) ``params`` and ``em`` are the
        model's (transformed scale, augmented table) and the imputations have exactly the
        input's columns (:mod:`imputer.mi._extended`).
    categorical : "auto" or list of labels (or dict of levels), optional
        Impute under the general location model (as :func:`imputer.impute` with
        ``categorical=``; :func:`imputer.impute_glom`; ``"auto"`` finding no categorical
        column: the normal model). ``method="bootstrap"`` (the default
        then) refits the model on a resample per imputation; ``method="posterior"`` runs
        data augmentation (Dirichlet draws of the cell probabilities, or Bayesian IPF for
        pairwise ones; normal-inverse-Wishart draws of the cell means and covariance;
        :mod:`imputer.mi._glom_chain`). Each imputation's missing categories are drawn
        from their posterior level probabilities (jointly within a row), its missing
        continuous cells from the drawn cell's conditional normal. Categorical columns
        keep their dtype and categories in every imputation. ``params`` are then m triples ``(probabilities, cell_means, cov)`` and
        ``em`` the :class:`~imputer.glom.GlomImputeResult`. Not with ``columns``,
        ``ridge``, ``model`` other than normal, nor the five options above.
    continuous, means, probabilities
        With ``categorical``: as for :func:`imputer.impute_glom` (``means="auto"`` is
        resolved once, on the whole data).
    start : (mean, cov), optional
        EM's starting values for every fit of the call instead of the engine's own, as for
        :func:`imputer.impute` (a mean, shape (p,), and a positive-definite covariance,
        shape (p, p), in the data's units; a Series and a DataFrame aligned by label, e.g. a
        previous fit's ``mean`` and ``cov``): the EM estimate the posterior chain starts
        from, and with the bootstrap each resample's fit. Where the objective has several
        maxima EM ends at the one its start leads to, so the start chooses the maximum the
        imputations are drawn around; on wide tables a previous fit's estimate spares the
        whole-data fit's climb across the plateaus (a bootstrap resample is another table:
        its fit took as long from there, ``benchmarks/bench_mi_start.py``).
        ``model="normal"`` only, without ``categorical``, ``transforms``, ``bounds``,
        ``integer``, ``panel`` or ``idvars``.

    Returns
    -------
    MultipleImputation
        ``imputations`` (m DataFrames, shape (n, k) each), the drawn parameters, the EM
        estimate (for t and mixture: their :func:`imputer.impute_t` /
        :func:`imputer.impute_mixture` result), diagnostics, ``long()``, ``analyze(fn)``.

    Raises
    ------
    ImputerTypeError
        ``m``, ``burn_in`` or ``thin`` not an integer (a bool is not one), ``seed`` not
        None/int/Generator; what :func:`imputer.impute` raises for the data.
    ImputerValueError
        ``m < 1``, an unknown ``method`` or ``model``, ``method="posterior"`` with the t or
        the mixture, an option of another model (``dof`` without ``model="t"``, ...), ``burn_in < 0``, ``thin < 1``, a negative seed,
        ``n + ridge <= p`` for the posterior; for the posterior, a (nearly) singular covariance
        (collinear columns) without ``ridge`` or with one too weak to keep the draws positive
        definite; the bootstrap found no usable resample;
        with ``categorical``: too few rows for the posterior, ``burn_in``/``thin`` with the bootstrap;
        what :func:`imputer.impute` raises for the data and options.

    Warns
    -----
    ConvergenceWarning
        The EM estimate is unreliable (as :func:`imputer.impute` warns); bootstrap fits that
        did not converge; a burn-in or spacing capped because EM converges extremely slowly.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import imputer
    >>> df = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0, 5.0, 3.0], "b": [2.1, 3.9, 6.2, np.nan, 9.8, 6.1]})
    >>> mi = imputer.multiple_impute(df, m=3, seed=1)
    >>> len(mi.imputations), mi.long().columns[:2].tolist()
    (3, ['.imp', '.id'])
    """
    if type(data).__module__.split(".")[0] in ("dask", "dask_expr"):  # by name: Dask imported only for it
        from imputer.dask.mi import dispatch

        return dispatch(data, m, **{k: v for k, v in locals().items() if k not in ("data", "m", "dispatch")})  # type: ignore[return-value]
    model = _check_model(model, method, dof, n_components, covariance_type, n_init)
    if start is not None and (model != "normal" or any(
            x is not None for x in (categorical, continuous, means, probabilities, transforms, bounds, integer, panel,
                                    idvars))):
        raise ImputerTypeError(
            "start: available for model='normal' only (not with categorical, transforms, bounds, integer, panel or "
            "idvars)"
        )
    if any(x is not None for x in (categorical, continuous, means, probabilities)) and not _auto_finds_none(
        data, categorical, continuous
    ):
        return _glom_mi(
            data, m, categorical=categorical, continuous=continuous, means=means, probabilities=probabilities,
            method=method, model=model, seed=seed, tol=tol, max_iter=max_iter, columns=columns, ridge=ridge,
            burn_in=burn_in, thin=thin, extended=(transforms, bounds, integer, panel, idvars),
        )
    if method is None:
        method = "posterior" if model == "normal" else "bootstrap"
    opts = MI_OPTIONS.check(m=m, method=method)
    m, method = opts["m"], opts["method"]
    if model != "normal" and method != "bootstrap":
        raise ImputerValueError(
            f"method={method!r} is not available for model={model!r}: multiple imputation under the t or the "
            "mixture is by the bootstrap (method='bootstrap')"
        )
    seed_int = _check_seed(seed)
    if any(x is not None for x in (transforms, bounds, integer, panel, idvars)):
        from imputer.mi._extended import multiple_impute_extended

        return multiple_impute_extended(
            data, m, transforms=transforms, bounds=bounds, integer=integer, panel=panel, idvars=idvars,
            columns=columns, method=method, model=model, ridge=ridge, prior=prior, seed=seed_int, tol=tol,
            max_iter=max_iter, burn_in=burn_in, thin=thin,
        )
    burn_in, thin = _check_count("burn_in", burn_in), _check_count("thin", thin)
    tol, max_iter, ridge, _ = check_options(tol, max_iter, ridge, True)
    prior = check_prior(prior)
    if model != "normal" and prior != "ridge" and ridge > 0:
        raise ImputerValueError(f"prior={prior!r} is available for model='normal' only, got model={model!r}")
    prep = prepare(data, columns)
    n, p = prep.n_rows, len(prep.columns)
    check_rows(n, p, ridge)
    if model != "normal":
        return _model_mi(
            prep, seed_int, model=model, m=m, tol=tol, max_iter=max_iter, ridge=ridge, dof=dof,
            n_components=n_components, covariance_type=covariance_type, n_init=n_init,
        )
    if method == "posterior" and not (prior == "amelia" and ridge > 0) and n + ridge <= p:
        raise ImputerValueError(
            f"ridge: the posterior of the covariance of {p} columns from {n} rows is proper only for "
            f"n + ridge > p; pass ridge > {p - n}"
        )
    mask = prep.missing_mask()
    n_missing = mask.sum(axis=0)
    scaling = scaling_of(prep.columns, prep.values, mask)
    given = check_start(start, prep.columns)  # (original units: each resample standardises its own)
    patterns = build_patterns(mask)
    del mask
    kernel = RidgePrior.of(prior, ridge, scaling.n_observed)
    out = engine.run(prep.values, patterns, scaling, tol=tol, max_iter=max_iter, ridge=kernel, accelerate=True,
                     start=None if given is None else start_in_units(given, scaling.center, scaling.scale))
    if method == "posterior" and ridge == 0 and out.fit.singular:  # no proper posterior: before the chain
        raise ImputerValueError(_singular_posterior(out.fit.sigma, prep.columns, ridge, drawn=False))
    warn_if_unreliable(out.fit, tol, max_iter, stacklevel=2)
    em = _result(prep, scaling, out, n_missing, tol=tol, max_iter=max_iter, ridge=ridge, accelerate=True,
                 prior=prior, start_given=given is not None)
    em_mu_z, em_sigma_z = out.fit.mu, out.fit.sigma  # the chain starts at the estimate itself
    del out
    root = np.random.SeedSequence(seed_int)
    filled: list[np.ndarray] = []

    def emit(j: int, layout: Any) -> None:
        arr = np.empty((n, p), order="F")
        for k, v in enumerate(prep.values):
            arr[:, k] = v
        fill_missing(layout, em_mu_z, em_sigma_z, arr, scaling, refresh=False)
        filled.append(arr)

    with blas_threads(p):
        layout = standardise(patterns, prep.values, scaling)
    rate = wlf = wlf_acf = None
    if method == "posterior":
        with blas_threads(p):
            est = em_rate(layout, em_mu_z, em_sigma_z, kernel)
        rate = est.rate
        burn_in, thin = default_lengths(rate, burn_in, thin, "pass ridge > 0, or burn_in= and thin= explicitly", 2)
        (chain_ss,) = root.spawn(1)
        try:
            with blas_threads(p):
                chain = run_chain(
                    layout, em_mu_z, em_sigma_z, ridge=kernel, m=m, burn_in=burn_in, thin=thin,
                    direction=est.direction, rng=np.random.default_rng(chain_ss), emit=emit,
                )
        except (Infeasible, np.linalg.LinAlgError) as exc:  # a draw left the positive-definite cone
            raise ImputerValueError(_singular_posterior(em_sigma_z, prep.columns, ridge, drawn=True)) from exc
        params_orig = [(scaling.mean_to_original(mu), scaling.cov_to_original(s)) for mu, s in chain.params]
        wlf = chain.wlf
        wlf_acf = acf(wlf[burn_in:], max(_ACF_LAGS, 2 * thin))
        redraws = None
    else:
        burn_in = thin = None
        params_orig = []
        redraws = []
        not_converged = 0
        for j, ss in enumerate(root.spawn(m), start=1):
            draw = bootstrap_draw(
                prep.values, prep.columns, layout, scaling, np.random.default_rng(ss),
                tol=tol, max_iter=max_iter, ridge=ridge, imputation=j, prior=prior, start=given,
            )
            emit(j, layout)
            params_orig.append((draw.mu, draw.sigma))
            redraws.append(draw.redraws)
            not_converged += not draw.converged
        if not_converged:
            warnings.warn(
                f"EM did not converge within max_iter={max_iter} iterations on {not_converged} of {m} bootstrap "
                f"resamples (tol={tol:g}); increase max_iter or tol",
                ConvergenceWarning,
                stacklevel=2,
            )
    labels = pd.Index(list(prep.columns), tupleize_cols=False)
    params = tuple(
        (pd.Series(mu, index=labels, name="mean"), pd.DataFrame(s, index=labels, columns=labels)) for mu, s in params_orig
    )
    imputations = tuple(_completed_frame(prep.frame, prep.columns, arr, n_missing) for arr in filled)
    return MultipleImputation(
        imputations=imputations,
        original=prep.frame,
        params=params,
        em=em,
        method=method,
        m=m,
        seed=seed_int,
        burn_in=burn_in,
        thin=thin,
        rate=rate,
        wlf=None if wlf is None else pd.Series(wlf, index=pd.RangeIndex(wlf.size, name="iteration"), name="wlf"),
        wlf_acf=None if wlf_acf is None else pd.Series(wlf_acf, index=pd.RangeIndex(wlf_acf.size, name="lag"), name="acf"),
        redraws=None if redraws is None else tuple(redraws),
    )
