r"""Issue 16's "per evaluation within 5x" target against the floor of the exact EM evaluation.

An exact EM evaluation of the multivariate normal (E-step, objective, M-step) cannot do
less dense linear algebra than

* the precision ``Lambda = Sigma^-1`` (every pattern's conditional needs a block of it):
  a Cholesky factor of ``Sigma`` (``dpotrf``, ``p^3 / 3`` flops, which also gives
  ``log|Sigma|``) and the inverse from it (``dpotri``, ``2 p^3 / 3``);
* per distinct missingness pattern with ``m`` missing cells, ``C_M = (Lambda_MM)^-1``,
  which the expected scatter adds in (``dpotrf`` + ``dpotri``: ``m^3`` flops);
* the residuals' image ``(Z - mu) Lambda`` of the incomplete rows (``2 n_inc p^2``), from
  which the conditional means follow;
* the completed rows' cross-product ``Z'Z`` (``n p^2``).

The issue's yardstick is one ``p x p`` Cholesky plus the ``n x p`` cross-product
``X'X``. In flops the floor is therefore

.. math::

    \frac{p^3 + \sum_{\text{patterns}} m^3 + 2 n_{inc} p^2 + n p^2}{p^3/3 + n p^2}
    \;\ge\; 3,

and with 20% of the cells missing at random (``m ~ 0.2 p``, a pattern a row) the blocks add
``0.024 n / (1 + 3 n / p)``: above 5 in flops alone from about ``n = 110`` at
``p = 1,000``. In time the blocks weigh more than their flops say, because LAPACK runs an
``m = 60`` block at a quarter of the speed of a ``300 x 300`` factorisation.

For every case (20% MCAR :func:`benchmarks._datasets.mcar_mvn`, seed 0, ``ridge=1``; the
point three EM steps from the engine's start, as ``bench_wide`` times there) this times,
one BLAS thread (the engine's own policy), best of ``--repeats``:

* the yardstick: ``dpotrf`` of ``Sigma`` and ``Z'Z``;
* the floor, kernel by kernel (the same calls the engine makes, nothing else: no
  gathering of blocks, no scattering, no objective);
* the engine's evaluation, ``MVNProblem.step`` (median, as in ``bench_wide``);

and prints the ratios: floor / yardstick (time and flops) and engine / floor, the part of
an evaluation that is not the floor's arithmetic. Tall tables are left out of the default
cases: there a thousand rows of ``m = 20`` cost a thousand LAPACK calls' overhead, which the
engine's batched sweep (:mod:`imputer._gaussian.estep`) does not pay, so the per-call
"floor" is none.

Usage::

    python -m benchmarks.wide_floor [--cases 10x200,100x300] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._datasets import mcar_mvn  # noqa: E402
from benchmarks._timing import machine  # noqa: E402
from imputer._gaussian.patterns import build_patterns  # noqa: E402
from imputer.mvn._fit import standardise, start_values  # noqa: E402
from imputer.mvn._problem import MVNProblem  # noqa: E402
from imputer.mvn._scaling import scaling_of  # noqa: E402

CASES = "10x200,100x300,150x260,30x600,10x500,10x1000,50x1000,200x1000,10x2000,50x2000"


def _best(fn, repeats: int) -> float:
    """Fastest of ``repeats`` back-to-back calls after a warm-up call. Not
    :func:`benchmarks._timing.timed`: its garbage collection before each call leaves the
    kernels' operands out of cache (10 x 200: the Cholesky 0.19-0.23 against 0.12 ms, ``Z'Z``
    0.10 against 0.024 ms), and a kernel inside an evaluation runs warm."""
    fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def _blocks(blocks: list[np.ndarray]) -> None:
    potrf, potri = lapack.dpotrf, lapack.dpotri
    for block in blocks:
        chol, _ = potrf(block, lower=1, clean=0)  # (a copy: m^2 against the m^3 work)
        potri(chol, lower=1, overwrite_c=1)


def measure(n: int, p: int, repeats: int, ridge: float = 1.0) -> dict[str, float]:
    """Times (seconds) and flop counts of one case (module docstring)."""
    df = mcar_mvn(n, p, missing_rate=0.2, seed=0)
    x = df.to_numpy(dtype=float)
    mask = np.isnan(x)
    values = tuple(np.ascontiguousarray(x[:, j]) for j in range(p))
    data = standardise(build_patterns(mask), values, scaling_of(list(df.columns), values, mask))
    problem = MVNProblem(data, ridge if n <= p else 0.0)
    point = problem.pack(start_values(data))
    for _ in range(3):
        point, _ = problem.step(point)
    mu, sigma = problem.unpack(point)
    sigma = np.ascontiguousarray(sigma)
    prec = np.linalg.inv(sigma)
    prec = 0.5 * (prec + prec.T)
    pats = np.unique(mask[mask.any(axis=1)], axis=0)
    miss = [np.flatnonzero(row) for row in pats]
    z = np.where(mask, 0.0, x)  # the completed rows' shape is all that matters here
    z = (z - z.mean(axis=0)) / (z.std(axis=0) + 1.0)
    inc = z[mask.any(axis=1)].copy()
    chol = lapack.dpotrf(sigma, lower=1, clean=1)[0]
    out: dict[str, float] = {"n": n, "p": p, "patterns": len(miss), "m": float(np.mean([c.size for c in miss]))}
    out["chol"] = _best(lambda: lapack.dpotrf(sigma, lower=1), repeats)
    out["potri"] = _best(lambda: lapack.dpotri(chol, lower=1), repeats)
    blocks = [np.asfortranarray(prec[np.ix_(c, c)]) for c in miss]
    out["blocks"] = _best(lambda: _blocks(blocks), repeats)
    out["wlam"] = _best(lambda: inc @ prec, repeats)
    out["cross"] = _best(lambda: z.T @ z, repeats)
    out["yard"] = out["chol"] + out["cross"]
    out["floor"] = out["chol"] + out["potri"] + out["blocks"] + out["wlam"] + out["cross"]
    times = []
    for _ in range(max(repeats, 3)):  # along EM's path, as bench_wide (a point's factor is kept)
        t0 = time.perf_counter()
        point, _ = problem.step(point)
        times.append(time.perf_counter() - t0)
    out["engine"] = statistics.median(times)
    out["flops_yard"] = p**3 / 3 + n * p**2
    out["flops_floor"] = p**3 + sum(float(c.size) ** 3 for c in miss) + 2 * inc.shape[0] * p**2 + n * p**2
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=CASES, help="comma-separated NxP")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    print(f"# {machine()}; one BLAS thread; ms, best of {args.repeats} (engine: median)")
    print("| case | patterns, mean m | yardstick | chol / potri / blocks / W Lambda / Z'Z | floor "
          "| floor / yardstick (time, flops) | engine per eval | engine / yardstick | engine / floor |")
    print("|---|---|---|---|---|---|---|---|---|")
    with threadpool_limits(limits=1, user_api="blas"):
        for case in args.cases.split(","):
            n, p = map(int, case.lower().split("x"))
            r = measure(n, p, args.repeats)
            ms = {k: r[k] * 1e3 for k in ("chol", "potri", "blocks", "wlam", "cross", "yard", "floor", "engine")}
            print(f"| {n:,} x {p:,} | {r['patterns']}, {r['m']:.0f} | {ms['yard']:.3g} | "
                  f"{ms['chol']:.3g} / {ms['potri']:.3g} / {ms['blocks']:.3g} / {ms['wlam']:.3g} / {ms['cross']:.3g} | "
                  f"{ms['floor']:.3g} | {r['floor'] / r['yard']:.1f}, {r['flops_floor'] / r['flops_yard']:.1f} | "
                  f"{ms['engine']:.3g} | {r['engine'] / r['yard']:.1f} | {r['engine'] / r['floor']:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
