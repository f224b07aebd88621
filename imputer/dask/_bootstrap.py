r"""Bootstrap EM on a Dask DataFrame: Poisson resamples by partition, EM on their pattern tables (private).

In memory (:mod:`imputer.mi._bootstrap`, Amelia's EMB) imputation ``j`` refits EM on
``n`` rows drawn with replacement. A multinomial resample couples all rows of all
partitions; the *Poisson bootstrap* draws each row's multiplicity independently,
``w_i ~ Poisson(1)`` (the limit of the multinomial's ``Binomial(n, 1/n)`` margins; the
resample has ``Poisson(n)`` rows instead of exactly ``n``, asymptotically the same
bootstrap: Hanley & MacGibbon 2006, Chamandy et al. 2012), so every partition resamples
its own rows with its own stream. One pass over the data makes, per partition, the
:class:`~imputer.dask._patterns.ScanPart` of each of the ``m`` resamples (its moments and
raw pattern table, :func:`~imputer.dask._patterns.scan_partition` of the repeated
rows); a tree reduction merges them resample by resample; on the client each merged
resample gets its own scaling and start values (:func:`~imputer.dask._scan.finish`, as
``impute(resample)`` would) and the EM of :func:`~imputer.dask._engine.fit` on its
table. Streams: resample ``j`` of partition ``i`` uses ``default_rng(R_ji)``, ``R`` spawned
from the bootstrap's own ``SeedSequence``.

A resample can be unusable (a column with no observed value, a constant column, a
singular fit): the error names the imputation; there is no redraw (it would cost a pass).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Hashable
from typing import Any

import numpy as np

from imputer.dask import _kernels as k
from imputer.dask._engine import Backend, Partitions, fit, tree
from imputer.dask._patterns import ScanPart, TableStatistics, merge_scans, scan_partition, standardised
from imputer.dask._scan import finish
from imputer.errors import ImputerValueError

__all__ = ["bootstrap_fits"]


def _resample_part(
    frame: Any, columns: tuple[Hashable, ...], seeds: list[np.random.SeedSequence], budget: int
) -> list[ScanPart]:
    values = k.column_values(frame, columns)
    n = values[0].shape[0]
    out = []
    for seed in seeds:
        w = np.random.default_rng(seed).poisson(1.0, size=n)
        rows = np.repeat(np.arange(n), w)
        out.append(scan_partition(tuple(np.take(v, rows) for v in values), budget))
    return out


def _merge(*parts: list[ScanPart], budget: int) -> list[ScanPart]:
    return [merge_scans(*same, budget=budget) for same in zip(*parts)]


def bootstrap_fits(
    partitions: Partitions,
    backend: Backend,
    seeds: list[list[np.random.SeedSequence]],
    *,
    budget: int,
    tol: float,
    max_iter: int,
    ridge: float,
) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """EM on ``m`` Poisson resamples: ``(mu, sigma, converged)`` per resample, original units.

    ``seeds[i][j]``: the stream of resample ``j`` in partition ``i``.

    Raises
    ------
    ImputerValueError
        A resample too large for a pattern table, or unusable (module docstring).
    """
    from dask import delayed

    token = uuid.uuid4().hex[:8]
    cols = partitions.columns
    parts = [
        delayed(_resample_part, pure=True)(f, cols, seeds[i], budget, dask_key_name=f"imputer-boot-{token}-{i}")
        for i, f in enumerate(partitions.frames)
    ]
    merged: list[ScanPart] = backend.compute(tree(parts, functools.partial(_merge, budget=budget), f"imputer-boot-sum-{token}"))
    out = []
    for j, scan in enumerate(merged, start=1):
        why = f"method='bootstrap', imputation {j}: the resample"
        if scan.table is None:
            raise ImputerValueError(f"{why} has too many distinct missingness patterns for a pattern table")
        if scan.moments.n < 2:
            raise ImputerValueError(f"{why} has fewer than 2 rows")
        try:
            totals = finish(scan.moments, cols)
        except ImputerValueError as exc:
            raise ImputerValueError(f"{why}: {exc}") from None
        source = TableStatistics(standardised(scan.table, scan.moments.shift, totals.scaling))
        res = fit(source, backend, totals, tol=tol, max_iter=max_iter, ridge=ridge, accelerate=True)
        if res.singular:
            raise ImputerValueError(
                f"{why}: the fit is singular (smallest correlation eigenvalue {res.min_eig:.2g}); pass ridge > 0"
            )
        sc = totals.scaling
        out.append((sc.mean_to_original(res.mu), sc.cov_to_original(res.sigma), bool(res.trace.converged)))
    return out
