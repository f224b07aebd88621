"""Benchmark the general location model's new options (issue 11): pairwise log-linear probabilities
and multiple imputation by bootstrap EM.

Data: ``n`` rows (fixed seed) with four categorical columns (3, 3, 2, 4 levels: 72 cells,
associations of all orders) and three continuous columns normal given the cell, 10% of
every column missing at random. Printed, all measured in this run (median seconds over
``--repeats``): :func:`imputer.impute_glom` with saturated and with pairwise probabilities
(additive means), their EM evaluations and seconds per evaluation, the pairwise fit's time
per evaluation as a multiple of the saturated one's (the IPF M-step's cost); then
``multiple_impute(categorical=..., m=5)`` as a multiple of five single fits (the bootstrap
refits plus the draws), and ``method="posterior"`` (data augmentation; saturated probabilities
by Dirichlet draws, pairwise ones by Bayesian IPF) as a multiple of five fits of the same
model, with its chain length.

Usage::

    python -m benchmarks.bench_glom            # 20,000 rows
    python -m benchmarks.bench_glom --quick    # 2,000 rows
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import imputer  # noqa: E402
from benchmarks._timing import machine, timed  # noqa: E402

CATS = ["a", "b", "c", "d"]


def table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    b = (a + rng.choice(3, n, p=[0.6, 0.3, 0.1])) % 3
    c = (rng.random(n) < 0.3 + 0.2 * (a == b)).astype(int)
    d = (b + c + rng.choice(4, n, p=[0.55, 0.25, 0.15, 0.05])) % 4
    shift = np.stack([a - b, c + 0.5 * d, a * c - d], axis=1).astype(float)
    x = shift + rng.multivariate_normal(np.zeros(3), [[1, 0.4, 0.2], [0.4, 1, 0.3], [0.2, 0.3, 1]], n)
    df = pd.DataFrame({
        "a": pd.Categorical(np.array(["lo", "mid", "hi"])[a]), "b": np.array(["p", "q", "r"], dtype=object)[b],
        "c": c.astype(float), "d": pd.Categorical(d), "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2],
    })
    for col in df.columns:
        df.loc[rng.random(n) < 0.1, col] = np.nan if col not in ("b",) else None
    return df


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 rows instead of 20,000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    n = 2_000 if args.quick else 20_000
    df = table(n)
    print(machine())
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(f"data: {n:,} rows, categorical {CATS} (72 cells), 3 continuous, {df.isna().to_numpy().mean():.1%} missing")
    print(f"{'fit':<34} {'seconds':>8} {'n_evals':>8} {'ms/eval':>8} {'x saturated/eval':>17} {'loglik':>14}")
    base = None
    fits = {}
    for name in ("saturated", "pairwise"):
        secs, _, res = timed(lambda: imputer.impute_glom(df, categorical=CATS, means="additive", probabilities=name),
                             args.repeats)
        per = secs / res.n_evals
        base = per if base is None else base
        fits[name] = secs
        print(f"{'impute_glom probabilities=' + name:<34} {secs:>8.3f} {res.n_evals:>8d} {1e3 * per:>8.2f} "
              f"{per / base:>17.2f} {res.loglik:>14.3f}")
    m = 5
    secs, _, mi = timed(lambda: imputer.multiple_impute(df, m=m, categorical=CATS, means="additive",
                                                         probabilities="pairwise", seed=1), 1)
    print(f"multiple_impute m={m} (pairwise, bootstrap): {secs:.3f} s = {secs / (m * fits['pairwise']):.2f} x "
          f"{m} single pairwise fits; resamples redrawn {sum(mi.redraws)}")
    for name in ("saturated", "pairwise"):
        secs, _, mi = timed(lambda: imputer.multiple_impute(df, m=m, categorical=CATS, means="additive",
                                                             probabilities=name, method="posterior", seed=1), 1)
        print(f"multiple_impute m={m} ({name}, posterior): {secs:.3f} s = {secs / (m * fits[name]):.2f} x "
              f"{m} single {name} fits; chain burn-in {mi.burn_in}, thin {mi.thin} (EM rate {mi.rate:.3f}), "
              f"{mi.burn_in + m * mi.thin} data-augmentation iterations")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
