"""Newton on the whole parameter against the engine, near a wide table's maximiser (issue 16).

EM's map ``F`` (``MVNProblem.step``, the engine's standardised units) at a point ``x``
near the maximiser ``x*`` of a ``mcar_mvn`` table (20% MCAR, ``ridge = 1``); Newton's step on
the fixed point, ``(I - J) d = F(x) - x``, solved by GMRES in one cycle (``--restart`` products at most) with ``J v`` a
forward difference of ``F`` (one EM evaluation a product), repeated until the distance to
``x*`` is below 1e-8; then ``imputer.impute`` from the same point (``start=``). Printed: the
evaluations each way and the distances (largest coordinate, standardised units).

``x*`` is the engine's fit at ``tol = 1e-10``; the point is 30 EM steps from ``x*`` with its
covariance's eigenvalues multiplied by ``exp(0.05 N(0, 1))``.

Usage::

    python -m benchmarks.wide_newton_theta [--case 150x260] [--rtol 1e-3] [--steps 6]

Figures: benchmarks/wide_rounds.md, issue 16's twentieth round.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import imputer  # noqa: E402
from benchmarks._datasets import mcar_mvn  # noqa: E402
from imputer._gaussian.patterns import build_patterns  # noqa: E402
from imputer._krylov import gmres  # noqa: E402
from imputer.mvn._fit import blas_threads, standardise  # noqa: E402
from imputer.mvn._problem import MVNProblem  # noqa: E402
from imputer.mvn._scaling import scaling_of  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="150x260", help="NxP of mcar_mvn (seed 0)")
    ap.add_argument("--rtol", type=float, default=1e-3, help="GMRES's relative residual a step")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--restart", type=int, default=600,
                    help="GMRES's Krylov dimension (one cycle; the basis holds restart + 1 vectors of the parameter's length)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    n, p = map(int, args.case.split("x"))
    df = mcar_mvn(n, p, missing_rate=0.2, seed=0)
    best = imputer.impute(df, ridge=1, max_iter=5000, tol=1e-10)
    values = df.to_numpy(dtype=float)
    mask = np.isnan(values)
    columns = tuple(np.ascontiguousarray(values[:, j]) for j in range(p))
    scaling = scaling_of(tuple(df.columns), columns, mask)
    problem = MVNProblem(standardise(build_patterns(mask), columns, scaling), 1.0)
    mu = (best.mean.to_numpy() - scaling.center) / scaling.scale
    sigma = best.cov.to_numpy() / np.outer(scaling.scale, scaling.scale)
    x_star = problem.pack((mu, sigma))
    rng = np.random.default_rng(0)
    with blas_threads(p):
        w, v = np.linalg.eigh(sigma)
        x = problem.pack((mu, (v * (w * np.exp(0.05 * rng.standard_normal(p)))) @ v.T))
        for _ in range(30):
            x, _ = problem.step(x)
        x0 = x.copy()
        print(f"{args.case}: start {np.max(np.abs(x0 - x_star)):.2e} from the maximiser")
        total = 0
        for k in range(args.steps):
            fx, _ = problem.step(x)
            total += 1
            products = [0]

            def apply(d: np.ndarray, x: np.ndarray = x, fx: np.ndarray = fx) -> np.ndarray:
                products[0] += 1
                eps = 1e-6 * np.linalg.norm(x) / max(float(np.linalg.norm(d)), 1e-300)
                fd, _ = problem.step(x + eps * d)
                return d - (fd - fx) / eps

            step, _ = gmres(apply, fx - x, rtol=args.rtol, restart=args.restart, cycles=1)
            total += products[0]
            x = x + step
            dist = float(np.max(np.abs(x - x_star)))
            print(f"  Newton step {k + 1}: {products[0]} products, {total} evaluations in all, distance {dist:.2e}")
            if dist < 1e-8:
                break
        mu0, sigma0 = problem.unpack(x0)
    start = (mu0 * scaling.scale + scaling.center, sigma0 * np.outer(scaling.scale, scaling.scale))
    t = time.perf_counter()
    fit = imputer.impute(df, ridge=1, max_iter=5000, start=start)
    seconds = time.perf_counter() - t
    dist = float(np.max(np.abs(fit.cov.to_numpy() - best.cov.to_numpy()) / np.outer(scaling.scale, scaling.scale)))
    print(f"  the engine from the same point: {fit.n_evals} evaluations, {seconds:.2f} s, "
          f"converged {fit.converged}, covariance {dist:.1e} from the maximiser's")


if __name__ == "__main__":
    main()
