r"""``disperse``: EM from overdispersed starting values, to see whether its maximum is unique.

EM climbs the objective of :func:`imputer.impute`,

.. math::

    \ell(\mu, \Sigma) = \sum_i \log N(x_{i,O_i};\ \mu_{O_i}, \Sigma_{O_i O_i})
    \quad\big(-\ \tfrac{\lambda}{2}[a \log|\Sigma| + \operatorname{tr}(D \Sigma^{-1})]
    \text{ under a ridge prior}\big),

and stops at a stationary point: a local maximum, or a saddle point when it starts on
one of the objective's symmetries. The objective can have several local maxima. Murray's
(1977) twelve rows are the textbook case (Little & Rubin, *Statistical Analysis with
Missing Data*, 2nd ed., section 8.1): two maxima with correlation ``+1/2`` and ``-1/2``,
and a saddle point at ``0``, where EM from the pairwise-complete correlation stays. Wide
tables under a weak prior (``ridge=1`` with ``n = 80, p = 240``) have several maxima
apart by 0.1-0.3 standard deviations. One EM run cannot tell.

Method (after Amelia's ``disperse``, Honaker, King & Blackwell 2011). Run 1 starts from
the engine's own starting values ``(mu_0, Sigma_0)`` (zero mean and the pairwise-complete
correlation, standardised units). Runs ``2, ..., m`` each start from the mean and
covariance of ``k = max(ceil(2.5 p), p + 2)`` draws from a normal, the starting
correlation's smallest eigenvalue floored at 0.01 as the engine's own start is:

* ``around="start"`` (default): draws from ``N(mu_0, Sigma_0)``. The runs leave from
  about where run 1 did, scattered by about ``1/sqrt(k)`` in correlation units, and take
  other paths: where the objective has other maxima they tend to reach them. On
  ``mcar_mvn(80, 240)`` with ``ridge=1`` five such runs (``seed=0``) ended at four
  maxima, run 1's the lowest, 2.05 below the best and 0.32 SD from it.
* ``around="estimate"``: draws from ``N(mu_1, Sigma_1)``, run 1's estimate, as Amelia
  does. The runs leave from near where run 1 ended: they show a saddle point (Murray's
  data) but seldom a distant maximum (on the table above all five returned to run 1's
  point).

Every run is the engine's full fit (the same tolerance, acceleration and stopping rule).

The distance between two estimates is the engine's own measure, the largest change of
a mean or covariance entry in standard-deviation units (the best run's):

.. math::

    d = \max\big(\max_j |\mu_j - \mu'_j| / s_j,\ \max_{jk} |\Sigma_{jk} - \Sigma'_{jk}| / (s_j s_k)\big).

Runs are grouped by objective, highest first: a run joins the first group whose best run
is within ``atol``, else it opens a group. The groups are the distinct end points found;
the best run is the one of highest objective (the first such on ties). Each point is
classified by the observed information ``I(theta)`` (the objective's negative Hessian,
the matrix behind the standard errors) at its best run: positive definite, a strict
local maximum; otherwise not a maximum (Murray's saddle point has a negative eigenvalue).
It is computed up to 4,096 parameters (``p <= 88``).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imputer._em.monitor import Callback, make_monitor, watching
from imputer._frozen import ReadOnlyField, same_fields
from imputer._gaussian.information import n_parameters, observed_information
from imputer._gaussian.linalg import Infeasible, floor_correlation
from imputer._gaussian.patterns import Patterns, build_patterns
from imputer._gaussian.prior import RidgePrior
from imputer._json import json_labels, json_value, labelled_values, square_frame
from imputer._render import names, render_fields, render_table, render_title, stop_text
from imputer.errors import ConvergenceWarning, ImputerTypeError, ImputerValueError
from imputer.mvn import _engine as engine
from imputer.mvn._fit import START_EIG_FLOOR, blas_threads, standardise, start_values
from imputer.mvn._information import MAX_PARAMETERS, equilibrated_cholesky
from imputer.mvn._problem import MVNFit
from imputer.mvn._scaling import Scaling, scaling_of
from imputer.mvn._validate import check_rows, prepare, refuse_dask
from imputer.options import DISPERSE_OPTIONS

__all__ = ["Dispersion", "disperse"]

#: draws per column behind an overdispersed start (Amelia's ``round(2.5 * k)``)
DRAWS_PER_COLUMN: float = 2.5


@dataclass(frozen=True, eq=False)
class Dispersion:
    """EM runs from overdispersed starts: where each ended, and how many distinct points they found.

    A value (``==`` compares every field; pandas fields are read-only views, see
    :mod:`imputer._frozen`).

    Attributes
    ----------
    runs : DataFrame, shape (starts, 10)
        One row per run (index ``run``, 1 = the engine's own start): ``start``
        ("engine" or "dispersed"), ``objective`` (the log-likelihood, or log-posterior
        under a prior, original units), ``loglik``, ``gap`` (best objective minus this
        one), ``distance`` (from the best run's estimate, standard-deviation units),
        ``point`` (the distinct end point it reached, 1 = the best; 0 for a run that did
        not converge), ``maximum`` (nullable boolean: whether the observed information is
        positive definite at the point, a strict local maximum, checked once per point at
        its best run; False at a saddle point or along a flat direction; NA when not
        checked: an unconverged run, or more than 4,096 parameters, ``p`` above 88),
        ``converged``, ``stop_reason``, ``n_evals``.
    means : DataFrame, shape (starts, p)
        Each run's estimated mean, original units.
    covs : Mapping[int, DataFrame], each shape (p, p)
        Each run's estimated covariance by run number, original units.
    histories : Mapping[int, ndarray]
        Each run's objective at every accepted iterate (non-decreasing), original units.
    best : int
        The converged run of highest objective (of all runs when none converged).
    n_points : int
        Distinct end points among the converged runs (0 if none converged).
    columns : tuple
        Labels of the modelled columns (``p``).
    passthrough : tuple
        Labels of the table's other columns (not modelled), in the table's order.
    n_rows : int
    around, ridge, prior, tol, max_iter, atol
        The options used.
    seed : int
        The seed of the starts (drawn from fresh entropy when none was given).
    """

    runs: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    means: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    covs: Mapping[int, pd.DataFrame] = ReadOnlyField()  # type: ignore[assignment]
    histories: Mapping[int, np.ndarray] = ReadOnlyField()  # type: ignore[assignment]
    best: int
    n_points: int
    columns: tuple[Hashable, ...]
    passthrough: tuple[Hashable, ...]
    n_rows: int
    around: str
    ridge: float
    prior: str
    tol: float
    max_iter: int
    atol: float
    seed: int

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dispersion):
            return NotImplemented
        return self is other or same_fields(self, other)

    def __hash__(self) -> int:
        return hash(("Dispersion", self.best, self.n_points, self.n_rows, self.seed))

    @property
    def unique(self) -> bool:
        """Whether every run converged to the same point (within ``atol``)."""
        return self.n_points == 1 and bool(self.__dict__["runs"]["converged"].all())

    @property
    def mean(self) -> pd.Series:
        """The best run's mean, shape (p,)."""
        return self.__dict__["means"].loc[self.best].rename("mean")

    @property
    def cov(self) -> pd.DataFrame:
        """The best run's covariance, shape (p, p)."""
        return self.covs[self.best]

    def summary(self) -> str:
        """Readable text: the verdict, then one line per run."""
        runs = self.__dict__["runs"]
        n_conv = int(runs["converged"].sum())
        if n_conv == 0:
            verdict = "no run converged (see stop_reason: raise max_iter or max_time)"
        elif self.unique:
            verdict = "every run reached the same point: the maximum found looks unique"
        else:
            engine_point = int(runs.loc[1, "point"])
            verdict = "one end point among the converged runs" if self.n_points == 1 else (
                f"{self.n_points} distinct end points")
            if engine_point > 1:
                verdict += f"; the engine's own start (run 1) ended below the best (run {self.best})"
            if n_conv < len(runs):
                verdict += f"; {len(runs) - n_conv} run(s) did not converge"
        not_max = [int(r) for r, m in runs["maximum"].items() if m is not pd.NA and not m]
        if not_max:
            verdict += (f"; run(s) {', '.join(map(str, not_max))} ended where the observed information is not "
                        "positive definite (a saddle point, not a maximum)")
        fields = [
            ("verdict", verdict),
            ("runs", len(runs)),
            ("distinct end points", self.n_points),
            ("best run", self.best),
            ("best objective", float(runs.loc[self.best, "objective"])),
            ("rows, columns", f"{self.n_rows}, {len(self.columns)}"),
            ("not modelled", names(self.passthrough)),
            ("starts drawn around", "the engine's start" if self.around == "start" else "run 1's estimate"),
            ("ridge", self.ridge),
            ("same point within (SD units)", self.atol),
            ("seed", self.seed),
        ]
        shown = runs.assign(stop_reason=[stop_text(r) for r in runs["stop_reason"]])
        return "\n".join(
            [
                render_title("EM from overdispersed starts"),
                render_fields(fields),
                "",
                render_table(shown),
                "",
                "A saddle point or a lower maximum shows as a run with a gap above 0 and a distance above atol.",
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the wire convention of :mod:`imputer._json`).

        Returns
        -------
        dict
            ``runs`` (a list of objects, one per run, with ``run`` and the columns of
            :attr:`runs`), ``best``, ``n_points``, ``unique``, ``columns``, ``passthrough``, ``means``
            (``{"columns", "data"}``, a row per run), ``mean`` and ``cov`` (the best
            run's), ``histories`` (lists by run), ``n_rows``, ``around``, ``ridge``, ``prior``,
            ``tol``, ``max_iter``, ``atol``, ``seed``.
        """
        runs = self.__dict__["runs"]
        records = [
            {"run": int(k), **{c: json_value(v) for c, v in row.items()}} for k, row in runs.iterrows()
        ]
        means = self.__dict__["means"]
        return {
            "runs": records,
            "best": int(self.best),
            "n_points": int(self.n_points),
            "unique": bool(self.unique),
            "columns": json_labels(self.columns),
            "passthrough": json_labels(self.passthrough),
            "means": {"columns": json_labels(means.columns), "data": [[json_value(v) for v in r] for r in means.to_numpy()]},
            "mean": labelled_values(means.loc[self.best].astype(float)),
            "cov": square_frame(self.__dict__["covs"][self.best]),
            "histories": {str(k): [json_value(v) for v in h] for k, h in self.__dict__["histories"].items()},
            "n_rows": int(self.n_rows),
            "around": self.around,
            "ridge": float(self.ridge),
            "prior": self.prior,
            "tol": float(self.tol),
            "max_iter": int(self.max_iter),
            "atol": float(self.atol),
            "seed": int(self.seed),
        }


def _check_seed(seed: Any) -> int:
    if seed is None:
        return int(np.random.SeedSequence().entropy % 2**63)  # type: ignore[operator]
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ImputerTypeError(f"seed must be None or a non-negative integer, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ImputerValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def dispersed_start(mu: np.ndarray, sigma: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of ``max(ceil(2.5 p), p + 2)`` draws from ``N(mu, sigma)`` (module docstring).

    Parameters
    ----------
    mu : ndarray, shape (p,)
    sigma : ndarray, shape (p, p)
        Symmetric positive semi-definite (standardised units).
    rng : Generator

    Returns
    -------
    (ndarray, ndarray), shapes (p,) and (p, p)
        The start, its correlation's smallest eigenvalue at least 0.01.
    """
    p = mu.size
    k = max(math.ceil(DRAWS_PER_COLUMN * p), p + 2)
    w, v = np.linalg.eigh(sigma)
    root = v * np.sqrt(np.clip(w, 0.0, None))
    draws = rng.standard_normal((k, p)) @ root.T
    draws += mu
    mean = draws.mean(axis=0)
    draws -= mean
    cov = draws.T @ draws / (k - 1)
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    np.fill_diagonal(corr, 1.0)
    return mean, floor_correlation(0.5 * (corr + corr.T), START_EIG_FLOOR) * np.outer(sd, sd)


def sd_distance(mu: np.ndarray, sigma: np.ndarray, mu_ref: np.ndarray, sigma_ref: np.ndarray) -> float:
    """Largest mean or covariance change in the reference's standard-deviation units (module docstring)."""
    sd = np.sqrt(np.diag(sigma_ref))
    d_mu = float(np.max(np.abs(mu - mu_ref) / sd))
    d_sig = float(np.max(np.abs(sigma - sigma_ref) / np.outer(sd, sd)))
    return max(d_mu, d_sig)


def is_maximum(fit: MVNFit, values: tuple[np.ndarray, ...], patterns: Patterns, scaling: Scaling,
               kernel: RidgePrior) -> bool | None:
    """Whether a converged run ended at a strict local maximum: the observed information there
    (the objective's negative Hessian, :func:`~imputer._gaussian.information.observed_information`)
    is positive definite, by the test the standard errors use
    (:func:`~imputer.mvn._information.equilibrated_cholesky`).

    None when the run did not converge or the information has over
    :data:`~imputer.mvn._information.MAX_PARAMETERS` parameters (not checked).
    """
    p = fit.mu.size
    if not fit.trace.converged or n_parameters(p) > MAX_PARAMETERS:
        return None
    try:
        with blas_threads(p):
            info = observed_information(values, patterns, scaling.center, scaling.scale, fit.mu, fit.sigma,
                                        prior_weight=kernel.weight, prior_scale=kernel.scale,
                                        prior_logdet_weight=kernel.logdet_weight)
    except (Infeasible, np.linalg.LinAlgError):
        return False
    return equilibrated_cholesky(info) is not None


def group_points(objective: np.ndarray, converged: np.ndarray, dist: np.ndarray, atol: float) -> np.ndarray:
    """The end point of each run, 1 = the highest objective's, 0 for unconverged runs (module docstring).

    ``dist[a, b]`` is the distance between runs ``a`` and ``b``.
    """
    point = np.zeros(objective.size, dtype=np.int64)
    heads: list[int] = []
    for r in sorted(np.flatnonzero(converged), key=lambda r: (-objective[r], r)):
        for g, h in enumerate(heads, start=1):
            if dist[h, r] <= atol:
                point[r] = g
                break
        else:
            heads.append(r)
            point[r] = len(heads)
    return point


def disperse(
    data: pd.DataFrame | Any,
    columns: Sequence[Hashable] | None = None,
    *,
    starts: int = DISPERSE_OPTIONS["starts"].default,
    around: str = DISPERSE_OPTIONS["around"].default,
    ridge: float = 0.0,
    prior: str = "ridge",
    seed: int | None = None,
    atol: float = DISPERSE_OPTIONS["atol"].default,
    tol: float = DISPERSE_OPTIONS["tol"].default,
    max_iter: int = DISPERSE_OPTIONS["max_iter"].default,
    accelerate: bool = True,
    progress: bool = False,
    callback: Callback | None = None,
    max_time: float | None = None,
    n_jobs: int = 1,
) -> Dispersion:
    """Fit the multivariate normal by EM from ``starts`` starting values and compare where the runs end.

    EM reaches *a* stationary point of the objective; when the objective has several
    local maxima (or the start sits on a saddle point) the estimate depends on the
    start. This runs the fit of :func:`imputer.impute` from the engine's own start and
    from ``starts - 1`` overdispersed ones (after Amelia's ``disperse``; see the module
    docstring) and groups the end points. Use it on wide tables under a weak prior and
    whenever the estimate matters enough to check.

    Parameters
    ----------
    data : DataFrame or 2-D array-like, shape (n, k)
        Missing cells are NaN, None or ``pd.NA``; numeric columns are modelled, others
        ignored (as in :func:`imputer.impute`). Not modified.
    columns : sequence of labels, optional
        Columns to model (numeric); default every numeric column.
    starts : int, default 5
        Number of runs (at least 2).
    around : {"start", "estimate"}, default "start"
        Draw the overdispersed starts around the engine's starting values (other paths,
        other maxima) or around the first run's estimate (Amelia's choice: a saddle point,
        seldom a distant maximum).
    ridge, prior, tol, max_iter, accelerate
        As in :func:`imputer.impute`.
    seed : int, optional
        Seed of the overdispersed starts; default fresh entropy, recorded on the result.
    atol : float, default 1e-4
        Runs whose estimates differ by at most ``atol`` standard deviations ended at the
        same point.
    progress, callback, max_time
        As in :func:`imputer.impute`, over all the runs together: one progress line, the
        iterates numbered across the runs (``Progress.change`` is NaN at each run's first),
        ``max_time`` seconds for the whole call. Once the callback asks to stop or the time
        is up, the run under way stops at its next iterate and each later run at its first
        (``stop_reason`` "stopped" or "max_time", not converged: ``point`` 0).
    n_jobs : int, default 1
        Runs at once, each in its own process (``-1``: one per CPU). The runs and the
        result are the same as with ``n_jobs=1`` (each run computes exactly as it would
        alone, one BLAS thread each); with ``around="estimate"`` run 1 goes first, since
        the other starts are drawn around its estimate. With ``n_jobs > 1``, ``progress``
        counts finished runs, ``max_time`` stops each run at its next iterate once the
        call's time is up, and ``callback`` is not available (the iterates are in other
        processes). Worth it when each run takes a second or more: starting the processes
        costs about 0.05-0.2 s where they are forked (Linux), more where they are spawned
        (macOS, Windows: there a script calls it under ``if __name__ == "__main__":``).

    Returns
    -------
    Dispersion
        ``runs`` (objective, gap, distance, end point, convergence per run), ``best``,
        ``n_points``, ``unique``, each run's ``means``/``covs``/``histories``,
        ``summary()``, ``to_dict()``; :func:`imputer.plot.disperse` draws the runs.

    Raises
    ------
    ImputerValueError
        As :func:`imputer.impute` (empty data, a column with no observed value, a constant
        column, ``n <= p`` without a ridge prior, ...), an option out of range.
    ImputerTypeError
        As :func:`imputer.impute` (no numeric column, ...), an option of the wrong type,
        ``data`` a Dask DataFrame (in memory only: pass ``ddf.compute()``).

    Warns
    -----
    ConvergenceWarning
        Runs that did not converge within ``max_iter`` (named; they get ``point`` 0), and
        runs stopped by ``callback`` or ``max_time``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import imputer
    >>> nan = np.nan  # Murray's (1977) data: two maxima and a saddle point
    >>> df = pd.DataFrame({"x1": [1, 1, -1, -1, 2, 2, -2, -2, nan, nan, nan, nan],
    ...                    "x2": [1, -1, 1, -1, nan, nan, nan, nan, 2, 2, -2, -2]})
    >>> d = imputer.disperse(df, starts=8, seed=1)
    >>> d.n_points, round(float(abs(d.cov.iloc[0, 1]) / d.cov.iloc[0, 0]), 6)
    (3, 0.5)
    """
    refuse_dask(data, "imputer.disperse")
    o = DISPERSE_OPTIONS.check(starts=starts, around=around, ridge=ridge, prior=prior, atol=atol, tol=tol,
                               max_iter=max_iter, accelerate=accelerate)
    seed = _check_seed(seed)
    jobs = _check_n_jobs(n_jobs)
    if jobs > 1 and callback is not None:
        raise ImputerTypeError("callback: available with n_jobs=1 only (with n_jobs > 1 the runs' iterates are in "
                               "other processes)")
    monitor = make_monitor(callback, progress if jobs == 1 else False, max_time, label="disperse")
    prep = prepare(data, columns)
    n, p = prep.n_rows, len(prep.columns)
    mask = prep.missing_mask()
    scaling = scaling_of(prep.columns, prep.values, mask)
    check_rows(n, p, o["ridge"])
    patterns = build_patterns(mask)
    del mask
    kernel = RidgePrior.of(o["prior"], o["ridge"], scaling.n_observed)
    if monitor is not None:
        monitor.offset = scaling.loglik_offset(kernel)[1]  # the objective in original units
    rng = np.random.default_rng(seed)
    problem = _Runs(prep.values, patterns, scaling, kernel, o["tol"], o["max_iter"], o["accelerate"], o["ridge"])
    if o["around"] == "start":
        with blas_threads(p):
            centre = start_values(standardise(patterns, prep.values, scaling))
        first_starts: list[tuple[np.ndarray, np.ndarray] | None] = [None] + [
            dispersed_start(*centre, rng) for _ in range(o["starts"] - 1)]
    else:
        first_starts = [None]
    if jobs > 1:
        fits = _parallel_runs(problem, first_starts, o["starts"], rng, min(jobs, o["starts"]), progress, max_time)
    else:
        fits = []
        with watching(monitor):
            for r in range(o["starts"]):
                start = first_starts[r] if r < len(first_starts) else dispersed_start(fits[0].mu, fits[0].sigma, rng)
                fits.append(problem.run(r, start))
        if monitor is not None:
            monitor.warn(stacklevel=2)
    return _dispersion(fits, lambda f: is_maximum(f, prep.values, patterns, scaling, kernel), prep.columns,
                       prep.passthrough(), scaling, kernel, n, seed, o)


def _check_n_jobs(n_jobs: Any) -> int:
    """``n_jobs``: a positive int or -1 (one per CPU); the number of processes."""
    if isinstance(n_jobs, (bool, np.bool_)) or not isinstance(n_jobs, (int, np.integer)):
        raise ImputerTypeError(f"n_jobs must be an integer, got {type(n_jobs).__name__}")
    if n_jobs == -1:
        return os.cpu_count() or 1
    if n_jobs < 1:
        raise ImputerValueError(f"n_jobs must be a positive integer or -1 (one per CPU), got {int(n_jobs)}")
    return int(n_jobs)


@dataclass(frozen=True)
class _Runs:
    """What every run needs (picklable: sent to the processes of ``n_jobs > 1``)."""

    values: tuple[np.ndarray, ...]
    patterns: Patterns
    scaling: Scaling
    kernel: RidgePrior
    tol: float
    max_iter: int
    accelerate: bool
    ridge: float

    def run(self, r: int, start: tuple[np.ndarray, np.ndarray] | None, deadline: float | None = None) -> MVNFit:
        """Run ``r`` (0-based) from ``start`` (None: the engine's own); ``deadline`` (``time.time()``)
        stops it, in a process of its own, at its next iterate once passed."""
        monitor = None
        if deadline is not None:
            monitor = make_monitor(None, False, max(deadline - time.time(), 1e-9), label="disperse")
        try:
            with watching(monitor):
                return engine.run(self.values, self.patterns, self.scaling, tol=self.tol, max_iter=self.max_iter,
                                  ridge=self.kernel, accelerate=self.accelerate, fill=False, start=start).fit
        except Infeasible as exc:
            raise ImputerValueError(
                f"ridge={self.ridge!r}: run {r + 1} found no valid estimate (no positive-definite covariance at "
                "any iterate in floating point); use a smaller ridge"
            ) from exc


def _start_method() -> str:
    """How :func:`_parallel_runs` starts its processes: ``"fork"`` on Linux, else ``"spawn"``."""
    return "fork" if sys.platform.startswith("linux") else "spawn"


def _parallel_runs(problem: _Runs, starts: list[tuple[np.ndarray, np.ndarray] | None], m: int,
                   rng: np.random.Generator, jobs: int, progress: bool, max_time: float | None) -> list[MVNFit]:
    """The ``m`` runs in ``jobs`` processes, in run order.

    Forked on Linux (the children inherit the data and do not import the caller's
    ``__main__`` again, so a plain script needs no ``if __name__ == "__main__"`` guard;
    OpenBLAS resets its threads in a forked child); spawned elsewhere, as Python does by
    default there (on macOS a forked child can crash in the system's BLAS), where a
    script's call needs that guard.

    ``starts`` holds the first starts (all ``m``, or run 1's alone: the others are drawn
    around its estimate once it has finished)."""
    deadline = None if max_time is None else time.time() + max_time
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=m, desc="disperse", unit=" run", file=sys.stderr, dynamic_ncols=True)
    fits: list[MVNFit | None] = [None] * m
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(_start_method())) as pool:
            if len(starts) < m:  # around="estimate": run 1 first
                fits[0] = pool.submit(problem.run, 0, None, deadline).result()
                if bar is not None:
                    bar.update(1)
                first = fits[0]
                starts = [None] + [dispersed_start(first.mu, first.sigma, rng) for _ in range(m - 1)]
            pending = {pool.submit(problem.run, r, starts[r], deadline): r for r in range(m) if fits[r] is None}
            for _ in as_completed(pending):
                if bar is not None:
                    bar.update(1)
            for future, r in sorted(pending.items(), key=lambda item: item[1]):
                fits[r] = future.result()  # in run order: the first run that failed is the error
    finally:
        if bar is not None:
            bar.close()
    return [f for f in fits if f is not None]


def _dispersion(fits: list[MVNFit], check: Callable[[MVNFit], bool | None], columns: tuple[Hashable, ...],
                passthrough: tuple[Hashable, ...], scaling: Scaling, kernel: RidgePrior, n: int, seed: int,
                o: dict[str, Any]) -> Dispersion:
    """The labelled :class:`Dispersion` of finished runs (standardised estimates in ``fits``).

    ``check`` (:func:`is_maximum`) runs once per distinct end point, on its best run, and
    its answer holds for every run that reached the point.
    """
    ll_off, obj_off = scaling.loglik_offset(kernel)
    objective = np.array([f.objective + obj_off for f in fits])
    converged = np.array([f.trace.converged for f in fits])
    m = len(fits)
    dist = np.zeros((m, m))
    for a in range(m):
        for b in range(m):
            if a != b:
                dist[a, b] = sd_distance(fits[b].mu, fits[b].sigma, fits[a].mu, fits[a].sigma)
    best = int(np.argmax(np.where(converged, objective, -np.inf))) if converged.any() else int(np.argmax(objective))
    point = group_points(objective, converged, dist, o["atol"])
    verdicts = {g: check(fits[int(np.flatnonzero(point == g)[np.argmax(objective[point == g])])])
                for g in range(1, int(point.max(initial=0)) + 1)}
    maxima = [verdicts.get(int(g)) for g in point]
    unconverged: dict[str, list[int]] = {}
    for r in np.flatnonzero(~converged):
        unconverged.setdefault(fits[r].trace.stop_reason, []).append(int(r) + 1)
    for reason, which in unconverged.items():
        why = f"within max_iter={o['max_iter']} (point 0 in runs); raise max_iter" if reason == "max_iter" else (
            f"({stop_text(reason)}; point 0 in runs)")
        warnings.warn(f"disperse: run(s) {', '.join(map(str, which))} did not converge {why}", ConvergenceWarning,
                      stacklevel=3)
    index = pd.RangeIndex(1, m + 1, name="run")
    labels = pd.Index(list(columns), tupleize_cols=False)
    runs = pd.DataFrame(
        {
            "start": ["engine"] + ["dispersed"] * (m - 1),
            "objective": objective,
            "loglik": np.array([f.loglik + ll_off for f in fits]),
            "gap": objective[best] - objective,
            "distance": dist[best],
            "point": point,
            "maximum": pd.array(maxima, dtype="boolean"),
            "converged": converged,
            "stop_reason": [f.trace.stop_reason for f in fits],
            "n_evals": np.array([f.trace.n_evals for f in fits], dtype=np.int64),
        },
        index=index,
    )
    means = pd.DataFrame([scaling.mean_to_original(f.mu) for f in fits], index=index, columns=labels)
    covs = {r + 1: pd.DataFrame(scaling.cov_to_original(f.sigma), index=labels, columns=labels) for r, f in enumerate(fits)}
    histories = {}
    for r, f in enumerate(fits):
        h = np.array(f.trace.history, dtype=float) + obj_off
        h.flags.writeable = False
        histories[r + 1] = h
    return Dispersion(
        runs=runs, means=means, covs=covs, histories=histories, best=best + 1,
        n_points=int(point.max(initial=0)), columns=tuple(columns), passthrough=passthrough, n_rows=n, around=o["around"], ridge=o["ridge"], prior=o["prior"],
        tol=o["tol"], max_iter=o["max_iter"], atol=o["atol"], seed=seed,
    )
