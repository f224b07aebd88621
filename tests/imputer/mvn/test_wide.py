"""Wide data (p >> n, every row its own missingness pattern) through the MVN engine.

One EM evaluation, the final evaluation and ``fill_conditional`` are checked against
row-by-row textbook formulas (``Sigma_MO Sigma_OO^-1`` by ``np.linalg.solve``,
``scipy.stats.multivariate_normal``; conftest's ``naive``) at p = 80 to 500 with a
handful of rows, where the engine's pattern blocks go through LAPACK (``m >= 18``) and
its row products through the batched runs; whole fits on small wide tables are checked
against the direct maximiser of the observed-data log-posterior
(:mod:`tests.reference.mvn_mle`), with the engine's ridge prior written out in
``test_reference_agreement.ridge_prior``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from threadpoolctl import threadpool_limits

import imputer
from imputer._gaussian.layout import build_layout
from imputer.mvn._emmap import em_update, evaluate
from imputer.mvn._problem import MVNProblem
from imputer.mvn.conditional import fill_conditional
from tests.imputer.mvn.conftest import naive_completion
from tests.imputer.mvn.test_reference_agreement import ridge_prior
from tests.reference.mvn_mle import mvn_mle, observed_loglik

WIDE = [(8, 200, 0.2), (30, 80, 0.3)]


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():  # type: ignore[no-untyped-def]
    """The kernels are called here outside the engine's own BLAS limit: set it (as the engine does)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _wide(n: int, p: int, rate: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Data with a low-rank-plus-noise covariance, its missing cells, and a point ``(mu, Sigma)``."""
    rng = np.random.default_rng([seed, n, p])
    load = rng.normal(size=(p, 3))
    cov = load @ load.T + np.diag(rng.uniform(0.5, 1.5, p))
    x = rng.normal(size=(n, 3)) @ load.T + rng.normal(size=(n, p))
    x[rng.random((n, p)) < rate] = np.nan
    x[0, : p // 2] = np.nan  # one row with half its cells missing
    # a point away from the data's own estimate: a shrunk covariance and a shifted mean
    return x, 0.1 * rng.normal(size=p), 0.8 * cov + 0.2 * np.diag(np.diag(cov))


def _naive_loglik(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> float:
    """``sum_i log N(x_iO; mu_O, Sigma_OO)`` row by row (``slogdet`` and ``solve``)."""
    total = 0.0
    for row in x:
        o = ~np.isnan(row)
        r = row[o] - mu[o]
        s = sigma[np.ix_(o, o)]
        total -= 0.5 * (o.sum() * np.log(2 * np.pi) + np.linalg.slogdet(s)[1] + r @ np.linalg.solve(s, r))
    return float(total)


def _naive_update(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """One EM update row by row (conditional means and covariances by ``solve`` on ``Sigma_OO``)."""
    n, p = x.shape
    zhat, cond = naive_completion(x, mu, sigma)
    mu_new = zhat.mean(axis=0)
    d = zhat - mu_new
    return mu_new, (d.T @ d + cond + ridge * np.eye(p)) / (n + ridge)


@pytest.mark.parametrize(("n", "p", "rate"), WIDE)
@pytest.mark.parametrize("ridge", [0.0, 1.0])
def test_em_update_on_wide_data_is_one_em_step(n, p, rate, ridge) -> None:
    x, mu, sigma = _wide(n, p, rate)
    data = build_layout(x)
    assert max(g.n_miss for g in data.patterns.groups) >= 18  # LAPACK-sized pattern blocks
    upd = em_update(data, mu, sigma, ridge)
    mu_new, sigma_new = _naive_update(x, mu, sigma, ridge)
    scale = np.sqrt(np.outer(np.diag(sigma_new), np.diag(sigma_new)))
    assert np.max(np.abs(upd.mu - mu_new) / np.sqrt(np.diag(sigma_new))) < 1e-10
    assert np.max(np.abs(upd.sigma - sigma_new) / scale) < 1e-10
    assert np.array_equal(upd.sigma, upd.sigma.T)
    ll = _naive_loglik(x, mu, sigma)
    assert upd.loglik == pytest.approx(ll, rel=1e-11)
    # the engine's prior has scale I in the units it is given
    penalty = 0.5 * ridge * (np.linalg.slogdet(sigma)[1] + np.trace(np.linalg.inv(sigma)))
    assert upd.objective == pytest.approx(ll - penalty, rel=1e-11)


@pytest.mark.parametrize(("n", "p", "rate"), [(6, 300, 0.2)])
def test_final_evaluation_on_wide_data(n, p, rate, naive) -> None:
    """Every row completed with its conditional mean, the variances' diagonals, and the EM map's objective."""
    x, mu, sigma = _wide(n, p, rate, seed=1)
    data = build_layout(x)
    ev = evaluate(data, mu, sigma, 1.0)
    filled, var = naive.conditional(x, mu, sigma)
    inc = data.patterns.incomplete_rows
    np.testing.assert_allclose(data.work, filled[inc], rtol=1e-10, atol=1e-10)
    for group, diag in zip(data.patterns.groups, ev.cond_diag):
        rows = group.rows[np.searchsorted(group.row_pattern, np.arange(group.n_patterns))]
        np.testing.assert_allclose(diag, var[rows[:, None], group.miss], rtol=1e-10)
    assert ev.objective == em_update(build_layout(x), mu, sigma, 1.0).objective


@pytest.mark.parametrize(("n", "p"), [(8, 200), (3, 500)])
def test_fill_conditional_on_wide_data(n, p, naive) -> None:
    x, mu, sigma = _wide(n, p, 0.3, seed=2)
    filled, var = fill_conditional(x, mu, sigma)
    ref_filled, ref_var = naive.conditional(x, mu, sigma)
    np.testing.assert_allclose(filled, ref_filled, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(var, ref_var, rtol=1e-10, atol=1e-14)
    observed = ~np.isnan(x)
    assert np.array_equal(filled[observed], x[observed])


def test_feasibility_check_rejects_a_singular_wide_covariance() -> None:
    """The EM map's Cholesky-based check at p = 200: rank-deficient ``Sigma`` is infeasible."""
    x, mu, sigma = _wide(8, 200, 0.2)
    problem = MVNProblem(build_layout(x), 1.0)
    u = np.random.default_rng(0).normal(size=(200, 199))
    assert problem.feasible(problem.pack((mu, sigma)))
    fx, objective = problem.step(problem.pack((mu, u @ u.T)))
    assert objective == -np.inf


@pytest.mark.parametrize(
    ("n", "p", "rate", "ridge", "seed"),
    [
        (8, 20, 0.3, 1.0, 4),  # p > n: a maximum only with the prior
        (60, 19, 0.1, 0.0, 5),  # n > p, rows with 18 missing cells: the MLE
    ],
)
def test_wide_fit_agrees_with_direct_maximisation(n, p, rate, ridge, seed) -> None:
    x, _, _ = _wide(n, p, rate, seed=seed)
    x[1:4, :18] = np.nan  # LAPACK-sized blocks (m >= 18) among the patterns
    frame = pd.DataFrame(x, columns=[f"c{j}" for j in range(p)])
    res = imputer.impute(frame, ridge=ridge, tol=1e-11, max_iter=100_000)
    assert res.converged
    prior = ridge_prior(ridge, x) if ridge > 0 else None
    ref = mvn_mle(x, prior=prior)
    assert ref.grad_norm < 1e-8
    sd = np.sqrt(np.diag(ref.cov))
    assert np.max(np.abs(res.mean.to_numpy() - ref.mean) / sd) < 1e-6
    assert np.max(np.abs(res.cov.to_numpy() - ref.cov) / np.outer(sd, sd)) < 1e-6
    mean, cov = res.mean.to_numpy(), res.cov.to_numpy()
    assert res.loglik == pytest.approx(observed_loglik(x, mean, cov), rel=1e-10)
    objective = res.loglik + (prior(mean, cov)[0] if prior else 0.0)
    assert objective == pytest.approx(ref.objective, rel=1e-10)


@pytest.mark.parametrize(
    ("n", "p", "ridge", "advice"),
    [
        (10, 60, 1.0, r"with 60 columns and 10 rows EM's rate nears 1 under a weak prior \(ridge=1\): a stronger one "
                      r"\(e\.g\. ridge=10\) converges in far fewer iterations, and the estimate can depend on "
                      r"where EM starts \(imputer\.disperse runs it from several starts\)"),
        (40, 60, 0.5, r"\(ridge=0\.5\): a stronger one \(e\.g\. ridge=5\)"),
        (60, 30, 1.0, None),  # more rows than columns: the plain advice
    ],
)
@pytest.mark.parametrize("via", ["impute", "estimator"])
def test_a_wide_fit_stopped_by_max_iter_advises_a_stronger_prior(n: int, p: int, ridge: float, advice: str | None, via: str) -> None:
    x, _, _ = _wide(n, p, 0.3)
    frame = pd.DataFrame(x, columns=[f"c{j}" for j in range(p)])
    with pytest.warns(imputer.ConvergenceWarning, match=r"did not converge within max_iter=2 iterations") as caught:
        if via == "impute":
            imputer.impute(frame, ridge=ridge, max_iter=2)
        else:
            imputer.EMImputer(ridge=ridge, max_iter=2).fit(frame)
    text = " ".join(str(w.message) for w in caught)
    if advice is None:
        assert "stronger" not in text and text.rstrip().endswith("increase max_iter or tol")
    else:
        assert re.search(advice, text)


def _noisy_wide(n: int, p: int, seed: int) -> pd.DataFrame:
    """Three weak factors (loadings N(0, 0.8^2)) plus noise of variance U(0.3, 1), 20% MCAR
    (column 0 observed): noisier than test_fillnewton's tables, so that EM's path has the
    slow stretches where chord jumps are taken."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)) @ rng.normal(0.0, 0.8, (3, p))
    x += np.sqrt(rng.uniform(0.3, 1.0, p)) * rng.standard_normal((n, p))
    hole = rng.random((n, p)) < 0.2
    hole[:, 0] = False
    x[hole] = np.nan
    return pd.DataFrame(x, columns=[f"c{j}" for j in range(p)])


@pytest.mark.parametrize(("n", "p", "seed"), [(20, 60, 1), (25, 75, 0)])
def test_chord_jumps_keep_the_fit_at_the_same_maximiser(n: int, p: int, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # jumps tried from the start, every five accepted iterates (the driver's own gate, the
    # rate estimate at 0.999 for twenty, is met only on long plateaus): the fit takes some,
    # stays monotone and ends at the maximiser of a fit without them
    from imputer._em import anderson, run_em
    from imputer.mvn._fit import start_values
    from tests.imputer.mvn.test_problem import standard

    frame = _noisy_wide(n, p, seed)
    reference = MVNProblem(standard(frame), 1.0)
    reference.chord_jumps = False
    x0 = reference.pack(start_values(reference.data))
    ref = run_em(reference, x0, tol=1e-11, max_iter=50_000)
    assert ref.trace.converged
    taken: list[bool] = []
    real = anderson._try_jump

    def counted(*args):  # type: ignore[no-untyped-def]
        took = real(*args)
        taken.append(not isinstance(took, str))
        return took

    monkeypatch.setattr(anderson, "_try_jump", counted)
    monkeypatch.setattr(anderson, "JUMP_MIN_RATE", 0.0)
    monkeypatch.setattr(anderson, "JUMP_EVERY", 5)
    problem = MVNProblem(standard(frame), 1.0)
    run = run_em(problem, x0, tol=1e-9, max_iter=50_000)
    assert run.trace.converged and sum(taken) >= 2
    assert problem.distance(ref.x, run.x) < 1e-7
    h = run.trace.history
    assert np.all(np.diff(h) >= -1e-12 * np.abs(h[1:]))
