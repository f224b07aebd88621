"""The result of :func:`imputer.impute_mixture`: mixture estimates, memberships, completed table.

A frozen value like :class:`~imputer.mvn.result.ImputeResult` (read-only pandas fields,
value equality, :func:`~imputer._json` wire convention for ``to_dict()``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from imputer._em.trace import EMTrace, TraceFields
from imputer._frozen import ReadOnlyField, ValueResult, view
from imputer._gaussian.layout import StandardData
from imputer._json import float_list, json_labels, json_value, labelled_values, split_frame, square_frame
from imputer._render import render_fields, render_table, render_title, run_fields

__all__ = ["MixtureImputeResult", "MixtureMoments"]



class _FramesField(ReadOnlyField):
    """A tuple of DataFrames, stored and read as views (each read a new tuple of new frames)."""

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            raise AttributeError(self._name)
        return tuple(view(f) for f in obj.__dict__[self._name])

    def __set__(self, obj: Any, value: Any) -> None:
        if self._name in obj.__dict__:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {self._name!r}")
        obj.__dict__[self._name] = tuple(view(f) for f in value)


class MixtureMoments:
    """The ``n x p`` mixture conditional variances, built on first use (law of total variance). Picklable."""

    def __init__(
        self,
        data: StandardData,
        params: Any,
        resp: np.ndarray,
        scale: np.ndarray,
        mask: np.ndarray,
        index: pd.Index,
        labels: pd.Index,
    ) -> None:
        self._inputs: tuple[Any, ...] | None = (data, params, resp, scale, mask)
        self._index, self._labels = index, labels
        self._frame: pd.DataFrame | None = None

    def __call__(self) -> pd.DataFrame:
        if self._frame is None:
            from imputer.mixture._engine import mixture_moments

            assert self._inputs is not None
            data, params, resp, scale, mask = self._inputs
            _, var = mixture_moments(data, params, resp, variances=True)
            assert var is not None
            var *= scale**2
            var[~mask] = 0.0
            var.flags.writeable = False
            self._frame = pd.DataFrame(var, index=self._index, columns=self._labels, copy=False)
            self._inputs = None
        return self._frame


@dataclass(frozen=True, eq=False)
class MixtureImputeResult(TraceFields, ValueResult):
    """Maximum-likelihood (or posterior-mode) Gaussian-mixture fit and completed table.

    Attributes
    ----------
    completed : DataFrame, shape (n, k)
        The input with every missing cell of a modelled column replaced by the mixture's
        conditional expectation ``sum_k r_ik E_k[x_mis | x_obs]``; index, columns, dtypes,
        unmodelled columns and observed cells as in :func:`imputer.impute`.
    weights : Series, shape (K,)
        Mixing proportions ``pi_k``, indexed by component ``0..K-1``.
    means : DataFrame, shape (K, p)
        Component means (rows: components, columns: modelled columns).
    covs : tuple of K DataFrames, each shape (p, p)
        Component covariances (equal for ``tied``; diagonal for ``diag``; a multiple of
        the identity for ``spherical``).
    responsibilities : DataFrame, shape (n, K)
        ``r_ik``: each row's posterior component probabilities given its observed cells.
    labels : Series, shape (n,)
        The most probable component of each row.
    loglik : float
        Observed-data log-likelihood at the estimate, constants included (no ridge term).
    trace : EMTrace
        The kept start's run; ``loglik_history`` its objective (the log-posterior when
        ``ridge > 0``) at each accepted iterate, non-decreasing.
    covariance_type : str
    n_parameters : int
        Free parameters ``k``: covariances (``K p(p+1)/2`` full, ``p(p+1)/2`` tied,
        ``K p`` diag, ``K`` spherical), ``K p`` means and ``K - 1`` weights.
    aic, bic : float
        ``-2 loglik + 2 k`` and ``-2 loglik + k log n`` (scikit-learn's sign: lower is
        better; mclust reports the negative of this BIC, higher better).
    bic_table : DataFrame or None
        When several ``n_components`` were fitted: per ``K``, ``loglik``,
        ``n_parameters``, ``aic``, ``bic``, ``converged``; the result is the lowest-BIC fit.
    conditional_var : DataFrame, shape (n, p)
        Mixture conditional variance of each modelled cell given the row's observed cells,
        ``sum_k r_ik (V_k + m_k^2) - (sum_k r_ik m_k)^2``; 0 where observed. Built on
        first access and cached.
    n_components : int
    columns, passthrough : tuple
    n_missing : Series, shape (p,)
    n_rows, n_patterns, n_init : int
    n_singular_starts : int
        Starts in which a component collapsed (dropped unless every start did).
    seed : int or None
        The seed of the starts: ``impute_mixture(..., seed=result.seed)`` repeats the fit
        (fresh entropy when ``seed=None`` was passed; None when a ``SeedSequence`` was).
    ridge, tol : float
    max_iter : int
    """

    completed: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    weights: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    means: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    covs: tuple[pd.DataFrame, ...] = _FramesField()  # type: ignore[assignment]
    responsibilities: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    labels: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    loglik: float
    trace: EMTrace
    covariance_type: str
    n_parameters: int
    columns: tuple[Hashable, ...]
    passthrough: tuple[Hashable, ...]
    n_missing: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    n_rows: int
    n_patterns: int
    n_init: int
    n_singular_starts: int
    ridge: float
    tol: float
    max_iter: int
    bic_table: pd.DataFrame | None = ReadOnlyField()  # type: ignore[assignment]
    conditional_var_source: Callable[[], pd.DataFrame] = field(repr=False, compare=False)
    seed: int | None = None

    def _hash_key(self) -> tuple[Any, ...]:
        t = self.trace
        return (self.n_rows, self.n_components, t.n_iter, t.n_evals, t.stop_reason)

    @property
    def n_components(self) -> int:
        """``K``."""
        return len(self.__dict__["weights"])

    @property
    def aic(self) -> float:
        """``-2 loglik + 2 n_parameters``."""
        return -2.0 * self.loglik + 2.0 * self.n_parameters

    @property
    def bic(self) -> float:
        """``-2 loglik + n_parameters log n`` (lower is better; mclust's BIC is its negative)."""
        return -2.0 * self.loglik + self.n_parameters * math.log(self.n_rows)

    @cached_property
    def conditional_var(self) -> pd.DataFrame:
        """See the class docstring (computed on first access, then cached)."""
        return self.conditional_var_source()

    def with_bic_table(self, table: pd.DataFrame) -> MixtureImputeResult:
        """This result with ``bic_table`` set (the lazy conditional variances shared)."""
        return dataclasses.replace(self, bic_table=table)

    def summary(self) -> str:
        """Readable text: data size, missingness, the fit, weights and means per component."""
        n_cells = self.n_rows * len(self.columns)
        miss = int(self.n_missing.sum())
        method = "maximum likelihood" if self.ridge == 0 else f"posterior mode, ridge prior {self.ridge:g}"
        fields = [
            ("rows", self.n_rows),
            ("modelled columns", len(self.columns)),
            ("missing cells", f"{miss:,} of {n_cells:,} ({100.0 * miss / n_cells:.1f}%)"),
            ("missingness patterns", self.n_patterns),
            ("components", self.n_components),
            ("covariance type", self.covariance_type),
            ("estimate", method),
            ("starts", f"{self.n_init} ({self.n_singular_starts} collapsed)"),
            *run_fields(self, singular="a component collapsed (no maximum; try ridge > 0 or fewer components)"),
            ("log-likelihood", self.loglik),
            ("parameters", self.n_parameters),
            ("AIC", self.aic),
            ("BIC", self.bic),
        ]
        comp = pd.concat([self.weights, self.means], axis=1)
        parts = [
            render_title("Gaussian-mixture EM imputation"),
            render_fields(fields),
            "",
            "Components (weight, means)",
            render_table(comp),
        ]
        if self.bic_table is not None:
            parts += ["", "BIC by number of components", render_table(self.bic_table)]
        return "\n".join(parts)

    def to_dict(self, conditional_var: bool = False) -> dict[str, Any]:
        """JSON-ready dictionary (the :mod:`imputer._json` convention).

        Returns
        -------
        dict
            Keys ``columns``, ``passthrough``, ``completed``, ``responsibilities`` (split
            frames), ``labels`` (list aligned with ``completed["index"]``), ``weights``
            (list by component), ``means`` (``{"columns", "data"}``, rows by component),
            ``covs`` (list of ``{"columns", "data"}``), ``covariance_type``, ``loglik``,
            ``aic``, ``bic``, ``n_parameters``, ``loglik_history``, ``n_iter``, ``n_evals``,
            ``converged``, ``trace``, ``n_rows``, ``n_missing``, ``bic_table`` (split frame
            or None), ``seed`` (int or None), ``options`` and, when asked, ``conditional_var``.
        """
        means = self.means
        out: dict[str, Any] = {
            "columns": json_labels(self.columns),
            "passthrough": json_labels(self.passthrough),
            "completed": split_frame(self.completed),
            "responsibilities": split_frame(self.responsibilities),
            "labels": [int(v) for v in self.labels.tolist()],
            "weights": float_list(self.weights.to_numpy()),
            "means": {"columns": json_labels(means.columns), "data": [float_list(r) for r in means.to_numpy()]},
            "covs": [square_frame(c) for c in self.covs],
            "covariance_type": self.covariance_type,
            "loglik": json_value(self.loglik),
            "aic": json_value(self.aic),
            "bic": json_value(self.bic),
            "n_parameters": int(self.n_parameters),
            "loglik_history": float_list(self.loglik_history),
            "n_iter": int(self.n_iter),
            "n_evals": int(self.n_evals),
            "converged": bool(self.converged),
            "trace": self.trace.to_dict(),
            "n_rows": int(self.n_rows),
            "n_missing": labelled_values(self.n_missing.astype(np.int64)),
            "bic_table": None if self.bic_table is None else split_frame(self.bic_table),
            "seed": None if self.seed is None else int(self.seed),
            "options": {
                "n_init": int(self.n_init),
                "tol": float(self.tol),
                "max_iter": int(self.max_iter),
                "ridge": float(self.ridge),
            },
        }
        if conditional_var:
            out["conditional_var"] = split_frame(self.conditional_var)
        return out
