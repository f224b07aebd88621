"""Multiple imputation under the general location model (``multiple_impute(categorical=...)``).

References: the draws at fixed parameters against the posterior level probabilities that
:func:`imputer.impute_glom` reports and against the cells' posterior computed here from the
model's formula (scipy densities; :mod:`imputer.glom._draw` shares none of it), by chi-square
tests with fixed seeds; each bootstrap imputation's parameters against
``impute_glom(data.iloc[rows])`` on its reproduced resample; coverage of Rubin's intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.glom._draw import draw_cells
from imputer.glom._estep import GlomPlan
from imputer.glom._validate import prepare_glom
from tests.imputer.glom.conftest import DATA, kinds_columns

CATS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def sim3() -> pd.DataFrame:
    return pd.read_csv(DATA / "sim3.csv")


@pytest.fixture(scope="module")
def em(sim3: pd.DataFrame) -> imputer.GlomImputeResult:
    return imputer.impute_glom(sim3, categorical=CATS, means="additive", tol=1e-10)


def _draws_at_estimate(sim3: pd.DataFrame, rows: pd.Index, em: imputer.GlomImputeResult, reps: int, seed: int):
    """``reps`` draws for each of ``rows`` at ``em``'s parameters (the rows replicated after the data: one call)."""
    big = pd.concat([sim3, sim3.loc[rows.repeat(reps)]], ignore_index=True)  # the data first: its levels
    inp = prepare_glom(big, CATS, None)
    z = np.column_stack(inp.values)  # original units: center 0, scale 1
    plan = GlomPlan(z, inp.codes, inp.cells)
    zd, cell = draw_cells(plan, em.probabilities.to_numpy(), em.cell_means.to_numpy(), em.cov.to_numpy(),
                          np.random.default_rng(seed))
    k = len(sim3)
    return inp, zd[k:].reshape(len(rows), reps, -1), cell[k:].reshape(len(rows), reps)


@pytest.mark.parametrize("column", CATS)
def test_category_draws_follow_the_posterior_level_probabilities(sim3, em, column) -> None:
    probs = em.level_probabilities[column]
    rows = probs.index[:12]
    reps = 2000
    inp, _, cell = _draws_at_estimate(sim3, rows, em, reps, seed=7)
    j = CATS.index(column)
    levels = inp.cells.grid[cell, j]  # (rows, reps) level codes
    for i, label in enumerate(rows):
        observed = np.bincount(levels[i], minlength=probs.shape[1])
        expected = probs.loc[label].to_numpy() * reps
        keep = expected > 0
        p_value = stats.chisquare(observed[keep], expected[keep]).pvalue
        assert p_value > 1e-4, (label, observed, expected)


def test_cell_draws_follow_the_joint_posterior(sim3, em) -> None:
    """Rows missing two levels: the drawn cells' frequencies against ``pi_c N(x_O; mu_c, Sigma_OO)``, normalised."""
    two = sim3.index[(sim3[CATS].isna().sum(axis=1) >= 2)]
    assert len(two) >= 2
    reps = 3000
    _, _, cell = _draws_at_estimate(sim3, two, em, reps, seed=11)
    pi, mu, sigma = em.probabilities.to_numpy(), em.cell_means.to_numpy(), em.cov.to_numpy()
    grid = np.array(list(em.probabilities.index), dtype=object)
    for i, label in enumerate(two):
        row = sim3.loc[label]
        ok = np.array([all(pd.isna(row[c]) or row[c] == g[k] for k, c in enumerate(CATS)) for g in grid])
        x = row[["x1", "x2"]].to_numpy(dtype=float)
        o = ~np.isnan(x)
        dens = np.array([stats.multivariate_normal.pdf(x[o], mu[c, o], sigma[np.ix_(o, o)]) if o.any() else 1.0
                         for c in range(len(pi))])
        post = np.where(ok, pi * dens, 0.0)
        post /= post.sum()
        observed = np.bincount(cell[i], minlength=len(pi))
        assert observed[~ok].sum() == 0  # never a cell that contradicts an observed level
        assert stats.chisquare(observed[ok], post[ok] * reps).pvalue > 1e-4


