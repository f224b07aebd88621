"""The multivariate normal as an EM problem (:mod:`imputer.mvn._problem`).

* the packed vector round-trips and the distance is the documented SD-unit measure;
* the EM map exposed by :class:`MVNProblem` has the returned estimate as a fixed point
  up to ``tol`` (``F(x*) ~ x*``), and its objective there is the fit's;
* ``n_evals`` is the number of calls of the EM map (counted with a wrapper problem);
* data whose likelihood has no maximum end with ``stop_reason="singular"`` at a feasible
  (positive-definite) estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imputer._em import run_em
from imputer._gaussian.layout import StandardData
from imputer.mvn._fit import SINGULAR_EIG, min_corr_eig, standardise, start_values
from imputer.mvn import _problem
from imputer.mvn._problem import MeanCov, MVNProblem, fit_mvn
from imputer.mvn._scaling import scaling_of


def standard(df: pd.DataFrame) -> StandardData:
    """The engine's standardised data for every column of ``df`` (as ``impute`` builds it)."""
    values = tuple(df[c].to_numpy(dtype=float) for c in df.columns)
    mask = np.asfortranarray(np.column_stack([np.isnan(v) for v in values]))
    return standardise(mask, values, scaling_of(tuple(df.columns), values, mask))


def dataset(name: str, airquality: pd.DataFrame, naive) -> pd.DataFrame:
    if name == "airquality":
        return airquality[["Ozone", "Solar.R", "Wind", "Temp"]]
    if name == "mar":
        return naive.simulate(300, 6, seed=2, mechanism="mar", rate=0.3)
    if name == "no-maximum":  # two rows observe y: Var(y | x) -> 0
        rng = np.random.default_rng(3)
        y = np.full(30, np.nan)
        y[[0, 1]] = [1.0, 2.5]
        return pd.DataFrame({"x": rng.normal(size=30), "y": y})
    if name == "no-maximum-3":  # the same with a third column: EM's update turns singular
        rng = np.random.default_rng(0)
        y = np.full(30, np.nan)
        y[[0, 1]] = [1.0, 2.5]
        return pd.DataFrame({"x": rng.normal(size=30), "y": y, "z": rng.normal(size=30)})
    if name == "collinear":  # b = 2a + 1 exactly: the first update is singular
        rng = np.random.default_rng(4)
        a = rng.normal(size=50)
        df = pd.DataFrame({"a": a, "b": 2.0 * a + 1.0, "c": rng.normal(size=50)})
        df.loc[::7, "c"] = np.nan
        return df
    raise AssertionError(name)


class Counting:
    """Wraps an EM problem and counts the calls of its EM map."""

    def __init__(self, problem: MVNProblem) -> None:
        self.problem = problem
        self.calls = 0

    def step(self, x):
        self.calls += 1
        return self.problem.step(x)

    def __getattr__(self, name):
        return getattr(self.problem, name)


@pytest.mark.parametrize("where", ["none", "last chunk", "mean"])
def test_distance_by_chunks_is_the_whole_vector_formula(where: str) -> None:
    # p = 300: 45,150 covariances, more than one chunk; the largest change placed in the
    # last one, and NaN where the whole vector's maximum would be NaN
    from imputer.mvn import _problem

    p = 300
    problem = MVNProblem(standard(pd.DataFrame(np.eye(p + 2, p))), ridge=1.0)
    assert problem.dim - p > _problem._DISTANCE_CHUNK
    rng = np.random.default_rng(1)
    x = problem.pack(MeanCov(rng.normal(size=p), np.diag(rng.uniform(0.5, 2.0, p))))
    moved = x + 1e-6 * rng.normal(size=x.size)
    moved[-2] += 0.25
    rows, cols = np.tril_indices(p)
    sd = np.sqrt(np.diag(problem.unpack(x).sigma))
    expected = max(np.max(np.abs(moved[:p] - x[:p]) / sd), np.max(np.abs(moved[p:] - x[p:]) / (sd[rows] * sd[cols])))
    if where == "none":
        assert problem.distance(x, moved) == expected
        return
    moved[-1 if where == "last chunk" else 0] = np.nan
    with np.errstate(invalid="ignore"):
        d_mu = np.max(np.abs(moved[:p] - x[:p]) / sd)
    assert np.isnan(problem.distance(x, moved)) == np.isnan(d_mu)
    if where == "last chunk":
        assert problem.distance(x, moved) == d_mu  # a NaN among the covariances: max() keeps the means'


