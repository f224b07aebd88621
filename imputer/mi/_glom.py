r"""Multiple imputation under the general location model (``multiple_impute(categorical=...)``).

Bootstrap EM (Amelia's EMB, with the general location model in place of the normal):
imputation ``j`` draws ``n`` rows with replacement (``b = rng.integers(0, n, n)``), fits
:func:`imputer.impute_glom` to ``data.iloc[b]`` with the whole-data fit's columns and
models (``means`` resolved once on the whole data), and draws the missing cells of the
*original* rows at that estimate (:mod:`imputer.glom._draw`): each row's cell from its
posterior over the cells compatible with its observed levels (so a missing category is
drawn from its posterior level probabilities, jointly with the row's other missing
levels), then its missing continuous cells from that cell's conditional normal. A
resample is unusable when its fit fails (a continuous column constant or unobserved in
it, a saturated cell with no complete row), when a level of a categorical column does not
occur in it (the cells would differ from the data's), when its covariance heads to
singular, or when it gives probability zero to every cell a row of the data is compatible
with (a sparse table: cells empty in the resample); it is redrawn from the same generator, at most ``MAX_REDRAWS`` times in a row.

Data augmentation (``method="posterior"``, saturated or pairwise probabilities with
saturated or additive means): :mod:`imputer.mi._glom_chain` (pairwise probabilities drawn
by Bayesian IPF, Schafer 1997, ch. 8.4.3).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imputer._gaussian.linalg import Infeasible
from imputer.errors import ConvergenceWarning, ImputerError, ImputerValueError
from imputer.glom._draw import draw_cells
from imputer.glom._estep import GlomPlan
from imputer.glom._problem import GlomParams
from imputer.glom._validate import GlomInput, prepare_glom
from imputer.glom.api import impute_glom
from imputer.glom.result import GlomImputeResult
from imputer.mi._bootstrap import MAX_REDRAWS
from imputer.mvn._fit import blas_threads
from imputer.mvn.api import _completed_frame

__all__ = ["GlomDraws", "Prepared", "glom_draw_frame", "multiple_impute_glom"]


def _fit_resample(
    frame: pd.DataFrame, rows: np.ndarray, em: GlomImputeResult, cats: Any, **options: Any
) -> GlomImputeResult | str:
    """``impute_glom`` on the resample with the whole-data fit's roles and models; or why it is unusable."""
    sub = frame.iloc[rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            res = impute_glom(
                sub, categorical=cats, continuous=list(em.continuous) or None, means=em.means,
                probabilities=em.probability_model, **options,
            )
        except ImputerError as exc:
            return str(exc)
    if res.trace.stop_reason == "singular":
        return "the within-cell covariance of the fit on the resample heads to singular"
    if not res.probabilities.index.equals(em.probabilities.index):
        for j, name in enumerate(em.categorical):
            missing = [lv for lv in em.probabilities.index.levels[j] if lv not in set(res.probabilities.index.levels[j])]
            if missing:
                return f"level {missing[0]!r} of categorical column {name!r} does not occur in the resample"
        return "the resample's cells differ from the data's"  # pragma: no cover - a level is always missing then
    return res


def _frame_of(inp: GlomInput, center: np.ndarray, scale: np.ndarray, z: np.ndarray, cell: np.ndarray) -> pd.DataFrame:
    """The completed table of a draw (``z`` standardised by ``center``, ``scale``), the input's dtypes kept."""
    frame = inp.frame
    filled = center + scale * z
    mask = np.column_stack([np.isnan(v) for v in inp.values]) if inp.values else np.zeros((inp.n_rows, 0), bool)
    for j, v in enumerate(inp.values):
        filled[~mask[:, j], j] = v[~mask[:, j]]  # observed cells bit-for-bit
    out = _completed_frame(frame, inp.continuous, filled, mask.sum(axis=0))
    position = {c: k for k, c in enumerate(frame.columns)}
    for j, label in enumerate(inp.categorical):
        rows = np.flatnonzero(inp.codes[:, j] < 0)
        if rows.size:
            arr = frame[label].array.copy()
            levels = inp.cells.levels[j]
            drawn = inp.cells.grid[cell[rows], j]
            arr[rows] = pd.array([levels[b] for b in drawn], dtype=arr.dtype)
            out.isetitem(position[label], pd.Series(arr, index=out.index, dtype=arr.dtype, copy=False))  # no dtype inference
    return out


def _standardised(fit: GlomImputeResult, center: np.ndarray, scale: np.ndarray) -> GlomParams:
    sigma = fit.cov.to_numpy(dtype=float) / np.outer(scale, scale)
    return GlomParams(fit.probabilities.to_numpy(dtype=float), (fit.cell_means.to_numpy(dtype=float) - center) / scale,
                      0.5 * (sigma + sigma.T))


def glom_draw_frame(
    inp: GlomInput, plan: GlomPlan, center: np.ndarray, scale: np.ndarray, fit: GlomImputeResult, rng: np.random.Generator
) -> pd.DataFrame:
    """One completed table drawn at ``fit``'s parameters (original units), the input's dtypes kept.

    ``plan`` holds the data standardised by ``center`` and ``scale``.
    """
    with blas_threads(max(plan.p, 1)):  # as the fits: small products, no BLAS thread pool
        z, cell = draw_cells(plan, *_standardised(fit, center, scale), rng)
    return _frame_of(inp, center, scale, z, cell)


@dataclass(frozen=True, eq=False)
class GlomDraws:
    """What :func:`multiple_impute_glom` gives: the whole-data fit, the input frame, the m tables and their parameters.

    ``params``: m ``(probabilities, cell_means, cov)`` triples (original units);
    ``redraws`` (bootstrap) or ``burn_in``, ``thin``, ``rate`` (posterior), the others None.
    """

    em: GlomImputeResult
    frame: pd.DataFrame
    imputations: list[pd.DataFrame]
    params: tuple[tuple[pd.Series, pd.DataFrame, pd.DataFrame], ...]
    redraws: tuple[int, ...] | None = None
    burn_in: int | None = None
    thin: int | None = None
    rate: float | None = None


@dataclass(frozen=True, eq=False)
class Prepared:
    """The data for the draws: ``inp``, its ``plan`` standardised by ``center`` and ``scale``, ``cats`` for refits."""

    inp: GlomInput
    plan: GlomPlan
    center: np.ndarray
    scale: np.ndarray
    cats: Any

    def frame_of(self, z: np.ndarray, cell: np.ndarray) -> pd.DataFrame:
        return _frame_of(self.inp, self.center, self.scale, z, cell)

    def params_of(self, em: GlomImputeResult, theta: GlomParams) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
        """``theta`` (standardised) in original units, labelled as ``em``'s estimates."""
        sc = self.scale
        return (
            pd.Series(theta.pi, index=em.probabilities.index, name="probability"),
            pd.DataFrame(self.center + sc * theta.means, index=em.cell_means.index, columns=em.cell_means.columns),
            pd.DataFrame(theta.sigma * np.outer(sc, sc), index=em.cov.index, columns=em.cov.columns),
        )


def multiple_impute_glom(
    data: Any, m: int, *, categorical: Any, continuous: Any, means: Any, probabilities: Any, method: str, seed: int,
    tol: float, max_iter: int, burn_in: int | None = None, thin: int | None = None,
) -> GlomDraws:
    """EM on the whole data, then ``m`` imputations by the bootstrap or by data augmentation.

    Raises
    ------
    ImputerValueError
        An augmented table on which the posterior is improper (:mod:`imputer.mi._glom_chain`); ``MAX_REDRAWS + 1``
        unusable resamples in a row.
    """
    em = impute_glom(
        data, categorical=categorical, continuous=continuous, means="auto" if means is None else means,
        probabilities="saturated" if probabilities is None else probabilities, tol=tol, max_iter=max_iter,
    )
    # the same columns and levels (a dict of levels kept) for the data and every resample
    cats = categorical if isinstance(categorical, Mapping) else list(em.categorical)
    inp = prepare_glom(data, cats, list(em.continuous) or None)
    n = inp.n_rows
    center = np.array([np.nanmean(v) for v in inp.values]) if inp.values else np.zeros(0)
    scale = np.array([np.nanstd(v) or 1.0 for v in inp.values]) if inp.values else np.zeros(0)
    z = np.column_stack([(v - c) / s for v, c, s in zip(inp.values, center, scale)]) if inp.values else np.zeros((n, 0))
    prep = Prepared(inp, GlomPlan(z, inp.codes, inp.cells), center, scale, cats)
    if method == "posterior":
        from imputer.mi._glom_chain import run_chain

        return run_chain(em, prep, m=m, seed=seed, burn_in=burn_in, thin=thin)
    return _bootstrap(em, prep, m=m, seed=seed, tol=tol, max_iter=max_iter)


def _bootstrap(em: GlomImputeResult, prep: Prepared, *, m: int, seed: int, tol: float, max_iter: int) -> GlomDraws:
    """``m`` bootstrap imputations (the module docstring)."""
    inp, n = prep.inp, prep.inp.n_rows
    imputations: list[pd.DataFrame] = []
    fits: list[GlomImputeResult] = []
    redraws: list[int] = []
    not_converged = 0
    for j, ss in enumerate(np.random.SeedSequence(seed).spawn(m), start=1):
        rng = np.random.default_rng(ss)
        reason = ""
        for tries in range(MAX_REDRAWS + 1):
            rows = rng.integers(0, n, size=n)
            fit = _fit_resample(inp.frame, rows, em, prep.cats, tol=tol, max_iter=max_iter)
            if isinstance(fit, str):
                reason = fit
                continue
            try:
                table = glom_draw_frame(inp, prep.plan, prep.center, prep.scale, fit, rng)
            except Infeasible:
                reason = "the fit on the resample gives probability zero to every cell a row of the data can lie in"
                continue
            break
        else:
            raise ImputerValueError(
                f"method='bootstrap', imputation {j}: {MAX_REDRAWS + 1} bootstrap resamples in a row were unusable "
                f"(the last: {reason}); the data are too thin for the bootstrap under this model (merge rare levels, "
                "use means='additive', probabilities='pairwise' or fewer categorical columns)"
            )
        imputations.append(table)
        fits.append(fit)
        redraws.append(tries)
        not_converged += not fit.converged
    if not_converged:
        warnings.warn(
            f"EM did not converge within max_iter={max_iter} iterations on {not_converged} of {m} bootstrap "
            f"resamples (tol={tol:g}); increase max_iter or tol",
            ConvergenceWarning,
            stacklevel=4,
        )
    params = tuple((f.probabilities, f.cell_means, f.cov) for f in fits)
    return GlomDraws(em, inp.frame, imputations, params, redraws=tuple(redraws))
