"""Which coupling makes EM slow on wide tables under a weak prior (issue 16, tenth round).

A research script in plain numpy, outside the engine, on ``mcar_mvn(n, p)`` (20% MCAR,
``ridge=1``, one maximum at the shapes measured). The EM fixed point is written in two
blocks: the fills ``z`` of the missing cells and the sum ``T = sum_k P_k C_k P_k'`` of the
rows' conditional covariances, with

    mu(z) = mean of the completed rows,
    Sigma(z, T) = (sum_k (z_k - mu)(z_k - mu)' + T + lambda D) / (n + 1),

the prior's ``lambda D`` recovered from the optimum's own fixed-point equation (it comes
out diagonal, a check of the formula). Three experiments, printed:

* ``c-only``: ``T`` iterated with the fills frozen at the optimum, from plain EM's
  100th iterate (the contraction of the ``C`` block alone);
* ``alternate``: the fills solved for ``T`` (Newton-Krylov) and ``T`` for the fills (to its
  fixed point), repeated, from the engine's iterate after ``--start-iter`` iterations;
* ``anderson``: the same alternation as a map of the fills, with Anderson mixing
  (``--memory``).

Distances are the engine's: the largest mean or covariance difference from a fit to
``tol = 1e-11``, in standard deviations. Figures in benchmarks/wide_rounds.md ("Issue 16, tenth
round").

Usage::

    python -m benchmarks.wide_coupling --n 50 --p 150 --start-iter 250
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import NoConvergence, newton_krylov

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import imputer  # noqa: E402
from benchmarks._datasets import mcar_mvn  # noqa: E402


class Blocks:
    """The two-block form of the EM fixed point of one table."""

    def __init__(self, n: int, p: int) -> None:
        self.df = mcar_mvn(n, p, missing_rate=0.2, seed=0)
        self.x = self.df.to_numpy()
        self.miss = np.isnan(self.x)
        self.rows = [np.flatnonzero(r) for r in self.miss]
        self.obs = [np.flatnonzero(~r) for r in self.miss]
        self.n_den = n + 1.0  # n + ridge pseudo-rows
        ref = imputer.impute(self.df, ridge=1, tol=1e-11, max_iter=20000)
        self.mu_ref, self.sigma_ref = ref.mean.to_numpy(), ref.cov.to_numpy()
        self.sd = np.sqrt(np.diag(self.sigma_ref))
        self.z_ref = ref.completed[self.df.columns].to_numpy()
        r = self.z_ref - self.mu_ref
        prior = self.n_den * self.sigma_ref - r.T @ r - self.c_sum(self.sigma_ref)
        self.off_diagonal = float(np.max(np.abs(prior - np.diag(np.diag(prior)))))
        self.prior = np.diag(np.diag(prior))
        self.fill_evals = 0

    def c_sum(self, sigma: np.ndarray) -> np.ndarray:
        """``T(Sigma) = sum_k P_k (Lambda_MM)^-1 P_k'``."""
        lam = np.linalg.inv(sigma)
        out = np.zeros_like(sigma)
        for m in self.rows:
            if m.size:
                out[np.ix_(m, m)] += np.linalg.inv(lam[np.ix_(m, m)])
        return out

    def mstep(self, z: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu = z.mean(axis=0)
        r = z - mu
        return mu, (r.T @ r + t + self.prior) / self.n_den

    def fills(self, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """The completed rows at ``(mu, Sigma)``: ``z_M = mu_M - (Lambda_MM)^-1 Lambda_MO (x_O - mu_O)``."""
        lam = np.linalg.inv(sigma)
        z = self.x.copy()
        for k, m in enumerate(self.rows):
            if m.size:
                o = self.obs[k]
                y = lam[np.ix_(m, o)] @ (self.x[k, o] - mu[o])
                z[k, m] = mu[m] - np.linalg.solve(lam[np.ix_(m, m)], y)
        return z

    def dist(self, mu: np.ndarray, sigma: np.ndarray) -> float:
        return max(float(np.max(np.abs(mu - self.mu_ref) / self.sd)),
                   float(np.max(np.abs(sigma - self.sigma_ref) / np.outer(self.sd, self.sd))))

    def completed(self, v: np.ndarray) -> np.ndarray:
        z = self.x.copy()
        z[self.miss] = v
        return z

    def solve_fills(self, v0: np.ndarray, t: np.ndarray) -> np.ndarray:
        def residual(v: np.ndarray) -> np.ndarray:
            self.fill_evals += 1
            return self.fills(*self.mstep(self.completed(v), t))[self.miss] - v

        try:
            return newton_krylov(residual, v0, f_tol=1e-9, method="lgmres", maxiter=40)
        except NoConvergence as exc:
            return exc.args[0]

    def solve_c(self, v: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, int]:
        z = self.completed(v)
        for it in range(1, 61):
            t_new = self.c_sum(self.mstep(z, t)[1])
            change = float(np.max(np.abs(t_new - t)))
            t = t_new
            if change < 1e-12:
                break
        return t, it


def c_only(b: Blocks) -> None:
    sigma = imputer.impute(b.df, ridge=1, accelerate=False, max_iter=100).cov.to_numpy()
    r = b.z_ref - b.mu_ref
    prev = None
    for step in range(1, 31):
        sigma = (r.T @ r + b.c_sum(sigma) + b.prior) / b.n_den
        d = float(np.max(np.abs(sigma - b.sigma_ref) / np.outer(b.sd, b.sd)))
        rate = "" if prev is None else f", rate {d / prev:.3f}"
        print(f"  c-only step {step}: {d:.3e} SD{rate}", flush=True)
        prev = d
        if d < 1e-12:  # the reference fit's own rounding
            break


def alternate(b: Blocks, start_iter: int, rounds: int, memory: int) -> None:
    r0 = imputer.impute(b.df, ridge=1, max_iter=start_iter)
    mu, sigma = r0.mean.to_numpy(), r0.cov.to_numpy()
    print(f"  start (engine after {start_iter} iterations): {b.dist(mu, sigma):.3e} SD", flush=True)
    v, t = b.fills(mu, sigma)[b.miss], b.c_sum(sigma)
    dv: list[np.ndarray] = []
    df: list[np.ndarray] = []
    v_prev = f_prev = None
    b.fill_evals = 0
    for k in range(1, rounds + 1):
        t, c_steps = b.solve_c(v, t)
        g = b.solve_fills(v, t)
        f = g - v
        print(f"  round {k}: {b.dist(*b.mstep(b.completed(g), t)):.3e} SD; C steps {c_steps}, fill evaluations so far "
              f"{b.fill_evals}", flush=True)
        if memory and v_prev is not None:
            dv, df = [*dv, v - v_prev][-memory:], [*df, f - f_prev][-memory:]
        v_prev, f_prev = v.copy(), f.copy()
        if memory and df:
            fm, vm = np.array(df).T, np.array(dv).T
            gamma = np.linalg.lstsq(fm, f, rcond=None)[0]
            v = v + f - (vm + fm) @ gamma
        else:
            v = g


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--p", type=int, default=150)
    ap.add_argument("--start-iter", type=int, default=250, help="engine iterations before the alternation")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--memory", type=int, default=5, help="Anderson memory of the alternation (0: plain)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    b = Blocks(args.n, args.p)
    print(f"mcar_mvn({args.n}, {args.p}), ridge=1: prior part off-diagonal {b.off_diagonal:.1e} (0: the formula holds)")
    print("C block alone:")
    c_only(b)
    print(f"alternation, Anderson memory {args.memory}:")
    alternate(b, args.start_iter, args.rounds, args.memory)


if __name__ == "__main__":
    main()
