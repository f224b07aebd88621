"""Data augmentation under the general location model (``multiple_impute(categorical=..., method="posterior")``).

References: the P-step's draws against the exact complete-data posterior marginals (scipy:
Beta for each cell probability, inverse gamma for a variance, the standard normal for a
cell mean standardised by its drawn variance), by Kolmogorov-Smirnov tests with fixed
seeds; the EM rate that sets the chain's length against plain EM's own convergence rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import imputer
from imputer.errors import ImputerValueError
from imputer.glom._cells import CellGrid
from imputer.glom._estep import GlomPlan
from imputer.glom._problem import GlomParams, GlomProblem
from imputer.glom._loglinear import MARGIN_PRIOR, bayes_ipf, ipf, margins_of
from imputer.mi._glom_pstep import DIRICHLET_PRIOR, draw_glom_params, em_rate
from tests.imputer.glom.conftest import DATA

CATS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def sim3() -> pd.DataFrame:
    return pd.read_csv(DATA / "sim3.csv")


@pytest.fixture(scope="module")
def completed() -> tuple[np.ndarray, np.ndarray, CellGrid]:
    """A complete table: 90 rows in the 6 cells of a (3 levels) x b (2 levels), two continuous columns."""
    rng = np.random.default_rng(8)
    grid = CellGrid.of(("a", "b"), (["u", "v", "w"], [0, 1]))
    cell = np.r_[np.arange(6), rng.integers(0, 6, 84)]
    z = rng.normal(size=(90, 2)) + cell[:, None] * [0.3, -0.2]
    return cell, z, grid


@pytest.mark.parametrize("additive", [False, True])
def test_pstep_draws_the_complete_data_posterior(completed, additive) -> None:
    cell, z, grid = completed
    design = grid.additive_design() if additive else None
    rng = np.random.default_rng(1)
    draws = [draw_glom_params(cell, z, design, 6, rng) for _ in range(2000)]
    assert not any(isinstance(d, str) for d in draws)
    pis = np.array([d.pi for d in draws])
    sig = np.array([d.sigma for d in draws])
    mus = np.array([d.means for d in draws])
    n = len(cell)
    counts = np.bincount(cell, minlength=6)
    total = n + 6 * DIRICHLET_PRIOR
    for c in (0, 3):  # Dirichlet marginals: Beta(n_c + 1/2, total - n_c - 1/2)
        beta = stats.beta(counts[c] + DIRICHLET_PRIOR, total - counts[c] - DIRICHLET_PRIOR)
        assert stats.kstest(pis[:, c], beta.cdf).pvalue > 1e-3
    d = np.eye(6) if design is None else design
    x = d[cell]
    xtx_inv = np.linalg.inv(x.T @ x)
    b_hat = xtx_inv @ x.T @ z
    resid = z - x @ b_hat
    nu = n - d.shape[1]
    # Sigma ~ W^-1(nu, E'E): a diagonal entry is inverse gamma((nu - p + 1) / 2, E'E_jj / 2)
    for j in range(2):
        ig = stats.invgamma((nu - 2 + 1) / 2, scale=(resid[:, j] @ resid[:, j]) / 2)
        assert stats.kstest(sig[:, 0, 0] if j == 0 else sig[:, 1, 1], ig.cdf).pvalue > 1e-3
    # given Sigma, mu_c = d_c' B is normal around d_c' B_hat with variance d_c'(X'X)^-1 d_c Sigma_jj
    for c in (1, 5):
        v = d[c] @ xtx_inv @ d[c]
        t = (mus[:, c, 0] - d[c] @ b_hat[:, 0]) / np.sqrt(v * sig[:, 0, 0])
        assert stats.kstest(t, stats.norm.cdf).pvalue > 1e-3
    if additive:  # additive draws have no interaction
        m = mus.reshape(-1, 3, 2, 2)
        np.testing.assert_allclose(m[:, :, 1] - m[:, :, 0], np.repeat(m[:, :1, 1] - m[:, :1, 0], 3, axis=1), atol=1e-10)


def test_pstep_improper_posteriors_are_named(completed) -> None:
    cell, z, _ = completed
    assert draw_glom_params(np.zeros(90, np.intp), z, None, 6, np.random.default_rng(0)) == "empty cell 1"
    assert "n - d" in draw_glom_params(cell[:7], z[:7], None, 6, np.random.default_rng(0))


@pytest.mark.parametrize("means", ["additive", "saturated"])
def test_em_rate_is_plain_ems_convergence_rate(sim3, means) -> None:
    """The power iteration's rate against sqrt of the ratio of plain EM's log-likelihood increments (rate^2)."""
    from imputer.glom._validate import prepare_glom

    with pytest.warns(imputer.ConvergenceWarning, match="max_iter"):
        plain = imputer.impute_glom(sim3, categorical=CATS, means=means, accelerate=False, tol=1e-15, max_iter=16)
    inc = np.diff(plain.loglik_history)
    observed = float(np.sqrt(inc[-1] / inc[-2]))
    res = imputer.impute_glom(sim3, categorical=CATS, means=means, tol=1e-10)
    inp = prepare_glom(sim3, CATS, None)
    z = np.column_stack(inp.values)
    problem = GlomProblem(GlomPlan(z, inp.codes, inp.cells), inp.cells.additive_design() if means == "additive" else None)
    theta = GlomParams(res.probabilities.to_numpy(), res.cell_means.to_numpy(), res.cov.to_numpy())
    assert em_rate(problem, theta) == pytest.approx(observed, abs=0.03)


def test_chain_runs_and_repeats(sim3) -> None:
    kw = dict(m=3, categorical=CATS, means="additive", method="posterior", seed=4)
    mi = imputer.multiple_impute(sim3, **kw)
    assert (mi.model, mi.method, mi.redraws) == ("glom", "posterior", None)
    assert 0.3 < mi.rate < 0.6 and mi.burn_in >= mi.thin >= 1
    assert len(mi.params) == 3 and mi.params[0][0].index.equals(mi.em.probabilities.index)
    assert len({tuple(p[0].round(12)) for p in mi.params}) == 3  # three different draws
    for imp in mi.imputations:
        assert not imp.isna().any().any()
        seen = sim3.notna()
        assert imp[seen].equals(sim3[seen]) or all(
            imp.loc[seen[c], c].tolist() == sim3.loc[seen[c], c].tolist() for c in sim3.columns
        )
    assert imputer.multiple_impute(sim3, **kw) == mi
    fixed = imputer.multiple_impute(sim3, **{**kw, "m": 2}, burn_in=3, thin=2)
    assert (fixed.burn_in, fixed.thin) == (3, 2)
    assert "burn-in" in mi.summary()


def test_bayes_ipf_with_two_columns_is_the_dirichlet() -> None:
    """J = 2: the pairwise model is saturated and one cycle draws Dirichlet(N_c + 1/2) whatever the current pi."""
    counts = np.array([30.0, 2.0, 11.0, 0.0, 5.0, 19.0])
    rng = np.random.default_rng(2)
    start = np.full(6, 1 / 6)
    draws = np.array([bayes_ipf(counts, start, (3, 2), rng) for _ in range(3000)])
    total = counts.sum() + 6 * MARGIN_PRIOR
    for c in (0, 1, 3):
        beta = stats.beta(counts[c] + MARGIN_PRIOR, total - counts[c] - MARGIN_PRIOR)
        assert stats.kstest(draws[:, c], beta.cdf).pvalue > 1e-3


def _pairwise_table(shape: tuple[int, ...], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts of ``n`` rows from a pairwise log-linear model, and the model's fit to them (IPF: the MLE)."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).reshape(len(shape), -1)
    logit = sum(rng.normal(size=(shape[j], shape[k]))[grid[j], grid[k]] for j, k in margins_of(len(shape)))
    pi = np.exp(logit) / np.exp(logit).sum()
    counts = rng.multinomial(n, pi).astype(float)
    return counts, ipf(counts / n, np.full(pi.size, 1 / pi.size), shape)


def test_bayes_ipf_draws_the_large_sample_posterior_in_the_model() -> None:
    """J = 3: every draw is in the pairwise model (IPF to its own margins returns it), and with n =
    20,000 the chain's mean and spread are the MLE's and the inverse Fisher information's
    (``D X (X'DX)^+ X'D / n``, ``D = diag(pi) - pi pi'``, ``X`` the model's log-linear design)."""
    shape, n = (2, 3, 2), 20_000
    counts, mle = _pairwise_table(shape, n, seed=5)
    rng = np.random.default_rng(6)
    pi, draws = mle, []
    for _ in range(3000):
        pi = bayes_ipf(counts, pi, shape, rng)
        draws.append(pi)
    draws = np.array(draws)
    for d in draws[::500]:
        np.testing.assert_allclose(ipf(d, np.full(d.size, 1 / d.size), shape), d, atol=1e-10)
    grid = np.indices(shape).reshape(len(shape), -1)
    cols = [np.ones(grid.shape[1])] + [
        (np.ravel_multi_index((grid[j], grid[k]), (shape[j], shape[k])) == v).astype(float)
        for j, k in margins_of(3) for v in range(shape[j] * shape[k])
    ]
    X = np.column_stack(cols)
    D = np.diag(mle) - np.outer(mle, mle)
    cov = D @ X @ np.linalg.pinv(X.T @ D @ X) @ X.T @ D / n
    sd = np.sqrt(np.diag(cov))
    # the chain's draws are autocorrelated: means to a few of their standard errors (blocks of 100)
    se = draws.reshape(30, 100, -1).mean(axis=1).std(axis=0) / np.sqrt(30)
    assert np.all(np.abs(draws.mean(axis=0) - mle) < 4 * se + 0.05 * sd)
    np.testing.assert_allclose(draws.std(axis=0), sd, rtol=0.2)


def test_bayes_ipf_names_an_improper_margin() -> None:
    """A margin cell with fewer than K_S/2 - 1 rows (K_S = 12 cells each here): the posterior is improper."""
    shape = (2, 2, 3, 4)
    counts = np.zeros(48)
    counts[:40] = 3.0  # the (0, 1) margin cell (1, 1) holds cells 36-47: 12 rows, shape 12 + 1 - 6 = 7 > 0
    assert bayes_ipf(counts, np.full(48, 1 / 48), shape, np.random.default_rng(0)) is not None
    counts[36:] = 0.0  # now 0 + 1 - 6 < 0
    assert bayes_ipf(counts, np.full(48, 1 / 48), shape, np.random.default_rng(0)) is None
    z = np.zeros((int(counts.sum()), 0))
    cell = np.repeat(np.arange(48), counts.astype(int))
    assert "too few rows" in draw_glom_params(cell, z, None, 48, np.random.default_rng(0), (shape, np.full(48, 1 / 48)))


def test_chain_with_pairwise_probabilities(sim3) -> None:
    """Bayesian IPF in the chain: the EM rate within the model, complete imputations, draws in the model."""
    kw = dict(m=3, categorical=CATS, probabilities="pairwise", method="posterior", seed=4)
    mi = imputer.multiple_impute(sim3, **kw)
    assert (mi.model, mi.method) == ("glom", "posterior")
    assert 0.3 < mi.rate < 0.7  # within the model (a direction off it would be a fixed one: rate 1)
    shape = mi.em.probabilities.index.levshape  # (a, b, c) levels, cells in C order
    for probs, _, _ in mi.params:
        p = probs.to_numpy()
        np.testing.assert_allclose(ipf(p, np.full(p.size, 1 / p.size), shape), p, atol=1e-9)
    seen = sim3.notna()
    for imp in mi.imputations:
        assert not imp.isna().any().any()
        assert all(imp.loc[seen[c], c].tolist() == sim3.loc[seen[c], c].tolist() for c in sim3.columns)
    assert imputer.multiple_impute(sim3, **kw) == mi


def test_too_few_rows_for_the_posterior() -> None:
    """Saturated means: ``n - C < p`` makes the posterior of the covariance improper; the chain says so."""
    rng = np.random.default_rng(3)
    n = 11
    df = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("wxyz"))
    df["g"] = np.array(["p", "q", "r", "s"], dtype=object)[np.arange(n) % 4]
    df["h"] = np.array(["k", "l"], dtype=object)[(np.arange(n) // 4) % 2]
    df.loc[[0, 5], "w"] = np.nan
    with pytest.raises(ImputerValueError, match=r"method='posterior': 11 rows leave n - d = 3 degrees of freedom .* of 4"):
        imputer.multiple_impute(df, m=2, categorical=["g", "h"], means="saturated", method="posterior", seed=0)
