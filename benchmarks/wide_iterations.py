r"""Why wide tables take hundreds of EM evaluations: the EM map's spectrum and four remedies tried (issue 16, part 2).

On a wide table (default: ``bench_wide``'s n = 10, p = 200, ``ridge = 1``, 20% MCAR)
this script prints, in one run and in EM evaluations (one E-step each, the unit of every
figure; times are printed too):

1. **Anderson's memory** (``imputer._em.anderson.run_anderson`` without Newton steps) at
   memory 10 (the default), 30 and 60, to the default ``tol = 1e-7``; then the default
   driver, Anderson with **Newton steps on the fills' fixed point**
   (:mod:`imputer.mvn._fillnewton`, the remedy adopted);
2. **L-BFGS** (``scipy.optimize.minimize(method="L-BFGS-B")``, memory 20) on the
   observed-data log-posterior in the engine's free coordinates ``z = (mu, L, log d)``
   with its exact gradient (Fisher's identity, :meth:`imputer.mvn._newton.NewtonStep.gradient`,
   taken through ``Sigma = P' L diag(d) L' P`` by the chain rule): one evaluation per
   function-and-gradient call;
3. **Block Newton** in the regression parametrisation (column ``j`` on the columns
   before it, most observed first: intercept ``a_j``, coefficients ``beta_j``, residual
   variance ``d_j``), whose complete-data log-posterior and ridge prior separate by
   column: each column's ``(a_j, beta_j)`` takes a Newton step with its own block of
   the observed information, by Louis' formula ``I_obs = I_com - Cov(S_com | x_obs)``
   (the conditional covariance of a product of Gaussian linear forms by Isserlis), then
   ``d_j`` its conditional maximiser; every step kept only if the objective does not
   fall (else an EM step), with the step scaled by ``--block-scale``;
4. **The spectrum**: the ``--eigs`` largest eigenvalues of the EM map's Jacobian at the
   maximiser (ARPACK on central differences of the map in free coordinates), the
   fractions of missing information that set every method's rate.

Usage::

    python -m benchmarks.wide_iterations [--n 10] [--p 200] [--ridge 1] [--eigs 40] [--skip block,lbfgs]

About 2-5 minutes on the 2-core machine at n = 10, p = 200 (the spectrum dominates).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.linalg as sla
import scipy.optimize as so
import scipy.sparse.linalg as ssl

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._datasets import mcar_mvn  # noqa: E402
from imputer._em.anderson import run_anderson  # noqa: E402
from imputer._gaussian.patterns import build_patterns  # noqa: E402
from imputer.mvn._fit import blas_threads, standardise, start_values  # noqa: E402
from imputer.mvn._newton import NewtonStep  # noqa: E402
from imputer.mvn._problem import MVNProblem  # noqa: E402
from imputer.mvn._scaling import scaling_of  # noqa: E402


def problem_of(n: int, p: int, ridge: float) -> tuple[MVNProblem, np.ndarray, np.ndarray]:
    """The engine's problem on ``mcar_mvn(n, p, missing_rate=0.2)``, its start (packed) and the standardised table (NaN missing)."""
    x = mcar_mvn(n, p, missing_rate=0.2, seed=0).to_numpy(dtype=float)
    mask = np.isnan(x)
    values = tuple(np.ascontiguousarray(x[:, j]) for j in range(p))
    names = [f"x{j}" for j in range(p)]
    scaling = scaling_of(names, values, mask)
    data = standardise(build_patterns(mask), values, scaling)
    prob = MVNProblem(data, ridge)
    return prob, prob.pack(start_values(data)), (x - scaling.center) / scaling.scale


def anderson_sweep(prob: MVNProblem, x0: np.ndarray, ref: np.ndarray, memories: list[int]) -> None:
    for m in memories:
        t = time.perf_counter()
        run = run_anderson(prob, x0, tol=1e-7, max_iter=5000, memory=m, use_newton=False)
        secs = time.perf_counter() - t
        print(f"anderson memory {m:>3}: {run.trace.n_evals:>5} evaluations, {secs:6.2f} s, converged "
              f"{run.trace.converged}, distance from the maximiser {prob.distance(ref, run.x):.1e} SD", flush=True)


def fill_newton(n: int, p: int, ridge: float, x0: np.ndarray, ref: np.ndarray) -> None:
    """The default driver: Anderson with Newton steps on the fills' fixed point (:mod:`imputer.mvn._fillnewton`)."""
    prob, _, _ = problem_of(n, p, ridge)  # a fresh problem (the step keeps its own state)
    t = time.perf_counter()
    run = run_anderson(prob, x0, tol=1e-7, max_iter=5000)
    secs = time.perf_counter() - t
    step = prob._newton
    products = getattr(step, "products", 0)
    print(f"fill Newton (default): {run.trace.n_evals:>5} evaluations, {secs:6.2f} s, {products} Jacobian products, "
          f"converged {run.trace.converged}, distance from the maximiser {prob.distance(ref, run.x):.1e} SD", flush=True)


