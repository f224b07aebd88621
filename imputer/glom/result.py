"""The result of :func:`imputer.impute_glom`: general-location-model estimates and the completed table.

A frozen value like :class:`~imputer.mixture.result.MixtureImputeResult` (read-only pandas
fields, value equality, the :mod:`imputer._json` wire convention for ``to_dict()``).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imputer._em.trace import EMTrace, TraceFields
from imputer._frozen import ReadOnlyField, ValueResult
from imputer._json import float_list, json_labels, json_value, keyed, labelled_values, split_frame, square_frame
from imputer._render import render_fields, render_table, render_title, run_fields

__all__ = ["GlomImputeResult"]



@dataclass(frozen=True, eq=False)
class GlomImputeResult(TraceFields, ValueResult):
    """Maximum-likelihood general location model and completed table.

    Attributes
    ----------
    completed : DataFrame, shape (n, k)
        The input with every missing continuous cell replaced by its conditional
        expectation given the row's observed cells (a mixture over the compatible
        cells) and every missing categorical cell by its most probable level; each
        categorical column keeps its dtype (a ``category`` its categories), continuous
        columns with gaps come back as ``float64`` (``Float64`` for nullable dtypes),
        other columns and observed cells unchanged.
    probabilities : Series, shape (C,)
        Cell probabilities ``pi_c``, indexed by the level combinations (a ``MultiIndex``
        named by the categorical columns; a one-cell ``RangeIndex`` without them).
    cell_means : DataFrame, shape (C, p)
        ``mu_c``: cells x continuous columns (additive: intercept plus main effects).
    cov : DataFrame, shape (p, p)
        The common within-cell covariance ``Sigma``.
    level_probabilities : Mapping of label -> DataFrame, shape (r_j, L_j)
        For each categorical column, its rows with a missing cell (original index) and
        their posterior level probabilities given the row's observed cells; rows sum to 1.
    loglik : float
        Observed-data log-likelihood at the estimate, constants included.
    trace : EMTrace
        ``loglik_history`` is non-decreasing.
    means : str
        ``"saturated"`` or ``"additive"``.
    probability_model : str
        ``"saturated"`` or ``"pairwise"`` (log-linear: main effects and pairwise associations).
    n_parameters : int
        Free probabilities (``C - 1`` saturated; ``sum_j (L_j - 1) + sum_{j<k} (L_j - 1)(L_k - 1)``
        pairwise), plus ``C p`` (saturated means) or ``(1 + sum_j (L_j - 1)) p`` (additive), plus ``p(p+1)/2``.
    categorical, continuous, passthrough : tuple
        Column labels by role (passthrough: carried through unchanged).
    n_missing : Series
        Missing cells per modelled column (categorical first).
    n_rows, n_cells : int
    tol : float
    max_iter : int
    accelerate : bool
    """

    completed: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    probabilities: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    cell_means: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    cov: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    level_probabilities: Mapping[Hashable, pd.DataFrame] = ReadOnlyField()  # type: ignore[assignment]
    loglik: float
    trace: EMTrace
    means: str
    probability_model: str
    n_parameters: int
    categorical: tuple[Hashable, ...]
    continuous: tuple[Hashable, ...]
    passthrough: tuple[Hashable, ...]
    n_missing: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    n_rows: int
    n_cells: int
    tol: float
    max_iter: int
    accelerate: bool

    def _hash_key(self) -> tuple[Any, ...]:
        t = self.trace
        return (self.n_rows, self.n_cells, t.n_iter, t.n_evals, t.stop_reason)

    @property
    def aic(self) -> float:
        """``-2 loglik + 2 n_parameters``."""
        return -2.0 * self.loglik + 2.0 * self.n_parameters

    @property
    def bic(self) -> float:
        """``-2 loglik + n_parameters log n``."""
        return -2.0 * self.loglik + self.n_parameters * math.log(self.n_rows)

    def summary(self) -> str:
        """Readable text: data size, the fit, cell probabilities and means, the covariance."""
        miss = int(self.n_missing.sum())
        n_cells = self.n_rows * len(self.n_missing)
        fields = [
            ("rows", self.n_rows),
            ("categorical columns", ", ".join(map(str, self.categorical)) or "none"),
            ("continuous columns", ", ".join(map(str, self.continuous)) or "none"),
            ("missing cells", f"{miss:,} of {n_cells:,} ({100.0 * miss / max(n_cells, 1):.1f}%)"),
            ("cells", self.n_cells),
            ("cell means", self.means),
            ("cell probabilities", self.probability_model),
            *run_fields(self, singular="the covariance heads to singular (no maximum)"),
            ("log-likelihood", self.loglik),
            ("parameters", self.n_parameters),
            ("AIC", self.aic),
            ("BIC", self.bic),
        ]
        parts = [render_title("General location model EM imputation"), render_fields(fields), ""]
        parts += ["Cells (probability, means)", render_table(pd.concat([self.probabilities, self.cell_means], axis=1))]
        if self.continuous:
            parts += ["", "Within-cell covariance", render_table(self.cov)]
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the :mod:`imputer._json` convention).

        Returns
        -------
        dict
            ``categorical``, ``continuous``, ``passthrough``, ``completed`` (split frame),
            ``cells`` (list of level combinations, each a list with one level per
            categorical column), ``probabilities`` (list by cell), ``cell_means``
            (``{"columns", "data"}``, rows by cell), ``cov`` (``{"columns", "data"}``),
            ``level_probabilities`` (``{column key: {"levels", "index", "data"}}``: the levels as JSON values, the rows' labels, their probabilities), ``means``, ``probability_model``, ``loglik``,
            ``aic``, ``bic``, ``n_parameters``, ``loglik_history``, ``n_iter``,
            ``n_evals``, ``converged``, ``trace``, ``n_rows``, ``n_cells``, ``n_missing``,
            ``options``.
        """
        probs = self.probabilities
        cells = [[json_value(v) for v in (c if isinstance(c, tuple) else (c,))] for c in probs.index] if self.categorical else [[]]
        cm = self.cell_means
        return {
            "categorical": json_labels(self.categorical),
            "continuous": json_labels(self.continuous),
            "passthrough": json_labels(self.passthrough),
            "completed": split_frame(self.completed),
            "cells": cells,
            "probabilities": float_list(probs.to_numpy()),
            "cell_means": {"columns": json_labels(cm.columns), "data": [float_list(r) for r in cm.to_numpy(dtype=float)]},
            "cov": square_frame(self.cov),
            "level_probabilities": keyed((k, _levels(v)) for k, v in self.level_probabilities.items()),
            "means": self.means,
            "probability_model": self.probability_model,
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
            "n_cells": int(self.n_cells),
            "n_missing": labelled_values(self.n_missing.astype(np.int64)),
            "options": {"tol": float(self.tol), "max_iter": int(self.max_iter), "accelerate": bool(self.accelerate)},
        }


def _levels(frame: pd.DataFrame) -> dict[str, Any]:
    """A column's posterior level probabilities: ``{"levels", "index", "data"}`` (levels keep their JSON type)."""
    out = split_frame(frame)
    return {"levels": [json_value(v) for v in frame.columns], "index": out["index"], "data": out["data"]}
