"""Benchmark ``prior="amelia"`` against Amelia itself: the same estimate, like for like.

With ``prior="amelia"`` imputer maximises the same log-posterior as Amelia's EM with
``empri = ridge``, so the two can be compared on equal terms: the time of each at its
default tolerance, and the distance of each default estimate from the converged
posterior mode (imputer at ``tol=1e-13``), in standard-deviation units
(``max(max_j |dmu_j|/sd_j, max_jk |dS_jk|/(sd_j sd_k))``), all measured in this run.

Cases (fixed seeds): tall MAR data (100,000 x 20, empri 10), a moderately wide table
(n = 300, p = 60, empri 20; 20% MCAR, the first 10 rows complete), a wide one that Amelia accepts only with a prior of at
least 2p - n (n = 100, p = 150, empri 200), and a 20% MCAR table with no complete row
(n = 200, p = 60), on which Amelia 1.8.1's EM aborts (a C++ ``index out of bounds``; it
also does with one complete row). ``--quick`` shrinks them.

Usage::

    python -m benchmarks.bench_prior            # needs Rscript with Amelia for the comparison
    python -m benchmarks.bench_prior --quick
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import imputer  # noqa: E402
from benchmarks._datasets import _complete_mvn, mar_mvn, mcar_mvn  # noqa: E402
from benchmarks._rscript import have_r, run_amelia  # noqa: E402
from benchmarks._timing import machine, timed  # noqa: E402


def with_complete_rows(n: int, p: int, complete: int, seed: int) -> pd.DataFrame:
    """20% MCAR (as :func:`mcar_mvn`) except the first ``complete`` rows, observed in full
    (Amelia's EM needs at least two complete rows)."""
    full = _complete_mvn(n, p, seed)
    out = mcar_mvn(n, p, missing_rate=0.2, seed=seed)
    out.iloc[:complete] = full[:complete]
    return out


def sd_units(mean: np.ndarray, cov: np.ndarray, ref_mean: np.ndarray, ref_cov: np.ndarray) -> float:
    sd = np.sqrt(np.diag(ref_cov))
    return float(max(np.max(np.abs(mean - ref_mean) / sd), np.max(np.abs(cov - ref_cov) / np.outer(sd, sd))))


def bench_case(label: str, df, empri: int, repeats: int, use_r: bool) -> None:
    t_ours, _, ours = timed(lambda: imputer.impute(df, ridge=empri, prior="amelia"), repeats)
    exact = imputer.impute(df, ridge=empri, prior="amelia", tol=1e-13, max_iter=100_000)
    ref_mu, ref_cov = exact.mean.to_numpy(), exact.cov.to_numpy()
    acc = sd_units(ours.mean.to_numpy(), ours.cov.to_numpy(), ref_mu, ref_cov)
    n, p = df.shape
    print(f"{label:<10} n={n:>7,} p={p:>4} empri={empri:>4}  imputer {t_ours:8.3f} s, {ours.n_evals:>4} evals, "
          f"{acc:.1e} SD from the mode", flush=True)
    if not use_r:
        return
    am = run_amelia(df, repeats=min(repeats, 3), empri=float(empri))
    if am is None:
        return
    am_mu = np.array([am["mean"][c] for c in df.columns])
    am_acc = sd_units(am_mu, np.array(am["cov"], dtype=float), ref_mu, ref_cov)
    print(f"{'':<10} Amelia {am['versions']['Amelia']} (tolerance {am['tolerance']:g}): {am['seconds']:8.3f} s, "
          f"{am['iterations']:>4} iterations, {am_acc:.1e} SD from the same mode -> imputer "
          f"{am['seconds'] / t_ours:.1f}x faster", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small data, 2 repeats")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs (default 3, quick 2)")
    ap.add_argument("--no-r", action="store_true", help="skip Amelia")
    args = ap.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 3)
    use_r = not args.no_r and have_r()
    print(f"machine: {machine()}")
    print(f"imputer {imputer.__version__}; R {'found' if use_r else 'not used'}")
    if args.quick:
        cases = [("tall", mar_mvn(5_000, 10, seed=0), 10), ("wide", mcar_mvn(40, 50, seed=1), 70)]
    else:
        cases = [
            ("tall", mar_mvn(100_000, 20, seed=0), 10),
            ("moderate", with_complete_rows(300, 60, 10, seed=1), 20),
            ("wide", with_complete_rows(100, 150, 10, seed=2), 200),
            ("no-complete", mcar_mvn(200, 60, missing_rate=0.2, seed=0), 20),
        ]
    for label, df, empri in cases:
        bench_case(label, df, empri, repeats, use_r)


if __name__ == "__main__":
    main()
