"""``fit_mixed_frame`` on a Dask DataFrame against the in-memory fit and lme4.

Awkward partitionings (uneven, empty first and in the middle, partitions missing levels,
rows with missing ``y``): estimates, variance components, log-likelihood and BLUPs equal
the in-memory fit of the concatenated table to 1e-10 relative, the lazy rows its
``fitted``/``completed``/``residuals``; the published lme4 values hold for the Dask fit
too; options and inputs outside its scope are refused by name.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from tests.imputer.mixed.test_lme4_slopes import BOUNDARY  # the lme4 boundary fixtures

dd = pytest.importorskip("dask.dataframe")

DATA = Path(__file__).resolve().parents[2] / "data"
RTOL = 1e-10

#: case -> (csv, formula, grouping column the pieces are sorted by, rows whose y is made missing)
CASES = {
    # (a) a random intercept with a numeric covariate and a categorical fixed effect
    "intercept": ("lme4/orthodont.csv", "distance ~ age + Sex + (1 | Subject)", "Subject", [2, 3, 40, 41, 42, 43, 77]),
    # (b) two crossed random intercepts
    "crossed": ("penicillin.csv", "diameter ~ 1 + (1 | plate) + (1 | sample)", "plate", [0, 7, 100]),
    # (c) correlated random slopes
    "slopes": ("sleepstudy.csv", "Reaction ~ Days + (Days | Subject)", "Subject", [5, 6, 90, 179]),
}
METHODS = ["REML", "ML"]


def _table(case: str, missing: bool = True) -> pd.DataFrame:
    file, formula, group, rows = CASES[case]
    df = pd.read_csv(DATA / file, dtype={"Subject": str})
    y = formula.split("~")[0].strip()
    if missing:
        df.loc[rows, y] = np.nan
    return df.sort_values(group, kind="stable")  # contiguous pieces: some levels absent from a partition


def _pieces(df: pd.DataFrame) -> list[pd.DataFrame]:
    n = len(df)
    cuts = [0, 0, n // 7, n // 7, n // 2, n // 2 + 3, n]  # empty, uneven, empty in the middle, tiny, large
    return [df.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def _dask(df: pd.DataFrame) -> object:
    pieces = _pieces(df)
    return dd.from_map(lambda x: x, pieces, meta=df.iloc[:0], enforce_metadata=False)


def _assert_close(got: object, want: object, rtol: float = RTOL) -> None:
    if isinstance(want, (pd.Series, pd.DataFrame)):
        assert got.index.equals(want.index)  # type: ignore[union-attr]
        if isinstance(want, pd.DataFrame):
            assert got.columns.equals(want.columns)  # type: ignore[union-attr]
        got, want = got.to_numpy(dtype=float), want.to_numpy(dtype=float)  # type: ignore[union-attr]
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    scale = max(float(np.nanmax(np.abs(want))), np.finfo(float).tiny)  # relative to the quantity's size
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * scale, equal_nan=True)


_FITS: dict = {}


def _fits(case: str, method: str) -> tuple:
    if (case, method) not in _FITS:
        df = _table(case)
        formula = CASES[case][1]
        ddf = _dask(df)
        _FITS[(case, method)] = (
            ddf, df, imputer.fit_mixed_frame(ddf, formula, method=method), imputer.fit_mixed_frame(df, formula, method=method)
        )
    return _FITS[(case, method)]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(CASES))
def test_estimates_equal_in_memory(case: str, method: str) -> None:
    ddf, df, got, want = _fits(case, method)
    assert isinstance(got, imputer.dask.DaskMixedResult)
    assert got.converged and want.converged and got.n_iter == want.n_iter
    assert (got.method, got.engine, got.n_obs, got.n_missing, got.n_rows) == (method, "mme", want.n_obs, want.n_missing, len(df))
    assert got.n_partitions == ddf.npartitions == 6
    for name in ("beta", "var_beta", "var_comp"):
        _assert_close(getattr(got, name), getattr(want, name))
    for term in want.u:
        _assert_close(got.u[term], want.u[term])
        _assert_close(got.pev[term], want.pev[term])
        _assert_close(got.covariances[term], want.covariances[term])
    assert got.loglik == pytest.approx(want.loglik, rel=RTOL)
    assert got.aic == pytest.approx(want.aic, rel=RTOL) and got.bic == pytest.approx(want.bic, rel=RTOL)
    assert got.boundary == want.boundary and dict(got.contrasts) == dict(want.contrasts)


@pytest.mark.parametrize("case", list(CASES))
def test_rows_are_lazy_and_equal_in_memory(case: str) -> None:
    ddf, df, got, want = _fits(case, "REML")
    for name in ("fitted", "completed", "residuals"):
        lazy = getattr(got, name)
        assert isinstance(lazy, dd.Series)  # never collected to the client
        assert lazy.npartitions == ddf.npartitions
        rows = lazy.compute()
        assert rows.index.equals(df.index)
        _assert_close(rows, getattr(want, name))
    y = CASES[case][1].split("~")[0].strip()
    missing = df[y].isna().to_numpy()
    assert missing.sum() == len(CASES[case][3])
    completed = got.completed.compute().to_numpy()
    # missing y predicted (x'b + z'u), observed y kept bit for bit
    np.testing.assert_array_equal(completed[~missing], df[y].to_numpy()[~missing])
    _assert_close(completed[missing], want.fitted.to_numpy()[missing])


def test_known_divisions_are_kept() -> None:
    df = _table("intercept").reset_index(drop=True)
    ddf = dd.from_pandas(df, npartitions=1).repartition(divisions=[0, 10, 11, 60, len(df) - 1])
    res = imputer.fit_mixed_frame(ddf, "distance ~ age + Sex + (1 | Subject)")
    assert res.fitted.divisions == ddf.divisions
    ref = imputer.fit_mixed_frame(df, "distance ~ age + Sex + (1 | Subject)")
    _assert_close(res.completed.compute(), ref.completed)


def test_keyword_form_summary_and_to_dict() -> None:
    ddf, _, got, want = _fits("slopes", "REML")
    kw = imputer.fit_mixed_frame(ddf, "Reaction", fixed=["Days"], random=["(Days | Subject)"])
    assert kw == got
    text = got.summary()
    assert "Linear mixed model fit by REML (EM, mme, Dask)" in text
    assert "partitions:" in text and "Subject, 18" in text
    assert text.split("Random effects:")[1] == want.summary().split("Random effects:")[1]
    d = got.to_dict()
    rows = {"index", "fitted", "completed", "residuals"}
    assert set(d) == (set(want.to_dict()) - rows) | {"n_rows", "n_partitions"}
    assert d["u"].keys() == want.to_dict()["u"].keys() and d["n_rows"] == 180
    json.dumps(d)


@pytest.mark.parametrize("method", METHODS)
def test_published_lme4_values(method: str) -> None:
    """The in-memory tests' lme4 fixtures (tests/data/lme4) hold for the Dask fit too."""
    pen = json.loads((DATA / "lme4" / "penicillin.json").read_text())[method]
    res = imputer.fit_mixed_frame(_dask(_table("crossed", missing=False)), CASES["crossed"][1], method=method)
    vc = pen["var_comp"]
    np.testing.assert_allclose(res.var_comp[["plate", "sample", "residual"]], [vc["plate"], vc["sample"], vc["Residual"]], rtol=1e-6)
    assert res.loglik == pytest.approx(pen["loglik"], rel=1e-9)
    sleep = json.loads((DATA / "lme4" / "slopes_sleepstudy.json").read_text())[method]
    res = imputer.fit_mixed_frame(_dask(_table("slopes", missing=False)), CASES["slopes"][1], method=method)
    G = np.array(sleep["covariances"]["Subject"]["data"])
    scale = np.sqrt(np.outer(np.diag(G), np.diag(G)))
    assert np.max(np.abs(res.covariances["Subject"].to_numpy() - G) / scale) <= 1e-5
    np.testing.assert_allclose(res.beta.to_numpy(), list(sleep["fixef"].values()), rtol=1e-5)
    assert res.loglik == pytest.approx(sleep["loglik"], rel=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"response": "distance ~ age + (1 | Subject)", "kernels": {"Subject": None}}, imputer.ImputerValueError, "kernels: available in memory only"),
        ({"response": ["distance", "age"], "random": ["Subject"]}, imputer.ImputerValueError, "list of responses.*in memory only"),
        ({"response": "distance ~ age + (1 | Subject)", "na_action": "drop"}, imputer.ImputerValueError, "na_action='drop': available in memory only"),
        ({"response": "distance ~ agee + (1 | Subject)"}, imputer.ImputerValueError, "agee"),
        ({"response": "distance", "random": ["Subjectt"]}, imputer.ImputerValueError, "'Subjectt' is not in data"),
        ({"response": "Sex", "random": ["Subject"]}, imputer.ImputerTypeError, "response: column 'Sex' is not numeric"),
        ({"response": "distance", "random": ["Subject:Sex"]}, imputer.ImputerValueError, "interaction term 'Subject:Sex' is available in memory only"),
    ],
)
def test_out_of_scope_and_bad_input_are_refused_by_name(kwargs: dict, error: type, match: str) -> None:
    ddf = _dask(_table("intercept"))
    response = kwargs.pop("response")
    with pytest.raises(error, match=match):
        imputer.fit_mixed_frame(ddf, response, **kwargs)


