"""Would a better start shorten a wide fit's climb? (issue 16, twentieth round)

The engine's fit ``(mu*, Sigma*)`` of a ``mcar_mvn`` table (20% MCAR, ``ridge = 1``), then
fits of the same table from starts (``start=``) made from it -- its correlation ``R*``
rebuilt from its top ``k`` eigenpairs (unit diagonal restored), its eigenvalues scaled,
its eigenvectors rotated, ``R*`` blended with the identity -- and from cheap starts: the
identity, and ``k`` sweeps of conditional-mean filling without the conditional covariances
(``Sigma = (scatter of the filled table + ridge I) / (n + ridge)``, standardised columns),
and the observed means and variances.
Printed per start: evaluations, seconds, the log-posterior at the end (the objective, with
the prior) and the largest covariance difference from ``Sigma*`` in SD units (the same
maximum when about 1e-7).

Usage::

    python -m benchmarks.wide_starts [--case 100x300] [--quick]

Figures: benchmarks/wide_rounds.md, issue 16's twentieth round.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.linalg import expm

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import imputer  # noqa: E402
from benchmarks._datasets import mcar_mvn  # noqa: E402


def conditional_mean_sweeps(df: pd.DataFrame, sweeps: int, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, Sigma)`` after ``sweeps`` of filling each row's missing cells by their
    conditional means, the conditional covariances left out (original units)."""
    x = df.to_numpy(dtype=float)
    miss = np.isnan(x)
    n, p = x.shape
    center, scale = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    z = (x - center) / scale
    filled = np.where(miss, 0.0, z)
    mu, sigma = np.zeros(p), np.eye(p)
    for _ in range(sweeps):
        mu = filled.mean(axis=0)
        r = filled - mu
        sigma = (r.T @ r + ridge * np.eye(p)) / (n + ridge)
        for i in range(n):
            m, o = miss[i], ~miss[i]
            if m.any():
                b = np.linalg.solve(sigma[np.ix_(o, o)], sigma[np.ix_(o, m)])
                filled[i, m] = mu[m] + (z[i, o] - mu[o]) @ b
    return mu * scale + center, sigma * np.outer(scale, scale)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="100x300", help="NxP of mcar_mvn (seed 0)")
    ap.add_argument("--quick", action="store_true", help="leave out the slow cheap starts")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    n, p = map(int, args.case.split("x"))
    df = mcar_mvn(n, p, missing_rate=0.2, seed=0)
    t = time.perf_counter()
    best = imputer.impute(df, ridge=1, max_iter=5000)
    seconds = time.perf_counter() - t
    mu, sigma = best.mean.to_numpy(), best.cov.to_numpy()
    sd = np.sqrt(np.diag(sigma))
    corr = sigma / np.outer(sd, sd)
    w, v = np.linalg.eigh(corr)
    print(f"{args.case}: engine's start {best.n_evals} evaluations, {seconds:.2f} s, log-posterior {best.loglik_history[-1]:.4f}")

    def fit(label: str, start_corr: np.ndarray | None = None, start: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        given = start if start is not None else (mu, start_corr * np.outer(sd, sd))  # type: ignore[operator]
        t = time.perf_counter()
        res = imputer.impute(df, ridge=1, max_iter=5000, start=given)
        dt = time.perf_counter() - t
        gap = np.max(np.abs(res.cov.to_numpy() - sigma) / np.outer(sd, sd))
        print(f"  {label}: {res.n_evals} evaluations, {dt:.2f} s, log-posterior {res.loglik_history[-1]:.4f}, {gap:.1e} SD", flush=True)

    for k in (99, 50, 20, 10, 5, 3):
        top = (v[:, -k:] * w[-k:]) @ v[:, -k:].T
        top += np.diag(1.0 - np.diag(top))
        fit(f"top {k} eigenpairs", top)
    low = w < np.median(w)
    for f in (1.01, 1.1, 0.9):
        fit(f"eigenvalues below the median x {f}", (v * np.where(low, w * f, w)) @ v.T)
    mid = (w > 0.1) & (w < 5)
    for f in (1.1, 0.9):
        fit(f"the {mid.sum()} eigenvalues in (0.1, 5) x {f}", (v * np.where(mid, w * f, w)) @ v.T)
    rng = np.random.default_rng(0)
    for which, size in ((mid, 0.02), (w < 5, 0.005)):
        idx = np.flatnonzero(which)
        g = rng.standard_normal((idx.size, idx.size))
        rotated = v.copy()
        rotated[:, idx] = v[:, idx] @ expm(size * (g - g.T))
        fit(f"{idx.size} eigenvectors rotated by exp({size} (G - G'))", (rotated * w) @ rotated.T)
    for t_blend in (0.01, 0.1):
        fit(f"{1 - t_blend} R* + {t_blend} I", (1 - t_blend) * corr + t_blend * np.eye(p))
    fit("identity correlation: (mu*, diag Sigma*)", start=(mu, np.diag(sd**2)))
    observed = df.to_numpy(dtype=float)
    fit("the observed means and variances", start=(np.nanmean(observed, axis=0), np.diag(np.nanvar(observed, axis=0))))
    if not args.quick:
        for sweeps in (20, 100):
            t = time.perf_counter()
            start = conditional_mean_sweeps(df, sweeps, 1.0)
            print(f"  ({sweeps} conditional-mean sweeps: {time.perf_counter() - t:.1f} s)")
            fit(f"{sweeps} conditional-mean sweeps", start=start)


if __name__ == "__main__":
    main()
