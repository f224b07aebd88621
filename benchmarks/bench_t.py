"""Benchmark the multivariate-t engine against the normal's, per EM evaluation (issue 10).

Data: 100,000 x 10 MAR (:func:`benchmarks._datasets.mar_mvn`, fixed seed). Printed, all
measured in this run: :func:`imputer.impute` and :func:`imputer.impute_t` (``dof``
estimated, and fixed at 4) at their defaults (SQUAREM), median seconds over ``--repeats``
runs, EM-map evaluations, seconds per evaluation (the whole call over its evaluations:
checks, setup and fill included), and the t's per-evaluation time as a
multiple of the normal's. An evaluation of the t's map is the weighted E-step plus the
row terms (``d_i^2``) at the new estimate for the dof step; the normal's is its E-step
(frequent patterns summed per pattern, which the weighted E-step cannot do).

Usage::

    python -m benchmarks.bench_t            # 100,000 x 10
    python -m benchmarks.bench_t --quick    # 10,000 x 10
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import imputer  # noqa: E402
from benchmarks._datasets import mar_mvn  # noqa: E402
from benchmarks._timing import machine, timed  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 rows instead of 100,000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    n, p = (10_000 if args.quick else 100_000), 10
    df = mar_mvn(n, p, seed=0)
    print(machine())
    print(f"data: {n:,} x {p} MAR, {df.isna().to_numpy().mean():.1%} missing, {df.attrs.get('n_patterns', '?')} patterns")
    cases = {
        "impute (normal)": lambda: imputer.impute(df),
        "impute_t dof=None": lambda: imputer.impute_t(df),
        "impute_t dof=4": lambda: imputer.impute_t(df, dof=4.0),
    }
    base = None
    print(f"{'model':<20} {'seconds':>8} {'n_iter':>7} {'n_evals':>8} {'ms/eval':>8} {'x normal/eval':>14}")
    for name, fn in cases.items():
        secs, _, res = timed(fn, args.repeats)
        per = secs / res.n_evals
        base = per if base is None else base
        print(f"{name:<20} {secs:8.3f} {res.n_iter:7d} {res.n_evals:8d} {1e3 * per:8.2f} {per / base:14.2f}")


if __name__ == "__main__":
    main()
