r"""EM for the multivariate normal over the partitions of a Dask DataFrame (private).

Each EM evaluation at ``theta = (mu, Sigma)`` is a map-reduce: every partition ``P``
gives the additive E-step statistics ``T_P(theta)`` of the in-memory engine
(:func:`imputer.dask._kernels.partition_stats`), a tree reduction sums them,
``T(theta) = sum_P T_P(theta)``, and the client does the M-step and the objective on
the sum (:func:`imputer.dask._kernels.em_map`). On top, the in-memory SQUAREM driver
runs unchanged (:class:`DaskMVNProblem` is an :class:`~imputer.mvn._problem.MVNProblem`
whose EM map is the map-reduce), so the iterates are the in-memory engine's up to the
rounding of the sums' order.

When the scan (:func:`scan`, the one pass that always runs) produced the table's
per-pattern moments, the statistics come from them on the client instead
(:class:`~imputer.dask._patterns.TableStatistics`, same interface) and no evaluation
touches the cluster. Otherwise the partitions are either *persisted* (their standardised layouts built once and kept
in the cluster's memory: one read of the data, then only the statistics travel) or
*streamed* (each evaluation reads every partition again and builds its layout: memory
independent of the table's size, at one read per evaluation).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from imputer.dask import _kernels as k
from imputer.dask._patterns import ScanPart, TableStatistics, merge_scans, scan_partition
from imputer.dask._scan import Totals
from imputer.mvn._newton import newton_affordable

__all__ = ["Backend", "DaskMVNProblem", "EvaluationHook", "Partitions", "fit", "scan", "tree"]

#: Inputs combined per task of a tree reduction.
SPLIT_EVERY = 8

#: ``hook(k, objective)`` after the ``k``-th EM evaluation (progress display).
EvaluationHook = Callable[[int, float], None]


class Backend:
    """Where graphs run: a given ``distributed.Client``, or dask's current default scheduler."""

    def __init__(self, client: Any | None) -> None:
        self.client = client

    def compute(self, obj: Any) -> Any:
        import dask

        if self.client is not None:
            return self.client.compute(obj, sync=True)
        return dask.compute(obj)[0]

    def persist(self, objs: list[Any], progress: bool = False) -> list[Any]:
        """Computed in the cluster's memory: futures on a distributed client (``progress``: its text bar), else persisted delayed objects."""
        import dask

        client = self.distributed()
        if client is not None:
            from distributed import progress as progress_bar
            from distributed import wait

            futures = list(client.compute(objs))
            with client.as_current():  # wait() and progress() ask for the current client
                if progress:
                    progress_bar(futures)
                else:
                    wait(futures)
            return futures
        return list(dask.persist(*objs))

    def distributed(self) -> Any | None:
        """The distributed client the graphs run on, if any."""
        if self.client is not None:
            return self.client
        if "distributed" not in sys.modules:  # no client can exist: don't pay for the import
            return None
        from distributed import default_client

        try:
            return default_client()
        except ValueError:
            return None


def tree(items: Sequence[Any], combine: Callable[..., Any], name: str) -> Any:
    """Delayed tree reduction of delayed ``items`` by ``combine(*group)``, ``SPLIT_EVERY`` at a time."""
    from dask import delayed

    level = list(items)
    depth = 0
    while len(level) > 1:
        level = [
            delayed(combine, pure=True)(*level[a : a + SPLIT_EVERY], dask_key_name=f"{name}-{depth}-{a}")
            for a in range(0, len(level), SPLIT_EVERY)
        ]
        depth += 1
    return level[0]


def _add(*parts: k.SufficientStats) -> k.SufficientStats:
    return sum(parts[1:], parts[0])


def _frame_values(frame: Any, columns: tuple[Hashable, ...]) -> tuple[np.ndarray, ...]:
    return k.column_values(frame, columns)


def _stream_stats(frame: Any, columns: tuple[Hashable, ...], scaling: k.Scaling, theta: tuple[Any, ...]) -> k.SufficientStats:
    return k.partition_stats(k.layout(k.column_values(frame, columns), scaling), *theta)


def _layout_stats(data: k.Layout, theta: tuple[Any, ...]) -> k.SufficientStats:
    return k.partition_stats(data, *theta)