def test_missing_grouping_value_is_the_in_memory_error() -> None:
    df = _table("intercept")
    df.loc[df.index[50], "Subject"] = None
    with pytest.raises(imputer.ImputerValueError, match="random: column 'Subject' has 1 missing value"):
        imputer.fit_mixed_frame(_dask(df), "distance ~ age + (1 | Subject)")


# Singular covariance terms (tests/data/lme4/boundary.csv, as in test_lme4_slopes): the
# reduced-rank probe runs on the summed statistics (GramSums.reduced); without it EM
# creeps towards the boundary and stops at max_iter.


@pytest.mark.parametrize(("name", "response", "term", "method"), BOUNDARY, ids=[f"{b[0]}-{b[3]}" for b in BOUNDARY])
def test_singular_fits_use_the_rank_probe_on_the_sums(name: str, response: str, term: str, method: str) -> None:
    ref = json.loads((DATA / "lme4" / f"slopes_{name}.json").read_text())[method]
    df = pd.read_csv(DATA / "lme4" / "boundary.csv")
    mem = imputer.fit_mixed_frame(df, response, fixed=["x"], random=[term], method=method)
    res = imputer.fit_mixed_frame(_dask(df), response, fixed=["x"], random=[term], method=method)
    assert res.converged and res.boundary == mem.boundary == ("g",)
    assert res.loglik == pytest.approx(mem.loglik, rel=1e-12)
    assert res.loglik == pytest.approx(ref["loglik"], rel=1e-9)
    Gw = np.array(ref["covariances"]["g"]["data"])
    floor = 1e-4 * ref["sigma2"]
    scale = np.sqrt(np.outer(np.maximum(np.diag(Gw), floor), np.maximum(np.diag(Gw), floor)))
    assert np.max(np.abs(res.covariances["g"].to_numpy() - Gw) / scale) <= 1e-5
    # the boundary optimum is found by a profile search over a flat likelihood (equal to
    # 1e-12): the two fits' parameters agree to about 1e-7 there, not to rounding
    _assert_close(res.var_comp, mem.var_comp, rtol=1e-6)
    _assert_close(res.beta, mem.beta, rtol=1e-6)


