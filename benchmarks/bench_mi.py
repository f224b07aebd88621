"""Benchmark multiple imputation (issue 9): properness of the intervals, then speed.

**Properness.** ``--sims`` (default 500) data sets of ``n = 100`` rows from a trivariate
normal ``(x1, x2, y)`` with values missing at random: ``x1`` always observed; ``y``
missing with probability ``expit(-0.75 + 1.5 z1)`` (about 35%), ``x2`` with probability
``expit(-1.25 - 1.0 z1)`` (about 25%), ``z1`` the standardised ``x1``. Two estimands, with
known true values: the mean of ``y``, and the slope of ``y`` on ``x1`` in the regression
``y ~ x1 + x2``. For each method the 95% interval is computed on every data set and the
table shows its coverage of the truth (Monte-Carlo standard error about 1 point at 500
data sets), mean width and the bias of the point estimate:

* complete cases (rows with nothing missing; ``t`` intervals);
* single conditional-mean imputation (:func:`imputer.impute`, then the complete-data
  analysis as if nothing had been missing: the practice this issue argues against);
* :func:`imputer.multiple_impute`, ``method="posterior"`` and ``method="bootstrap"``,
  ``m = --m`` imputations, analysed per imputation and pooled by Rubin's rules with the
  Barnard-Rubin degrees of freedom (complete-data df ``n - 1`` for the mean, ``n - 3``
  for the slope);
* when R is installed: mice (defaults: predictive mean matching) and Amelia (defaults),
  the same analyses pooled by ``mice::pool.scalar`` (``benchmarks/r/mi_coverage.R``).

Target: both imputer methods cover 93-97%.

**Speed.** The 100,000 x 20 MAR table of ``bench_mvn.py``
(:func:`benchmarks._datasets.mar_mvn`): :func:`imputer.impute` (the baseline: one EM fit),
then ``multiple_impute`` with m = 5 and m = 20 for both methods, against Amelia's
``amelia(x, m = 5)`` and ``amelia(x, m = 20)`` at its defaults (bootstrap EM) in the same
run. Printed: seconds, the ratio to Amelia, and the posterior method's cost per extra
imputation (``(t_20 - t_5) / 15``) in EM iterations' worth (one EM iteration = the
``impute`` time divided by its EM-map evaluations). Targets: >= 10x faster than Amelia
(goal 30x); an extra posterior imputation costs at most 3 EM iterations.

Usage::

    python -m benchmarks.bench_mi             # 500 data sets and the 100,000 x 20 table
    python -m benchmarks.bench_mi --quick     # smoke run: 40 data sets, 10,000 x 10
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import imputer  # noqa: E402
from benchmarks._datasets import mar_mvn  # noqa: E402
from benchmarks._rscript import have_r, run_amelia_mi, run_mi_coverage  # noqa: E402
from benchmarks._timing import machine, timed  # noqa: E402

#: the simulation's truth: means of (x1, x2, y) and their covariance
MU = np.array([1.0, 2.0, 3.0])
SIGMA = np.array([[1.0, 0.5, 0.6], [0.5, 1.0, 0.4], [0.6, 0.4, 1.0]])
#: the estimands' true values: mean of y; slope of y on x1 given x2
TRUE = {
    "mean": MU[2],
    "slope": float(np.linalg.solve(SIGMA[:2, :2], SIGMA[:2, 2])[0]),
}
N_ROWS = 100
ESTIMANDS = ("mean", "slope")


def expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def simulate(sim: int, n: int = N_ROWS) -> pd.DataFrame:
    """One MAR data set (columns x1, x2, y), fixed by ``sim``."""
    rng = np.random.default_rng([2026, sim])
    full = rng.multivariate_normal(MU, SIGMA, size=n)
    z1 = (full[:, 0] - MU[0]) / np.sqrt(SIGMA[0, 0])
    out = full.copy()
    out[rng.random(n) < expit(-0.75 + 1.5 * z1), 2] = np.nan
    out[rng.random(n) < expit(-1.25 - 1.0 * z1), 1] = np.nan
    return pd.DataFrame(out, columns=["x1", "x2", "y"])


def _mean(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    y = df["y"].to_numpy()
    return pd.Series({"mean": y.mean()}), pd.Series({"mean": y.std(ddof=1) / np.sqrt(y.size)})


def _slope(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    x = np.column_stack([np.ones(len(df)), df["x1"].to_numpy(), df["x2"].to_numpy()])
    y = df["y"].to_numpy()
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    s2 = resid @ resid / (len(y) - 3)
    cov = s2 * np.linalg.inv(x.T @ x)
    return pd.Series({"slope": beta[1]}), pd.Series({"slope": np.sqrt(cov[1, 1])})


ANALYSES: dict[str, tuple[Callable[[pd.DataFrame], tuple[pd.Series, pd.Series]], int]] = {
    "mean": (_mean, 1),  # complete-data df = n - 1
    "slope": (_slope, 3),  # n - 3
}


def _t_interval(est: float, se: float, df: float) -> tuple[float, float, float]:
    from scipy import stats

    half = float(stats.t.ppf(0.975, df)) * se
    return est, est - half, est + half


def complete_data_intervals(df: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    """Each estimand's (estimate, low, high) from one table analysed as if complete."""
    out = {}
    for name, (fn, k) in ANALYSES.items():
        est, se = fn(df)
        out[name] = _t_interval(float(est.iloc[0]), float(se.iloc[0]), len(df) - k)
    return out