@pytest.mark.parametrize("p", [5, _problem.LAUUM_MIN_P - 1, _problem.LAUUM_MIN_P, 150])
def test_from_free_is_the_reordered_cholesky_product(p: int) -> None:
    # z = (mu, L's strict lower triangle row by row, log d) in the order P of the columns
    # from most to least observed; Sigma = P' L diag(d) L' P, written out (syrk below
    # LAUUM_MIN_P columns, lauum on the reversed factor from there)
    rng = np.random.default_rng(p)
    x = rng.normal(size=(3 * p, p))
    x[rng.random(x.shape) < np.linspace(0.0, 0.5, p)[rng.permutation(p)]] = np.nan
    x[:, 0] = 1.0 + rng.normal(size=3 * p)
    problem = MVNProblem(standard(pd.DataFrame(x)), ridge=1.0)
    order = np.argsort(np.isnan(x).sum(axis=0), kind="stable")
    k = p * (p - 1) // 2
    z = np.concatenate([rng.normal(size=p), rng.normal(scale=0.3, size=k), rng.normal(scale=0.5, size=p)])
    low = np.eye(p)
    low[np.tril_indices(p, -1)] = z[p : p + k]
    ordered = low @ np.diag(np.exp(z[p + k :])) @ low.T
    sigma = np.empty((p, p))
    sigma[np.ix_(order, order)] = ordered
    got = problem.unpack(problem.from_free(z))
    np.testing.assert_array_equal(got.mu, z[:p])
    np.testing.assert_allclose(got.sigma, sigma, rtol=1e-12, atol=1e-13 * np.abs(sigma).max())
    np.testing.assert_allclose(problem.to_free(problem.from_free(z)), z, rtol=1e-9, atol=1e-10)


def test_pack_unpack_round_trip_and_distance(naive) -> None:
    problem = MVNProblem(standard(naive.simulate(50, 4, seed=0)), ridge=0.0)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    params = MeanCov(rng.normal(size=4), a @ a.T + np.eye(4))
    x = problem.pack(params)
    assert x.shape == (problem.dim,) == (4 + 10,)
    back = problem.unpack(x)
    np.testing.assert_array_equal(back.mu, params.mu)
    np.testing.assert_array_equal(back.sigma, params.sigma)
    assert problem.distance(x, x) == 0.0
    moved = problem.pack(MeanCov(params.mu + 0.5 * np.sqrt(np.diag(params.sigma)), params.sigma))
    assert problem.distance(x, moved) == pytest.approx(0.5, rel=1e-14)
    assert problem.feasible(x)
    assert not problem.feasible(problem.pack(MeanCov(params.mu, np.ones((4, 4)))))


@pytest.mark.parametrize("name", ["airquality", "mar"])
@pytest.mark.parametrize("ridge", [0.0, 2.5])
@pytest.mark.parametrize("accelerate", [True, False])
def test_estimate_is_a_fixed_point_of_the_em_map(name, ridge, accelerate, airquality, naive) -> None:
    tol = 1e-7
    data = standard(dataset(name, airquality, naive))
    fit = fit_mvn(data, tol=tol, max_iter=1000, ridge=ridge, accelerate=accelerate)
    assert fit.trace.stop_reason == "converged" and not fit.singular
    problem = MVNProblem(data, ridge)
    x = problem.pack(MeanCov(fit.mu, fit.sigma))
    fx, objective = problem.step(x)
    assert problem.distance(x, fx) <= tol
    assert objective == pytest.approx(fit.objective, rel=1e-12)
    h = fit.trace.history
    assert np.all(np.diff(h) >= -1e-10 * np.abs(h[1:]))


