"""Reading a CSV for imputation: imputer's reader against pandas' plain read, same run.

``imputer._csv.read_csv_table`` reads like ``pd.read_csv`` (one pass of the C reader,
markers in every column) and then reads the passed-through columns a second time as
text. This prints the median time of both on three tables of n rows (default 1e6):

* ``numeric``: 10 columns of numbers, 10% empty cells (nothing passed through: the cost
  should be the plain read's);
* ``+ text``: the same with one text label column (one extra text pass over one column);
* ``columns=5``: the numeric table with half of its columns named (five columns
  passed through, re-read as text for the CSV output).

    python -m benchmarks.bench_csv_read            # n = 1,000,000 (about 3 minutes)
    python -m benchmarks.bench_csv_read --quick    # n = 50,000
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._timing import machine, timed
from imputer._csv import read_csv_table


def _write(path: Path, n: int, *, text: bool) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 10)).round(6)
    x[rng.random(x.shape) < 0.1] = np.nan
    frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(10)])
    if text:
        frame.insert(0, "label", np.array(["NA", "ZA", "BW", "007"])[rng.integers(0, 4, n)])
    frame.to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 50,000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = 50_000 if args.quick else 1_000_000
    print(machine())
    print(f"n = {n:,} rows, median of {args.repeats}\n")
    print(f"{'table':<12} {'pd.read_csv':>12} {'read_csv_table':>15} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, text, columns in [
            ("numeric", False, None),
            ("+ text", True, None),
            ("columns=5", False, [f"x{j}" for j in range(5)]),
        ]:
            path = Path(tmp) / f"{name.replace(' ', '')}.csv"
            _write(path, n, text=text)
            base, _, _ = timed(lambda p=path: pd.read_csv(p), args.repeats)
            ours, _, _ = timed(lambda p=path, c=columns: read_csv_table(p, columns=c), args.repeats)
            print(f"{name:<12} {base:>11.2f}s {ours:>14.2f}s {ours / base:>6.2f}x")


if __name__ == "__main__":
    main()