def lbfgs(prob: MVNProblem, x0: np.ndarray, ref: np.ndarray, n: int) -> None:
    p = prob.p
    grad_of = NewtonStep(p, n, prob.ridge, lambda mu, s: None)
    strict = prob._strict_flat
    ns = strict.size
    order = prob._order
    rows, cols = np.tril_indices(p)
    calls = [0]

    def fg(z: np.ndarray) -> tuple[float, np.ndarray]:
        calls[0] += 1
        x = prob.from_free(z)
        fx, obj = prob.step(x)
        g = None if fx is None or not np.isfinite(obj) else grad_of.gradient(x, fx)
        if g is None:
            return 1e300, np.zeros_like(z)
        gm = np.zeros((p, p))
        half = g[p:] / np.where(rows != cols, 2.0, 1.0)
        gm[rows, cols] = half
        gm[cols, rows] = half
        go = gm[np.ix_(order, order)]  # dL/dSigma in the free coordinates' column order
        lm = np.eye(p)
        np.put(lm, strict, z[p : p + ns])
        d = np.exp(z[p + ns :])
        g_l = (2.0 * (go @ lm) * d).ravel()[strict]
        g_s = d * np.einsum("ij,ij->j", lm, go @ lm)
        return -obj, -np.concatenate([g[:p], g_l, g_s])

    t = time.perf_counter()
    res = so.minimize(fg, prob.to_free(x0), jac=True, method="L-BFGS-B",
                      options={"maxcor": 20, "maxiter": 5000, "maxfun": 5000, "ftol": 0.0, "gtol": 1e-9})
    secs = time.perf_counter() - t
    print(f"L-BFGS (memory 20):   {calls[0]:>5} evaluations, {secs:6.2f} s, distance from the maximiser "
          f"{prob.distance(ref, prob.from_free(res.x)):.1e} SD ({res.message})", flush=True)