def test_categorical_columns_poly_contrasts_and_unused_categories() -> None:
    """Categorical dtypes keep their category order (unused ones dropped), as in memory."""
    rng = np.random.default_rng(3)
    n = 400
    df = pd.DataFrame({
        "g": pd.Categorical(rng.choice(["z", "b", "m"], n), categories=["z", "m", "b", "unused"]),
        "temp": pd.Categorical(rng.choice(["lo", "mid", "hi"], n), categories=["lo", "mid", "hi"], ordered=True),
        "x": rng.normal(size=n),
        "h": rng.integers(0, 25, n),
    })
    df["y"] = rng.normal(size=n) + df["x"] + df["g"].cat.codes + 0.1 * df["h"] % 3
    df.loc[[1, 2, 3], "y"] = np.nan
    df = df.sort_values("g", kind="stable")
    kwargs = {"fixed": ["x", "temp"], "random": ["g", "h"], "contrasts": {"temp": "poly"}}
    got = imputer.fit_mixed_frame(_dask(df), "y", **kwargs)
    want = imputer.fit_mixed_frame(df, "y", **kwargs)
    assert list(got.u["g"].index) == list(want.u["g"].index) == ["z", "m", "b"]
    assert got.beta.index.equals(want.beta.index) and dict(got.contrasts) == {"temp": "poly"}
    for name in ("beta", "var_comp"):
        _assert_close(getattr(got, name), getattr(want, name))
    _assert_close(got.u["h"], want.u["h"])
    _assert_close(got.completed.compute(), want.completed)


def test_distributed_client(client: object) -> None:
    ddf, df, _, want = _fits("crossed", "REML")
    got = imputer.fit_mixed_frame(ddf, CASES["crossed"][1], client=client)
    _assert_close(got.var_comp, want.var_comp)
    _assert_close(got.u["plate"], want.u["plate"])
    with pytest.raises(imputer.ImputerTypeError, match="client is an option for a Dask DataFrame only"):
        imputer.fit_mixed_frame(df, CASES["crossed"][1], client=client)


