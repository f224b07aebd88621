"""Benchmark the Dask engine (issue 12): out of core on a LocalCluster with 1 GB workers.

Data: ``--rows`` x 10 (default 20,000,000) normal rows with the truth of
:func:`benchmarks._datasets.mvn_truth` (``p = 10``, seed 0), written as Parquet files of
``--partition-rows`` rows each (partition ``i`` drawn from ``default_rng([0, i])``);
column ``x00`` always observed, every other cell missing with probability
``expit(-2 + s_j z_i)`` (``z_i`` the standardised ``x00``, slopes ``s_j`` spread over
``[-1, 1]``: MAR, about 13% of cells).

Printed, all measured in this run:

1. *out of core*: :func:`imputer.impute` on ``dd.read_parquet`` of the whole directory on a
   ``LocalCluster`` of ``--workers`` processes (one thread each) capped at
   ``--memory-limit`` each: with 10 columns the per-pattern moments fit
   (:mod:`imputer.dask._patterns`), so the files are read once (the scan makes the pattern
   table) and the EM runs on the client; ``--max-iter`` SQUAREM cycles (default 2). Wall time, EM
   evaluations, milliseconds per evaluation, peak worker memory (the largest process
   memory any worker reported to the scheduler, sampled every 0.2 s), the standard
   errors' time (from the table).
2. *in memory vs the cluster* on the first ``--memory-rows`` rows (default 2,000,000):
   the in-memory engine (one process, one BLAS thread), the Dask engine from the
   pattern table, and the Dask engine forced to the per-evaluation map-reduce over
   persisted layouts (the route for tables with too many patterns); per EM evaluation
   (rows per second per core, the cluster's cores: ``--workers``) and over the whole fit
   (rows x evaluations per second of wall time, the passes over the data included).

Usage::

    python -m benchmarks.bench_dask                 # 20M rows: ~1.5 GB of Parquet, a few minutes
    python -m benchmarks.bench_dask --max-iter 1000 # the out-of-core fit to convergence (longer)
    python -m benchmarks.bench_dask --quick         # 2M rows out of core, 500k in memory
    python -m benchmarks.bench_dask --dir /data/x   # where the Parquet files go (default: a temp dir, removed)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import imputer  # noqa: E402
from benchmarks._datasets import mvn_truth  # noqa: E402
from benchmarks._timing import machine  # noqa: E402

P = 10


def write_parquet(folder: Path, rows: int, per_file: int) -> int:
    """Write the table as Parquet files of ``per_file`` rows; returns the number of files."""
    mu, sigma = mvn_truth(P, seed=0)
    chol = np.linalg.cholesky(sigma)
    slopes = np.linspace(-1.0, 1.0, P - 1)
    cols = [f"x{j:02d}" for j in range(P)]
    folder.mkdir(parents=True, exist_ok=True)
    n_files = 0
    for i, start in enumerate(range(0, rows, per_file)):
        n = min(per_file, rows - start)
        rng = np.random.default_rng([0, i])
        x = mu + rng.standard_normal((n, P)) @ chol.T
        z = (x[:, 0] - mu[0]) / np.sqrt(sigma[0, 0])
        miss = rng.random((n, P - 1)) < expit(-2.0 + np.outer(z, slopes))
        x[:, 1:][miss] = np.nan
        frame = pd.DataFrame(x, columns=cols)
        frame.index = pd.RangeIndex(start, start + n)
        frame.to_parquet(folder / f"part-{i:04d}.parquet")
        n_files += 1
    return n_files


class _EvalTimer:
    """Times every call of a function attribute (the EM map-reduce) while installed."""

    def __init__(self, owner: Any, name: str) -> None:
        self.owner, self.name, self.times = owner, name, []
        self.orig = getattr(owner, name)

    def __enter__(self) -> _EvalTimer:
        orig, times = self.orig, self.times

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            out = orig(*args, **kwargs)
            times.append(time.perf_counter() - t0)
            return out

        setattr(self.owner, self.name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.owner, self.name, self.orig)


class _PeakMemory:
    """Largest process memory any worker reports to the scheduler, sampled in a thread."""

    def __init__(self, client: Any, every: float = 0.2) -> None:
        self.client, self.every, self.peak = client, every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
                self.peak = max([self.peak] + [float(w["metrics"]["memory"]) for w in workers])
            except Exception:  # noqa: BLE001 - a sample lost while the cluster is busy
                pass
            self._stop.wait(self.every)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _fit(
    ddf: Any, client: Any, persist: bool | None, max_iter: int = 1000, rows_engine: bool = False
) -> tuple[Any, float, list[float], float]:
    """Fit; wall time, the EM evaluations' times and the peak worker memory.

    ``rows_engine``: the per-evaluation map-reduce over the partitions even though the
    pattern table fits (``MAX_TABLE_BYTES`` set to -1 for the call).
    """
    from imputer.dask import _engine, _patterns, api

    budget = api.MAX_TABLE_BYTES
    owner = _engine.Partitions if rows_engine else _patterns.TableStatistics
    with _EvalTimer(owner, "statistics") as timer, _PeakMemory(client) as mem, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dask's deprecation notices; the ConvergenceWarning of a capped run
        api.MAX_TABLE_BYTES = -1 if rows_engine else budget
        try:
            t0 = time.perf_counter()
            res = imputer.impute(ddf, client=client, persist=persist, progress=False, max_iter=max_iter)
            wall = time.perf_counter() - t0
        finally:
            api.MAX_TABLE_BYTES = budget
    return res, wall, timer.times, mem.peak


def _ab(frame: pd.DataFrame, fitted: Any, rounds: int = 15) -> None:
    """3. One EM evaluation's work, interleaved in this process (the least noisy ratio on a loaded machine).

    In memory: ``em_update`` on the whole table's layout (E-step over rows and frequent
    patterns, M-step). From the pattern table: the E-step on the table's layout and the
    same M-step (what the Dask fit does per evaluation on the client). Both at the same
    parameters, one BLAS thread; the minimum of ``rounds`` alternating runs each.
    """
    from imputer._threads import single_blas_thread
    from imputer.dask import _kernels as k
    from imputer.dask._patterns import PatternTable, merge_tables, partition_table, table_layout
    from imputer.mvn._emmap import em_update
    from imputer.mvn._scaling import scaling_of

    cols = [c for c in frame.columns]
    values = tuple(frame[c].to_numpy() for c in cols)
    scaling = scaling_of(tuple(cols), values, np.isnan(np.column_stack(values)))
    layout = k.layout(values, scaling)
    # the table as the cluster makes it: per block of 500,000 rows, merged
    blocks = [partition_table(tuple(v[a : a + 500_000] for v in values), scaling) for a in range(0, len(frame), 500_000)]
    table: PatternTable = merge_tables(*blocks)
    small = table_layout(table)
    mu, sigma = np.zeros(len(cols)), np.eye(len(cols))
    mem, tab = [], []
    with single_blas_thread():
        for _ in range(rounds):
            t0 = time.perf_counter()
            em_update(layout, mu, sigma, 0.0)
            mem.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            prec = k.precision(sigma)
            k.em_map(k.partition_stats(small, mu, sigma, prec), mu, sigma, 0.0, prec)
            tab.append(time.perf_counter() - t0)
    n = len(frame)
    print(f"\n3. one EM evaluation's work, {n:,} rows, {table.n_patterns} patterns, interleaved x {rounds}, one thread:")
    print(f"   in memory (em_update on the rows' layout): min {min(mem) * 1e3:.2f} ms, {n / min(mem):,.0f} rows/s")
    print(f"   from the pattern table (client E-step + M-step): min {min(tab) * 1e3:.2f} ms, {n / min(tab):,.0f} rows/s; "
          f"table / in memory = {min(mem) / min(tab):.2f}x the throughput (table: {table.T.nbytes / 1e6:.2f} MB)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--memory-rows", type=int, default=2_000_000)
    parser.add_argument("--partition-rows", type=int, default=500_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the Parquet files (kept, and reused when there)")
    parser.add_argument(
        "--max-iter", type=int, default=2,
        help="SQUAREM cycles of the out-of-core fit (per-evaluation timing; 1000 to converge)",
    )
    parser.add_argument("--quick", action="store_true", help="2,000,000 rows out of core, 500,000 in memory")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.memory_rows, args.partition_rows = 2_000_000, 500_000, 250_000

    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    from imputer.mvn import _problem

    print(machine())
    folder = args.dir or Path(tempfile.mkdtemp(prefix="imputer-bench-dask-"))
    try:
        t0 = time.perf_counter()
        expected = -(-args.rows // args.partition_rows)
        if len(list(folder.glob("*.parquet"))) != expected:
            write_parquet(folder, args.rows, args.partition_rows)
            verb = "wrote"
        else:
            verb = "reused"
        size = sum(f.stat().st_size for f in folder.glob("*.parquet"))
        print(f"{verb} {args.rows:,} x {P} rows as {expected} Parquet files ({size / 1e9:.2f} GB) in {time.perf_counter() - t0:.1f} s")

        cluster = LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, memory_limit=args.memory_limit,
            dashboard_address=None,
        )
        client = Client(cluster)
        try:
            client.run(lambda: __import__("imputer.dask"))  # workers' imports not billed to the fit
            # 1. out of core
            ddf = dd.read_parquet(str(folder / "*.parquet"))
            res, wall, evals, peak = _fit(ddf, client, None, args.max_iter)
            per_eval = statistics.median(evals)
            print(f"\n1. out of core: {args.rows:,} rows, {ddf.npartitions} partitions, {args.workers} workers "
                  f"x {args.memory_limit}, pattern table={res.pattern_table} ({res.n_patterns} patterns), persisted={res.persisted}")
            print(f"   wall {wall:.1f} s (one pass for the scaling and the pattern table, then {len(evals)} EM "
                  f"evaluations on the client: {res.n_evals} in {res.n_iter} SQUAREM cycles (--max-iter {args.max_iter}), "
                  f"+1 final), converged={res.converged}")
            print(f"   per EM evaluation: median {per_eval * 1e3:.2f} ms; whole fit "
                  f"{args.rows * len(evals) / wall / args.workers:,.0f} rows x evaluations / s per core")
            print(f"   peak worker memory {peak / 1e6:.0f} MB (limit {args.memory_limit})")
            t0 = time.perf_counter()
            se = res.se_mean
            print(f"   standard errors: {time.perf_counter() - t0:.3f} s (from the table, no pass); se_mean[x01] {se.iloc[1]:.3g}")

            # 2. the same table in memory, on the cluster from the pattern table, and by the per-evaluation map-reduce
            k = -(-args.memory_rows // args.partition_rows)
            files = sorted(folder.glob("*.parquet"))[:k]
            frame = pd.concat([pd.read_parquet(f) for f in files])
            n_mem = len(frame)
            with _EvalTimer(_problem, "em_update") as timer:
                t0 = time.perf_counter()
                ref = imputer.impute(frame)
                mem_wall = time.perf_counter() - t0
            mem_eval = statistics.median(timer.times)
            small = dd.read_parquet([str(f) for f in files])
            sd = np.sqrt(np.diag(ref.cov.to_numpy()))
            mem_rate = n_mem / mem_eval
            mem_fit_rate = n_mem * ref.n_evals / mem_wall
            print(f"\n2. {n_mem:,} rows ({len(files)} partitions): in memory vs on the cluster ({args.workers} cores)")
            print(f"   in memory: wall {mem_wall:.2f} s, {ref.n_evals} evaluations, {mem_eval * 1e3:.1f} ms per "
                  f"evaluation, {mem_rate:,.0f} rows/s (1 core); whole fit {mem_fit_rate:,.0f} rows x evaluations / s")
            for label, persist, rows_engine in (("pattern table", None, False), ("map-reduce per evaluation, persisted", True, True)):
                res2, wall2, evals2, peak2 = _fit(small, client, persist, rows_engine=rows_engine)
                dask_eval = statistics.median(evals2)
                diff = max(
                    np.max(np.abs(res2.mean.to_numpy() - ref.mean.to_numpy()) / sd),
                    np.max(np.abs(res2.cov.to_numpy() - ref.cov.to_numpy()) / np.outer(sd, sd)),
                )
                rate = n_mem / dask_eval / args.workers
                fit_rate = n_mem * len(evals2) / wall2 / args.workers
                print(f"   Dask, {label}: wall {wall2:.2f} s, {res2.n_evals} evaluations, {dask_eval * 1e3:.2f} ms per "
                      f"evaluation, {rate:,.0f} rows/s per core, peak worker memory {peak2 / 1e6:.0f} MB")
                print(f"      per evaluation: Dask per core / in memory = {rate / mem_rate:.2f}; whole fit (passes included): "
                      f"{fit_rate / mem_fit_rate:.2f}; estimates differ by {diff:.1e} SD")
            _ab(frame, res2)
        finally:
            client.close()
            cluster.close()
    finally:
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
