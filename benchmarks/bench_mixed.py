"""Benchmark the mixed-model engine (issue 3 and the mixed-model targets of issue 5).

Seven cases, each timed over several runs in this process (median wall-clock seconds):

1. Two crossed random intercepts: ``y ~ x + (1 | g1) + (1 | g2)`` on 100,000 rows with
   1,000 and 50 levels (:func:`benchmarks._datasets.crossed_intercepts`), through
   :func:`imputer.fit_mixed_frame` (building the sparse design is part of the time, as
   building the model frame is part of lme4's). SQUAREM-accelerated EM against plain EM
   (iterations, EM-map evaluations, time), and lme4's ``lmer`` on the same data in the
   same run when ``Rscript`` is available: time ratio and the largest relative difference
   of the variance components and of the REML log-likelihood.
   Targets: not slower than lme4 (goal 3x faster); components within 1e-4 of lme4's.
2. Random intercepts and slopes (issue 13): ``y ~ t + (t | subject)`` on 100,000 rows
   with 2,000 subjects (:func:`random_slopes`, unbalanced), through
   :func:`imputer.fit_mixed_frame` (bar term, unstructured 2 x 2 covariance), against
   lme4's ``lmer`` with its default control in the same run: time ratio, largest relative
   difference of the variances and the REML log-likelihood.
   Target: faster than lme4 (goal 3x).
3. Small components: ``y ~ x + (1 | a) + (1 | b)`` on 100,000 rows with 500 x 300 levels and
   no group effect (:func:`small_components`), whose REML optimum has both variances
   small but not zero (1e-5 and 2e-4 of the residual's): EM's rate is within 1e-5 of 1.
   The fit (SQUAREM and Newton steps on EM's fixed point) against SQUAREM alone (the
   driver before its Newton points, :func:`squarem_alone`, timed once) in the same run:
   time, evaluations, and how far SQUAREM alone stopped from the optimum; lme4 when
   ``Rscript`` is available.
4. ScotsSec (issue 13): ``attain ~ verbal + sex + (1|primary) + (1|second) +
   (1|primary:second)`` on mlmRev's 3,435 pupils (``tests/data/lme4/scotssec.csv``), whose
   optimum has ``primary:second = 0`` and a small ``second``: the boundary probe's cost.
   EM evaluations and time against lme4. Target: under 0.5 s.
5. InstEval (issue 13): lme4's 73,421 course ratings,
   ``y ~ service + lectage + studage + (1|s) + (1|d) + (1|dept:service)`` (2,972 students,
   1,128 lecturers, 28 department x service cells): the eliminated term's sparse coupling.
   The data is exported from lme4 by ``Rscript`` into ``benchmarks/_out/insteval.csv`` (not
   committed) on first use. Target: 3x lme4.
6. One dense genomic kernel, ``n = 2,000`` (:func:`benchmarks._datasets.single_kernel`),
   through :func:`imputer.fit_mixed` with ``Z = I`` (EMMA spectral path), against one
   ``numpy.linalg.eigh(K)`` timed in the same run. Target: within 2x of the eigh.
7. Multi-trait (issue 13): three traits on the same kernel, ``n = 2,000``, 20% of the
   trait values missing at random, through :func:`imputer.fit_mixed` with an ``n x 3``
   ``Y`` (canonical transformation, Woodbury on the missing entries, AI-REML steps
   safeguarded by EM): time, iterations and evaluations to ``tol = 1e-8``, seconds per
   evaluation, against one EM
   iteration of the dense direct approach (sommer's class: ``V`` over the observed
   entries of ``vec(Y)`` inverted every iteration) and the single-trait fit of the first
   trait (all observed) in the same run. Target: within 3x of the single-trait fit.

Usage::

    python -m benchmarks.bench_mixed            # full size
    python -m benchmarks.bench_mixed --quick    # smoke run (small n, 2 repeats)
    python -m benchmarks.bench_mixed --only slopes   # one case (crossed, slopes, small, scotssec, insteval, kernel, multitrait)
    python -m benchmarks.bench_mixed --only scotssec insteval   # several cases in one run
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._datasets import CROSSED_TRUTH, KERNEL_TRUTH, crossed_intercepts, single_kernel  # noqa: E402
from benchmarks._timing import machine, timed  # noqa: E402
from benchmarks._rscript import have_r, run_lme4  # noqa: E402
from imputer import fit_mixed, fit_mixed_frame  # noqa: E402


def bench_crossed(n: int, n1: int, n2: int, repeats: int, use_r: bool) -> None:
    print(f"\n## Two crossed random intercepts: n = {n:,}, g1 {n1:,} levels, g2 {n2} levels, one covariate")
    df = crossed_intercepts(n, n1, n2, seed=0)

    def ours(accelerate: bool = True):
        return fit_mixed_frame(df, "y", fixed=["x"], random=["g1", "g2"], accelerate=accelerate)

    ours()  # warm-up (imports, caches)
    t_fast, all_fast, fast = timed(ours, repeats)
    t_slow, _, slow = timed(lambda: ours(False), repeats)
    print(f"imputer (SQUAREM): {t_fast:.3f} s median of {repeats} {[round(s, 3) for s in all_fast]}, "
          f"{fast.n_iter} iterations, {fast.n_evals} EM evaluations, converged={fast.converged}")
    print(f"imputer (plain EM): {t_slow:.3f} s, {slow.n_iter} iterations, {slow.n_evals} EM evaluations; "
          f"SQUAREM/plain time {t_fast / t_slow:.2f}")
    print("  variance components: " + ", ".join(f"{k} {v:.6f}" for k, v in fast.var_comp.items())
          + f"  (truth g1 {CROSSED_TRUTH['s2_g1']}, g2 {CROSSED_TRUTH['s2_g2']}, residual {CROSSED_TRUTH['s2_e']})")
    d_plain = float(np.max(np.abs(fast.var_comp - slow.var_comp) / slow.var_comp))
    print(f"  max relative difference SQUAREM vs plain EM: {d_plain:.2e}; REML loglik {fast.loglik:.6f}")
    if not use_r:
        print("lme4: skipped (--no-r)")
        return
    r = run_lme4(df, "y ~ x + (1 | g1) + (1 | g2)", repeats=repeats)
    if r is None:
        return
    names = {"g1": "g1", "g2": "g2", "residual": "Residual"}
    rel = {k: abs(fast.var_comp[k] - r["var_comp"][v]) / r["var_comp"][v] for k, v in names.items()}
    print(f"lme4 {r['versions']['lme4']}: {r['seconds']:.3f} s median {[round(s, 3) for s in r['seconds_all']]}, "
          f"{r['feval']} deviance evaluations")
    print("  variance components: " + ", ".join(f"{k} {r['var_comp'][v]:.6f}" for k, v in names.items()))
    print(f"  max relative |var comp difference| imputer vs lme4: {max(rel.values()):.2e} "
          f"({', '.join(f'{k} {v:.1e}' for k, v in rel.items())})")
    print(f"  REML loglik: imputer {fast.loglik:.6f}, lme4 {r['loglik']:.6f} (imputer - lme4 = {fast.loglik - r['loglik']:.2e})")
    print(f"  speed: imputer is {r['seconds'] / t_fast:.1f}x faster than lme4 (lme4 {r['seconds']:.3f} s / imputer {t_fast:.3f} s)")


#: The random-slopes data's truth: G (intercept, slope) and the residual variance.
SLOPES_TRUTH: dict[str, object] = {"G": [[600.0, 10.0], [10.0, 35.0]], "s2_e": 650.0, "beta": [250.0, 10.0]}


def random_slopes(n: int, n_subjects: int, seed: int = 0) -> pd.DataFrame:
    """``y = 250 + 10 t + u0_s + u1_s t + e``, ``(u0, u1) ~ N(0, G)``, ``t ~ U(0, 9)``, subjects uniform at random."""
    rng = np.random.default_rng(seed)
    subject = rng.integers(0, n_subjects, size=n)
    t = np.round(rng.uniform(0.0, 9.0, size=n), 3)
    U = rng.multivariate_normal(np.zeros(2), np.array(SLOPES_TRUTH["G"]), size=n_subjects)
    b0, b1 = SLOPES_TRUTH["beta"]
    y = b0 + b1 * t + U[subject, 0] + U[subject, 1] * t + rng.normal(scale=np.sqrt(SLOPES_TRUTH["s2_e"]), size=n)
    return pd.DataFrame({"y": np.round(y, 4), "t": t, "subject": [f"s{i:04d}" for i in subject]})


def bench_slopes(n: int, n_subjects: int, repeats: int, use_r: bool) -> None:
    print(f"\n## Random intercepts and slopes: y ~ t + (t | subject), n = {n:,}, {n_subjects:,} subjects")
    df = random_slopes(n, n_subjects, seed=0)

    def ours(accelerate: bool = True):
        return fit_mixed_frame(df, "y", fixed=["t"], random=["(t | subject)"], accelerate=accelerate)

    ours()  # warm-up
    t_fast, all_fast, fast = timed(ours, repeats)
    t_slow, _, slow = timed(lambda: ours(False), repeats)
    G = fast.covariances["subject"].to_numpy()
    print(f"imputer (SQUAREM): {t_fast:.3f} s median of {repeats} {[round(s, 3) for s in all_fast]}, "
          f"{fast.n_iter} iterations, {fast.n_evals} EM evaluations, converged={fast.converged}")
    print(f"imputer (plain EM): {t_slow:.3f} s, {slow.n_iter} iterations, {slow.n_evals} EM evaluations")
    print(f"  G = [[{G[0, 0]:.4f}, {G[0, 1]:.4f}], [{G[1, 0]:.4f}, {G[1, 1]:.4f}]], residual "
          f"{fast.var_comp['residual']:.4f} (truth G {SLOPES_TRUTH['G']}, residual {SLOPES_TRUTH['s2_e']}); "
          f"REML loglik {fast.loglik:.6f}")
    if not use_r:
        print("lme4: skipped (--no-r)")
        return
    r = run_lme4(df, "y ~ t + (t | subject)", repeats=repeats)
    if r is None:
        return
    names = {"subject": "subject", "subject.t": "subject.t", "residual": "Residual"}
    rel = {k: abs(fast.var_comp[k] - r["var_comp"][v]) / r["var_comp"][v] for k, v in names.items()}
    print(f"lme4 {r['versions']['lme4']}: {r['seconds']:.3f} s median {[round(s, 3) for s in r['seconds_all']]}, "
          f"{r['feval']} deviance evaluations")
    print("  variances: " + ", ".join(f"{k} {r['var_comp'][v]:.4f}" for k, v in names.items()))
    print(f"  max relative |variance difference| imputer vs lme4: {max(rel.values()):.2e}")
    print(f"  REML loglik: imputer {fast.loglik:.6f}, lme4 {r['loglik']:.6f} (imputer - lme4 = {fast.loglik - r['loglik']:.2e})")
    print(f"  speed: imputer is {r['seconds'] / t_fast:.1f}x faster than lme4 (lme4 {r['seconds']:.3f} s / imputer {t_fast:.3f} s)")


ROOT = Path(__file__).resolve().parent.parent
SCOTSSEC = ROOT / "tests" / "data" / "lme4" / "scotssec.csv"
INSTEVAL = ROOT / "benchmarks" / "_out" / "insteval.csv"
_EXPORT_INSTEVAL = (
    "suppressPackageStartupMessages(library(lme4)); d <- InstEval; "
    "for (v in c('s', 'd', 'studage', 'lectage', 'service', 'dept')) d[[v]] <- paste0(v, d[[v]]); "
    "write.csv(d, commandArgs(TRUE)[1], row.names = FALSE)"
)


def _compare_lme4(fit, df: pd.DataFrame, formula: str, names: dict[str, str], repeats: int, t_ours: float) -> None:
    r = run_lme4(df, formula, repeats=repeats)
    if r is None:
        return
    rel = {k: abs(fit.var_comp[k] - r["var_comp"][v]) / r["var_comp"][v] for k, v in names.items() if r["var_comp"][v] > 0}
    print(f"lme4 {r['versions']['lme4']}: {r['seconds']:.3f} s median {[round(s, 3) for s in r['seconds_all']]}, "
          f"{r['feval']} deviance evaluations")
    print("  variances: " + ", ".join(f"{k} {r['var_comp'][v]:.6g}" for k, v in names.items()))
    print(f"  max relative |variance difference| imputer vs lme4 (non-zero ones): {max(rel.values()):.2e}")
    print(f"  REML loglik: imputer {fit.loglik:.6f}, lme4 {r['loglik']:.6f} (imputer - lme4 = {fit.loglik - r['loglik']:.2e})")
    print(f"  speed: imputer is {r['seconds'] / t_ours:.1f}x faster than lme4 (lme4 {r['seconds']:.3f} s / imputer {t_ours:.3f} s)")


def small_components(n: int, n1: int, n2: int, seed: int = 0) -> pd.DataFrame:
    """``y = 1 + 2 x + e`` with two crossed grouping factors of ``n1`` and ``n2`` levels and no
    group effect at all: the REML optimum has both variances small (1e-5 and 2e-4 of the
    residual's at full size), not zero, where EM's rate is within 1e-5 of 1."""
    rng = np.random.default_rng(seed)
    a, b, x = rng.integers(0, n1, n), rng.integers(0, n2, n), rng.normal(size=n)
    y = 1 + 2 * x + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "a": pd.Categorical(a), "b": pd.Categorical(b)})


@contextmanager
def squarem_alone():
    """The driver as it was before its Newton points (benchmark-only): no problem offers them."""
    from imputer.mixed._problem import MixedProblem

    saved = MixedProblem.newton_mask
    MixedProblem.newton_mask = lambda self: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        MixedProblem.newton_mask = saved  # type: ignore[method-assign]


def bench_small(n: int, n1: int, n2: int, repeats: int, use_r: bool) -> None:
    print(f"\n## Small components: y ~ x + (1 | a) + (1 | b), n = {n:,}, {n1} x {n2} levels, no group effect")
    df = small_components(n, n1, n2)
    formula = "y ~ x + (1 | a) + (1 | b)"

    def ours():
        return fit_mixed_frame(df, formula)

    ours()
    t, all_t, fit = timed(ours, repeats)
    with squarem_alone():
        t_sq, _, sq = timed(ours, 1)
    print(f"imputer (SQUAREM + Newton steps): {t:.3f} s median of {repeats} {[round(s, 3) for s in all_t]}, "
          f"{fit.n_iter} iterations, {fit.n_evals} EM evaluations, converged={fit.converged}")
    print(f"imputer (SQUAREM alone, the driver before): {t_sq:.3f} s, {sq.n_iter} iterations, {sq.n_evals} EM "
          f"evaluations, converged={sq.converged}; time ratio {t_sq / t:.1f}x")
    print("  variances: " + ", ".join(f"{k} {v:.10g}" for k, v in fit.var_comp.items()))
    rel = np.abs(sq.var_comp - fit.var_comp) / np.maximum(fit.var_comp, 1e-300)
    print(f"  SQUAREM alone: variances {', '.join(f'{k} {v:.10g}' for k, v in sq.var_comp.items())}; "
          f"largest relative difference {float(rel.max()):.1e}; REML loglik {sq.loglik:.10f} against "
          f"{fit.loglik:.10f} ({sq.loglik - fit.loglik:.1e})")
    if use_r:
        _compare_lme4(fit, df.assign(a="a" + df["a"].astype(str), b="b" + df["b"].astype(str)), formula,
                      {"a": "a", "b": "b", "residual": "Residual"}, repeats, t)


def _cpu_seconds(fn) -> float:
    """CPU seconds (this process, every thread) of one call: less sensitive to a busy machine than wall time."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def bench_scotssec(repeats: int, use_r: bool) -> None:
    print("\n## ScotsSec: attain ~ verbal + sex + (1|primary) + (1|second) + (1|primary:second), n = 3,435")
    df = pd.read_csv(SCOTSSEC, dtype={"primary": str, "second": str, "sex": str})
    random = ["primary", "second", "primary:second"]

    def ours():
        return fit_mixed_frame(df, "attain", fixed=["verbal", "sex"], random=random)

    ours()
    t, all_t, fit = timed(ours, repeats)
    print(f"imputer: {t:.3f} s median of {repeats} {[round(s, 3) for s in all_t]}, {fit.n_iter} iterations, "
          f"{fit.n_evals} EM evaluations, converged={fit.converged}; {_cpu_seconds(ours):.3f} CPU s per fit")
    print("  variances: " + ", ".join(f"{k} {v:.6g}" for k, v in fit.var_comp.items()))
    if use_r:
        names = {"primary": "primary", "second": "second", "primary:second": "primary:second", "residual": "Residual"}
        # letters in front of the school codes, so that R reads them as factors, not numbers
        df_r = df.assign(primary="p" + df["primary"], second="s" + df["second"])
        _compare_lme4(fit, df_r, "attain ~ verbal + sex + (1 | primary) + (1 | second) + (1 | primary:second)",
                      names, repeats, t)


def insteval_frame() -> pd.DataFrame | None:
    """lme4's InstEval (73,421 rows), exported once by Rscript to ``benchmarks/_out/insteval.csv``."""
    if not INSTEVAL.exists():
        if not have_r():
            print("InstEval needs R (lme4) to export it once: skipped")
            return None
        INSTEVAL.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["Rscript", "--vanilla", "-e", _EXPORT_INSTEVAL, str(INSTEVAL)], check=True)
    return pd.read_csv(INSTEVAL, dtype=str).astype({"y": float})


