"""Writing the completed table as CSV: imputer's writer against ``DataFrame.to_csv``, same run.

``imputer impute`` writes its output through ``imputer._cli_io.write_table``, which formats
each column in one vectorised Arrow pass (``imputer._csv_write``) instead of pandas'
per-value Python formatting. This prints the median time of both on tables of n rows
(default 1e6) whose floats carry the 15-17 significant digits imputed cells have:

* ``numeric``: 10 float columns (the issue's 1e6 x 10 case);
* ``+ text``: the same with a text label column (quoted when it holds the separator);
* ``--float-format``: the numeric table with 10% of the cells marked as filled and
  written with ``%.6g`` (the rest in full);

and checks that the file reads back to the same doubles.

    python -m benchmarks.bench_csv_write            # n = 1,000,000 (about 2 minutes)
    python -m benchmarks.bench_csv_write --quick    # n = 50,000
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._timing import machine, timed
from imputer._cli_io import write_table


def _table(n: int, *, text: bool) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.standard_normal((n, 10)) * 37.1, columns=[f"x{j}" for j in range(10)])
    if text:
        frame.insert(0, "label", np.array(["NA", "ZA", "Bots, wana", "007"])[rng.integers(0, 4, n)])
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 50,000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = 50_000 if args.quick else 1_000_000
    print(machine())
    print(f"n = {n:,} rows, median of {args.repeats}\n")
    print(f"{'table':<16} {'to_csv':>9} {'write_table':>12} {'speed-up':>9}  reads back")
    with tempfile.TemporaryDirectory() as tmp:
        base_path, ours_path = Path(tmp) / "pandas.csv", Path(tmp) / "ours.csv"
        for name, text, fmt in [("numeric", False, None), ("+ text", True, None), ("--float-format", False, "%.6g")]:
            frame = _table(n, text=text)
            filled = None
            if fmt is not None:
                filled = pd.DataFrame(np.random.default_rng(1).random(frame.shape) < 0.1, columns=frame.columns)
            base, _, _ = timed(lambda f=frame, g=fmt: f.to_csv(base_path, index=False, float_format=g), args.repeats)
            ours, _, _ = timed(
                lambda f=frame, g=fmt, m=filled: write_table(f, str(ours_path), index=False, float_format=g, filled=m),
                args.repeats,
            )
            back = pd.read_csv(ours_path, keep_default_na=False, na_values=[""])
            if fmt is None:
                same = bool(back.equals(frame))
            else:  # the unmarked cells exactly, the marked ones to 6 digits
                num = frame.select_dtypes("number").to_numpy()
                got = back[frame.columns].to_numpy(dtype=float)
                mask = filled.to_numpy()  # type: ignore[union-attr]
                same = bool(np.array_equal(got[~mask], num[~mask]) and np.allclose(got[mask], num[mask], rtol=1e-5))
            print(f"{name:<16} {base:>8.2f}s {ours:>11.2f}s {base / ours:>8.1f}x  {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
