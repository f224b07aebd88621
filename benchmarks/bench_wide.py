"""Wide data (issue 16): cost per EM evaluation, evaluations and total time, before/after.

Cases (20% MCAR on :func:`benchmarks._datasets.mcar_mvn`, a three-factor (low-rank)
plus noise covariance; every row its own missingness pattern once ``p`` is in the
hundreds): the issue's table -- n=1,000 p=100 (default options); n=10 p=200, n=100
p=300, n=10 p=500, n=50 p=1,000 with ``ridge=1`` -- plus p = 1,000 and 2,000 with
n = 10, 50, 200, 1,000, n = 10, p = 700, n = 30, p = 600 and n = 150, p = 260 (``ridge=1``;
n = 10 is the shape of the REST call that once timed out, 30 x 600 a plateau case where the
fills' Newton step is offered, 150 x 260 one with 1.7 columns a row, where it is offered
last), and Little & Rubin's ``missvals`` and the
``marijuana`` table with ``ridge=1`` when their CSVs are found (``../shared/data``,
``tests/data/classics`` or ``tests/data``).

For every case and both trees -- this working tree ("new") and a base revision checked
out into a temporary git worktree ("old", default ``main``: today's code path) -- a
fresh process

* times EM evaluations (``MVNProblem.step``, the E-step, objective, M-step and the
  feasibility check of the update) along the EM path from the engine's start, under the
  engine's own BLAS thread policy, and reports the median: **the headline figure**
  (the number of evaluations is part 2 of the issue, worked on separately);
* runs ``imputer.impute`` with ``max_iter`` capped so that it stops within about
  ``--cap`` seconds, and reports its evaluations, total time, total time per evaluation
  (the issue's "per evaluation") and whether it converged;
* (new tree) times one ``p x p`` Cholesky factorisation and the ``n x p`` cross-product
  ``X'X`` (one thread), the yardstick of the issue's target "per evaluation within 5x
  of one Cholesky plus the cross-product".

Amelia (``amelia(x, m=1, boot.type="none", empri=...)`` through
:mod:`benchmarks._rscript`) runs on the cases with ``p <= --amelia-max-p`` (default
500). It refuses ``2 p > n + empri`` ("too few observations"), so it gets the smallest
``empri`` it accepts, ``max(ridge, 2p - n)``, and the new tree is fitted again at that
``ridge`` for a like-for-like time.

Usage::

    python -m benchmarks.bench_wide [--base main] [--cap 20] [--cases 10x200,100x300] [--no-r]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._datasets import mcar_mvn  # noqa: E402
from benchmarks._rscript import have_r, run_amelia  # noqa: E402

#: (name, n, p, ridge) of the simulated cases, in the order printed.
SIMULATED: list[tuple[str, int, int, float]] = [
    ("1000x100", 1000, 100, 0.0),
    ("10x200", 10, 200, 1.0),
    ("100x300", 100, 300, 1.0),
    ("30x600", 30, 600, 1.0),
    ("150x260", 150, 260, 1.0),
    ("10x500", 10, 500, 1.0),
    ("10x700", 10, 700, 1.0),
    ("10x1000", 10, 1000, 1.0),
    ("50x1000", 50, 1000, 1.0),
    ("200x1000", 200, 1000, 1.0),
    ("1000x1000", 1000, 1000, 1.0),
    ("10x2000", 10, 2000, 1.0),
    ("50x2000", 50, 2000, 1.0),
    ("200x2000", 200, 2000, 1.0),
    ("1000x2000", 1000, 2000, 1.0),
]
#: (name, file stem, ridge) of the classic tables.
CLASSICS: list[tuple[str, str, float]] = [("missvals", "missvals", 0.0), ("marijuana", "marijuana", 1.0)]

_CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np, pandas as pd
import imputer
from imputer._gaussian.patterns import build_patterns
from imputer.mvn._fit import blas_threads, standardise, start_values
from imputer.mvn._problem import MVNProblem
from imputer.mvn._scaling import scaling_of
df = pd.read_pickle(sys.argv[1]); ridge = float(sys.argv[2]); cap = float(sys.argv[3]); yard = sys.argv[4] == "1"
x = df.to_numpy(dtype=float); mask = np.isnan(x); n, p = x.shape
values = tuple(np.ascontiguousarray(x[:, j]) for j in range(p))
data = standardise(build_patterns(mask), values, scaling_of(list(df.columns), values, mask))
problem = MVNProblem(data, ridge)
point = problem.pack(start_values(data))
times = []
with blas_threads(p):
    problem.step(point)  # warm-up (lazy imports, first-touch of the work array)
    t_all = time.perf_counter()
    while len(times) < 5 and (len(times) < 2 or time.perf_counter() - t_all < cap / 4):
        t = time.perf_counter(); fx, _ = problem.step(point); times.append(time.perf_counter() - t)
        if fx is None:
            break
        point = fx
per_eval = float(np.median(times))
out = {"per_eval": per_eval, "n_patterns": sum(g.n_patterns for g in data.patterns.groups)}
# about 2.5 evaluations per SQUAREM iteration
max_iter = max(1, int(cap / (2.5 * per_eval)))
t = time.perf_counter()
res = imputer.impute(df, ridge=ridge, max_iter=max_iter)
total = time.perf_counter() - t
out.update(total=total, n_evals=res.n_evals, n_iter=res.n_iter, converged=bool(res.converged), max_iter=max_iter,
           fit_per_eval=total / max(res.n_evals, 1))
if yard:
    import scipy.linalg
    from threadpoolctl import threadpool_limits
    sigma = np.cov(np.nan_to_num(x), rowvar=False) + np.eye(p)
    with threadpool_limits(limits=1, user_api="blas"):
        tc, tx = [], []
        for _ in range(5):
            t0 = time.perf_counter(); scipy.linalg.cholesky(sigma, lower=True, check_finite=False)
            tc.append(time.perf_counter() - t0)
            t0 = time.perf_counter(); z = np.nan_to_num(x); z.T @ z; tx.append(time.perf_counter() - t0)
    out.update(chol=min(tc), cross=min(tx))
print(json.dumps(out))
"""


