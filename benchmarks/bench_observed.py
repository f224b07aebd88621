"""The two routes to a pattern's conditional (issue 16): through the precision or from the observed block.

Same process, same data, each call timed as the minimum of ``--repeats`` (one BLAS thread,
the engine's own policy):

* ``fill_conditional`` on new rows given a fitted ``(mu, Sigma)``: ``method="auto"``
  against ``"precision"`` (the code path before the observed route) and ``"observed"``,
  and against the loop a user would otherwise write (``np.linalg.solve`` on ``Sigma_OO``
  row by row, for the means and the variances). Cases: rows observing 50 of 1,000 columns (planned missingness, a wide
  panel), 10% missing of 2,000 (where the precision route should stay), a three-form
  questionnaire design (each row answers the common block and two of three rotating
  blocks: a quarter missing).
* ``imputer.impute(..., ridge=1)`` for a fixed number of EM iterations on data whose rows
  observe 15% of 300 columns: the whole fit per evaluation with the E-step's route chosen
  by cost (``auto``) against every chunk through the precision.

Printed: seconds, the ratio against the precision route (and the naive loop), and the
largest difference between the routes' answers (fills in SD units, log-likelihood).

Usage::

    python -m benchmarks.bench_observed [--repeats 3] [--iters 15]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import imputer  # noqa: E402
import imputer._gaussian.estep as estep_module  # noqa: E402
from imputer.mvn.conditional import fill_conditional  # noqa: E402


def _low_rank(n: int, p: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, mean and covariance of a 5-factor plus noise normal."""
    w = rng.standard_normal((5, p))
    cov = w.T @ w + 0.25 * np.eye(p)
    mu = rng.standard_normal(p)
    x = mu + rng.standard_normal((n, 5)) @ w + 0.5 * rng.standard_normal((n, p))
    return x, mu, cov


def _fill_cases(rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    cases = []
    x, mu, cov = _low_rank(1000, 1000, rng)
    keep = np.argsort(rng.random((1000, 1000)), axis=1)[:, :50]  # 50 observed per row
    sparse = np.full_like(x, np.nan)
    np.put_along_axis(sparse, keep, np.take_along_axis(x, keep, axis=1), axis=1)
    cases.append(("1,000 rows observing 50 of 1,000", sparse, mu, cov))
    x, mu, cov = _low_rank(10, 2000, rng)
    x[rng.random(x.shape) < 0.1] = np.nan
    cases.append(("10 rows, 10% of 2,000 missing", x, mu, cov))
    x, mu, cov = _low_rank(3000, 120, rng)
    form = rng.integers(0, 3, 3000)  # which rotating block (30..59, 60..89, 90..119) is skipped
    for f in range(3):
        x[np.ix_(form == f, np.arange(30 + 30 * f, 60 + 30 * f))] = np.nan
    cases.append(("3-form design, 3,000 x 120", x, mu, cov))
    return cases


def _naive(x: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What a user would write: per row, the conditional mean and variances by ``solve``."""
    out, var = x.copy(), np.zeros_like(x)
    for i, row in enumerate(x):
        m = np.isnan(row)
        o = ~m
        s_mo = cov[np.ix_(m, o)]
        coef = np.linalg.solve(cov[np.ix_(o, o)], s_mo.T).T
        out[i, m] = mu[m] + coef @ (row[o] - mu[o])
        var[i, m] = np.diag(cov)[m] - np.einsum("ij,ij->i", coef, s_mo)
    return out, var


def _best(fn, repeats: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iters", type=int, default=15, help="EM iterations of the fit case")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(20261204)

    print("fill_conditional (seconds; ratio = precision route / this)")
    print(f"{'case':36s} {'auto':>8s} {'precision':>10s} {'observed':>9s} {'naive loop':>11s} {'speed-up':>9s} {'max diff (SD)':>14s}")
    for name, x, mu, cov in _fill_cases(rng):
        sd = np.sqrt(np.diag(cov))
        times, fills = {}, {}
        for method in ("auto", "precision", "observed"):
            times[method], out = _best(lambda m=method: fill_conditional(x, mu, cov, method=m), args.repeats)
            fills[method] = out[0]  # type: ignore[index]
        t_naive, (naive, _) = _best(lambda: _naive(x, mu, cov), 1)  # type: ignore[misc]
        diff = max(float(np.max(np.abs((fills[m] - naive) / sd))) for m in fills)
        print(
            f"{name:36s} {times['auto']:8.3f} {times['precision']:10.3f} {times['observed']:9.3f} {t_naive:11.3f} "
            f"{times['precision'] / times['auto']:8.2f}x {diff:14.1e}"
        )

    print(f"\nimpute(ridge=1), {args.iters} EM iterations (seconds per evaluation)")
    x, _, _ = _low_rank(200, 300, rng)
    x[rng.random(x.shape) > 0.15] = np.nan
    frame = pd.DataFrame(x)
    res = {}
    for route in ("auto", "precision"):
        estep_module.ROUTE = route
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, r = _best(lambda: imputer.impute(frame, ridge=1.0, max_iter=args.iters), args.repeats)
        res[route] = (t, r)
    estep_module.ROUTE = "auto"
    (ta, ra), (tp, rp) = res["auto"], res["precision"]
    print(f"{'200 x 300, 85% missing':36s} auto {ta / ra.n_evals * 1e3:7.1f} ms  precision {tp / rp.n_evals * 1e3:7.1f} ms  "
          f"speed-up {tp / ta:.2f}x  evaluations {ra.n_evals} / {rp.n_evals}  "
          f"log-likelihood difference {abs(ra.loglik - rp.loglik):.1e}")


if __name__ == "__main__":
    main()