def test_continuous_draws_are_the_conditional_normal(sim3, em) -> None:
    """Rows with every level observed and x1 missing: draws of x1 have the conditional mean and variance."""
    rows = sim3.index[sim3[CATS].notna().all(axis=1) & sim3["x1"].isna() & sim3["x2"].notna()][:5]
    reps = 4000
    _, zd, _ = _draws_at_estimate(sim3, rows, em, reps, seed=3)
    s = em.cov.to_numpy()
    var = s[0, 0] - s[0, 1] ** 2 / s[1, 1]
    for i, label in enumerate(rows):
        x1 = zd[i, :, 0]
        fill = em.completed.loc[label, "x1"]  # the conditional mean in the row's (known) cell
        assert abs(x1.mean() - fill) < 4 * np.sqrt(var / reps)
        assert stats.chi2(reps - 1).sf(x1.var(ddof=1) * (reps - 1) / var) > 1e-4
        assert np.all(zd[i, :, 1] == sim3.loc[label, "x2"])


def _resample(seed: int, m: int, j: int, n: int) -> np.ndarray:
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(m)[j]).integers(0, n, size=n)


@pytest.mark.parametrize("probabilities", ["saturated", "pairwise"])
def test_each_bootstrap_imputation_is_impute_glom_on_its_resample(sim3, probabilities) -> None:
    m, seed = 2, 5
    mi = imputer.multiple_impute(sim3, m=m, categorical=CATS, means="additive", probabilities=probabilities, seed=seed)
    assert (mi.model, mi.method, mi.redraws) == ("glom", "bootstrap", (0,) * m)
    for j, (pi, mu, cov) in enumerate(mi.params):
        ref = imputer.impute_glom(sim3.iloc[_resample(seed, m, j, len(sim3))], categorical=CATS, means="additive",
                                  probabilities=probabilities)
        pd.testing.assert_series_equal(pi, ref.probabilities, check_exact=True)
        pd.testing.assert_frame_equal(mu, ref.cell_means, check_exact=True)
        pd.testing.assert_frame_equal(cov, ref.cov, check_exact=True)
    again = imputer.multiple_impute(sim3, m=m, categorical=CATS, means="additive", probabilities=probabilities, seed=seed)
    assert again == mi


@pytest.fixture(scope="module")
def typed() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 60
    df = pd.DataFrame({
        **kinds_columns(rng, n),
        "txt": rng.choice(["alpha", "beta"], n).astype(object),
        "x": rng.normal(size=n),
    })
    for c, k in [("cat", 3), ("ordc", 5), ("flag", 7), ("bin", 9), ("txt", 2), ("x", 4)]:
        df.loc[df.index[k::8], c] = np.nan if c == "x" else None
    df.index = pd.Index([f"r{i}" for i in range(n)])
    return df


def test_dtypes_categories_and_observed_cells_kept(typed) -> None:
    before = typed.copy(deep=True)
    mi = imputer.multiple_impute(typed, m=2, categorical=["cat", "ordc", "flag", "bin", "txt"], means="additive", seed=2)
    pd.testing.assert_frame_equal(typed, before)
    pd.testing.assert_frame_equal(mi.original, before)
    seen_x = typed["x"].notna().to_numpy()
    draws = []
    for imp in mi.imputations:
        assert list(imp.columns) == list(typed.columns) and imp.index.equals(typed.index)
        assert not imp.isna().any().any()
        for c in ["cat", "ordc", "flag", "bin", "txt"]:
            assert imp[c].dtype == typed[c].dtype
            seen = typed[c].notna().to_numpy()
            assert imp[c][seen].tolist() == typed[c][seen].tolist()
        assert list(imp["cat"].cat.categories) == ["lo", "hi", "unused"] and imp["ordc"].cat.ordered
        assert set(imp["cat"]) <= {"lo", "hi"}  # a category never observed is never drawn
        assert np.array_equal(imp["x"].to_numpy()[seen_x].view(np.int64), typed["x"].to_numpy()[seen_x].view(np.int64))
        draws.append(imp["txt"][typed["txt"].isna()].tolist())
    assert len({tuple(d) for d in draws}) > 1  # drawn, not the most probable level each time


