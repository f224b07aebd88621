r"""``multiple_impute`` for a Dask DataFrame: data augmentation on the client, draws by partition.

Model, prior and chain are those of :func:`imputer.multiple_impute` with
``method="posterior"`` (:mod:`imputer.mi._posterior`): from the EM estimate, I-steps
draw the completed data's sufficient statistics given ``theta_{t-1}`` and P-steps draw
``theta_t`` from the normal-inverse-Wishart posterior of those statistics. Here the
chain runs entirely on the client against the table's per-pattern moments
(:mod:`imputer.dask._patterns`): every I-step is the in-memory pattern-level draw of
the sums (:func:`imputer.mi._istep.draw_sums`, every pattern a frequent one), every
P-step :func:`imputer.mi._pstep.draw_niw` (the in-memory :func:`imputer.mi._posterior.run_chain`
with ``emit=None``); no pass over the data. Burn-in and spacing
default to the in-memory rules from the EM rate (:func:`imputer.mi._rate.em_rate`, on
the same table).

Imputation ``j`` is then the I-step at ``theta_{t_j - 1}`` drawn row by row, lazily:
the in-memory :func:`imputer.mi._istep.draw_missing` on every partition, partition
``i`` with its own generator ``default_rng(S_ji)``, where ``SeedSequence(seed)`` spawns
``(chain, imputations)``, the imputations' sequence spawns one child per imputation and
each of those one per partition. So a seed gives the same imputations on every
computation, a partition's draws depend on its own stream only, and the chain (hence
the parameters) does not depend on the partitioning. Difference from memory: there the
chain continues from the imputed rows' own statistics; here from an independent draw
of the same statistics at the same ``theta``: the same Markov chain of ``theta``, each
imputation a draw from ``p(Y_mis | Y_obs, theta_{t_j - 1})``, the imputations
independent given their parameters.

``method="bootstrap"``: EM on a Poisson bootstrap resample per imputation, all ``m``
resamples made in one pass by partition (:mod:`imputer.dask._bootstrap`), then the
imputations drawn at their estimates as above (the streams: the method's sequence
spawns one child per imputation and each of those one per partition).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imputer._frozen import ReadOnlyField
from imputer._gaussian.linalg import Infeasible
from imputer._gaussian.prior import RidgePrior
from imputer.dask import _kernels as k
from imputer.dask import api
from imputer.dask._bootstrap import bootstrap_fits
from imputer.dask._engine import Partitions
from imputer.dask._patterns import table_layout
from imputer.dask.api import fit_dask
from imputer.dask.result import DaskImputeResult
from imputer.errors import ConvergenceWarning, ImputerTypeError, ImputerValueError
from imputer.mi._istep import draw_missing
from imputer.mi._posterior import acf, run_chain
from imputer.mi.api import _singular_posterior
from imputer.mi._rate import chain_lengths, em_rate
from imputer.mvn._fit import fill_missing
from imputer.mvn.api import _completed_frame
from imputer.options import MI_OPTIONS

__all__ = ["DaskMultipleImputation", "dispatch", "multiple_impute"]

#: Lags of the worst linear function's autocorrelation kept (as in memory).
_ACF_LAGS = 40


@dataclass(frozen=True, eq=False)
class DaskMultipleImputation:
    """``m`` lazily drawn completed tables of a Dask DataFrame (see :func:`multiple_impute`).

    Attributes
    ----------
    imputations : tuple of dask.dataframe.DataFrame, length m, lazy
        Completed tables: the input's divisions, index and columns, observed cells bit
        for bit, missing cells drawn from their posterior predictive distribution.
    params : tuple of (Series (p,), DataFrame (p, p))
        The mean and covariance each imputation was drawn under (original units).
    em : DaskImputeResult
        The EM fit the chain started from.
    method : str
        "posterior" or "bootstrap".
    m, seed : int
    burn_in, thin : int or None
        The chain's (posterior; None for the bootstrap).
    rate : float or None
        The EM rate (worst fraction of missing information) the defaults came from (posterior).
    wlf, wlf_acf : Series or None
        The worst linear function along the chain and its autocorrelations after the burn-in (posterior).
    """

    imputations: tuple[Any, ...]
    params: tuple[tuple[pd.Series, pd.DataFrame], ...]
    em: DaskImputeResult
    method: str
    m: int
    seed: int
    burn_in: int | None
    thin: int | None
    rate: float | None
    wlf: pd.Series | None = ReadOnlyField()  # type: ignore[assignment]
    wlf_acf: pd.Series | None = ReadOnlyField()  # type: ignore[assignment]

    def summary(self) -> str:
        """Readable text: the method, the chain, the EM fit."""
        if self.method == "posterior":
            how = [
                "Multiple imputation (Dask, posterior draws by data augmentation)",
                f"imputations: {self.m}  seed: {self.seed}  burn-in: {self.burn_in}  thin: {self.thin}",
                f"EM rate (worst fraction of missing information): {self.rate:.4f}",
            ]
        else:
            how = [
                "Multiple imputation (Dask, EM on Poisson bootstrap resamples)",
                f"imputations: {self.m}  seed: {self.seed}",
            ]
        lines = [
            *how,
            f"partitions: {self.em.n_partitions}, each drawn with its own seed",
            "",
            self.em.summary(),
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the options, the chain and every imputation's parameters (no table)."""
        return {
            "method": self.method,
            "m": int(self.m),
            "seed": int(self.seed),
            "burn_in": self.burn_in,
            "thin": self.thin,
            "rate": self.rate,
            "params": [
                {"mean": [float(x) for x in mu], "cov": [[float(x) for x in row] for row in cov.to_numpy()]}
                for mu, cov in self.params
            ],
            "em": self.em.to_dict(),
        }


