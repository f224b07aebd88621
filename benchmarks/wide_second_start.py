"""A second start for wide fits: refit from the fit's own variances (issue 16, twentieth round).

For each ``mcar_mvn`` table (20% MCAR, ``ridge = 1``): the engine's fit ``(mu*, Sigma*)``,
then a refit from ``start=(mu*, diag(diag Sigma*))`` (the fit with its correlations
dropped). Printed per table: evaluations, seconds and log-posterior of each, their
difference (refit minus fit; positive: the refit found a higher maximum) and the largest
covariance difference in SD units (about 1e-7 or less: the same maximum).

Usage::

    python -m benchmarks.wide_second_start [100x300,80x400,100x500:0]

``NxP[:seed]`` (seed 0 by default); without an argument the 65 tables of the nineteenth and
twentieth rounds (:data:`TABLES`).
"""

from __future__ import annotations

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

#: The 31 tables of issue 16's earlier rounds (10 x 200 to 50 x 1,000).
TABLES_31 = (
    "10x200,10x500,20x200,20x300,30x90,30x600,40x120,40x120:1,50x150,60x180,60x120,"
    "60x120:1,70x150,80x200,80x200:1,80x240,90x200,100x200,100x200:1,100x250,100x300,"
    "100x180,120x200,100x150,50x120,50x100,40x80,30x70,40x600,20x600,50x1000"
)
#: 18 more with 10 to 100 columns a row (eighteenth round).
TABLES_18 = (
    "10x300,10x1000,15x300,20x500,25x500,30x300,30x400,40x400,50x500,20x1000,30x1000,"
    "50x600,20x200:1,20x200:2,30x600:1,40x600:1,15x150,12x240"
)
#: 16 more with 5 to 10 columns a row (eighteenth round).
TABLES_16 = (
    "20x100,20x120,25x150,30x150:1,30x200,30x240,40x200:1,40x300,50x250:1,50x400,"
    "60x300,60x420,70x350,80x400,100x500,20x160:1"
)
TABLES = ",".join((TABLES_31, TABLES_18, TABLES_16))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1:
        raise SystemExit(__doc__)
    cases = args[0] if args else TABLES
    warnings.simplefilter("ignore")
    for case in cases.split(","):
        shape, _, seed = case.partition(":")
        n, p = map(int, shape.split("x"))
        df = mcar_mvn(n, p, missing_rate=0.2, seed=int(seed or 0))
        t = time.perf_counter()
        fit = imputer.impute(df, ridge=1, max_iter=5000)
        seconds = time.perf_counter() - t
        cov = fit.cov.to_numpy()
        t = time.perf_counter()
        refit = imputer.impute(df, ridge=1, max_iter=5000, start=(fit.mean.to_numpy(), np.diag(np.diag(cov))))
        seconds_refit = time.perf_counter() - t
        sd = np.sqrt(np.diag(cov))
        gap = np.max(np.abs(refit.cov.to_numpy() - cov) / np.outer(sd, sd))
        a, b = fit.loglik_history[-1], refit.loglik_history[-1]
        print(f"{case}: fit {fit.n_evals} evaluations {seconds:.2f} s {a:.4f} | refit {refit.n_evals} "
              f"evaluations {seconds_refit:.2f} s {b:.4f} | {b - a:+.4f}, {gap:.1e} SD, converged {refit.converged}",
              flush=True)


if __name__ == "__main__":
    main()