def test_rubin_intervals_cover_a_category_share() -> None:
    """20 simulated tables (a missing at random given x), 4 imputations each by data augmentation (the bootstrap's
    draws are pinned above, resample by resample): the 95% intervals of P(a = 1) cover the truth."""
    method = "posterior"
    truth = 0.4
    covered = 0
    reps = 20
    for r in range(reps):
        rng = np.random.default_rng(100 + r)
        n = 100
        a = (rng.random(n) < truth).astype(float)
        x = 1.5 * a + rng.normal(size=n)
        a_obs = np.where(rng.random(n) < 0.2 + 0.3 * (x > 1), np.nan, a)  # MAR: depends on x
        df = pd.DataFrame({"a": a_obs, "x": x})
        mi = imputer.multiple_impute(df, m=4, categorical=["a"], seed=r, method=method)
        share = mi.analyze(lambda d: (pd.Series({"p": d["a"].mean()}), pd.Series({"p": np.sqrt(d["a"].var() / n)})))
        row = share.pool().table.loc["p"]
        covered += row["ci_low"] <= truth <= row["ci_high"]
    assert covered >= 16  # P(X <= 15 | Binomial(20, 0.95)) < 0.003


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"ridge": 1.0}, ImputerTypeError, "ridge: not available with categorical="),
        ({"columns": ["x1"]}, ImputerTypeError, "columns: not available with categorical="),
        ({"model": "t"}, ImputerTypeError, "model: not available with categorical="),
        ({"burn_in": 5, "thin": 2}, ImputerValueError, r"burn_in, thin applies to method='posterior' only"),
        ({"bounds": {"x1": (0, None)}}, ImputerTypeError, "bounds, integer, panel or idvars: not available"),
    ],
)
def test_what_the_glom_path_does_not_take(sim3, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        imputer.multiple_impute(sim3, m=2, categorical=CATS, **kwargs)


def test_means_without_categorical(sim3) -> None:
    with pytest.raises(ImputerTypeError, match="go with categorical="):
        imputer.multiple_impute(sim3, m=2, means="additive")


@pytest.fixture(scope="module")
def rare() -> pd.DataFrame:
    """40 rows, level "rare" in the last only (seed 3's first resample leaves it out, seed 0's keeps it)."""
    rng = np.random.default_rng(0)
    n = 40
    df = pd.DataFrame({"g": np.array(["p"] * (n - 1) + ["rare"], dtype=object), "x": rng.normal(size=n)})
    df.loc[df.index[::7], "x"] = np.nan
    return df


def test_a_resample_without_a_level_is_redrawn(rare) -> None:
    assert 39 not in _resample(3, 1, 0, 40)
    mi = imputer.multiple_impute(rare, m=1, categorical=["g"], seed=3)
    assert mi.redraws[0] >= 1
    assert list(mi.params[0][0].index.get_level_values("g")) == ["p", "rare"]


def test_too_many_unusable_resamples(rare, monkeypatch) -> None:
    from imputer.mi import _glom

    monkeypatch.setattr(_glom, "MAX_REDRAWS", 0)
    with pytest.raises(ImputerValueError, match=r"imputation 1: 1 bootstrap resamples in a row were unusable \(the last: "
                       r"level 'rare' of categorical column 'g' does not occur in the resample\)"):
        imputer.multiple_impute(rare, m=1, categorical=["g"], seed=3)


def test_auto_without_a_categorical_column_is_the_normal_model(sim3) -> None:
    cont = sim3[["x1", "x2"]]
    mi = imputer.multiple_impute(cont, m=2, categorical="auto", seed=1, method="bootstrap")
    assert mi.model == "normal" and mi == imputer.multiple_impute(cont, m=2, seed=1, method="bootstrap")
