"""The figures of README.md's "Wide tables" section: evaluations and seconds of whole fits.

Two parts, each printed as the rows README.md shows:

* the table: ``imputer.impute`` on 20% MCAR :func:`benchmarks._datasets.mcar_mvn` tables
  (seed 0), ``ridge=1`` and two with ``ridge=10``, one call each after a small warm-up
  call, in one process, one BLAS thread (the engine's own policy);
* the README example's 10 x 200 table three ways: the engine; the engine without the
  fills' Newton steps (``imputer.mvn._fillnewton.LATE_COLUMNS_PER_ROW`` raised past
  ``p / n``, so :func:`~imputer.mvn._fillnewton.fill_plan` offers none: Anderson with the
  driver's path jumps); plain EM (``accelerate=False``).

Usage::

    python -m benchmarks.wide_readme_table [--cases 10x200,100x300@10] [--no-example]

``NxP@R`` is ``n`` rows, ``p`` columns, ``ridge=R`` (default 1).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import imputer  # noqa: E402
import imputer.mvn._fillnewton as fills  # noqa: E402
from benchmarks._datasets import mcar_mvn  # noqa: E402

CASES = "10x200,10x500,10x1000,30x400,30x600,100x300,50x1000,100x300@10,50x1000@10"


def readme_example_table() -> pd.DataFrame:
    """The README example's table (same seed and construction)."""
    rng = np.random.default_rng(1)
    n, p = 10, 200
    x = rng.standard_normal((n, 3)) @ rng.standard_normal((3, p)) + 0.5 * rng.standard_normal((n, p))
    x[rng.random((n, p)) < 0.2] = np.nan
    return pd.DataFrame(x, columns=[f"g{j}" for j in range(p)])


def timed_fit(df: pd.DataFrame, **options: object) -> tuple[int, float, bool]:
    """``(evaluations, seconds, converged)`` of one ``imputer.impute`` call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        res = imputer.impute(df, **options)
        seconds = time.perf_counter() - start
    return res.trace.n_evals, seconds, res.converged


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=CASES, help="comma-separated NxP or NxP@ridge")
    ap.add_argument("--no-example", action="store_true", help="skip the README example's three fits")
    args = ap.parse_args(argv)
    timed_fit(mcar_mvn(10, 20, missing_rate=0.2, seed=0), ridge=1)  # imports and first calls
    print("| rows x columns | evaluations | seconds | converged |\n|---|---|---|---|")
    for case in args.cases.split(","):
        shape, _, ridge = case.partition("@")
        n, p = map(int, shape.split("x"))
        evals, seconds, converged = timed_fit(mcar_mvn(n, p, missing_rate=0.2, seed=0),
                                              ridge=float(ridge or 1), max_iter=5000)
        label = f"{n:,} x {p:,}" + (f", ridge={ridge}" if ridge else "")
        print(f"| {label} | {evals:,} | {seconds:.3g} | {converged} |", flush=True)
    if args.no_example:
        return
    df = readme_example_table()
    print("\nREADME example (10 x 200, ridge=1):")
    evals, seconds, converged = timed_fit(df, ridge=1)
    print(f"  engine: {evals:,} evaluations, {seconds:.2f} s, converged {converged}")
    late = fills.LATE_COLUMNS_PER_ROW
    fills.LATE_COLUMNS_PER_ROW = float("inf")
    try:
        evals, seconds, converged = timed_fit(df, ridge=1, max_iter=20000)
    finally:
        fills.LATE_COLUMNS_PER_ROW = late
    print(f"  without the fills' Newton steps: {evals:,} evaluations, {seconds:.2f} s, converged {converged}")
    evals, seconds, converged = timed_fit(df, ridge=1, max_iter=20000, accelerate=False)
    print(f"  plain EM: {evals:,} evaluations, {seconds:.2f} s, converged {converged}")


if __name__ == "__main__":
    main()
