"""The result of :func:`imputer.multiple_impute`: ``m`` completed tables and how they were drawn.

A value, like :class:`~imputer.mvn.result.ImputeResult`: equal runs compare equal, and
nothing read from it changes it (every pandas object read is a new object over the same
data, :mod:`imputer._frozen`). ``to_dict()`` follows :mod:`imputer._json`; the
imputations travel as mice's *long* table (``.imp``, ``.id``, then the data) in split form.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imputer._frozen import ReadOnlyField, same_fields, view
from imputer._json import finite_or_none, float_list, json_labels, labelled_values, split_frame, square_frame
from imputer._render import render_fields, render_table, render_title
from imputer.errors import ImputerValueError
from imputer.mvn.result import ImputeResult

__all__ = ["MultipleImputation"]

_METHOD_TEXT = {
    "posterior": "data augmentation (posterior draws, Jeffreys prior)",
    "bootstrap": "bootstrap EM (EMB)",
}


_MODEL_TEXT = {
    "normal": "multivariate normal", "t": "multivariate t", "mixture": "Gaussian mixture", "glom": "general location model",
}


class _ReadOnlyTuple(ReadOnlyField):
    """A tuple field whose pandas members (also inside pairs) are stored and read as views."""

    @staticmethod
    def _views(value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(_ReadOnlyTuple._views(v) for v in value)
        return view(value)

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            raise AttributeError(self._name)
        return self._views(obj.__dict__[self._name])

    def __set__(self, obj: Any, value: Any) -> None:
        if self._name in obj.__dict__:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {self._name!r}")
        obj.__dict__[self._name] = self._views(tuple(value))


@dataclass(frozen=True, eq=False)
class MultipleImputation:
    """``m`` completed tables drawn from the posterior predictive distribution of the missing cells.

    Attributes
    ----------
    imputations : tuple of m DataFrames, each shape (n, k)
        The completed tables: the input's index, columns, column order and unmodelled
        columns; observed cells bit-for-bit the input's; every missing cell of a modelled
        column drawn. Dtypes as :attr:`ImputeResult.completed` (a modelled column with
        missing cells becomes ``float64``, or ``Float64`` for pandas nullable dtypes).
    original : DataFrame, shape (n, k)
        The input as it was (imputation 0 of :meth:`long`).
    params : tuple of m (Series (p,), DataFrame (p, p)) pairs
        The mean and covariance each imputation was drawn under (original units):
        posterior: the chain's draw ``theta_{t_j - 1}``; bootstrap: the EM estimate on
        imputation ``j``'s resample.
    em : ImputeResult
        The EM estimate (maximum likelihood, or posterior mode with ``ridge``), as
        :func:`imputer.impute` returns it.
    method : {"posterior", "bootstrap"}
    m : int
    seed : int
        The seed used: ``multiple_impute(..., seed=seed)`` repeats the imputations.
    burn_in, thin : int or None
        posterior: the chain's burn-in and spacing (imputation ``j`` is iteration
        ``burn_in + j * thin``); None for the bootstrap.
    rate : float or None
        posterior: the estimated worst fraction of missing information (EM's rate of
        convergence, :mod:`imputer.mi._rate`) that set the defaults of ``burn_in``/``thin``.
    wlf : Series or None
        posterior: the worst linear function ``v' theta_t`` at each iteration ``t = 0 ..
        burn_in + m*thin - 1`` (index ``iteration``).
    wlf_acf : Series or None
        posterior: its autocorrelation function after the burn-in, lags ``0 .. L``
        (index ``lag``; ``L = min(max(20, 2 thin), length - 1)``). Near 0 at lag ``thin``
        means nearly independent imputations (norm2's diagnostic).
    redraws : tuple of m ints, or None
        bootstrap: unusable resamples discarded before each imputation's.
    model : {"normal", "t", "mixture", "glom"}
        The imputation model. For t and mixture, ``em`` is the
        :class:`~imputer.mvt.result.TImputeResult` / :class:`~imputer.mixture.result.MixtureImputeResult`
        of the whole data and ``params`` hold each refitted model's mean and covariance.
        For ``"glom"`` (``categorical=``), ``em`` is the :class:`~imputer.glom.GlomImputeResult`
        and ``params`` m triples ``(probabilities (C,), cell_means (C, p), cov (p, p))``.
    """

    imputations: tuple[pd.DataFrame, ...] = _ReadOnlyTuple()  # type: ignore[assignment]
    original: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    params: tuple[tuple[pd.Series, pd.DataFrame], ...] = _ReadOnlyTuple()  # type: ignore[assignment]
    em: ImputeResult | Any
    method: str
    m: int
    seed: int
    burn_in: int | None
    thin: int | None
    rate: float | None
    wlf: pd.Series | None = ReadOnlyField()  # type: ignore[assignment]
    wlf_acf: pd.Series | None = ReadOnlyField()  # type: ignore[assignment]
    redraws: tuple[int, ...] | None = None
    model: str = "normal"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MultipleImputation):
            return NotImplemented
        return self is other or same_fields(self, other)

    def __hash__(self) -> int:
        return hash(("MultipleImputation", self.model, self.method, self.m, self.seed, self.burn_in, self.thin))

    @property
    def columns(self) -> tuple[Hashable, ...]:
        """Labels of the modelled columns (for the general location model: categorical, then continuous)."""
        if self.model == "glom":
            return tuple(self.em.categorical) + tuple(self.em.continuous)
        return self.em.columns

    def long(self, include_original: bool = False) -> pd.DataFrame:
        """All imputations stacked in mice's long convention.

        Parameters
        ----------
        include_original : bool, default False
            Put the input (with its missing cells) first, as ``.imp == 0``.

        Returns
        -------
        DataFrame, shape (m * n (+ n), 2 + k)
            Columns ``.imp`` (1..m; 0 for the original) and ``.id`` (the row label), then the
            data's columns; a fresh ``RangeIndex``.

        Raises
        ------
        ImputerValueError
            The data already has a column named ``.imp`` or ``.id``.
        """
        frames = ([self.original] if include_original else []) + list(self.imputations)
        first = frames[0]
        clash = [c for c in (".imp", ".id") if c in first.columns]
        if clash:
            raise ImputerValueError(f"long(): the data already has a column named {clash[0]!r}; rename it")
        n = first.shape[0]
        start = 0 if include_original else 1
        stacked = pd.concat(frames, axis=0, ignore_index=True)
        imp = np.repeat(np.arange(start, start + len(frames), dtype=np.int64), n)
        ids = first.index.to_numpy()
        out = pd.concat(
            [pd.DataFrame({".imp": imp, ".id": np.tile(ids, len(frames))}, index=stacked.index), stacked], axis=1
        )
        return out

    def analyze(self, fn: Callable[[pd.DataFrame], Any]) -> Any:
        """Run an analysis on each imputation, in order, for Rubin's rules.

        Parameters
        ----------
        fn : callable
            ``fn(df)`` for each completed table; returns an object with ``params`` and
            ``cov_params()`` (every statsmodels results object), or a pair
            ``(estimates Series, covariance DataFrame (k, k) or standard-error Series (k,))``.

        Returns
        -------
        Analyses
            Estimates (m x k), their covariances (m x k x k), the complete-data residual df
            when every analysis reports ``df_resid``; ``.pool()`` combines them.

        Raises
        ------
        ImputerValueError
            ``fn`` raised (the imputation named; the original exception chained), or its
            results are malformed or disagree in shape or term names between imputations.
        ImputerTypeError
            ``fn`` returned something else.
        """
        from imputer.mi.analyses import analyze

        return analyze(fn, self.imputations)

    def summary(self) -> str:
        """Readable text: method, chain settings and diagnostics, between-imputation spread."""
        em = self.em
        n_cells = em.n_rows * len(self.columns)
        miss = int(em.n_missing.sum())
        ridge = getattr(em, "ridge", 0.0)
        fields: list[tuple[str, Any]] = [
            ("method", _METHOD_TEXT.get(self.method, self.method) + (f", ridge prior {ridge:g}" if ridge > 0 else "")),
            ("imputations", self.m),
            ("seed", str(self.seed)),
            ("rows", em.n_rows),
            ("modelled columns", len(self.columns)),
            ("missing cells", f"{miss:,} of {n_cells:,} ({100.0 * miss / n_cells:.1f}%)"),
            ("EM iterations", em.n_iter),
            ("EM converged", em.converged),
        ]
        if self.method == "posterior":
            acf = self.wlf_acf
            lag = self.thin if acf is not None and self.thin is not None and self.thin < len(acf) else None
            fields += [
                ("worst fraction missing info", self.rate),
                ("burn-in", self.burn_in),
                ("spacing (thin)", self.thin),
                ("WLF autocorrelation, lag 1", float(acf.iloc[1]) if acf is not None and len(acf) > 1 else float("nan")),
            ]
            if lag is not None and acf is not None:
                fields.append((f"WLF autocorrelation, lag {lag}", float(acf.iloc[lag])))
        else:
            fields.append(("resamples redrawn", int(sum(self.redraws or ()))))
        if self.model == "glom":
            return self._glom_summary(fields)
        means = np.array([mu.to_numpy(dtype=float) for mu, _ in self.params])
        em_mean = em.weights.to_numpy(float) @ em.means if self.model == "mixture" else em.mean
        em_mean = pd.Series(np.asarray(em_mean, dtype=float), index=pd.Index(list(em.columns), tupleize_cols=False))
        per_col = pd.DataFrame(
            {
                "missing": em.n_missing.astype(int),
                "EM mean": em_mean,
                "mean of draws": means.mean(axis=0),
                "sd of draws": means.std(axis=0, ddof=1) if self.m > 1 else np.full(means.shape[1], np.nan),
            },
            index=pd.Index(list(em.columns), tupleize_cols=False),
        )
        return "\n".join(
            [
                render_title(f"Multiple imputation ({_MODEL_TEXT.get(self.model, self.model)})"),
                render_fields(fields),
                "",
                "Per column (means drawn for the imputations)",
                render_table(per_col),
            ]
        )

    def _glom_summary(self, fields: list[tuple[str, Any]]) -> str:
        """The general location model's summary: cell probabilities and overall continuous means, EM and draws."""
        em = self.em
        probs = np.array([pi.to_numpy(dtype=float) for pi, _, _ in self.params])
        sd = probs.std(axis=0, ddof=1) if self.m > 1 else np.full(probs.shape[1], np.nan)
        cells = pd.DataFrame({"EM": em.probabilities.to_numpy(float), "mean of draws": probs.mean(axis=0), "sd of draws": sd},
                             index=em.probabilities.index)
        parts = [render_title(f"Multiple imputation ({_MODEL_TEXT['glom']})"), render_fields(fields), "",
                 "Cell probabilities (drawn for the imputations)", render_table(cells)]
        if em.continuous:
            overall = np.array([pi.to_numpy(float) @ mu.to_numpy(float) for pi, mu, _ in self.params])
            per_col = pd.DataFrame(
                {
                    "missing": em.n_missing.loc[list(em.continuous)].astype(int),
                    "EM mean": em.probabilities.to_numpy(float) @ em.cell_means.to_numpy(float),
                    "mean of draws": overall.mean(axis=0),
                    "sd of draws": overall.std(axis=0, ddof=1) if self.m > 1 else np.full(overall.shape[1], np.nan),
                },
                index=pd.Index(list(em.continuous), tupleize_cols=False),
            )
            parts += ["", "Continuous columns (overall means drawn for the imputations)", render_table(per_col)]
        return "\n".join(parts)

    def to_dict(self, include_original: bool = False) -> dict[str, Any]:
        """JSON-ready dictionary (:mod:`imputer._json` conventions).

        Parameters
        ----------
        include_original : bool, default False
            Include the input as ``.imp == 0`` in ``long``.

        Returns
        -------
        dict
            ``model``, ``method``, ``m``, ``seed``, ``columns``, ``passthrough``, ``long`` (the long
            table, ``{"columns", "index", "data"}``), ``params`` (m objects ``{"mean",
            "cov"}``: a labelled vector and ``{"columns", "data"}``; for the general location
            model ``{"probabilities", "cell_means", "cov"}``, cells in ``em``'s order), ``em``
            (:meth:`ImputeResult.to_dict`, or the t's or mixture's ``to_dict()``), ``burn_in``, ``thin``, ``rate``, ``wlf_acf``
            (list by lag), ``redraws``, ``options`` (``tol``, ``max_iter``, ``ridge``).
        """
        return {
            "model": self.model,
            "method": self.method,
            "m": int(self.m),
            "seed": int(self.seed),
            "columns": json_labels(self.columns),
            "passthrough": json_labels(self.em.passthrough),
            "long": split_frame(self.long(include_original=include_original)),
            "params": self._params_dict(),
            "em": self.em.to_dict(),
            "burn_in": self.burn_in,
            "thin": self.thin,
            "rate": None if self.rate is None else finite_or_none(self.rate),
            "wlf_acf": None if self.wlf_acf is None else float_list(self.wlf_acf),
            "redraws": None if self.redraws is None else [int(r) for r in self.redraws],
            "options": {"tol": float(self.em.tol), "max_iter": int(self.em.max_iter),
                        "ridge": float(getattr(self.em, "ridge", 0.0)),
                        "prior": getattr(self.em, "prior", "ridge")},
        }

    def _params_dict(self) -> list[dict[str, Any]]:
        if self.model != "glom":
            return [{"mean": labelled_values(mu.astype(float)), "cov": square_frame(cov)} for mu, cov in self.params]
        return [
            {"probabilities": float_list(pi.to_numpy(dtype=float)),
             "cell_means": {"columns": json_labels(mu.columns), "data": [float_list(r) for r in mu.to_numpy(dtype=float)]},
             "cov": square_frame(cov)}
            for pi, mu, cov in self.params
        ]
