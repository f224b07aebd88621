"""Before/after timing of two revisions of imputer, alternated in one run.

A refactoring must not slow the engines down, and on a shared machine two separate runs
of ``bench_mvn``/``bench_mixed`` differ by more than a small change costs. This script
checks out ``REV`` (the "before") into a temporary git worktree and alternates
fresh processes of the two trees, case by case and round by round, so that both see the
same machine load; it reports each tree's fastest and median time per case and the ratio
of the minima (the minimum is the figure least disturbed by other jobs).

Cases (public API only, so any revision that has it can be compared):

* ``mvn``: ``imputer.impute`` on ``mar_mvn(100_000, 20)`` (19,377 patterns), defaults;
* ``mvn-plain``: the same with ``accelerate=False``;
* ``mvn-few``: ``mar_mvn(100_000, 20, n_patterns=10)``;
* ``wide-200``, ``wide-500``: ``imputer.impute(mcar_mvn(10, p), ridge=1)`` (issue 16's wide cases);
* ``mixed``: ``fit_mixed_frame`` with two crossed intercepts, 100,000 rows (1,000 x 50);
* ``kernel``: ``fit_mixed`` with one dense kernel, n = 1,000 (spectral engine).

Usage::

    python -m benchmarks.ab_revisions REV [--rounds 5] [--repeats 5] [--cases mvn,mixed]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES: dict[str, str] = {
    "mvn": "from benchmarks._datasets import mar_mvn; d = mar_mvn(100_000, 20, seed=0)\n"
    "f = lambda: imputer.impute(d)",
    "mvn-plain": "from benchmarks._datasets import mar_mvn; d = mar_mvn(100_000, 20, seed=0)\n"
    "f = lambda: imputer.impute(d, accelerate=False)",
    "mvn-few": "from benchmarks._datasets import mar_mvn; d = mar_mvn(100_000, 20, seed=0, n_patterns=10)\n"
    "f = lambda: imputer.impute(d)",
    "wide-200": "from benchmarks._datasets import mcar_mvn; d = mcar_mvn(10, 200, seed=0)\n"
    "f = lambda: imputer.impute(d, ridge=1.0)",
    "wide-500": "from benchmarks._datasets import mcar_mvn; d = mcar_mvn(10, 500, seed=0)\n"
    "f = lambda: imputer.impute(d, ridge=1.0)",
    "mixed": "from benchmarks._datasets import crossed_intercepts; d = crossed_intercepts(100_000, 1000, 50, seed=0)\n"
    "f = lambda: imputer.fit_mixed_frame(d, 'y', fixed=['x'], random=['g1', 'g2'])",
    "kernel": "import scipy.sparse as sp; from benchmarks._datasets import single_kernel\n"
    "y, X, K = single_kernel(1000, seed=0); Z = sp.identity(1000, format='csr')\n"
    "f = lambda: imputer.fit_mixed(y, X, {'u1': {'Z': Z, 'K': K}})",
}

_CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
import imputer
{setup}
f()
times = []
for _ in range({repeats}):
    t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
print(json.dumps(times))
"""


def _time_case(tree: Path, case: str, repeats: int) -> list[float]:
    code = _CHILD.format(setup=CASES[case], repeats=repeats)
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, check=True)
    return [float(t) for t in json.loads(out.stdout.strip().splitlines()[-1])]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rev", help="the 'before' revision (a commit, tag or branch)")
    ap.add_argument("--rounds", type=int, default=5, help="alternations of the two trees per case")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per process")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    args = ap.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="imputer-ab-") as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(before), args.rev], cwd=ROOT, check=True)
        try:
            print(f"before: {args.rev}   after: working tree at {head}   "
                  f"({args.rounds} alternations x {args.repeats} calls per case)")
            print(f"{'case':<10} {'before min':>11} {'median':>8} {'after min':>10} {'median':>8} {'after/before':>13}")
            for case in cases:
                runs: dict[str, list[float]] = {"before": [], "after": []}
                for _ in range(args.rounds):
                    runs["before"] += _time_case(before, case, args.repeats)
                    runs["after"] += _time_case(ROOT, case, args.repeats)
                b, a = sorted(runs["before"]), sorted(runs["after"])
                print(f"{case:<10} {b[0]:>10.4f}s {b[len(b) // 2]:>7.4f}s {a[0]:>9.4f}s {a[len(a) // 2]:>7.4f}s "
                      f"{a[0] / b[0]:>12.2f}x", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