def block_newton(prob: MVNProblem, table: np.ndarray, x0: np.ndarray, ref: np.ndarray, scale: float, max_evals: int) -> None:
    """Safeguarded column-wise Newton (module docstring, 3) on the standardised ``table`` (NaN missing), the engine's objective."""
    p, n = prob.p, prob.data.n
    order = prob._order
    xs = table[:, order]
    lam, a_w = prob.ridge.weight, prob.ridge.logdet_weight

    def estep(mu: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        z = np.where(np.isnan(xs), 0.0, xs)
        covs = []
        for i in range(n):
            o, m = np.flatnonzero(~np.isnan(xs[i])), np.flatnonzero(np.isnan(xs[i]))
            cf = sla.cho_factor(s[np.ix_(o, o)], lower=True)
            smo = s[np.ix_(m, o)]
            z[i, m] = mu[m] + smo @ sla.cho_solve(cf, xs[i, o] - mu[o])
            c = np.zeros((p, p))
            c[np.ix_(m, m)] = s[np.ix_(m, m)] - smo @ sla.cho_solve(cf, smo.T)
            covs.append(c)
        return z, covs

    def to_x(mu: np.ndarray, s: np.ndarray) -> np.ndarray:
        u = np.argsort(order)
        return prob.pack((mu[u], s[np.ix_(u, u)]))

    def from_x(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu, s = prob.unpack(x)
        return mu[order], s[np.ix_(order, order)]

    def step(mu: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z, covs = estep(mu, s)
        chol = np.linalg.cholesky(s)
        d = np.diag(chol) ** 2
        t = sla.solve_triangular(chol / np.sqrt(d), np.eye(p), lower=True, unit_diagonal=True)
        a = t @ mu
        t_new, a_new = t.copy(), a.copy()
        resid = z @ t.T - a
        ct = [c @ t.T for c in covs]
        var = np.array([np.einsum("jk,kj->j", t, ctc) for ctc in ct])
        for j in range(1, p):
            u = np.hstack([np.ones((n, 1)), z[:, :j]])
            i_com = u.T @ u
            i_mis = np.zeros((j + 1, j + 1))
            g = np.zeros(j + 1)
            for i in range(n):
                cu = np.zeros((j + 1, j + 1))
                cu[1:, 1:] = covs[i][:j, :j]
                c = np.zeros(j + 1)
                c[1:] = ct[i][:j, j]
                vb, vv = resid[i, j], var[i, j]
                i_com += cu
                i_mis += vv * np.outer(u[i], u[i]) + (vb * vb + vv) * cu + vb * (np.outer(u[i], c) + np.outer(c, u[i])) + np.outer(c, c)
                g += u[i] * vb + c
            i_com[1:, 1:] += lam * np.eye(j)
            g[1:] += lam * t[j, :j]  # - lam beta, beta = -t[j, :j]
            h = i_com / d[j] - i_mis / d[j] ** 2
            try:
                delta = sla.cho_solve(sla.cho_factor(h, lower=True), g / d[j])
            except np.linalg.LinAlgError:
                delta = np.linalg.solve(i_com / d[j], g / d[j])
            a_new[j] += scale * delta[0]
            t_new[j, :j] -= scale * delta[1:]
        a_new[0] = z[:, 0].mean()
        r_new = z @ t_new.T - a_new
        e2 = (r_new**2).sum(0) + sum(np.einsum("jk,kj->j", t_new, c @ t_new.T) for c in covs)
        d_new = (e2 + lam * (t_new**2).sum(1)) / (n + a_w)
        ti = sla.solve_triangular(t_new, np.eye(p), lower=True, unit_diagonal=True)
        return ti @ a_new, (ti * d_new) @ ti.T

    t0 = time.perf_counter()
    x = x0.copy()
    fx, obj = prob.step(x)
    evals, accepted = 1, 0  # the step's own E-step at x is the one of x's evaluation: not counted again
    while evals < max_evals:
        try:
            cand = to_x(*step(*from_x(x)))
            c_fx, c_obj = prob.step(cand)
        except np.linalg.LinAlgError:
            c_fx, c_obj = None, -np.inf
        evals += 1
        if c_fx is not None and c_obj >= obj:
            x, fx, obj, accepted = cand, c_fx, c_obj, accepted + 1
            continue
        x = fx  # the EM step
        fx, obj = prob.step(x)
        evals += 1
    secs = time.perf_counter() - t0
    print(f"block Newton (scale {scale:g}): {evals:>5} evaluations (capped), {accepted} steps kept, {secs:6.2f} s, "
          f"objective {obj:.6f} against the maximum {prob.step(ref)[1]:.6f}; distance {prob.distance(ref, x):.1e} SD", flush=True)


def spectrum(prob: MVNProblem, ref: np.ndarray, k: int) -> None:
    z = prob.to_free(ref)
    h = 1e-6

    def em_free(v: np.ndarray) -> np.ndarray:
        fx, _ = prob.step(prob.from_free(v))
        return prob.to_free(fx)

    def jv(v: np.ndarray) -> np.ndarray:
        nv = np.linalg.norm(v)
        if nv == 0.0:
            return np.zeros_like(v)
        w = h * v / nv
        return (em_free(z + w) - em_free(z - w)) / (2 * h) * nv

    op = ssl.LinearOperator((z.size, z.size), matvec=jv, dtype=float)
    t = time.perf_counter()
    vals = ssl.eigs(op, k=k, which="LM", ncv=max(2 * k + 1, 60), tol=1e-6, return_eigenvectors=False)
    vals = np.sort(np.abs(vals))[::-1]
    print(f"the {k} largest eigenvalues of the EM map's Jacobian at the maximiser ({time.perf_counter() - t:.0f} s):")
    print("  " + " ".join(f"{v:.4f}" for v in vals), flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--p", type=int, default=200)
    ap.add_argument("--ridge", type=float, default=1.0)
    ap.add_argument("--eigs", type=int, default=40)
    ap.add_argument("--block-scale", type=float, default=0.5)
    ap.add_argument("--skip", default="", help="comma list of anderson,fill,lbfgs,block,spectrum")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    warnings.simplefilter("ignore")
    prob, x0, table = problem_of(args.n, args.p, args.ridge)
    with blas_threads(args.p):
        ref = run_anderson(prob, x0, tol=1e-11, max_iter=20_000, use_newton=False).x
        print(f"n={args.n} p={args.p} ridge={args.ridge:g}: maximiser by Anderson alone to tol 1e-11", flush=True)
        if "anderson" not in skip:
            anderson_sweep(prob, x0, ref, [10, 30, 60])
        if "fill" not in skip:
            fill_newton(args.n, args.p, args.ridge, x0, ref)
        if "lbfgs" not in skip:
            lbfgs(prob, x0, ref, args.n)
        if "block" not in skip:
            block_newton(prob, table, x0, ref, args.block_scale, 400)
        if "spectrum" not in skip:
            spectrum(prob, ref, args.eigs)


if __name__ == "__main__":
    main()
