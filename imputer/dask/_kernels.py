r"""The one adapter between the Dask engine and the in-memory kernels (private).

Every call the Dask path makes into :mod:`imputer._gaussian` and :mod:`imputer.mvn` goes
through this module, so a change of a kernel's signature is fixed here, in one place.
Nothing here is a kernel of its own: each function turns one *partition* (a pandas
frame, or the float64 columns taken from it) into the in-memory engine's inputs and
calls the engine's function on them.

For a partition ``P`` (rows ``i in P``) in standardised units ``z = (x - c) / s`` (the
global scaling), :func:`partition_stats` is the pattern-grouped E-step of the in-memory
engine, :func:`imputer._gaussian.estep.estep`, giving the additive
:class:`~imputer._gaussian.stats.SufficientStats` ``(W, V, s_1, S_2, C, H)`` of
``P``; the statistics of the table are the sum over partitions. :func:`em_map` is the
M-step and objective of :mod:`imputer._gaussian.objective` on that sum, exactly as
:func:`imputer.mvn._emmap.em_update` does on the statistics of the whole table.
"""

from __future__ import annotations

from collections.abc import Hashable
import numpy as np
import pandas as pd

from imputer._em import run_em
from imputer._gaussian.estep import estep
from imputer._gaussian.information import InformationSums, information_sums
from imputer._gaussian.layout import StandardData
from imputer._gaussian.linalg import Infeasible, precision
from imputer._gaussian.objective import loglik, mstep, ridge_penalty, scatter_about
from imputer._gaussian.patterns import Patterns, build_patterns
from imputer._gaussian.stats import SufficientStats
from imputer.errors import ImputerTypeError
from imputer.mvn._fit import (
    SINGULAR_EIG,
    blas_threads,
    conditional_variances,
    fill_missing,
    min_corr_eig,
    standardise,
    start_values,
)
from imputer.mvn._problem import NEAR_SINGULAR_EIG, MeanCov, MVNFit, MVNProblem, warn_if_unreliable
from imputer.mvn._scaling import Scaling
from imputer.mvn._validate import float_values, select
from imputer.mvn.api import _completed_frame

__all__ = [
    "NEAR_SINGULAR_EIG",
    "SINGULAR_EIG",
    "Infeasible",
    "MVNFit",
    "MVNProblem",
    "MeanCov",
    "Scaling",
    "SufficientStats",
    "blas_threads",
    "column_values",
    "completed_partition",
    "conditional_var_partition",
    "em_map",
    "layout",
    "meta_frame",
    "min_corr_eig",
    "partition_information",
    "partition_stats",
    "precision",
    "run_em",
    "select",
    "start_from_correlation",
    "warn_if_unreliable",
]

#: The statistics of a partition with no incomplete or complete row (an empty one).
Layout = StandardData | None


def column_values(frame: pd.DataFrame, columns: tuple[Hashable, ...]) -> tuple[np.ndarray, ...]:
    """The modelled columns of a partition as float64 vectors, NaN for missing (as in memory).

    Raises
    ------
    ImputerTypeError
        A column whose values in this partition are not numbers (a dtype the
        DataFrame's metadata did not announce, e.g. text in a column read as numeric).
    """
    out = []
    for c in columns:
        col = frame[c]
        try:
            out.append(float_values(col))
        except (TypeError, ValueError):
            raise ImputerTypeError(
                f"column {c!r} holds non-numeric values (dtype {col.dtype} in a partition of "
                f"{len(col)} rows): convert it, or leave it out of columns="
            ) from None
    return tuple(out)


def _patterns(values: tuple[np.ndarray, ...]) -> Patterns:
    n = values[0].shape[0]
    mask = np.empty((n, len(values)), dtype=bool, order="F")
    for j, v in enumerate(values):
        mask[:, j] = np.isnan(v)
    return build_patterns(mask)


def layout(values: tuple[np.ndarray, ...], scaling: Scaling) -> Layout:
    """The in-memory engine's standardised layout of one partition (None when it has no row)."""
    if values[0].shape[0] == 0:
        return None
    return standardise(_patterns(values), values, scaling)


def partition_stats(data: Layout, mu: np.ndarray, sigma: np.ndarray, prec: tuple[np.ndarray, float]) -> SufficientStats:
    """E-step statistics of one partition at ``(mu, sigma)`` (zero for an empty one).

    Raises :class:`Infeasible` where ``sigma`` (or a block of its inverse) is not valid.
    """
    if data is None:
        return SufficientStats.zeros(mu.shape[0])
    return estep(data, mu, sigma, prec=prec)