def test_callback_and_progress_monitor_the_fit() -> None:
    ddf, df, _, _ = _fits("slopes", "REML")
    seen: list[int] = []
    seen_mem: list[int] = []
    imputer.fit_mixed_frame(ddf, CASES["slopes"][1], callback=lambda i, prog: seen.append(i))
    imputer.fit_mixed_frame(df, CASES["slopes"][1], callback=lambda i, prog: seen_mem.append(i))
    assert seen and seen == seen_mem
    with pytest.warns(UserWarning, match="stopped"):
        stopped = imputer.fit_mixed_frame(ddf, CASES["slopes"][1], callback=lambda i, prog: i >= 2)
    assert not stopped.converged and stopped.trace.stop_reason == "stopped"


def test_unknown_categories_are_united_as_compute_unites_them(tmp_path: Path) -> None:
    """``read_csv(dtype="category")``: each partition has its own categories; the levels (and
    the treatment-coding baseline) are those of ``ddf.compute()``, not sorted."""
    (tmp_path / "o.csv").write_bytes((DATA / "lme4" / "orthodont.csv").read_bytes())
    ddf = dd.read_csv(tmp_path / "o.csv", blocksize=800, dtype={"Subject": "category", "Sex": "category"})
    assert ddf.npartitions > 1 and not ddf["Subject"].cat.known
    formula = "distance ~ age + Sex + (1 | Subject)"
    got = imputer.fit_mixed_frame(ddf, formula)
    want = imputer.fit_mixed_frame(ddf.compute(), formula)
    assert list(got.beta.index) == list(want.beta.index) == ["(Intercept)", "age", "Sex[T.Female]"]
    _assert_close(got.beta, want.beta)
    _assert_close(got.u["Subject"], want.u["Subject"])


def test_init_is_taken_as_in_memory() -> None:
    ddf, df, _, _ = _fits("slopes", "ML")
    init = {"Subject": np.diag([500.0, 30.0]), "residual": 600.0}
    got = imputer.fit_mixed_frame(ddf, CASES["slopes"][1], init=init, method="ML")
    want = imputer.fit_mixed_frame(df, CASES["slopes"][1], init=init, method="ML")
    assert got.n_iter == want.n_iter
    _assert_close(got.var_comp, want.var_comp)
    with pytest.raises(imputer.ImputerValueError, match="init must give a start for each of"):
        imputer.fit_mixed_frame(ddf, CASES["slopes"][1], init={"x": 1.0})


def test_data_errors_from_the_sums_name_what_is_wrong() -> None:
    df = _table("intercept")
    df["age2"] = 2.0 * df["age"]
    with pytest.raises(imputer.ImputerValueError, match=r"X is rank-deficient \(rank 2 < 3.*\['age', 'age2'\]"):
        imputer.fit_mixed_frame(_dask(df), "distance ~ age + age2 + (1 | Subject)")
    df["flat"] = 3.0 + df["age"]
    with pytest.raises(imputer.ImputerValueError, match="fitted exactly by X"):
        imputer.fit_mixed_frame(_dask(df), "flat ~ age + (1 | Subject)")
    df["one"] = np.arange(len(df)).astype(str)
    with pytest.raises(imputer.ImputerValueError, match="every observed y is in a level of its own"):
        imputer.fit_mixed_frame(_dask(df), "distance ~ age + (1 | one)")
    df["distance"] = np.nan
    with pytest.raises(imputer.ImputerValueError, match="entirely missing"):
        imputer.fit_mixed_frame(_dask(df), "distance ~ age + (1 | Subject)")


def test_small_components_reach_the_reml_optimum_on_dask() -> None:
    # the driver's Newton steps run on the Gram sums too: the dense REML reference's
    # components (tests/imputer/mixed/test_slow_components.py, seed 17), to 1e-9
    from tests.imputer.mixed.test_slow_components import FORMULA, crossed_small, reference

    df = crossed_small(17)
    got = imputer.fit_mixed_frame(dd.from_pandas(df, npartitions=4), FORMULA)
    ref = reference(df)
    assert got.converged and got.boundary == ()
    np.testing.assert_allclose(got.var_comp.to_numpy(), ref.var_comp, rtol=1e-9)
    assert got.loglik == pytest.approx(ref.loglik, rel=1e-13)
