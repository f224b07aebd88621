"""Run the R competitors (Amelia, lme4) from the benchmarks through ``Rscript``.

The R side lives in ``benchmarks/r/``: each script reads a CSV written here, times the
competitor's fit over ``repeats`` runs inside one R process (median elapsed seconds;
R start-up and CSV reading are not timed) and prints one JSON line that is parsed here.

R is optional: when ``Rscript`` is not on ``PATH`` the helpers print one line saying so
and return ``None``; when R fails (missing package, bad formula, non-convergence error)
they print R's error output and return ``None``. A benchmark never crashes because of R.
Install with ``apt-get install r-base-core r-cran-amelia r-cran-lme4``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["have_r", "r_versions", "run_amelia", "run_amelia_mi", "run_lme4", "run_mi_coverage"]

R_DIR = Path(__file__).resolve().parent / "r"

#: Seconds after which an R run is abandoned (it then returns None).
TIMEOUT = 3600.0


def have_r() -> bool:
    """Whether ``Rscript`` is on ``PATH``."""
    return shutil.which("Rscript") is not None


def _run(script: str, args: list[str], what: str, timeout: float) -> dict[str, Any] | None:
    exe = shutil.which("Rscript")
    if exe is None:
        print(f"R not found: skipping {what}")
        return None
    cmd = [exe, "--vanilla", str(R_DIR / script), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        print(f"R {what} timed out after {timeout:.0f} s: skipping")
        return None
    except OSError as exc:
        print(f"R {what} could not start ({exc}): skipping")
        return None
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip()
        print(f"R {what} failed (exit {proc.returncode}): skipping\n{err}")
        return None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        print(f"R {what} printed no result: skipping\n{proc.stdout.strip()}\n{proc.stderr.strip()}")
        return None
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        print(f"R {what} printed unreadable JSON ({exc}): skipping")
        return None


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    # NA = missing; 17 significant digits so R reads exactly our doubles
    df.to_csv(path, index=False, na_rep="NA", float_format="%.17g")


def run_amelia(
    df: pd.DataFrame,
    *,
    repeats: int = 3,
    tolerance: float | None = None,
    timeout: float = TIMEOUT,
    empri: float = 0.0,
) -> dict[str, Any] | None:
    """Time one Amelia EM chain on ``df`` (``amelia(x, m=1, boot.type="none")``).

    Parameters
    ----------
    df : DataFrame, shape (n, p)
        Numeric columns, NaN = missing.
    repeats : int
        Runs inside one R process; the median is reported.
    tolerance : float, optional
        Amelia's EM tolerance (on its standardised scale); default Amelia's own (1e-4).
    timeout : float
        Seconds before the R process is abandoned.
    empri : float, default 0
        Amelia's ridge prior in pseudo-rows (``empri``; the engine's ``ridge``).

    Returns
    -------
    dict or None
        ``seconds`` (median), ``seconds_all``, ``iterations``, ``mean`` (column -> value),
        ``cov`` (p x p list of rows, data's column order), ``tolerance``, ``versions``;
        ``None`` when R is absent or failed (the reason is printed).
    """
    with tempfile.TemporaryDirectory(prefix="imputer-amelia-") as tmp:
        path = Path(tmp) / "data.csv"
        _write_csv(df, path)
        args = [str(path), str(int(repeats))]
        if tolerance is not None or empri:
            args.append("NA" if tolerance is None else repr(float(tolerance)))
        if empri:
            args.append(repr(float(empri)))
        return _run("amelia_em.R", args, "Amelia", timeout)


def run_amelia_mi(df: pd.DataFrame, m: int, *, repeats: int = 1, timeout: float = TIMEOUT) -> dict[str, Any] | None:
    """Time Amelia's multiple imputation ``amelia(x, m=m)`` at its defaults (bootstrap EM).

    Returns
    -------
    dict or None
        ``seconds`` (median over ``repeats``), ``seconds_all``, ``m``, ``iterations``
        (EM iterations per chain), ``versions``; ``None`` when R is absent or failed.
    """
    with tempfile.TemporaryDirectory(prefix="imputer-amelia-mi-") as tmp:
        path = Path(tmp) / "data.csv"
        _write_csv(df, path)
        return _run("amelia_mi.R", [str(path), str(int(m)), str(int(repeats))], f"Amelia m={m}", timeout)


def run_mi_coverage(sims: pd.DataFrame, m: int, *, timeout: float = TIMEOUT) -> dict[str, Any] | None:
    """mice's and Amelia's pooled 95% intervals on each simulated data set (``benchmarks/r/mi_coverage.R``).

    Parameters
    ----------
    sims : DataFrame
        Columns ``sim, x1, x2, y`` (NaN = missing), the data sets stacked.
    m : int
        Imputations per data set.

    Returns
    -------
    dict or None
        ``{"mice": {"mean": {"est", "low", "high"}, "slope": {...}}, "amelia": {...},
        "seconds": {...}, "versions": {...}}``; ``None`` when R is absent or failed.
    """
    with tempfile.TemporaryDirectory(prefix="imputer-mi-coverage-") as tmp:
        path = Path(tmp) / "sims.csv"
        _write_csv(sims, path)
        return _run("mi_coverage.R", [str(path), str(int(m))], "mice/Amelia coverage", timeout)


def run_lme4(
    df: pd.DataFrame,
    formula: str,
    *,
    repeats: int = 3,
    REML: bool = True,  # noqa: N803 - lme4's own spelling
    timeout: float = TIMEOUT,
) -> dict[str, Any] | None:
    """Time ``lme4::lmer(formula, df, REML=REML)``.

    Parameters
    ----------
    df : DataFrame
        The columns the formula names; string/categorical columns become factors.
    formula : str
        lme4 formula, e.g. ``"y ~ x + (1 | g1) + (1 | g2)"``.
    repeats : int
        Fits inside one R process; the median is reported.
    REML : bool
        REML (default) or ML.
    timeout : float
        Seconds before the R process is abandoned.

    Returns
    -------
    dict or None
        ``seconds`` (median), ``seconds_all``, ``var_comp`` (name -> variance, the
        grouping factors then ``"Residual"``), ``fixef``, ``loglik``, ``aic``, ``bic``,
        ``nobs``, ``feval``, ``singular``, ``versions``; ``None`` when R is absent or failed.
    """
    with tempfile.TemporaryDirectory(prefix="imputer-lme4-") as tmp:
        path = Path(tmp) / "data.csv"
        _write_csv(df, path)
        args = [str(path), formula, str(int(repeats)), "TRUE" if REML else "FALSE"]
        return _run("lme4_fit.R", args, "lme4", timeout)


def r_versions() -> dict[str, str] | None:
    """R, Amelia and lme4 versions (``None`` without R)."""
    exe = shutil.which("Rscript")
    if exe is None:
        return None
    code = (
        'cat(R.version.string, "\\n", sep="");'
        'for (p in c("Amelia", "lme4")) cat(p, if (requireNamespace(p, quietly=TRUE)) '
        'as.character(packageVersion(p)) else "missing", "\\n")'
    )
    try:
        proc = subprocess.run([exe, "--vanilla", "-e", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = proc.stdout.strip().splitlines()
    if not lines:
        return None
    out = {"R": lines[0]}
    for ln in lines[1:]:
        name, _, ver = ln.strip().partition(" ")
        out[name] = ver
    return out


if __name__ == "__main__":  # pragma: no cover - smoke run
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks._datasets import crossed_intercepts, mar_mvn

    print(r_versions())
    res = run_amelia(mar_mvn(5000, 6), repeats=2)
    print({k: res[k] for k in ("seconds", "iterations")} if res else res)
    res = run_lme4(crossed_intercepts(5000, 100, 10), "y ~ x + (1 | g1) + (1 | g2)", repeats=2)
    print({k: res[k] for k in ("seconds", "var_comp", "fixef", "loglik")} if res else res)
    print(run_lme4(crossed_intercepts(500, 10, 5), "y ~ nosuchcolumn + (1 | g1)", repeats=1))