def partition_information(
    frame: pd.DataFrame, columns: tuple[Hashable, ...], mu: np.ndarray, sigma: np.ndarray, scaling: Scaling
) -> InformationSums | None:
    """The observed information's pattern sums over one partition's rows (None for an empty one).

    :func:`imputer._gaussian.information.information_sums` at the estimate ``(mu, sigma)``
    (standardised units); the table's information is the sum over partitions, with the
    prior's curvature added once (:func:`imputer._gaussian.information.assemble_information`).
    """
    values = column_values(frame, columns)
    if values[0].shape[0] == 0:
        return None
    with blas_threads(len(columns)):
        return information_sums(values, _patterns(values), scaling.center, scaling.scale, mu, sigma)


def em_map(
    stats: SufficientStats, mu: np.ndarray, sigma: np.ndarray, ridge: float, prec: tuple[np.ndarray, float]
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """``(mu', sigma', loglik, objective)`` from the table's statistics at ``(mu, sigma)``.

    The objectives are at the input, the update is the M-step (as
    :func:`imputer.mvn._emmap.em_update`). Raises :class:`Infeasible` for a non-finite objective.
    """
    scatter = scatter_about(stats, mu)
    ll = loglik(stats, mu, sigma, prec=prec, scatter=scatter)
    objective = ll - ridge_penalty(ridge, sigma, prec=prec)
    if not np.isfinite(objective):
        raise Infeasible("non-finite objective")
    mu_new, sigma_new = mstep(stats, mu, ridge, scatter=scatter)
    return mu_new, sigma_new, ll, objective


class _Summary:
    """Just what :func:`start_values` reads of a layout, for a table known by its moments."""

    def __init__(self, corr: np.ndarray) -> None:
        p = corr.shape[0]
        self.p = p
        # one "complete row" whose cross-product is the pairwise correlation: start_values
        # then divides it by a count of 1 and shrinks it as it does in memory
        self.s2_complete = corr
        self.work = np.zeros((0, p))
        self.patterns = Patterns(n_rows=1, n_cols=p, complete_rows=np.zeros(1, dtype=np.intp), groups=())
        self.n_complete = 1


def start_from_correlation(corr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The in-memory start (zero mean, the pairwise correlation made positive definite).

    ``corr`` is the pairwise-complete correlation in standardised units (0 for pairs no
    row observes), shape (p, p); :func:`imputer.mvn._fit.start_values` does the rest.
    """
    return start_values(_Summary(corr))  # type: ignore[arg-type]


def _filled(values: tuple[np.ndarray, ...], mu: np.ndarray, sigma: np.ndarray, scaling: Scaling) -> np.ndarray:
    n, p = values[0].shape[0], len(values)
    out = np.empty((n, p), order="F")
    for j, v in enumerate(values):
        out[:, j] = v
    if n:
        data = standardise(_patterns(values), values, scaling)
        fill_missing(data, mu, sigma, out, scaling, refresh=True)
    return out


def completed_partition(
    frame: pd.DataFrame,
    columns: tuple[Hashable, ...],
    n_missing: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    scaling: Scaling,
) -> pd.DataFrame:
    """One partition completed by the conditional means at ``(mu, sigma)`` (standardised units).

    ``n_missing`` are the table's missing-cell counts, so that every partition gets the
    dtypes the in-memory completed table has (float64, or Float64 for nullable columns,
    wherever the table has a missing cell).
    """
    filled = _filled(column_values(frame, columns), mu, sigma, scaling)
    return _completed_frame(frame, columns, filled, n_missing)


def conditional_var_partition(
    frame: pd.DataFrame, columns: tuple[Hashable, ...], sigma: np.ndarray, scaling: Scaling
) -> pd.DataFrame:
    """Conditional variances (original units) of one partition's cells; 0 where observed."""
    values = column_values(frame, columns)
    n, p = values[0].shape[0], len(values)
    out = np.zeros((n, p), order="F")
    if n:
        conditional_variances(_patterns(values), sigma, scaling.scale, out)
    labels = pd.Index(list(columns), tupleize_cols=False)
    return pd.DataFrame(out, index=frame.index, columns=labels, copy=False)


def meta_frame(meta: pd.DataFrame, columns: tuple[Hashable, ...], n_missing: np.ndarray) -> pd.DataFrame:
    """The empty frame with the completed table's dtypes (the ``meta`` of ``map_partitions``)."""
    return _completed_frame(meta.iloc[:0], columns, np.empty((0, len(columns))), n_missing)
