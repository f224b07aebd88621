"""EMImputer with categorical columns (issue 11): filling new rows vs refitting, and the table path's overhead.

Fixed-seed data: 3 categorical columns (4 x 3 x 2 = 24 cells, a ``category``, a text and a
0/1 column) and 4 continuous columns, 15% of every column missing, ``n_train`` training rows
and ``n_new`` new rows. Printed, all in the same run:

* ``fit``: ``EMImputer(categorical="auto").fit(train)`` (the general location model by EM);
* ``transform``: filling the new rows from the fitted model;
* ``refit``: what one would do without ``transform``, ``imputer.impute(train + new,
  categorical="auto")``; the ratio refit / transform;
* ``normal transform``: ``EMImputer().transform`` of the continuous columns alone (the
  normal model's fill of the same rows), the baseline of the categorical path's cost.

Usage: ``python benchmarks/bench_coltypes.py [--n-train 20000] [--n-new 5000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import warnings

import numpy as np
import pandas as pd

import imputer
from benchmarks._timing import machine, timed
from imputer import EMImputer


def table(n: int, seed: int) -> pd.DataFrame:
    """``n`` rows: region (category, 4), size (text, 3), flag (0/1), x1..x4 depending on the cell."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["n", "e", "s", "w"], n, p=[0.4, 0.3, 0.2, 0.1])
    size = rng.choice(["small", "mid", "large"], n)
    flag = (rng.random(n) < 0.3).astype(float)
    shift = (region == "e") * 1.0 - (region == "w") * 0.8 + (size == "large") * 0.6 + flag * 0.5
    z = rng.normal(size=(n, 4)) @ np.linalg.cholesky(0.5 * np.eye(4) + 0.5).T
    df = pd.DataFrame({"region": pd.Categorical(region), "size": size, "flag": flag})
    for j in range(4):
        df[f"x{j + 1}"] = z[:, j] + shift * (j + 1) / 2
    holes = rng.random(df.shape) < 0.15
    df = df.mask(holes)
    df["region"] = pd.Categorical(df["region"], categories=["n", "e", "s", "w"])
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=20_000)
    ap.add_argument("--n-new", type=int, default=5_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(machine())
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    train, new = table(args.n_train, 1), table(args.n_new, 2)
    new.index += args.n_train
    cat = ["region", "size", "flag"]
    warnings.simplefilter("ignore")
    est = EMImputer(categorical=cat).set_output(transform="pandas")
    t_fit, _, _ = timed(lambda: est.fit(train), args.repeats)
    t_tr, _, out = timed(lambda: est.transform(new), args.repeats)
    both = pd.concat([train, new])
    t_refit, _, _ = timed(lambda: imputer.impute(both, categorical=cat), args.repeats)
    cont = [f"x{j}" for j in range(1, 5)]
    normal = EMImputer().fit(train[cont])
    t_norm, _, _ = timed(lambda: normal.transform(new[cont]), args.repeats)
    assert not out.isna().any().any() and out["region"].dtype == new["region"].dtype
    print(f"n_train={args.n_train:,} n_new={args.n_new:,} cells={est.probabilities_.size} repeats={args.repeats}")
    print(f"fit (general location model)   {t_fit * 1e3:9.1f} ms")
    print(f"transform (new rows)            {t_tr * 1e3:9.1f} ms")
    print(f"refit on train + new            {t_refit * 1e3:9.1f} ms   refit / transform = {t_refit / t_tr:.1f}x")
    print(f"normal transform (x1..x4 only)  {t_norm * 1e3:9.1f} ms   transform / normal = {t_tr / t_norm:.1f}x")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