def mi_intervals(mi: object, n: int) -> dict[str, tuple[float, float, float]]:
    """Each estimand's pooled (estimate, low, high) from a ``MultipleImputation``."""
    out = {}
    for name, (fn, k) in ANALYSES.items():
        row = mi.analyze(fn).pool(dfcom=n - k).table.iloc[0]  # type: ignore[attr-defined]
        out[name] = (float(row["estimate"]), float(row["ci_low"]), float(row["ci_high"]))
    return out


def run_method(method: str, sims: list[pd.DataFrame], m: int) -> tuple[dict[str, np.ndarray], float]:
    """(estimate, low, high) arrays per estimand for one method over the data sets; seconds."""
    rows: dict[str, list[tuple[float, float, float]]] = {e: [] for e in ESTIMANDS}
    t0 = time.perf_counter()
    for s, df in enumerate(sims):
        if method == "complete cases":
            res = complete_data_intervals(df.dropna())
        elif method == "single imputation":
            res = complete_data_intervals(imputer.impute(df).completed)
        else:
            mi = imputer.multiple_impute(df, m=m, method=method.split()[-1], seed=s)  # type: ignore[attr-defined]
            res = mi_intervals(mi, len(df))
        for e in ESTIMANDS:
            rows[e].append(res[e])
    secs = time.perf_counter() - t0
    return {e: np.array(v) for e, v in rows.items()}, secs


def coverage_row(method: str, est: dict[str, np.ndarray], secs: float) -> dict[str, object]:
    row: dict[str, object] = {"method": method}
    for e in ESTIMANDS:
        a = est[e]
        ok = ~np.isnan(a).any(axis=1)
        a = a[ok]
        row[f"{e} coverage %"] = 100.0 * np.mean((a[:, 1] <= TRUE[e]) & (TRUE[e] <= a[:, 2]))
        row[f"{e} width"] = float(np.mean(a[:, 2] - a[:, 1]))
        row[f"{e} bias"] = float(np.mean(a[:, 0]) - TRUE[e])
    row["seconds"] = secs
    return row