@dataclass
class Partitions:
    """The table's partitions as delayed objects (the modelled columns only).

    ``frames`` are the partitions of the input; ``layouts`` their standardised layouts
    once persisted (None while streaming).
    """

    frames: list[Any]
    columns: tuple[Hashable, ...]
    layouts: list[Any] | None = None

    def persist_layouts(self, backend: Backend, scaling: k.Scaling, progress: bool = False) -> None:
        from dask import delayed

        token = uuid.uuid4().hex[:8]
        lays = [
            delayed(k.layout, pure=True)(delayed(_frame_values)(f, self.columns), scaling, dask_key_name=f"imputer-layout-{token}-{i}")
            for i, f in enumerate(self.frames)
        ]
        self.layouts = backend.persist(lays, progress)

    def statistics(self, backend: Backend, mu: np.ndarray, sigma: np.ndarray, prec: tuple[np.ndarray, float], scaling: k.Scaling) -> k.SufficientStats:
        """``sum_P T_P(mu, sigma)`` over the partitions (one EM evaluation's map-reduce)."""
        from dask import delayed

        client = backend.distributed()
        if client is not None and self.layouts is not None:
            return _futures_statistics(client, self.layouts, (mu, sigma, prec))
        token = uuid.uuid4().hex
        theta = delayed((mu, sigma, prec), traverse=False, name=f"imputer-theta-{token}")
        if self.layouts is not None:
            parts = [
                delayed(_layout_stats, pure=True)(lay, theta, dask_key_name=f"imputer-estep-{token}-{i}")
                for i, lay in enumerate(self.layouts)
            ]
        else:
            parts = [
                delayed(_stream_stats, pure=True)(f, self.columns, scaling, theta, dask_key_name=f"imputer-estep-{token}-{i}")
                for i, f in enumerate(self.frames)
            ]
        return backend.compute(tree(parts, _add, f"imputer-sum-{token}"))


#: Above this many columns the parameters are scattered once per evaluation rather than
#: sent with each partition's task.
_SCATTER_P = 100


def _futures_statistics(client: Any, layouts: list[Any], theta: tuple[Any, ...]) -> k.SufficientStats:
    """The map-reduce of :meth:`Partitions.statistics` on futures (persisted layouts on a cluster).

    Submitting futures costs one message per task; a delayed graph's submission (its
    optimisation and packing) costs tens of milliseconds per evaluation.
    """
    arg: Any = client.scatter([theta], hash=False)[0] if theta[0].shape[0] > _SCATTER_P else theta
    level = [client.submit(_layout_stats, lay, arg, pure=False) for lay in layouts]
    while len(level) > 1:
        level = [client.submit(_add, *level[a : a + SPLIT_EVERY], pure=False) for a in range(0, len(level), SPLIT_EVERY)]
    return level[0].result()


def _scan_part(frame: Any, columns: tuple[Hashable, ...], budget: int) -> ScanPart:
    return scan_partition(k.column_values(frame, columns), budget)


def scan(partitions: Partitions, backend: Backend, budget: int) -> ScanPart:
    """The one pass over the data: the table's :class:`~imputer.dask._scan.Moments` (scaling, start
    values, counts) and, when its distinct patterns fit ``budget`` bytes, its pattern table
    (:mod:`imputer.dask._patterns`, raw values less ``moments.shift``)."""
    from dask import delayed

    token = uuid.uuid4().hex[:8]
    parts = [
        delayed(_scan_part, pure=True)(f, partitions.columns, budget, dask_key_name=f"imputer-scan-{token}-{i}")
        for i, f in enumerate(partitions.frames)
    ]
    return backend.compute(tree(parts, functools.partial(merge_scans, budget=budget), f"imputer-scan-sum-{token}"))


