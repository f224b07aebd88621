"""Make the fixtures of the pairwise log-linear cell probabilities: three categorical columns, two
continuous ones, missing cells in every column, and the direct maximisation of the observed-data
likelihood under the log-linear parameterisation (tests/reference/glom_loglinear.py; no EM, no IPF).

Run from the repository root: ``python tests/data/glom/make_pairwise.py``. Writes ``sim3.csv``
(``a``: u/v/w, ``b``: 0/1, ``c``: no/yes, ``x1``, ``x2``; the simulated ``c`` depends on
``a`` and ``b`` jointly, a three-way association the pairwise model leaves out) and
``pairwise.json`` (per cell-mean model: pi, cell means and Sigma in ``itertools.product``
order of the sorted levels, the log-likelihood, and how long BFGS took).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from tests.reference.glom_loglinear import glom_mle_pairwise  # noqa: E402

LEVELS = {"a": ["u", "v", "w"], "b": [0.0, 1.0], "c": ["no", "yes"]}


def simulate(n: int = 240, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.choice(3, n, p=[0.4, 0.35, 0.25])
    b = (rng.random(n) < 0.3 + 0.35 * (a == 1)).astype(int)
    c = (rng.random(n) < 0.25 + 0.3 * b + 0.3 * (a == 2) * (1 - b)).astype(int)
    shift = np.array([[0.0, 0.0], [1.0, -0.5], [2.0, 0.5]])[a] + np.outer(b, [0.8, 0.6]) + np.outer(c, [-0.7, 0.9])
    z = rng.multivariate_normal([0, 0], [[1.0, 0.5], [0.5, 1.5]], n) + shift
    df = pd.DataFrame({
        "a": np.array(LEVELS["a"], dtype=object)[a], "b": b.astype(float), "c": np.array(LEVELS["c"], dtype=object)[c],
        "x1": z[:, 0], "x2": z[:, 1],
    })
    for col, frac in (("a", 0.12), ("b", 0.12), ("c", 0.12), ("x1", 0.15), ("x2", 0.12)):
        df.loc[rng.random(n) < frac, col] = None if col in ("a", "c") else np.nan
    return df


def codes_of(df: pd.DataFrame) -> np.ndarray:
    return np.column_stack([pd.Categorical(df[c], categories=lv).codes for c, lv in LEVELS.items()])


def main() -> None:
    simulate().to_csv(HERE / "sim3.csv", index=False)
    df = pd.read_csv(HERE / "sim3.csv")  # what the tests read
    x = df[["x1", "x2"]].to_numpy()
    out = {}
    for model in ("additive", "saturated"):
        t0 = time.perf_counter()
        pi, means, sigma, ll = glom_mle_pairwise(codes_of(df), x, [3, 2, 2], additive=model == "additive")
        out[model] = {
            "pi": pi.tolist(), "means": means.tolist(), "sigma": sigma.tolist(), "loglik": ll,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(model, ll, out[model]["seconds"], flush=True)
    (HERE / "pairwise.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