def bench_insteval(repeats: int, use_r: bool) -> None:
    df = insteval_frame()
    if df is None:
        return
    print(f"\n## InstEval: y ~ service + lectage + studage + (1|s) + (1|d) + (1|dept:service), n = {len(df):,}")
    random = ["s", "d", "dept:service"]

    def ours():
        return fit_mixed_frame(df, "y", fixed=["service", "lectage", "studage"], random=random)

    t, all_t, fit = timed(ours, repeats)
    print(f"imputer: {t:.3f} s median of {repeats} {[round(s, 3) for s in all_t]}, {fit.n_iter} iterations, "
          f"{fit.n_evals} EM evaluations, converged={fit.converged}; {_cpu_seconds(ours):.3f} CPU s per fit "
          f"(all threads)")
    print("  variances: " + ", ".join(f"{k} {v:.6g}" for k, v in fit.var_comp.items()))
    if use_r:
        names = {"s": "s", "d": "d", "dept:service": "dept:service", "residual": "Residual"}
        _compare_lme4(fit, df, "y ~ service + lectage + studage + (1 | s) + (1 | d) + (1 | dept:service)",
                      names, repeats, t)


def bench_kernel(n: int, repeats: int) -> None:
    print(f"\n## One dense kernel (VanRaden GRM), n = {n:,}, Z = I")
    y, X, K = single_kernel(n, seed=0)
    Z = sp.identity(n, format="csr")

    def ours(accelerate: bool = True):
        return fit_mixed(y, X, [{"Z": Z, "K": K}], accelerate=accelerate)

    ours()
    t_eig, all_eig, _ = timed(lambda: np.linalg.eigh(K), repeats)
    t_fast, all_fast, fast = timed(ours, repeats)
    t_slow, _, slow = timed(lambda: ours(False), repeats)
    print(f"numpy.linalg.eigh(K): {t_eig:.3f} s median {[round(s, 3) for s in all_eig]}")
    print(f"imputer (SQUAREM, {fast.engine}): {t_fast:.3f} s median {[round(s, 3) for s in all_fast]}, "
          f"{fast.n_iter} iterations, {fast.n_evals} EM evaluations; {t_fast / t_eig:.2f}x one eigh(K)")
    print(f"imputer (plain EM): {t_slow:.3f} s, {slow.n_iter} iterations, {slow.n_evals} EM evaluations")
    d_plain = float(np.max(np.abs(fast.var_comp - slow.var_comp) / slow.var_comp))
    print("  variance components: " + ", ".join(f"{k} {v:.6f}" for k, v in fast.var_comp.items())
          + f"  (truth {KERNEL_TRUTH['s2_g']}, residual {KERNEL_TRUTH['s2_e']}); "
          f"SQUAREM vs plain max rel. diff {d_plain:.1e}")


