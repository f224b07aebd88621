"""Helpers of the mixture tests: Old Faithful with holes, the engine's EM from a given start.

``fit_from`` runs the engine's EM from a given start (original units), for comparisons
with scikit-learn started at the same point. Imported as ``tests.imputer.mixture.helpers``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imputer.mixture._covtypes import CovarianceType
from imputer.mixture._problem import MixtureParams, MixtureProblem, fit_start
from imputer.mvn._fit import standardise
from imputer.mvn._scaling import scaling_of

DATA = Path(__file__).resolve().parents[2] / "data"
COV_TYPES = ("full", "tied", "diag", "spherical")

#: The compiled pass as a test parameter, skipped where numba is not installed.
COMPILED = pytest.param(
    "compiled", marks=pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba not installed (the fast extra)")
)


def plan_class(name: str) -> type:
    """The pass called ``name``: ``"pattern"`` (numpy), ``"row"`` or ``"compiled"`` (numba)."""
    if name == "compiled":
        from imputer.mixture._compiled import CompiledPlan

        return CompiledPlan
    from imputer.mixture._kernel import PatternPlan
    from imputer.mixture._rowkernel import RowPlan

    return {"pattern": PatternPlan, "row": RowPlan}[name]


def with_holes(frame: pd.DataFrame, n_holes: int, seed: int) -> pd.DataFrame:
    """``frame`` with ``n_holes`` cells per column set missing (fixed seed), never a whole row."""
    rng = np.random.default_rng(seed)
    out = frame.astype(float).copy()
    taken: set[int] = set()
    for j in range(out.shape[1]):
        free = np.array([i for i in range(len(out)) if i not in taken])
        rows = rng.choice(free, n_holes, replace=False)
        taken.update(rows.tolist())
        out.iloc[rows, j] = np.nan
    return out


def fit_from(frame: pd.DataFrame, cov_type: str, start: tuple[np.ndarray, np.ndarray, np.ndarray], tol: float = 1e-12):
    """The engine's EM from ``start`` (weights, means, covs in original units); estimates in original units and loglik."""
    values = tuple(frame[c].to_numpy(float) for c in frame)
    mask = frame.isna().to_numpy()
    sc = scaling_of(tuple(frame.columns), values, mask)
    data = standardise(mask, values, sc, keep_complete=True)
    weights, means, covs = start
    ct = CovarianceType(cov_type, weights.size, len(values), 1.0 / sc.scale**2)
    z_start = MixtureParams(np.asarray(weights, float), (means - sc.center) / sc.scale, covs / np.outer(sc.scale, sc.scale))
    fit = fit_start(MixtureProblem(data, ct, 0.0), z_start, tol=tol, max_iter=10_000)
    p = fit.params
    loglik = fit.evaluation.loglik - float(sc.n_observed @ np.log(sc.scale))
    return p.weights, sc.center + sc.scale * p.means, p.covs * np.outer(sc.scale, sc.scale), loglik, fit
