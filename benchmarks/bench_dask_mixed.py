"""Benchmark ``fit_mixed_frame`` on a Dask DataFrame against the in-memory fit (issue 12).

Data: ``--rows`` rows (default 2,000,000), ``y = 1 + 0.5 x1 - 0.3 x2 + u_g + e`` with a
random intercept ``u_g ~ N(0, 1)`` over ``--levels`` groups (default 1,000, drawn
uniformly per row), ``e ~ N(0, 4)``, ``x1, x2 ~ N(0, 1)``, 1% of ``y`` missing; seed 0.

Printed: the in-memory :func:`imputer.fit_mixed_frame` on the pandas frame, and the same
call on ``dd.from_pandas(frame, npartitions=--partitions)`` (dask's threaded scheduler:
one pass for the levels, one for the partitions' Gram sums, EM on the client; the lazy
``completed`` is then computed once, timed separately), the wall times and their
ratio, the iterations, the largest relative difference of the estimates, and the
1-minute load average before and after.

Usage::

    python -m benchmarks.bench_dask_mixed                  # 2M rows, 1,000 levels, 16 partitions
    python -m benchmarks.bench_dask_mixed --rows 200000    # quicker
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd


def make(rows: int, levels: int, seed: int = 0) -> pd.DataFrame:
    """The benchmark table, shape (rows, 4): ``y``, ``x1``, ``x2``, ``g`` (categorical labels ``g0000``...)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, levels, rows)
    u = rng.normal(0.0, 1.0, levels)
    x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
    y = 1.0 + 0.5 * x1 - 0.3 * x2 + u[g] + rng.normal(0.0, 2.0, rows)
    y[rng.random(rows) < 0.01] = np.nan
    names = np.array([f"g{i:04d}" for i in range(levels)], dtype=object)
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "g": names[g]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--levels", type=int, default=1_000)
    ap.add_argument("--partitions", type=int, default=16)
    args = ap.parse_args()

    import dask.dataframe as dd

    import imputer

    formula = "y ~ x1 + x2 + (1 | g)"
    frame = make(args.rows, args.levels)
    ddf = dd.from_pandas(frame, npartitions=args.partitions)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    mem = imputer.fit_mixed_frame(frame, formula)
    t_mem = time.perf_counter() - t0
    t0 = time.perf_counter()
    dsk = imputer.fit_mixed_frame(ddf, formula)
    t_dask = time.perf_counter() - t0
    t0 = time.perf_counter()
    completed = dsk.completed.compute()
    t_rows = time.perf_counter() - t0
    load1 = os.getloadavg()[0]

    def rel(a: pd.Series | pd.DataFrame, b: pd.Series | pd.DataFrame) -> float:
        x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        return float(np.max(np.abs(x - y)) / np.max(np.abs(y)))

    diff = max(
        rel(dsk.beta, mem.beta), rel(dsk.var_comp, mem.var_comp), rel(dsk.u["g"], mem.u["g"]),
        abs(dsk.loglik - mem.loglik) / abs(mem.loglik), rel(completed, mem.completed),
    )
    print(f"rows {args.rows:,}, levels {args.levels:,}, partitions {args.partitions}, y missing {mem.n_missing:,}")
    print(f"in memory : {t_mem:7.2f} s  ({mem.n_iter} iterations, engine {mem.engine})")
    print(f"Dask fit  : {t_dask:7.2f} s  ({dsk.n_iter} iterations; 2 passes + EM on the client)")
    print(f"Dask rows : {t_rows:7.2f} s  (computing the lazy completed y once)")
    print(f"ratio Dask fit / in memory: {t_dask / t_mem:.2f}")
    print(f"largest relative difference of the estimates and rows: {diff:.1e}")
    print(f"load average (1 min): {load0:.2f} before, {load1:.2f} after")


if __name__ == "__main__":
    main()