def _dense_em_iteration(Y: np.ndarray, X: np.ndarray, K: np.ndarray, G: np.ndarray, R: np.ndarray) -> None:
    """One EM-REML iteration the dense way: V_oo (N x N) inverted, P formed, traces from it."""
    n, t = Y.shape
    obs = ~np.isnan(Y.T.ravel())
    V = (np.kron(G, K) + np.kron(R, np.eye(n)))[np.ix_(obs, obs)]
    Xo = np.kron(np.eye(t), X)[obs]
    Vi = np.linalg.inv(V)
    ViX = Vi @ Xo
    P = Vi - ViX @ np.linalg.solve(Xo.T @ ViX, ViX.T)
    tr_idx = np.repeat(np.arange(t), n)[obs]
    row = np.tile(np.arange(n), t)[obs]
    Mo = K[np.ix_(row, row)]
    Py = P @ np.nan_to_num(Y.T.ravel()[obs])
    T = np.zeros((t, t))
    for c in range(t):
        for d in range(t):
            T[c, d] = np.sum(P[np.ix_(tr_idx == c, tr_idx == d)] * Mo[np.ix_(tr_idx == d, tr_idx == c)].T)
    return Py, T


def bench_multitrait(n: int, repeats: int) -> None:
    print(f"\n## Multi-trait: 3 traits, one dense kernel, n = {n:,}, 20% of trait values missing")
    _, X, K = single_kernel(n, seed=0)
    rng = np.random.default_rng(13)
    G = np.array([[1.5, 0.6, 0.3], [0.6, 1.0, 0.2], [0.3, 0.2, 0.8]])
    R = np.array([[1.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.0]])
    w, Q = np.linalg.eigh(K)
    Lk = Q * np.sqrt(np.clip(w, 0, None))
    Y = X @ rng.normal(size=(2, 3)) + Lk @ rng.normal(size=(n, 3)) @ np.linalg.cholesky(G).T
    Y += rng.normal(size=(n, 3)) @ np.linalg.cholesky(R).T
    full = Y[:, 0].copy()
    Y[rng.random((n, 3)) < 0.2] = np.nan
    Z = sp.identity(n, format="csr")
    def multi():
        return fit_mixed(Y, X, [{"Z": Z, "K": K}], tol=1e-8)

    def single():
        return fit_mixed(full, X, [{"Z": Z, "K": K}], tol=1e-8)

    t_multi, all_multi, res = timed(multi, repeats)
    t_uni, _, uni = timed(single, repeats)
    t_eig, _, _ = timed(lambda: np.linalg.eigh(K), repeats)
    per_eval = max(t_multi - t_eig, 0.0) / res.n_evals
    print(f"imputer multi-trait: {t_multi:.3f} s median {[round(x, 3) for x in all_multi]}, "
          f"{res.n_iter} iterations, {res.n_evals} EM evaluations to tol 1e-8, "
          f"~{per_eval * 1e3:.1f} ms per evaluation (after one eigh(K), {t_eig:.3f} s); "
          f"{res.n_missing} missing entries")
    print(f"imputer single-trait (trait 1, all observed, {uni.engine}): {t_uni:.3f} s, {uni.n_iter} iterations; "
          f"multi-trait / single-trait = {t_multi / t_uni:.2f}x")
    with threadpool_limits(limits=1, user_api="blas"):  # eigh(K) too: two threads stall on a busy machine
        c_multi, c_uni = _cpu_seconds(multi), _cpu_seconds(single)
    print(f"one BLAS thread throughout (eigh(K) too): multi-trait {c_multi:.3f} CPU s, single-trait {c_uni:.3f} CPU s: "
          f"{c_multi / c_uni:.2f}x; log-likelihood {res.loglik:.9f}")
    Gh = res.covariances["u1"].to_numpy()
    Rh = res.covariances["residual"].to_numpy()
    if n <= 2000:
        t_dense, _, _ = timed(lambda: _dense_em_iteration(Y, X, K, Gh, Rh), 1)
        print(f"dense direct (V_oo inverted every iteration): {t_dense:.3f} s per iteration, "
              f"x {res.n_evals} evaluations = {t_dense * res.n_evals:.1f} s estimated; "
              f"{t_dense / max(per_eval, 1e-9):.0f}x ours per iteration")
    print("  G:", np.round(Gh, 3).tolist(), " R:", np.round(Rh, 3).tolist())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: small data, 2 repeats")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per system (default 5, quick 2)")
    ap.add_argument("--no-r", action="store_true", help="skip lme4 even when Rscript is available")
    ap.add_argument("--only", choices=["crossed", "slopes", "small", "scotssec", "insteval", "kernel", "multitrait"], nargs="+",
                    default=None, help="run these cases only (one or several)")
    args = ap.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    print(f"# bench_mixed ({'quick' if args.quick else 'full'}), {machine()}")
    warnings.simplefilter("default")
    use_r = not args.no_r
    if use_r and not have_r():
        print("Rscript not found: lme4 comparison skipped")
        use_r = False
    small = args.quick
    cases = {
        "crossed": lambda: bench_crossed(*((10_000, 200, 20) if small else (100_000, 1000, 50)), repeats, use_r),
        "slopes": lambda: bench_slopes(*((10_000, 200) if small else (100_000, 2000)), repeats, use_r),
        "small": lambda: bench_small(*((10_000, 100, 60) if small else (100_000, 500, 300)), repeats, use_r),
        "scotssec": lambda: bench_scotssec(repeats, use_r),
        "insteval": lambda: bench_insteval(1 if small else min(repeats, 3), use_r),
        "kernel": lambda: bench_kernel(400 if small else 2000, repeats),
        "multitrait": lambda: bench_multitrait(400 if small else 2000, min(repeats, 2)),
    }
    for name, run in cases.items():
        if args.only is None or name in args.only:
            run()


if __name__ == "__main__":
    main()
