"""EM acceleration where most information is missing: the Anderson driver against SQUAREM.

Run from the repository root::

    python -m benchmarks.bench_em_accel [--quick] [--repeats R]

For each case, in the same run: EM-map evaluations, seconds (median of ``R`` runs) and the
distance of the default estimate (``tol=1e-7``) from the optimum, in standard-deviation
units (the largest ``|mu - mu*| / sd`` or ``|s_jk - s*_jk| / (sd_j sd_k)``), for

* ``old``: the driver before this change, SQUAREM with the unscaled stopping rule
  (``run_em(method="squarem")``, reached here by a benchmark-only switch of the engines'
  ``run_em``, :func:`driver`);
* ``new``: the default, Anderson acceleration in the free coordinates with the stopping
  rule scaled by the estimated EM rate (:mod:`imputer._em.anderson`).

The optimum is the new driver run to ``tol=1e-10`` (mixed models: the default driver to
``tol=1e-14``; its evaluations are printed as ``ref``); the EM rate there (``imputer.mi._rate.em_rate``) is printed for the normal cases.

Cases: wide tables (low rank + noise, 20% MCAR) ``n=10, p=200`` and ``n=100, p=300``
(``ridge=1``; the second capped at ``max_iter=40``, its reference at 150 iterations, and
left out by ``--quick``); the classics of ``tests/data/classics`` (mice's ``boys``, mvnmle's
``missvals``, norm2's ``marijuana`` with ``ridge=1``); the tall ``100,000 x 20`` MAR table
of ``bench_mvn.py``; two mixed models (Penicillin, two crossed intercepts; distance: the
largest relative difference of a variance component), where ``auto`` keeps SQUAREM and
``new`` is forced Anderson without free coordinates, to show why. Amelia (R, through
``benchmarks/_rscript.py``) on ``boys`` at its default tolerance, when R is available.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import imputer  # noqa: E402
import imputer.mixed._emreml as _emreml  # noqa: E402
import imputer.mvn._problem as _mvn_problem  # noqa: E402
from benchmarks._datasets import crossed_intercepts, mar_mvn  # noqa: E402
from benchmarks._rscript import have_r, run_amelia  # noqa: E402
from benchmarks._timing import machine, timed  # noqa: E402
from imputer._em import run_em  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLASSICS = ROOT / "tests" / "data" / "classics"


@contextlib.contextmanager
def driver(method: str) -> Iterator[None]:
    """Benchmark-only: the engines' ``run_em`` with ``method`` forced ("squarem": the old driver)."""
    saved = (_mvn_problem.run_em, _emreml.run_em)
    forced = functools.partial(run_em, method=method)
    _mvn_problem.run_em = forced
    _emreml.run_em = forced
    try:
        yield
    finally:
        _mvn_problem.run_em, _emreml.run_em = saved


def wide(n: int, p: int, *, seed: int = 0, rate: float = 0.2, rank: int = 5) -> pd.DataFrame:
    """Low rank plus noise: ``Z W + 0.5 E`` (standard normal ``Z`` (n, rank), ``W`` (rank, p), ``E``), MCAR cells."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, p)) + 0.5 * rng.standard_normal((n, p))
    x[rng.random((n, p)) < rate] = np.nan
    return pd.DataFrame(x, columns=[f"x{j:04d}" for j in range(p)])


def sd_distance(res: Any, ref: Any) -> float:
    mu, cov = res.mean.to_numpy(), res.cov.to_numpy()
    mu0, cov0 = ref.mean.to_numpy(), ref.cov.to_numpy()
    sd = np.sqrt(np.diag(cov0))
    return float(max(np.max(np.abs(mu - mu0) / sd), np.max(np.abs(cov - cov0) / np.outer(sd, sd))))


def rel_distance(res: Any, ref: Any) -> float:
    a, b = res.var_comp.to_numpy(), ref.var_comp.to_numpy()
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def em_rate_at(df: pd.DataFrame, ridge: float) -> float:
    """EM's rate at the optimum (Arnoldi on the EM map, :func:`imputer.mi._rate.em_rate`)."""
    from imputer.mi._rate import em_rate
    from imputer.mvn._fit import standardise
    from imputer.mvn._problem import fit_mvn
    from imputer.mvn._scaling import scaling_of

    values = tuple(df[c].to_numpy(dtype=float) for c in df.columns)
    mask = np.asfortranarray(np.column_stack([np.isnan(v) for v in values]))
    data = standardise(mask, values, scaling_of(tuple(df.columns), values, mask))
    fit = fit_mvn(data, tol=1e-10, max_iter=10_000, ridge=ridge, accelerate=True)
    return em_rate(data, fit.mu, fit.sigma, ridge).rate


