"""Issue 10: the mixture's compiled pattern pass (numba) against the numpy one, in one run.

Run from the repository root (numba comes with the ``fast`` and ``dev`` extras)::

    python -m benchmarks.bench_mixture_compiled            # 100,000 x 10, K = 3, about 2 minutes
    python -m benchmarks.bench_mixture_compiled --quick    # 10,000 rows

The data, start and timings are those of :mod:`benchmarks.bench_mixture` (tables 2 and 3):
``mar_mvn(n, 10, seed=1)`` (15% of cells missing), K = 3, full covariances. Printed:

1. agreement of :class:`~imputer.mixture._compiled.CompiledPlan` with the numpy pass
   (:class:`~imputer.mixture._kernel.PatternPlan`) at the start: log-likelihood
   (relative), responsibilities and statistics (largest differences);
2. the first call's JIT compile time, in fresh processes: with an empty numba cache
   directory (compilation) and again with the cache it left (loading);
3. seconds per EM-map evaluation (``MixtureProblem.step``) with each pass and of the
   single normal's (``MVNProblem.step``): wall-clock median and least process CPU time;
4. the user-facing calls, whole call divided by ``n_evals`` (as table 3 of
   ``bench_mixture``, the issue's "within 5x the time of the single-normal ``impute`` per
   iteration"): ``impute`` against ``impute_mixture`` as installed (the compiled pass from
   :data:`~imputer.mixture._kernel.COMPILED_MIN_ROWS` rows) and with ``IMPUTER_COMPILED=0``
   (the numpy pass).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

from benchmarks._datasets import mar_mvn
from benchmarks._timing import timed
from benchmarks.bench_mixture import _cpu, _load, _setup, sizes, time_calls
from imputer.mixture._compiled import CompiledPlan
from imputer.mixture._kernel import PatternPlan
from imputer.mixture._problem import MixtureProblem
from imputer.mvn._fit import blas_threads, standardise
from imputer.mvn._fit import start_values as mvn_start
from imputer.mvn._problem import MVNProblem

_FIRST_CALL = """
import time
import numpy as np
from benchmarks._datasets import mar_mvn
from benchmarks.bench_mixture import _setup
t0 = time.perf_counter()
from imputer.mixture._compiled import CompiledPlan
t1 = time.perf_counter()
data, ct, sc, start = _setup(mar_mvn(2_000, 10, seed=1), 3, "full")
plan = CompiledPlan(data, 3)
t2 = time.perf_counter()
plan.run(*start)
t3 = time.perf_counter()
plan.run(*start)
t4 = time.perf_counter()
print(f"{t1 - t0:.2f} {(t3 - t2) - (t4 - t3):.2f}")
"""


def agreement(n: int) -> None:
    data, ct, sc, start = _setup(mar_mvn(n, 10, seed=1), 3, "full")
    a = PatternPlan(data, 3).run(*start, rows=True)
    b = CompiledPlan(data, 3).run(*start, rows=True)
    print(f"\nAgreement at the start, {n:,} x 10, K = 3 (compiled - numpy; statistics: largest difference / largest entry):")
    rel = [np.abs(getattr(b, f) - getattr(a, f)).max() / np.abs(getattr(a, f)).max() for f in ("nk", "s1", "s2")]
    print(f"loglik relative {abs(b.loglik - a.loglik) / abs(a.loglik):.1e}   resp {np.abs(b.resp - a.resp).max():.1e}"
          f"   log_dens {np.abs(b.log_dens - a.log_dens).max():.1e}   N {rel[0]:.1e}  s1 {rel[1]:.1e}  s2 {rel[2]:.1e}")


def first_call() -> None:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    print("\nFirst call in a fresh process (import numba and the module; first run minus second run):")
    with tempfile.TemporaryDirectory() as cache:
        env["NUMBA_CACHE_DIR"] = cache
        for label in ("empty cache (compile)", "cache filled (load)"):
            out = subprocess.run([sys.executable, "-c", _FIRST_CALL], env=env, cwd=root, capture_output=True, text=True, check=True)
            imp, jit = out.stdout.split()
            print(f"{label:<24} import {imp} s   first run's extra {jit} s")


def em_map(n: int, iters: int, repeats: int) -> None:
    frame = mar_mvn(n, 10, seed=1)
    data, ct, sc, start = _setup(frame, 3, "full")
    numpy_problem = MixtureProblem(data, ct, 0.0)
    numpy_problem.plan = PatternPlan(data, 3)
    compiled_problem = MixtureProblem(data, ct, 0.0)
    compiled_problem.plan = CompiledPlan(data, 3)
    x0 = numpy_problem.pack(start)
    compiled_problem.step(x0)  # compiled (or loaded) before timing
    mvn_data = standardise(frame.isna().to_numpy(), tuple(frame[c].to_numpy(float) for c in frame), sc)
    mvn = MVNProblem(mvn_data, 0.0)
    y0 = mvn.pack(mvn_start(mvn_data))
    print(f"\nEM map, seconds per evaluation, {n:,} x 10, K = 3, full; {_load()}")
    print(f"{'':<22} {'wall (median)':>14} {'CPU (least)':>12} {'CPU / normal':>13}")
    with blas_threads(10):
        c_mvn = _cpu(lambda: mvn.step(y0), iters * repeats)
        t_mvn, _, _ = timed(lambda: [mvn.step(y0) for _ in range(iters)], repeats)
        for name, prob in (("mixture, numpy pass", numpy_problem), ("mixture, compiled", compiled_problem)):
            t, _, _ = timed(lambda: [prob.step(x0) for _ in range(iters)], repeats)
            c = _cpu(lambda: prob.step(x0), iters * repeats)
            print(f"{name:<22} {t / iters:>14.4f} {c:>12.4f} {c / c_mvn:>13.2f}")
    print(f"{'one normal':<22} {t_mvn / iters:>14.4f} {c_mvn:>12.4f} {1.0:>13.2f}")


def user_facing(n: int, max_iter: int, repeats: int) -> None:
    from imputer import impute, impute_mixture

    frame = mar_mvn(n, 10, seed=1)

    def mixture():
        return impute_mixture(frame, n_components=3, n_init=1, seed=0, max_iter=max_iter, tol=1e-15)

    def numpy_pass():
        os.environ["IMPUTER_COMPILED"] = "0"
        try:
            return mixture()
        finally:
            del os.environ["IMPUTER_COMPILED"]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mixture()  # compiled (or loaded) before timing
    runs = {
        "impute": lambda: impute(frame, accelerate=False, max_iter=max_iter, tol=1e-15),
        "mixture, compiled": mixture,
        "mixture, numpy pass": numpy_pass,
    }
    print(f"\nUser-facing calls, max_iter={max_iter}, tol=1e-15 (whole call / n_evals); {_load()}")
    print(f"{'call':<20} {'n_evals':>7} {'wall s':>8} {'CPU s':>8} {'wall/eval':>10} {'CPU/eval':>10} {'ratio wall':>10} {'ratio CPU':>9}")
    per = {}
    for name, (res, wall, cpu) in time_calls(runs, repeats):
        per[name] = (wall / res.n_evals, cpu / res.n_evals)
        wn, cn = per["impute"]
        print(f"{name:<20} {res.n_evals:>7} {wall:>8.3f} {cpu:>8.3f} {per[name][0]:>10.4f} {per[name][1]:>10.4f}"
              f" {per[name][0] / wn:>10.2f} {per[name][1] / cn:>9.2f}")


def main() -> None:
    quick, n, iters, repeats = sizes(__doc__)
    t0 = time.perf_counter()
    import numba

    print(f"numba {numba.__version__} (import {time.perf_counter() - t0:.2f} s); {_load()}")
    agreement(n)
    first_call()
    em_map(n, iters, repeats)
    user_facing(n, 20 if quick else 30, repeats)
    print(_load())


if __name__ == "__main__":
    main()