def draw_partition(
    frame: pd.DataFrame,
    columns: tuple[Hashable, ...],
    n_missing: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    scaling: k.Scaling,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One partition with its missing cells drawn from their conditional normal at ``(mu, sigma)`` (standardised)."""
    values = k.column_values(frame, columns)
    n, p = values[0].shape[0], len(values)
    out = np.empty((n, p), order="F")
    for j, v in enumerate(values):
        out[:, j] = v
    data = k.layout(values, scaling)
    if data is not None:
        draw_missing(data, mu, sigma, rng)
        fill_missing(data, mu, sigma, out, scaling, refresh=False)
    return _completed_frame(frame, columns, out, n_missing)


def _draw_seeded(frame: pd.DataFrame, args: tuple[Any, ...], seed: np.random.SeedSequence) -> pd.DataFrame:
    # the generator is made in the task: every computation of the partition draws the same cells
    return draw_partition(frame, *args, np.random.default_rng(seed))


def _imputation(ddf: Any, meta: pd.DataFrame, args: tuple[Any, ...], seeds: list[np.random.SeedSequence]) -> Any:
    """Imputation ``j`` as a lazy Dask DataFrame: partition ``i`` drawn with ``default_rng(seeds[i])``.

    Built from the partitions' delayed objects (not ``map_partitions`` with
    ``partition_info``, whose partition number is the position in the collection being
    computed: ``imputation.get_partition(i)`` would draw with the first seed).
    """
    import dask.dataframe as dd
    from dask import delayed

    parts = [delayed(_draw_seeded, pure=True)(frame, args, seed) for frame, seed in zip(ddf.to_delayed(), seeds)]
    return dd.from_delayed(parts, meta=meta, divisions=ddf.divisions, verify_meta=False)


def _check_count(name: str, value: Any, low: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ImputerTypeError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ImputerValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


#: Options of :func:`imputer.multiple_impute` with no Dask counterpart, and their defaults.
_IN_MEMORY_ONLY = {
    "model": "normal", "dof": None, "n_components": 2, "covariance_type": "full", "n_init": 10, "prior": "ridge",
    "transforms": None, "bounds": None, "integer": None, "panel": None, "idvars": None,
    "categorical": None, "continuous": None, "means": None, "probabilities": None, "start": None,
}


def dispatch(data: Any, m: int, **options: Any) -> DaskMultipleImputation:
    """:func:`imputer.multiple_impute` on a Dask DataFrame: the options Dask has go to :func:`multiple_impute`.

    Raises
    ------
    ImputerValueError
        An option with no Dask counterpart (``model="t"``, ``transforms``, ...) set.
    """
    for name, default in _IN_MEMORY_ONLY.items():
        value = options.pop(name, default)
        if value is not default and value != default:
            shown = "(mean, cov)" if name == "start" else repr(value)  # (not a whole covariance matrix's repr)
            raise ImputerValueError(
                f"{name}={shown} is not available for a Dask DataFrame (imputer.dask.mi.multiple_impute: "
                "the multivariate normal with the ridge prior)"
            )
    return multiple_impute(data, m, **options)


def multiple_impute(
    data: Any,
    m: int = MI_OPTIONS["m"].default,
    *,
    method: str | None = None,
    columns: Sequence[Hashable] | None = None,
    ridge: float = 0.0,
    seed: int | None = None,
    tol: float = MI_OPTIONS["tol"].default,
    max_iter: int = MI_OPTIONS["max_iter"].default,
    burn_in: int | None = None,
    thin: int | None = None,
    progress: bool = False,
    client: Any | None = None,
) -> DaskMultipleImputation:
    """Draw ``m`` completed tables of a Dask DataFrame from the posterior predictive distribution.

    Parameters
    ----------
    data : dask.dataframe.DataFrame, shape (n, k)
        As for :func:`imputer.dask.impute`.
    m : int, default 20
        Number of imputations.
    method : {"posterior", "bootstrap"}, optional
        Data augmentation (the default), or EM on Poisson bootstrap resamples
        (:mod:`imputer.dask._bootstrap`: one pass for all ``m``).
    columns, ridge, tol, max_iter, burn_in, thin
        As in :func:`imputer.multiple_impute` (the ridge prior's convention).
    seed : int, optional
        Root of every stream (module docstring); default: fresh entropy, recorded in
        the result.
    progress, client
        As in :func:`imputer.dask.impute`.

    Returns
    -------
    DaskMultipleImputation
        Parameters and the chain in memory; the ``m`` imputations lazy.

    Raises
    ------
    ImputerValueError
        An unusable bootstrap resample; a table with too many distinct missingness patterns for
        the pattern table (the chain runs on it); the errors of :func:`imputer.dask.impute`;
        ``m``, ``burn_in`` or ``thin`` out of range; ``n + ridge <= p``.
    """
    method = "posterior" if method is None else method
    if method not in ("posterior", "bootstrap"):
        raise ImputerValueError(f"method must be 'posterior' or 'bootstrap', got {method!r}")
    if method == "bootstrap" and (burn_in is not None or thin is not None):
        raise ImputerValueError("burn_in and thin are options of method='posterior', not of method='bootstrap'")
    m_checked = _check_count("m", m, 1) or 1
    burn_in, thin = _check_count("burn_in", burn_in, 0), _check_count("thin", thin, 1)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ImputerTypeError(f"seed must be a non-negative integer or None, got {seed!r}")
    fitted = fit_dask(
        data, columns=columns, tol=tol, max_iter=max_iter, ridge=ridge, accelerate=True, persist=None,
        progress=progress, client=client, stacklevel=3,
    )
    em, table, totals = fitted.result, fitted.table, fitted.totals
    p = len(em.columns)
    if table is None:
        raise ImputerValueError(
            f"method={method!r} on a Dask DataFrame runs on the table's per-pattern moments, and this table "
            f"has too many distinct missingness patterns ({em.n_patterns:,} of {p} columns) for them"
        )
    if method == "posterior" and em.n_rows + em.ridge <= p:
        raise ImputerValueError(
            f"ridge: the posterior of the covariance of {p} columns from {em.n_rows} rows is proper only for "
            f"n + ridge > p; pass ridge > {p - em.n_rows}"
        )
    seed_int = int(np.random.SeedSequence().entropy) if seed is None else int(seed)  # type: ignore[arg-type]
    method_ss, draws_ss = np.random.SeedSequence(seed_int).spawn(2)
    scaling = totals.scaling
    rate = wlf = None
    if method == "posterior":
        kernel = RidgePrior.of("ridge", em.ridge, scaling.n_observed)
        layout = table_layout(table)
        mu0, sigma0 = fitted.fit.mu, fitted.fit.sigma
        if em.ridge == 0 and fitted.fit.singular:  # no proper posterior: before the chain, as in memory
            raise ImputerValueError(_singular_posterior(sigma0, em.columns, em.ridge, drawn=False))
        with k.blas_threads(p):
            est = em_rate(layout, mu0, sigma0, kernel)
            auto_burn, auto_thin, capped = chain_lengths(est.rate)
            if capped and (burn_in is None or thin is None):
                why = f"EM converges extremely slowly (worst fraction of missing information {est.rate:.4f})"
                warnings.warn(f"{why}: the chain's default burn-in and spacing were capped, the imputations may be "
                              "autocorrelated; pass ridge > 0, or burn_in= and thin=", ConvergenceWarning, stacklevel=3)
            burn_in = auto_burn if burn_in is None else burn_in
            thin = auto_thin if thin is None else thin
            try:
                chain = run_chain(
                    layout, mu0, sigma0, ridge=kernel, m=m_checked, burn_in=burn_in, thin=thin,
                    direction=est.direction, rng=np.random.default_rng(method_ss), emit=None,
                )
            except (Infeasible, np.linalg.LinAlgError) as exc:  # a draw left the positive-definite cone
                raise ImputerValueError(_singular_posterior(sigma0, em.columns, em.ridge, drawn=True)) from exc
        params_z, wlf, rate = chain.params, chain.wlf, float(est.rate)
    else:
        by_imputation = [ss.spawn(data.npartitions) for ss in method_ss.spawn(m_checked)]
        parts = Partitions(frames=list(data[list(em.columns)].to_delayed()), columns=em.columns)
        fits = bootstrap_fits(
            parts, fitted.backend, [list(row) for row in zip(*by_imputation)], budget=api.MAX_TABLE_BYTES,
            tol=em.tol, max_iter=em.max_iter, ridge=em.ridge,
        )
        params_z = [((mu - scaling.center) / scaling.scale, sigma / np.outer(scaling.scale, scaling.scale)) for mu, sigma, _ in fits]
        not_converged = sum(not ok for _, _, ok in fits)
        if not_converged:
            warnings.warn(
                f"EM did not converge within max_iter={em.max_iter} iterations on {not_converged} of {m_checked} "
                f"bootstrap resamples (tol={em.tol:g}); increase max_iter or tol",
                ConvergenceWarning,
                stacklevel=3,
            )
    ddf = data
    meta = k.meta_frame(ddf._meta, em.columns, totals.n_missing)
    imputations = tuple(
        _imputation(ddf, meta, (em.columns, totals.n_missing, mu, sigma, scaling), ss.spawn(ddf.npartitions))
        for (mu, sigma), ss in zip(params_z, draws_ss.spawn(m_checked))
    )
    labels = pd.Index(list(em.columns), tupleize_cols=False)
    params = tuple(
        (
            pd.Series(scaling.mean_to_original(mu), index=labels, name="mean"),
            pd.DataFrame(scaling.cov_to_original(sigma), index=labels, columns=labels),
        )
        for mu, sigma in params_z
    )
    chain_out: dict[str, Any] = {"wlf": None, "wlf_acf": None}
    if wlf is not None:
        wlf_acf = acf(wlf[burn_in:], max(_ACF_LAGS, 2 * thin))  # type: ignore[index,arg-type]
        chain_out = {
            "wlf": pd.Series(wlf, index=pd.RangeIndex(wlf.size, name="iteration"), name="wlf"),
            "wlf_acf": pd.Series(wlf_acf, index=pd.RangeIndex(wlf_acf.size, name="lag"), name="acf"),
        }
    return DaskMultipleImputation(
        imputations=imputations, params=params, em=em, method=method, m=m_checked, seed=seed_int,
        burn_in=burn_in, thin=thin, rate=rate, **chain_out,
    )
