"""Make the GLOM reference fixtures: simulated data with missing cells in both parts, and the
direct maximisation of its observed-data likelihood (tests/reference/glom_direct.py).

Run from the repository root: ``python tests/data/glom/make_reference.py``. Writes
``sim.csv`` (the data: categorical columns ``a`` (levels u, v, w) and ``b`` (0/1), continuous
``x1``, ``x2``) and ``reference.json`` (per model: pi, cell means and Sigma in
``itertools.product`` order of the sorted levels, the log-likelihood, and how long BFGS
took). R's mix/cat are not installed here (see glom_direct.py).
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

from tests.reference.glom_direct import glom_mle  # noqa: E402


def simulate(n: int = 150, seed: int = 20261204) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.choice(3, n, p=[0.45, 0.35, 0.2])
    b = (rng.random(n) < 0.3 + 0.3 * (a == 1)).astype(int)
    shift = np.array([[0.0, 0.0], [1.0, -0.5], [2.0, 0.5]])[a] + np.outer(b, [0.8, 0.6]) + 1.5 * np.outer(a * b == 2, [1, -1])
    z = rng.multivariate_normal([0, 0], [[1.0, 0.5], [0.5, 1.5]], n) + shift
    df = pd.DataFrame({"a": np.array(["u", "v", "w"], dtype=object)[a], "b": b.astype(float), "x1": z[:, 0], "x2": z[:, 1]})
    for col, frac in (("a", 0.15), ("b", 0.15), ("x1", 0.2), ("x2", 0.15)):
        df.loc[rng.random(n) < frac, col] = None if col == "a" else np.nan
    # keep every row with something observed
    empty = df.isna().all(axis=1)
    df.loc[empty, "x1"] = 0.0
    return df


def main() -> None:
    df = simulate()
    df.to_csv(HERE / "sim.csv", index=False)
    df = pd.read_csv(HERE / "sim.csv")  # what the tests read
    codes = np.column_stack([
        pd.Categorical(df["a"], categories=["u", "v", "w"]).codes,
        pd.Categorical(df["b"], categories=[0.0, 1.0]).codes,
    ])
    x = df[["x1", "x2"]].to_numpy()
    out = {}
    for model in ("saturated", "additive"):
        t0 = time.perf_counter()
        pi, means, sigma, ll = glom_mle(codes, x, [3, 2], additive=model == "additive")
        out[model] = {
            "pi": pi.tolist(), "means": means.tolist(), "sigma": sigma.tolist(), "loglik": ll,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(model, ll, out[model]["seconds"])
    (HERE / "reference.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