@pytest.mark.parametrize("name", ["airquality", "mar", "no-maximum"])
@pytest.mark.parametrize("accelerate", [True, False])
def test_n_evals_is_the_number_of_em_map_calls(name, accelerate, airquality, naive) -> None:
    df = dataset(name, airquality, naive)
    data = standard(df)
    problem = Counting(MVNProblem(data, 0.0))
    run = run_em(problem, problem.pack(start_values(data)), tol=1e-7, max_iter=1000, accelerate=accelerate)
    assert run.trace.n_evals == problem.calls > 0
    # the fit runs the same driver on the same problem (fresh data: the start reads the
    # work array before any E-step has filled it)
    fit = fit_mvn(standard(df), tol=1e-7, max_iter=1000, ridge=0.0, accelerate=accelerate)
    assert fit.trace.n_evals == run.trace.n_evals


@pytest.mark.parametrize("name", ["airquality", "mar"])
def test_a_regular_fit_computes_no_eigenvalues_until_asked(name, airquality, naive, monkeypatch: pytest.MonkeyPatch) -> None:
    # singular or not is one Cholesky factorisation; min_eig (p^3 with a large constant,
    # 0.6 s at p = 2,000) only when read
    calls = []
    monkeypatch.setattr(_problem, "min_corr_eig", lambda s: calls.append(1) or min_corr_eig(s))
    fit = fit_mvn(standard(dataset(name, airquality, naive)), tol=1e-7, max_iter=1000, ridge=0.0, accelerate=True)
    assert not fit.singular and fit.trace.converged and calls == []
    assert fit.min_eig == min_corr_eig(fit.sigma) > 1e3 * SINGULAR_EIG and calls == [1]
    assert fit.min_eig == min_corr_eig(fit.sigma) and calls == [1]  # computed once


@pytest.mark.parametrize("name", ["no-maximum", "no-maximum-3", "collinear"])
def test_no_maximum_ends_singular_at_a_feasible_estimate(name, airquality, naive) -> None:
    fit = fit_mvn(standard(dataset(name, airquality, naive)), tol=1e-7, max_iter=1000, ridge=0.0, accelerate=True)
    assert fit.singular and fit.trace.stop_reason == "singular" and not fit.trace.converged
    assert fit.min_eig == min_corr_eig(fit.sigma) >= SINGULAR_EIG
    assert np.isfinite(fit.loglik) and fit.trace.n_iter < 1000
    h = fit.trace.history
    assert np.all(np.diff(h) >= -1e-10 * np.abs(h[1:]))
    assert fit.objective >= h[-1] - 1e-10 * abs(h[-1])


@pytest.mark.parametrize(("name", "accelerate"), [("no-maximum-3", True), ("collinear", True), ("collinear", False)])
def test_singular_update_ends_the_run_at_the_best_feasible_iterate(name, accelerate, airquality, naive) -> None:
    data = standard(dataset(name, airquality, naive))
    problem = MVNProblem(data, 0.0)
    run = run_em(problem, problem.pack(start_values(data)), tol=1e-7, max_iter=1000, accelerate=accelerate)
    assert run.trace.stop_reason == "singular"
    np.testing.assert_array_equal(run.x, run.best)
    assert problem.feasible(run.x)
    fx, objective = problem.step(run.x)
    assert objective == run.best_objective >= run.trace.history.max()


def test_max_iter_is_reported(airquality, naive) -> None:
    fit = fit_mvn(standard(dataset("airquality", airquality, naive)), tol=1e-7, max_iter=2, ridge=0.0,
                  accelerate=False)
    assert fit.trace.stop_reason == "max_iter" and not fit.converged
    assert fit.n_iter == fit.n_evals == 2 and fit.history.size == 2