def case(
    label: str,
    fit: Callable[..., Any],
    distance: Callable[[Any, Any], float],
    repeats: int,
    *,
    cap: int | None = None,
    ref_cap: int = 100_000,
    ref_tol: float = 1e-10,
    rate: Callable[[], float] | None = None,
    methods: tuple[str, str] = ("squarem", "auto"),
) -> dict[str, Any]:
    kw = {} if cap is None else {"max_iter": cap}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = fit(tol=ref_tol, max_iter=ref_cap)
        row: dict[str, Any] = {"case": label, "ref": ref.n_evals}
        for name, method in zip(("old", "new"), methods):
            with driver(method):
                secs, _, res = timed(lambda: fit(**kw), repeats)
            row[f"{name} evals"] = res.n_evals
            row[f"{name} s"] = secs
            row[f"{name} dist"] = distance(res, ref)
    row["rate"] = rate() if rate is not None else float("nan")
    print(
        f"{label:<34} {row['old evals']:>6} {row['new evals']:>6} {row['old s']:>8.3f} {row['new s']:>8.3f} "
        f"{row['old dist']:>9.1e} {row['new dist']:>9.1e} {row['ref']:>6} {row['rate']:>7.4f}",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="leave out the n=100, p=300 case")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default=None, help="run only the cases whose label contains this text")
    args = ap.parse_args(argv)
    print(machine())
    print(f"{'case':<34} {'old ev':>6} {'new ev':>6} {'old s':>8} {'new s':>8} {'old dist':>9} {'new dist':>9} {'ref ev':>6} {'rate':>7}")

    def normal(df: pd.DataFrame, ridge: float) -> Callable[..., Any]:
        return lambda **kw: imputer.impute(df, ridge=ridge, **kw)

    classics = {name: pd.read_csv(CLASSICS / f"{name}.csv") for name in ("boys", "missvals", "marijuana")}
    cases: list[tuple[str, pd.DataFrame, float, dict[str, Any]]] = [
        ("wide n=10 p=200 ridge=1", wide(10, 200), 1.0, {}),
    ]
    if not args.quick:
        cases.append(("wide n=100 p=300 ridge=1 (cap 40)", wide(100, 300), 1.0, {"cap": 40, "ref_cap": 150}))
    cases += [
        ("boys (mice)", classics["boys"], 0.0, {}),
        ("missvals (mvnmle)", classics["missvals"], 0.0, {}),
        ("marijuana (norm2) ridge=1", classics["marijuana"], 1.0, {}),
        ("tall 100,000 x 20 MAR", mar_mvn(100_000, 20, seed=0), 0.0, {}),
    ]
    rows = []
    cases = [c for c in cases if args.only is None or args.only in c[0]]
    for label, df, ridge, extra in cases:
        reps = 1 if df.shape[1] >= 200 or df.shape[0] >= 100_000 else args.repeats
        rate = None if df.shape[1] >= 200 else functools.partial(em_rate_at, df, ridge)
        rows.append(case(label, normal(df, ridge), sd_distance, reps, rate=rate, **extra))

    penicillin = pd.read_csv(ROOT / "tests" / "data" / "penicillin.csv")
    crossed = crossed_intercepts(20_000, 300, 50)
    mixed = [
        ("mixed: Penicillin (auto vs anderson)", lambda **kw: imputer.fit_mixed_frame(penicillin, "diameter", random=["plate", "sample"], **kw)),
        ("mixed: crossed 20,000 (auto vs anderson)", lambda **kw: imputer.fit_mixed_frame(crossed, "y", fixed=["x"], random=["g1", "g2"], **kw)),
    ]
    for label, fit in [m for m in mixed if args.only is None or args.only in m[0]]:
        rows.append(case(label, fit, rel_distance, args.repeats, ref_tol=1e-14, methods=("auto", "anderson")))

    if have_r() and (args.only is None or args.only in "boys"):
        boys = classics["boys"]
        out = run_amelia(boys, repeats=args.repeats)
        if out is not None:
            ref = imputer.impute(boys, tol=1e-10)
            mu = np.array([out["mean"][c] for c in boys.columns])
            cov = np.array(out["cov"])
            sd = np.sqrt(np.diag(ref.cov.to_numpy()))
            dist = max(np.max(np.abs(mu - ref.mean.to_numpy()) / sd), np.max(np.abs(cov - ref.cov.to_numpy()) / np.outer(sd, sd)))
            print(
                f"Amelia {out['versions']['Amelia']} on boys: {out['seconds']:.3f} s, {out['iterations']} EM iterations, "
                f"distance from the optimum {dist:.1e} SD (tolerance {out['tolerance']:g})"
            )
    print()
    print(markdown(rows))


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table (the form benchmarks/README.md records)."""
    head = "| case | evaluations old / new | seconds old / new | distance old / new (SD) | ref evals | EM rate |"
    lines = [head, "|---|---|---|---|---|---|"]
    for r in rows:
        rate = "" if not np.isfinite(r["rate"]) else f"{r['rate']:.4f}"
        lines.append(
            f"| {r['case']} | {r['old evals']} / {r['new evals']} | {r['old s']:.3g} / {r['new s']:.3g} | "
            f"{r['old dist']:.1e} / {r['new dist']:.1e} | {r['ref']} | {rate} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