class DaskMVNProblem(k.MVNProblem):
    """:class:`~imputer.mvn._problem.MVNProblem` whose EM map is a map-reduce over partitions.

    Packing, feasibility and the convergence measure are the in-memory problem's; only
    :meth:`step` and :meth:`evaluate` run the E-step on the partitions.
    """

    def __init__(
        self,
        partitions: Partitions | TableStatistics,
        backend: Backend,
        scaling: k.Scaling,
        ridge: float,
        hook: EvaluationHook | None = None,
        n_missing: np.ndarray | None = None,
        n_rows: int | None = None,
        n_patterns: int | None = None,
    ) -> None:
        super().__init__(SimpleNamespace(p=len(scaling.center)), ridge, n_missing)  # type: ignore[arg-type]
        self.partitions, self.backend, self.scaling = partitions, backend, scaling
        self.hook = hook
        self.n_evals = 0
        self.n_rows, self.n_patterns = n_rows, n_patterns  # for the Newton step (issue 16; None: none)

    def _em(self, mu: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        prec = k.precision(sigma)
        stats = self.partitions.statistics(self.backend, mu, sigma, prec, self.scaling)
        out = k.em_map(stats, mu, sigma, self.ridge, prec)
        self.n_evals += 1
        if self.hook is not None:
            self.hook(self.n_evals, out[3])
        return out

    def newton_sums(self) -> Any:
        """The Newton step's information sums: from the pattern table on the client when the fit
        has one, else a map-reduce over the partitions (one pass); as in memory."""
        if self.n_rows is None or not newton_affordable(self.p, self.n_patterns, self.n_rows):
            return None

        def sums(mu: np.ndarray, sigma: np.ndarray) -> Any:
            from imputer.dask._information import partition_sums, table_information  # they import this module

            if isinstance(self.partitions, TableStatistics):
                return table_information(self.partitions.table, mu, sigma)
            return partition_sums(self.partitions.frames, self.partitions.columns, self.backend, mu, sigma, self.scaling)

        return self.n_rows, sums

    def step(self, x: np.ndarray) -> tuple[np.ndarray | None, float]:
        """The EM map ``(F(x), L(x))`` as :meth:`MVNProblem.step`, its E-step over the partitions."""
        mu, sigma = self.unpack(x)
        if x is not self._known_feasible and k.min_corr_eig(sigma) < k.SINGULAR_EIG:
            return x, -np.inf
        try:
            mu_new, sigma_new, _, objective = self._em(mu, sigma)
        except k.Infeasible:
            return x, -np.inf
        if k.min_corr_eig(sigma_new) < k.SINGULAR_EIG:
            return None, objective
        self._known_feasible = self.pack((mu_new, sigma_new))
        return self._known_feasible, objective

    def evaluate(self, params: k.MeanCov) -> Any:
        """``(loglik, objective)`` at ``params`` (None if infeasible)."""
        if k.min_corr_eig(params.sigma) < k.SINGULAR_EIG:
            return None
        try:
            _, _, ll, objective = self._em(params.mu, params.sigma)
        except k.Infeasible:
            return None
        return ll, objective


def fit(
    partitions: Partitions | TableStatistics,
    backend: Backend,
    totals: Totals,
    *,
    tol: float,
    max_iter: int,
    ridge: float,
    accelerate: bool,
    hook: EvaluationHook | None = None,
) -> k.MVNFit:
    """EM from the in-memory start values, as :func:`imputer.mvn._problem.fit_mvn` (standardised units)."""
    problem = DaskMVNProblem(partitions, backend, totals.scaling, ridge, hook, totals.n_missing, totals.n_rows, totals.n_patterns)
    start = k.start_from_correlation(totals.corr)
    with k.blas_threads(problem.p):  # the client's M-steps and, threaded, the partitions' E-steps
        run = k.run_em(problem, problem.pack(start), tol=tol, max_iter=max_iter, accelerate=accelerate)
        trace = run.trace
        params = problem.unpack(run.x)
        ev = problem.evaluate(params)
        fell_back = ev is None
        if fell_back:
            params = problem.unpack(run.best)
            ev = problem.evaluate(params)
            if ev is None:  # not reached: the best iterate passed the EM map's E-step
                raise k.Infeasible("no feasible iterate")
    min_eig = k.min_corr_eig(params.sigma)
    singular = fell_back or trace.stop_reason == "singular" or min_eig < k.NEAR_SINGULAR_EIG
    if singular and trace.stop_reason != "singular":
        trace = dataclasses.replace(trace, converged=False, stop_reason="singular")
    return k.MVNFit(
        mu=params.mu,
        sigma=params.sigma,
        loglik=ev[0],
        objective=ev[1],
        singular=singular,
        cond_diag=(),
        trace=trace,
    )


def print_evaluation(n: int, objective: float) -> None:
    """The progress line of an EM evaluation (stderr, rewritten in place)."""
    sys.stderr.write(f"\r[imputer] EM evaluation {n:4d}  objective {objective: .10g}")
    sys.stderr.flush()
