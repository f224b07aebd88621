"""The stopping rule keeps its promise where most information is missing (:mod:`imputer._em.anderson`).

* on Little & Rubin's ``missvals`` (EM rate 0.956), mice's ``boys`` (0.993) and norm2's
  ``marijuana`` with ``ridge=1`` (0.931), the default estimate of :func:`imputer.impute` is
  within 1e-6 standard deviations of the maximiser found by direct maximisation
  (``tests/data/classics/reference.json``, written by ``make_reference.py`` with
  ``tests/reference/mvn_mle.py``), the objective never decreases, and the accelerator
  takes fewer EM evaluations than SQUAREM (the driver before it) from the same start;
* the same on a wide table (``n = 10``, ``p = 30``, ``ridge = 1``) against a run of the
  SQUAREM driver to ``tol = 1e-12``;
* the free coordinates of :class:`MVNProblem` round-trip, order the columns from the most
  to the least observed and give a positive-definite covariance for any ``z``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer._em import run_em
from imputer.mvn._fit import start_values
from imputer.mvn._problem import MVNProblem, fit_mvn
from tests.imputer.mvn.test_problem import standard

CLASSICS = Path(__file__).resolve().parents[2] / "data" / "classics"
REFERENCE = json.loads((CLASSICS / "reference.json").read_text())
PROMISE = 1e-6  # SD units, at the default tol = 1e-7


def sd_distance(mean: np.ndarray, cov: np.ndarray, ref_mean: np.ndarray, ref_cov: np.ndarray) -> float:
    sd = np.sqrt(np.diag(ref_cov))
    return float(max(np.max(np.abs(mean - ref_mean) / sd), np.max(np.abs(cov - ref_cov) / np.outer(sd, sd))))


def wide_table(n: int = 10, p: int = 30, seed: int = 0) -> pd.DataFrame:
    """Low rank (5 factors) plus noise, 20% of the cells missing completely at random."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5)) @ rng.standard_normal((5, p)) + 0.5 * rng.standard_normal((n, p))
    x[rng.random((n, p)) < 0.2] = np.nan
    return pd.DataFrame(x, columns=[f"x{j:02d}" for j in range(p)])


@pytest.fixture(scope="module")
def wide_reference() -> tuple[pd.DataFrame, imputer.ImputeResult]:
    # the old driver (SQUAREM, unscaled rule) run far past the default: a reference
    # that shares the EM map but not the accelerator or the stopping rule
    df = wide_table()
    data = standard(df)
    problem = MVNProblem(data, 1.0)
    run = run_em(problem, problem.pack(start_values(data)), tol=1e-12, max_iter=100_000, method="squarem")
    assert run.trace.converged
    return df, run


@pytest.mark.parametrize("name", ["missvals", "boys", "marijuana"])
def test_default_estimate_within_promise_of_the_direct_maximiser(name: str) -> None:
    ref = REFERENCE[name]
    df = pd.read_csv(CLASSICS / f"{name}.csv")
    res = imputer.impute(df, ridge=ref["ridge"])
    assert res.converged
    dist = sd_distance(res.mean.to_numpy(), res.cov.to_numpy(), np.array(ref["mean"]), np.array(ref["cov"]))
    assert dist <= PROMISE
    h = res.loglik_history
    assert np.all(np.diff(h) >= -1e-12 * np.abs(h[:-1]))


@pytest.mark.parametrize("name", ["missvals", "boys", "marijuana"])
def test_anderson_takes_fewer_evaluations_than_squarem(name: str) -> None:
    df = pd.read_csv(CLASSICS / f"{name}.csv")
    data = standard(df)
    problem = MVNProblem(data, REFERENCE[name]["ridge"])
    x0 = problem.pack(start_values(data))
    new = run_em(problem, x0, tol=1e-7, max_iter=1000)
    old = run_em(problem, x0, tol=1e-7, max_iter=1000, method="squarem")
    assert new.trace.converged and old.trace.converged
    assert new.trace.n_evals < old.trace.n_evals


def test_wide_default_estimate_within_promise_of_a_tight_run(wide_reference) -> None:
    # the distance in SD units is the same in standardised and original units
    df, ref = wide_reference
    fit = fit_mvn(standard(df), tol=1e-7, max_iter=1000, ridge=1.0, accelerate=True)
    assert fit.converged
    ref_mu, ref_sigma = MVNProblem(standard(df), 1.0).unpack(ref.x)
    assert sd_distance(fit.mu, fit.sigma, ref_mu, ref_sigma) <= PROMISE
    assert fit.n_evals < ref.trace.n_evals
    h = fit.history
    assert np.all(np.diff(h) >= -1e-12 * np.abs(h[:-1]))


@pytest.mark.parametrize("name", ["boys", "wide"])
def test_free_coordinates_round_trip_in_column_order_most_observed_first(name: str, wide_reference) -> None:
    df = wide_reference[0] if name == "wide" else pd.read_csv(CLASSICS / "boys.csv")
    data = standard(df)
    problem = MVNProblem(data, 0.0)
    x = problem.pack(start_values(data))
    z = problem.to_free(x)
    assert z is not None and z.size == x.size
    np.testing.assert_allclose(problem.from_free(z), x, rtol=1e-12, atol=1e-13)
    p = problem.p
    # the last p coordinates are log residual variances in the order of observed counts:
    # the first column of that order (most observed) has its own variance as residual
    first = int(np.argmax(df.notna().sum().to_numpy()))
    sigma = problem.unpack(x).sigma
    assert z[-p] == pytest.approx(np.log(sigma[first, first]), rel=1e-12)
    # any z is a positive-definite covariance
    rng = np.random.default_rng(1)
    wild = problem.from_free(z + rng.normal(scale=2.0, size=z.size))
    assert np.linalg.eigvalsh(problem.unpack(wild).sigma).min() > 0.0


def test_free_coordinates_of_a_singular_covariance_are_none() -> None:
    df = pd.read_csv(CLASSICS / "missvals.csv")
    problem = MVNProblem(standard(df), 0.0)
    sigma = np.ones((5, 5))
    assert problem.to_free(problem.pack((np.zeros(5), sigma))) is None
