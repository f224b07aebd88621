"""Admission checks run in the worker before the work: memory and time, from the request's sizes.

* :func:`check_memory`: under an address-space cap (``IMPUTER_WORKER_MEMORY_MB``, the
  worker's ``RLIMIT_AS``) a body whose estimated need, ``VmSize + c * len(body)`` with
  ``c`` from :data:`MEMORY_PER_BODY_BYTE`, exceeds the cap is refused before it is parsed.
* :func:`check_fixed_design`: a table-form mixed model whose fixed-effect design (rows x
  columns x 8 bytes, a factor counting one column a level) exceeds
  :data:`MAX_FIXED_DESIGN_BYTES` is refused before the design is built (a 0.8 MB body with a
  5,000-level fixed factor drove a worker to 4 GB).
* :func:`check_cost`: an imputation whose low time estimate exceeds the time limit
  (``IMPUTER_TIMEOUT_S``) is refused before the fit, with a hint to submit it as a job;
  :func:`check_disperse_cost` the same for ``starts`` runs of the normal's fit
  (``POST /v1/diagnostics/disperse``).
  The estimate is ``EM_ITERATIONS * W * SECONDS_PER_UNIT``. For the normal and the t,
  whose E-step works from the precision matrix (one ``p x p`` factorisation, then each
  pattern's ``m x m`` block of it and each incomplete row's product with it),
  ``W = p^3 + sum over patterns of m^3 + n_inc p^2``; for the mixture, whose E-step
  factors each pattern's observed block per component,
  ``W = sum over patterns of p_obs^3`` times the components (its own constants).

Both raise :class:`imputer.errors.ImputerValueError` (a 422 naming the sizes and the limit).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from api.errors import TOO_BIG
from api.formats import InputKind
from api.schemas.impute import ImputeOptions
from imputer.columns import is_modelled
from imputer.errors import ImputerValueError

__all__ = ["MAX_FIXED_DESIGN_BYTES", "check_fixed_design", "MEMORY_PER_BODY_BYTE", "EM_ITERATIONS", "SECONDS_PER_UNIT", "MIXTURE_ITERATIONS", "MIXTURE_SECONDS_PER_UNIT", "check_memory", "estimated_seconds", "check_cost", "check_disperse_cost"]


#: address space a request needs per byte of body, beyond what the worker maps already:
#: parsing to Python objects, the frame, the fit and the answer (measured peaks, VmPeak, of
#: a 16 MB 200,000 x 10 table: JSON 350 MiB = 22 x, CSV 267 MiB = 17 x; rounded up)
MEMORY_PER_BODY_BYTE = {"json": 24, "csv": 18, "parquet": 18}


def _vm_size() -> int:
    """Bytes of address space this process maps now (``VmSize``; 0 where /proc is missing)."""
    try:
        with open("/proc/self/status") as fh:
            return next((int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:")), 0)
    except OSError:  # pragma: no cover - not Linux
        return 0


def check_memory(body: bytes, kind: InputKind) -> None:
    """Under an address-space cap (``IMPUTER_WORKER_MEMORY_MB``: ``RLIMIT_AS``), refuse a body
    whose estimated need does not fit before parsing it: native code (pydantic-core's JSON
    parser) aborts the worker, or hangs it, when an allocation fails. ImputerValueError (422)."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return
    need = _vm_size() + MEMORY_PER_BODY_BYTE[kind] * len(body)
    if need > soft:
        raise ImputerValueError(
            f"{TOO_BIG[:-1]} (a {kind.upper()} body of {len(body):,} bytes needs about {need / 2**20:,.0f} MiB; "
            f"a worker has {soft / 2**20:,.0f} MiB)."
        )


#: largest fixed-effect design of a table-form mixed model (rows x columns x 8 bytes); the fit
#: holds several matrices of that size, so 256 MiB already needs a few GiB
MAX_FIXED_DESIGN_BYTES = 256 * 2**20


def check_fixed_design(frame: pd.DataFrame, fixed: list | None, formula: str | None) -> None:
    """ImputerValueError (422) naming the widest factor when the fixed-effect design of
    ``fit_mixed_frame(frame, fixed=...)`` (or ``formula``) would exceed
    :data:`MAX_FIXED_DESIGN_BYTES`, before it is built. Terms the engine would reject are
    left to it (their message is better)."""
    from imputer.mixed._fixed import fixed_terms
    from imputer.mixed._formula import parse_formula

    try:
        terms = parse_formula(formula, frame.columns).fixed if formula is not None else fixed_terms(fixed or [], frame.columns)
    except ImputerValueError:
        return
    width, widest = 1, ("", 0)
    for term in terms:
        size = 1
        for col in term:
            if col not in frame.columns:
                return
            s = frame[col]
            levels = 1 if is_modelled(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype) else int(s.nunique())
            if levels > widest[1]:
                widest = (str(col), levels)
            size *= levels
        width += size
    need = len(frame) * width * 8
    if need > MAX_FIXED_DESIGN_BYTES:
        raise ImputerValueError(
            f"fixed: the fixed-effect design would have {len(frame):,} rows x about {width:,} columns "
            f"({need / 2**20:,.0f} MiB, over {MAX_FIXED_DESIGN_BYTES / 2**20:,.0f} MiB); the factor {widest[0]!r} "
            f"has {widest[1]:,} levels: make it a random term instead (random=[{widest[0]!r}])"
        )


