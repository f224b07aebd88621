"""Benchmark ``imputer.disperse`` against Amelia's ``disperse``: time, and where the runs end.

Both run EM from the engine's own start and from ``m - 1`` overdispersed starts (the
mean and covariance of about ``2.5 p`` draws at the first run's estimate: imputer's
``around="estimate"``, Amelia's only kind; imputer's default ``around="start"`` draws
at the engine's starting values and is timed too). Timed for imputer:
``imputer.disperse(df, starts=m, around=..., seed=0)`` (median of ``--repeats``); for
Amelia: ``amelia(x, m = 1, boot.type = "none")`` and ``disperse(a.out, m = m)`` on a null
PDF device, what an Amelia user runs (``benchmarks/r/amelia_disperse.R``, same run).
Amelia's disperse only draws a picture; the R script reruns its chains to report where
they ended (distance from chain 1's end in standard-deviation units; for two columns
the correlations). Amelia runs at its own tolerance (1e-4), imputer at its default
(1e-7).

Cases: Murray's twelve rows (two maxima and a saddle point; ``examples/murray.csv``),
airquality's four numeric columns, a tall MAR table (2,000 x 20), a moderately wide one
(300 x 60 with 10 complete rows, ``ridge=20``, ``prior="amelia"`` so the two maximise
the same posterior) and, with ``--wide``, 80 x 240 under ``ridge=1`` (imputer only:
Amelia refuses it below ``empri`` of about ``2p - n``).

Usage::

    python -m benchmarks.bench_disperse            # needs Rscript with Amelia for the comparison
    python -m benchmarks.bench_disperse --cases wide
    python -m benchmarks.bench_disperse --jobs 2 --no-r   # also the runs in 2 processes (n_jobs=2)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import imputer  # noqa: E402
from benchmarks._datasets import mar_mvn, mcar_mvn  # noqa: E402
from benchmarks._rscript import _run, _write_csv, have_r  # noqa: E402
from benchmarks._timing import machine, timed  # noqa: E402
from benchmarks.bench_prior import with_complete_rows  # noqa: E402


def run_amelia_disperse(df: pd.DataFrame, m: int, repeats: int, empri: float) -> dict | None:
    """``benchmarks/r/amelia_disperse.R`` on ``df``; None when R is absent or failed."""
    with tempfile.TemporaryDirectory(prefix="imputer-disperse-") as tmp:
        path = Path(tmp) / "data.csv"
        _write_csv(df, path)
        return _run("amelia_disperse.R", [str(path), str(m), str(repeats), repr(float(empri))], "Amelia disperse",
                    timeout=3600.0)


def _ours(label: str, df: pd.DataFrame, m: int, around: str, ridge: float, prior: str, repeats: int,
          max_iter: int, n_jobs: int = 1) -> tuple[float, imputer.Dispersion]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_ours, _, d = timed(lambda: imputer.disperse(df, starts=m, around=around, seed=0, ridge=ridge, prior=prior,
                                                      max_iter=max_iter, n_jobs=n_jobs), repeats)
    runs = d.runs
    n, p = df.shape
    jobs = f" n_jobs={n_jobs}" if n_jobs != 1 else ""
    print(f"{label:<10} n={n:>6,} p={p:>4} ridge={ridge:g} ({prior}) starts={m} around={around}{jobs}: imputer "
          f"{t_ours:8.3f} s; {d.n_points} end point(s); evaluations {runs['n_evals'].tolist()}", flush=True)
    print(f"{'':<10} run 1 (engine start): gap {runs.loc[1, 'gap']:.3g}, distance {runs.loc[1, 'distance']:.3g} SD; "
          f"largest gap {runs['gap'].max():.3g}, distance {runs['distance'].max():.3g} SD; "
          f"converged {int(runs['converged'].sum())} of {m}", flush=True)
    if p == 2:
        corr = [round(float(c.iloc[0, 1] / c.iloc[0, 0]), 4) for c in d.covs.values()]
        print(f"{'':<10} end correlations: {corr}", flush=True)
    return t_ours, d


def bench_case(label: str, df: pd.DataFrame, m: int, ridge: float, prior: str, repeats: int, use_r: bool,
               max_iter: int = 1000, jobs: int = 1) -> None:
    """Both kinds of start; Amelia against ``around="estimate"``, its own kind; with ``jobs > 1``
    the default kind again in ``jobs`` processes, against the one-at-a-time call of the same run."""
    t_one, d_one = _ours(label, df, m, "start", ridge, prior, repeats, max_iter)
    if jobs > 1:
        t_jobs, d_jobs = _ours(label, df, m, "start", ridge, prior, repeats, max_iter, n_jobs=jobs)
        print(f"{'':<10} n_jobs={jobs}: {t_one / t_jobs:.2f}x the one-at-a-time call; same result: {d_one == d_jobs}",
              flush=True)
    t_est, _ = _ours(label, df, m, "estimate", ridge, prior, repeats, max_iter)
    if not use_r:
        return
    am = run_amelia_disperse(df, m, min(repeats, 3), ridge)
    if am is None:
        return
    dist = [float(x) for x in am["distance"]]
    print(f"{'':<10} Amelia {am['versions']['Amelia']} amelia() + disperse(m={m}): {am['seconds']:8.3f} s "
          f"-> imputer (around=estimate) {am['seconds'] / t_est:.1f}x faster; chain iterations "
          f"{[int(i) for i in am['iterations']]}; largest distance from chain 1's end {max(dist):.3g} SD", flush=True)
    if "correlation" in am:
        print(f"{'':<10} Amelia's end correlations: {[round(float(c), 4) for c in am['correlation']]}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="timed runs (default 3)")
    ap.add_argument("--starts", type=int, default=5, help="runs per call (default 5; Murray: 8)")
    ap.add_argument("--no-r", action="store_true", help="skip Amelia")
    ap.add_argument("--wide", action="store_true", help="also 80 x 240 with ridge=1 (one to two minutes a call)")
    ap.add_argument("--cases", default=None, help="comma-separated subset of murray,air,tall,moderate,wide")
    ap.add_argument("--jobs", type=int, default=1, help="also time around='start' with n_jobs=JOBS (default: 1, not)")
    args = ap.parse_args(argv)
    use_r = not args.no_r and have_r()
    print(f"machine: {machine()}")
    print(f"imputer {imputer.__version__}; R {'found' if use_r else 'not used'}")
    air = pd.read_csv(ROOT / "examples" / "airquality.csv")[["Ozone", "Solar.R", "Wind", "Temp"]]
    cases = [
        ("murray", pd.read_csv(ROOT / "examples" / "murray.csv"), max(args.starts, 8), 0.0, "ridge"),
        ("air", air, args.starts, 0.0, "ridge"),
        ("tall", mar_mvn(2_000, 20, seed=0), args.starts, 0.0, "ridge"),
        ("moderate", with_complete_rows(300, 60, 10, seed=1), args.starts, 20.0, "amelia"),
    ]
    chosen = set(args.cases.split(",")) if args.cases else None
    for label, df, m, ridge, prior in cases:
        if chosen is None or label in chosen:
            bench_case(label, df, m, ridge, prior, args.repeats, use_r, jobs=args.jobs)
    if args.wide or (chosen is not None and "wide" in chosen):
        bench_case("wide", mcar_mvn(80, 240, seed=0), args.starts, 1.0, "ridge", 1, False, max_iter=5000,
                   jobs=args.jobs)


if __name__ == "__main__":
    main()