def bench_coverage(n_sims: int, m: int, use_r: bool) -> pd.DataFrame:
    print(f"\n## Properness: {n_sims} MAR data sets of {N_ROWS} rows, m = {m}, 95% intervals")
    print(f"truth: mean of y = {TRUE['mean']:.6g}, slope of y on x1 (given x2) = {TRUE['slope']:.6g}")
    sims = [simulate(s) for s in range(n_sims)]
    miss = np.mean([d.isna().mean().to_numpy() for d in sims], axis=0)
    print("missing: " + ", ".join(f"{c} {100 * v:.1f}%" for c, v in zip(sims[0].columns, miss, strict=True)))
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", imputer.ConvergenceWarning)
        for method in ("complete cases", "single imputation", "imputer posterior", "imputer bootstrap"):
            est, secs = run_method(method, sims, m)
            rows.append(coverage_row(method, est, secs))
            print(f"  {method}: {secs:.1f} s", flush=True)
    if use_r and have_r():
        stacked = pd.concat([d.assign(sim=s)[["sim", "x1", "x2", "y"]] for s, d in enumerate(sims)])
        r = run_mi_coverage(stacked, m)
        if r is not None:
            for tool in ("mice", "amelia"):
                est = {e: np.column_stack([np.asarray(r[tool][e][k], dtype=float) for k in ("est", "low", "high")])
                       for e in ESTIMANDS}
                rows.append(coverage_row(f"R {tool}", est, float(r["seconds"][tool])))
            print(f"  R {r['versions']}")
    table = pd.DataFrame(rows).set_index("method")
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.float_format", "{:.3f}".format):
        print(table)
    for method in ("imputer posterior", "imputer bootstrap"):
        for e in ESTIMANDS:
            cov = float(table.loc[method, f"{e} coverage %"])
            verdict = "met" if 93.0 <= cov <= 97.0 else "NOT met"
            print(f"target 93-97% coverage, {method}, {e}: {cov:.1f}% ({verdict})")
    return table


def bench_speed(n: int, p: int, repeats: int, use_r: bool) -> None:
    df = mar_mvn(n, p, seed=0)
    print(f"\n## Speed: {n:,} x {p} MAR, {df.isna().to_numpy().mean():.1%} missing, {repeats} repeat(s)")
    t_em, _, res = timed(lambda: imputer.impute(df), repeats)
    per_iter = t_em / res.n_evals
    print(f"imputer.impute: {t_em:.3f} s ({res.n_evals} EM evaluations, {per_iter * 1e3:.1f} ms each)")
    ours: dict[tuple[str, int], float] = {}
    for method in ("posterior", "bootstrap"):
        for m in (5, 20):
            t, _, mi = timed(lambda m=m, method=method: imputer.multiple_impute(df, m=m, method=method, seed=1), repeats)  # type: ignore[attr-defined]
            ours[(method, m)] = t
            extra = f", burn-in {mi.burn_in}, thin {mi.thin}" if method == "posterior" else ""
            print(f"multiple_impute(m={m}, method={method!r}): {t:.3f} s{extra}", flush=True)
    extra = (ours[("posterior", 20)] - ours[("posterior", 5)]) / 15
    print(f"posterior: cost per extra imputation {extra * 1e3:.1f} ms = {extra / per_iter:.2f} EM iterations "
          f"(target <= 3: {'met' if extra / per_iter <= 3 else 'NOT met'})")
    if not (use_r and have_r()):
        print("Amelia: skipped (R not found or --no-r)")
        return
    for m in (5, 20):
        r = run_amelia_mi(df, m)
        if r is None:
            continue
        secs = float(r["seconds"])
        print(f"Amelia {r['versions']['Amelia']} amelia(x, m={m}): {secs:.2f} s "
              f"(EM iterations per chain: median {np.median(r['iterations']):.0f})")
        for method in ("posterior", "bootstrap"):
            ratio = secs / ours[(method, m)]
            verdict = "met" if ratio >= 10 else "NOT met"
            print(f"  imputer {method} m={m} is {ratio:.1f}x faster than Amelia (target >= 10x, goal 30x: {verdict})")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 40 data sets, 10,000 x 10 table")
    ap.add_argument("--sims", type=int, default=None, help="simulated data sets (default 500, quick 40)")
    ap.add_argument("--m", type=int, default=20, help="imputations per data set in the coverage study")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs in the speed part")
    ap.add_argument("--no-r", action="store_true", help="skip mice and Amelia even when Rscript is present")
    ap.add_argument("--no-coverage", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    args = ap.parse_args(argv)
    print(f"machine: {machine()}")
    print(f"imputer {imputer.__version__}; R {'found' if have_r() else 'not found'}")
    if not args.no_coverage:
        bench_coverage(args.sims or (40 if args.quick else 500), args.m, not args.no_r)
    if not args.no_speed:
        n, p = (10_000, 10) if args.quick else (100_000, 20)
        bench_speed(n, p, args.repeats, not args.no_r)


if __name__ == "__main__":
    main()
