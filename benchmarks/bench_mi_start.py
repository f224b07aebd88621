"""Multiple imputation from a previous fit's estimate (``multiple_impute(start=...)``) on wide tables.

On wide tables with a weak ridge prior EM from the engine's own start crosses long plateaus
(``bench_wide.py``): hundreds of evaluations. An analyst who has fitted the table once
(``imputer.impute``) and now wants imputations can start every fit of
:func:`imputer.multiple_impute` from that estimate. Per table (``mcar_mvn(n, p)``, 20% MCAR)
this prints, in one run:

* ``impute``: the single fit (its evaluations and seconds);
* ``multiple_impute`` with ``m`` imputations by ``method`` from the engine's own start (the
  baseline) and from the fit's ``(mean, cov)``: seconds, the whole-data fit's evaluations,
  the ratio, and whether the EM estimates agree (largest difference of the means in SD units).

The posterior method needs ``n + ridge > p``; its ridge is ``p - n + 10`` here (a strong
prior: the fits are short either way), the bootstrap's ``1``.

Usage::

    python -m benchmarks.bench_mi_start              # 60 x 180 and 100 x 300, m = 5
    python -m benchmarks.bench_mi_start --quick      # 40 x 120, m = 2
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import imputer
from benchmarks._datasets import mcar_mvn


def _timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run(n: int, p: int, m: int) -> None:
    df = mcar_mvn(n, p, missing_rate=0.2, seed=0)
    for method, ridge in (("bootstrap", 1.0), ("posterior", float(p - n + 10))):
        fit, t_fit = _timed(lambda: imputer.impute(df, ridge=ridge, max_iter=5000))
        cold, t_cold = _timed(lambda: imputer.multiple_impute(df, m=m, method=method, ridge=ridge, seed=1,
                                                              max_iter=5000))
        warm, t_warm = _timed(lambda: imputer.multiple_impute(df, m=m, method=method, ridge=ridge, seed=1,
                                                              max_iter=5000, start=(fit.mean, fit.cov)))
        sd = np.sqrt(np.diag(fit.cov.to_numpy()))
        gap = float(np.max(np.abs(warm.em.mean.to_numpy() - cold.em.mean.to_numpy()) / sd))
        print(f"{n} x {p:<5} {method:<9} ridge {ridge:<6g} impute {fit.n_evals:>5} evals {t_fit:7.2f} s | "
              f"m={m}: own start {t_cold:7.2f} s ({cold.em.n_evals} evals) | from the fit {t_warm:7.2f} s "
              f"({warm.em.n_evals} evals) | ratio {t_cold / t_warm:5.2f} | means differ by {gap:.1e} SD",
              flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one small table, m = 2")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    cases = [(40, 120, 2)] if args.quick else [(60, 180, 5), (100, 300, 5)]
    for n, p, m in cases:
        run(n, p, m)


if __name__ == "__main__":
    main()