def _find_classic(stem: str) -> Path | None:
    for d in (ROOT.parent / "shared" / "data", ROOT / "tests" / "data" / "classics", ROOT / "tests" / "data"):
        if (d / f"{stem}.csv").exists():
            return d / f"{stem}.csv"
    return None


def _run_tree(tree: Path, frame_path: Path, ridge: float, cap: float, yardstick: bool) -> dict | None:
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-c", _CHILD, str(frame_path), repr(ridge), repr(cap), "1" if yardstick else "0"]
    try:
        proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=2 * cap + 60)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        print(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "child failed", flush=True)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt(res: dict | None) -> str:
    if res is None:
        return f"{'(over the cap)':>56}"
    conv = "yes" if res["converged"] else f"no ({res['max_iter']} it)"
    return (f"{res['per_eval'] * 1e3:>10.1f} ms {res['fit_per_eval'] * 1e3:>10.1f} ms {res['n_evals']:>6d} "
            f"{res['total']:>9.2f} s {conv:>12}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="main", help="the 'old' revision (today's code path)")
    ap.add_argument("--cap", type=float, default=20.0, help="seconds per case and tree for the capped fit")
    names = [c[0] for c in SIMULATED] + [c[0] for c in CLASSICS]
    ap.add_argument("--cases", default=",".join(names), help=f"comma-separated subset of {','.join(names)}")
    ap.add_argument("--no-old", action="store_true", help="skip the base revision")
    ap.add_argument("--no-r", action="store_true", help="skip Amelia")
    ap.add_argument("--amelia-max-p", type=int, default=500, help="run Amelia up to this many columns")
    args = ap.parse_args(argv)
    wanted = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        ap.error(f"unknown case(s) {unknown}; choose from {names}")

    frames: list[tuple[str, pd.DataFrame, float]] = []
    for name, n, p, ridge in SIMULATED:
        if name in wanted:
            frames.append((name, mcar_mvn(n, p, missing_rate=0.2, seed=0), ridge))
    for name, stem, ridge in CLASSICS:
        if name in wanted:
            path = _find_classic(stem)
            if path is None:
                print(f"{name}: {stem}.csv not found (../shared/data, tests/data/classics, tests/data): skipped")
                continue
            frames.append((name, pd.read_csv(path).select_dtypes("number"), ridge))

    with tempfile.TemporaryDirectory(prefix="imputer-wide-") as tmp:
        old = Path(tmp) / "old"
        if not args.no_old:
            subprocess.run(["git", "worktree", "add", "--detach", "-q", str(old), args.base], cwd=ROOT, check=True)
        try:
            print(f"new: working tree {ROOT}   old: {args.base}   cap {args.cap:g} s per fit   "
                  "(per evaluation: median of up to 5 EM evaluations from the start)")
            head = (f"{'case':<10} {'ridge':>5} {'patterns':>8} {'tree':<4} {'per eval':>13} {'fit/evals':>13} "
                    f"{'evals':>6} {'total':>11} {'converged':>12}")
            print(head + f" {'eval / (chol + XtX)':>20}")
            for name, frame, ridge in frames:
                fpath = Path(tmp) / f"{name}.pkl"
                frame.to_pickle(fpath)
                new = _run_tree(ROOT, fpath, ridge, args.cap, True)
                ratio = f"{new['per_eval'] / (new['chol'] + new['cross']):>20.1f}" if new else ""
                pats = new["n_patterns"] if new else -1
                print(f"{name:<10} {ridge:>5g} {pats:>8d} {'new':<4} {_fmt(new)} {ratio}", flush=True)
                if not args.no_old:
                    before = _run_tree(old, fpath, ridge, args.cap, False)
                    speed = f"{before['per_eval'] / new['per_eval']:>17.1f}x /eval" if before and new else ""
                    print(f"{'':<10} {'':>5} {'':>8} {'old':<4} {_fmt(before)} {speed}", flush=True)
                if not args.no_r and have_r() and frame.shape[1] <= args.amelia_max_p:
                    # Amelia refuses 2 p > n + empri: give it the smallest prior it accepts
                    n, p = frame.shape
                    empri = max(ridge, float(2 * p - n)) if 2 * p > n + ridge else ridge
                    am = run_amelia(frame, repeats=1, empri=empri, timeout=4 * args.cap)
                    if am is not None:
                        same = new if empri == ridge else _run_tree(ROOT, fpath, empri, args.cap, False)
                        ours = f"new at ridge={empri:g}: {same['total']:.2f} s, {same['n_evals']} evals" if same else ""
                        print(f"{'':<10} {'':>5} {'':>8} Amelia {am['iterations']:>6d} EM iterations {am['seconds']:>8.2f} s "
                              f"(tolerance {am['tolerance']:g}, empri {empri:g}; {ours})", flush=True)
        finally:
            if not args.no_old:
                subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