#: the cost model of an EM fit (:func:`estimated_seconds`): evaluations assumed, and seconds per
#: unit of work. Measured (2-core machine, one BLAS thread, ``ridge=1``, 10% missing): a
#: 10 x 1,999 table of noise, 10 patterns, ran 25 evaluations in 33 s (1.3 s each, 8.1e9
#: units: 1.6e-10 s a unit); 10 x 300 in well under a second. Both constants are taken low
#: (the fewest evaluations a fit takes, a fraction of the measured time per unit), so that the
#: estimate stays under the true time and refuses only hopeless fits. (A pattern counts by
#: the cheaper of its two routes, as the engine takes them: a table whose rows miss most of
#: many cells is no longer refused for ``m^3`` work the observed route does not do; such
#: fits can still take many evaluations, e.g. 150 x 600 with 40 cells a row ran past 10
#: minutes, estimated 2.4 s, which the rule refused neither before nor now: long fits
#: belong in jobs.)
EM_ITERATIONS, SECONDS_PER_UNIT = 20, 5e-11
#: the mixture's (its E-step unchanged since they were measured: a 10 x 300 table's 174
#: iterations in 18 s, 5.3e-10 s a unit of ``p_obs^3``)
MIXTURE_ITERATIONS, MIXTURE_SECONDS_PER_UNIT = 50, 1e-10


def estimated_seconds(frame: pd.DataFrame, options: ImputeOptions) -> tuple[float, str]:
    """A low estimate of the fit's time, and the sizes it came from (for the message).

    ``EM_ITERATIONS * W * SECONDS_PER_UNIT`` with ``W`` the work of one evaluation (module
    docstring): ``p^3 + sum(w_g) + n_inc p^2`` for the normal and the t, ``w_g`` the cheaper
    of a pattern's two routes (:mod:`imputer._gaussian.observed`): ``m^3`` through the
    precision, ``p_o^3 / 3 + 2 p_o^2 m + p_o m^2`` from the observed block, which rows that
    miss most of many cells take; for the mixture
    ``MIXTURE_ITERATIONS * sum(p_obs^3) * K * MIXTURE_SECONDS_PER_UNIT``.
    """
    names = list(options.columns) if options.columns else [c for c in frame.columns if is_modelled(frame[c].dtype)]
    names = [c for c in names if c in frame.columns]
    missing = frame[names].isna().to_numpy()
    rows = missing[missing.any(axis=1)]
    n_missing = int(rows.sum())
    if not len(rows):
        return 0.0, f"{len(frame):,} rows x {len(names):,} columns, no missing cell"
    unique = np.unique(np.packbits(rows, axis=1), axis=0, return_index=True)[1]
    n_miss = rows[unique].sum(axis=1).astype(float)
    p = float(len(names))
    if options.model == "mixture":
        components = options.n_components
        k = sum(components) if isinstance(components, list) else (components or 2)
        seconds = MIXTURE_ITERATIONS * float(np.sum((p - n_miss) ** 3)) * k * MIXTURE_SECONDS_PER_UNIT
    else:
        n_obs = p - n_miss
        per_pattern = np.minimum(n_miss**3, n_obs**3 / 3.0 + 2.0 * n_obs**2 * n_miss + n_obs * n_miss**2)
        seconds = EM_ITERATIONS * (p**3 + float(np.sum(per_pattern)) + len(rows) * p**2) * SECONDS_PER_UNIT
    sizes = (
        f"{len(frame):,} rows x {len(names):,} columns, {n_missing:,} missing cells in {len(unique):,} patterns"
        + (f", {k} mixture components" if options.model == "mixture" else "")
    )
    return seconds, sizes


def check_cost(frame: pd.DataFrame, options: ImputeOptions, limit_s: float) -> None:
    """ImputerValueError (422) when the fit's low estimate already exceeds the time limit:
    it would hold a worker until it is killed at the limit (504)."""
    seconds, sizes = estimated_seconds(frame, options)
    if seconds > limit_s:
        raise ImputerValueError(
            f"body: the fit of {sizes} would take at least about {seconds:,.0f} s, over the time limit of "
            f"{limit_s:g} s (IMPUTER_TIMEOUT_S); submit it as a job (POST /v1/jobs/impute, same body), or send "
            "fewer columns (options.columns)"
        )


def check_disperse_cost(frame: pd.DataFrame, columns: list[str] | None, starts: int, limit_s: float) -> None:
    """ImputerValueError (422) when ``starts`` runs of the normal's fit to ``columns``
    (:func:`imputer.disperse`), each estimated as :func:`estimated_seconds` does, already
    exceed the time limit."""
    seconds, sizes = estimated_seconds(frame, ImputeOptions(columns=columns))
    total = starts * seconds
    if total > limit_s:
        raise ImputerValueError(
            f"body: {starts} runs of the fit of {sizes} would take at least about {total:,.0f} s, over the time "
            f"limit of {limit_s:g} s (IMPUTER_TIMEOUT_S); submit it as a job (POST /v1/jobs/diagnostics/disperse, "
            "same body), or ask for fewer starts, or send fewer columns (options.columns)"
        )
