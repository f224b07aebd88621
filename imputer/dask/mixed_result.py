"""The result of :func:`imputer.fit_mixed_frame` on a Dask DataFrame: estimates in memory, rows lazy.

The estimates (variance components, covariances, ``beta``, BLUPs ``u`` and their
``pev``, log-likelihood, the trace) are the ordinary pandas objects and numbers of
:class:`imputer.MixedResult`; the per-row ``fitted``, ``completed`` and ``residuals`` are
*lazy* Dask Series built by ``map_partitions`` with the final estimates (the input's
divisions and index), never collected to the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from imputer._em.trace import EMTrace, TraceFields
from imputer._frozen import ReadOnlyField, same_fields
from imputer.mixed.result import MixedEstimates

__all__ = ["DaskMixedResult"]


@dataclass(frozen=True, eq=False)
class DaskMixedResult(MixedEstimates, TraceFields):
    """Linear mixed model fitted to a Dask DataFrame (see :func:`imputer.dask.mixed.fit_mixed_frame`).

    A value: ``==`` compares the estimates, the trace and the options (not the lazy
    rows, which are functions of them and of the input). ``summary()`` is
    :meth:`imputer.MixedResult.summary` with the rows and partitions; ``to_dict()`` is
    :meth:`imputer.MixedResult.to_dict` without the per-row lists (``index``, ``fitted``,
    ``completed``, ``residuals``) plus ``n_rows`` and ``n_partitions``.

    Attributes
    ----------
    var_comp, covariances, correlations, beta, var_beta, u, pev
        As in :class:`imputer.MixedResult` (``beta`` shape (p,), ``var_beta`` (p, p),
        ``u[name]``/``pev[name]`` shape (q,) or (q, d) per term).
    fitted : dask.dataframe.Series, shape (n,), lazy
        ``X b + sum_i Z_i u_i`` for every row.
    completed : dask.dataframe.Series, shape (n,), lazy
        ``y`` where observed, ``fitted`` where missing (the prediction).
    residuals : dask.dataframe.Series, shape (n,), lazy
        ``y - fitted`` where observed, NaN elsewhere.
    loglik, aic, bic : float
    trace : EMTrace
    boundary : tuple of str
    method, engine : str
        ``engine`` is always ``"mme"`` (Henderson's equations on the summed statistics).
    n_obs, n_missing : int
        Rows with observed and with missing ``y``.
    n_rows, n_partitions : int
    tol, max_iter, accelerate
        The options of the fit.
    contrasts : Mapping of str -> str
    n_dropped, dropped
        Always 0 and () (``na_action="drop"`` is in memory only).
    """

    var_comp: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    covariances: Mapping[str, pd.DataFrame] = ReadOnlyField()  # type: ignore[assignment]
    correlations: Mapping[str, pd.DataFrame] = ReadOnlyField()  # type: ignore[assignment]
    beta: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    var_beta: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    u: Mapping[str, pd.Series | pd.DataFrame] = ReadOnlyField()  # type: ignore[assignment]
    pev: Mapping[str, pd.Series | pd.DataFrame] = ReadOnlyField()  # type: ignore[assignment]
    loglik: float
    aic: float
    bic: float
    trace: EMTrace
    boundary: tuple[str, ...]
    method: str
    n_obs: int
    n_missing: int
    engine: str
    tol: float
    max_iter: int
    accelerate: bool
    n_rows: int
    n_partitions: int
    contrasts: Mapping[str, str] = ReadOnlyField()  # type: ignore[assignment]
    n_dropped: int = 0
    dropped: tuple = ()
    fitted: Any = field(default=None, repr=False, compare=False)
    completed: Any = field(default=None, repr=False, compare=False)
    residuals: Any = field(default=None, repr=False, compare=False)

    _summary_engine_suffix = ", Dask"

    def _summary_extra(self) -> list[tuple[str, Any]]:
        return [("rows", self.n_rows), ("partitions", self.n_partitions)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DaskMixedResult):
            return NotImplemented
        return self is other or same_fields(self, other)

    def __hash__(self) -> int:
        t = self.trace
        return hash(("DaskMixedResult", self.method, self.n_rows, t.n_iter, t.n_evals, t.stop_reason))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the estimates (the lazy rows are not included).

        Returns
        -------
        dict
            The keys of :meth:`imputer.MixedResult.to_dict` but ``index``, ``fitted``,
            ``completed`` and ``residuals``, with its conventions; plus ``n_rows`` and
            ``n_partitions``.
        """
        out = self._estimates_dict({})
        out["n_rows"] = int(self.n_rows)
        out["n_partitions"] = int(self.n_partitions)
        return out
