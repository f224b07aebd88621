"""``imputer.multiple_impute``: validation, the completed tables, reproducibility, the result value."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError
from tests.imputer.mi.simulate import mar_table

METHODS = ["posterior", "bootstrap"]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    df, _, _ = mar_table(60, 3, seed=11, rate=0.3)
    df["v1"] = df["v1"].astype("Float64")  # nullable: becomes Float64, pd.NA where missing
    df["count"] = pd.array(np.arange(60) % 7, dtype="Int64")  # modelled, complete: keeps Int64
    df["group"] = pd.Categorical(np.where(np.arange(60) % 2, "a", "b"))
    df["note"] = [f"n{i}" for i in range(60)]
    df.index = pd.Index(np.arange(100, 160), name="id")
    return df


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"m": 0}, ImputerValueError, r"m must be >= 1, got 0"),
        ({"m": -3}, ImputerValueError, r"m must be >= 1"),
        ({"m": 2.5}, ImputerTypeError, r"m must be an integer, got float 2.5"),
        ({"m": True}, ImputerTypeError, r"m must be an integer, got bool True"),
        ({"m": "5"}, ImputerTypeError, r"m must be an integer"),
        ({"method": "mice"}, ImputerValueError, r"method must be one of \['posterior', 'bootstrap'\], got 'mice'"),
        ({"method": ""}, ImputerValueError, r"method must be one of"),
        ({"seed": 1.5}, ImputerTypeError, r"seed must be None, a non-negative integer or a numpy Generator, got float 1.5"),
        ({"seed": "1"}, ImputerTypeError, r"seed must be None"),
        ({"seed": True}, ImputerTypeError, r"seed must be None"),
        ({"seed": np.random.RandomState(1)}, ImputerTypeError, r"seed must be None"),
        ({"seed": -1}, ImputerValueError, r"seed must be a non-negative integer, got -1"),
        ({"burn_in": -1}, ImputerValueError, r"burn_in must be >= 0, got -1"),
        ({"thin": 0}, ImputerValueError, r"thin must be >= 1, got 0"),
        ({"thin": 1.0}, ImputerTypeError, r"thin must be an integer"),
        ({"ridge": -1.0}, ImputerValueError, r"ridge must be a finite number >= 0"),
        ({"tol": 0.0}, ImputerValueError, r"tol must be a finite number > 0"),
        ({"columns": ["nope"]}, ImputerValueError, r"columns: unknown column 'nope'"),
    ],
)
def test_bad_input_names_the_parameter(table: pd.DataFrame, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        imputer.multiple_impute(table, **{"m": 2, **kwargs})


def test_posterior_needs_a_proper_posterior() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(4, 6)))
    df.iloc[0, 1] = np.nan
    with pytest.raises(ImputerValueError, match=r"ridge: .* proper only for n \+ ridge > p; pass ridge > 2"):
        imputer.multiple_impute(df, m=2, ridge=1.0, seed=1)
    with pytest.raises(ImputerValueError, match=r"data has 4 rows for 6 modelled columns"):
        imputer.multiple_impute(df, m=2, seed=1)


@pytest.mark.parametrize("method", METHODS)
def test_imputations_keep_the_table(table: pd.DataFrame, method: str) -> None:
    before = table.copy()
    mi = imputer.multiple_impute(table, m=3, method=method, seed=5)
    assert table.equals(before)  # the caller's data untouched
    assert len(mi.imputations) == mi.m == 3
    em = imputer.impute(table)
    for imp in mi.imputations:
        assert imp.index.equals(table.index) and imp.index.name == "id"
        assert list(imp.columns) == list(table.columns)
        assert dict(imp.dtypes) == dict(em.completed.dtypes)
        assert str(imp["v1"].dtype) == "Float64" and str(imp["count"].dtype) == "Int64"
        for c in ("group", "note", "count", "v0"):
            assert imp[c].equals(table[c])
        for c in ("v1", "v2"):
            obs = table[c].notna().to_numpy()
            a = imp[c].to_numpy(dtype=float)
            assert np.array_equal(a[obs], table[c].to_numpy(dtype=float, na_value=np.nan)[obs])  # bit for bit
            assert np.isfinite(a).all()
    # the imputations differ from each other and from the conditional means
    assert not mi.imputations[0]["v2"].equals(mi.imputations[1]["v2"])
    assert not mi.imputations[0]["v2"].equals(em.completed["v2"])
    assert mi.em == em


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_imputations_other_seed_other(table: pd.DataFrame, method: str) -> None:
    a = imputer.multiple_impute(table, m=3, method=method, seed=42)
    b = imputer.multiple_impute(table, m=3, method=method, seed=42)
    c = imputer.multiple_impute(table, m=3, method=method, seed=43)
    assert a == b and hash(a) == hash(b)
    assert all(x.equals(y) for x, y in zip(a.imputations, b.imputations))
    assert not a.imputations[0].equals(c.imputations[0])
    # the first m' imputations of m are those of m' (same burn-in and spacing)
    longer = imputer.multiple_impute(table, m=5, method=method, seed=42)
    assert all(x.equals(y) for x, y in zip(a.imputations, longer.imputations[:3]))
    # a Generator and None give a recorded int seed that repeats the run
    g = imputer.multiple_impute(table, m=2, method=method, seed=np.random.default_rng(7))
    assert imputer.multiple_impute(table, m=2, method=method, seed=g.seed) == g
    fresh = imputer.multiple_impute(table, m=2, method=method)
    assert isinstance(fresh.seed, int)
    assert imputer.multiple_impute(table, m=2, method=method, seed=fresh.seed) == fresh


def test_explicit_burn_in_and_thin(table: pd.DataFrame) -> None:
    mi = imputer.multiple_impute(table, m=4, seed=1, burn_in=0, thin=3)
    assert (mi.burn_in, mi.thin) == (0, 3) and len(mi.wlf) == 12
    auto = imputer.multiple_impute(table, m=4, seed=1)
    assert auto.burn_in >= auto.thin >= 1 and auto.rate ** auto.thin <= 0.05


@pytest.mark.parametrize("include_original", [False, True])
def test_long_follows_mice(table: pd.DataFrame, include_original: bool) -> None:
    mi = imputer.multiple_impute(table, m=3, seed=2)
    long = mi.long(include_original=include_original)
    k = 4 if include_original else 3
    assert list(long.columns[:2]) == [".imp", ".id"] and list(long.columns[2:]) == list(table.columns)
    assert long.shape == (k * 60, 2 + table.shape[1])
    assert long.index.equals(pd.RangeIndex(k * 60))
    expected_imp = list(range(0 if include_original else 1, 4))
    assert long[".imp"].unique().tolist() == expected_imp
    assert long[".id"].tolist() == list(table.index) * k
    for j in range(1, 4):
        part = long[long[".imp"] == j].drop(columns=[".imp", ".id"])
        part.index = table.index
        assert part.equals(mi.imputations[j - 1])
    if include_original:
        orig = long[long[".imp"] == 0]
        assert orig["v2"].isna().sum() == table["v2"].isna().sum()


def test_long_refuses_a_clashing_column() -> None:
    df, _, _ = mar_table(30, 2, seed=1)
    df[".imp"] = "x"
    mi = imputer.multiple_impute(df, m=2, seed=1)
    with pytest.raises(ImputerValueError, match=r"long\(\): the data already has a column named '.imp'"):
        mi.long()


def test_result_is_a_frozen_value(table: pd.DataFrame) -> None:
    mi = imputer.multiple_impute(table, m=2, seed=3)
    imp = mi.imputations[0]
    imp.iloc[0, 0] = 99.0
    mean, cov = mi.params[0]
    mean.iloc[0] = 99.0
    cov.iloc[0, 0] = 99.0
    assert mi.imputations[0].iloc[0, 0] != 99.0
    assert mi.params[0][0].iloc[0] != 99.0 and mi.params[0][1].iloc[0, 0] != 99.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        mi.m = 3  # type: ignore[misc]
    assert mi.params[0][0].index.tolist() == ["v0", "v1", "v2", "count"]
    assert mi.params[0][1].columns.tolist() == ["v0", "v1", "v2", "count"]


@pytest.mark.parametrize("method", METHODS)
def test_summary_and_to_dict(table: pd.DataFrame, method: str) -> None:
    mi = imputer.multiple_impute(table, m=2, method=method, seed=3)
    text = mi.summary()
    assert "Multiple imputation" in text and "imputations:" in text and "sd of draws" in text
    if method == "posterior":
        assert "burn-in:" in text and "WLF autocorrelation, lag 1" in text
    else:
        assert "resamples redrawn:" in text
    d = mi.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["method"] == method and d["m"] == 2 and d["seed"] == 3
    assert d["long"]["columns"][:2] == [".imp", ".id"] and len(d["long"]["data"]) == 120
    assert len(d["params"]) == 2 and list(d["params"][0]["mean"]) == ["v0", "v1", "v2", "count"]
    assert d["em"] == mi.em.to_dict()
    assert d["passthrough"] == ["group", "note"]
    assert (d["wlf_acf"] is None) == (method == "bootstrap")


def test_array_input_and_export() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3))
    x[rng.random((40, 3)) < 0.2] = np.nan
    mi = imputer.multiple_impute(x, m=2, seed=1)
    assert mi.imputations[0].columns.tolist() == [0, 1, 2]
    assert imputer.MultipleImputation is type(mi)
    assert "multiple_impute" in imputer.__all__ and "MultipleImputation" in imputer.__all__


def test_signature_and_docstring_follow_mi_options() -> None:
    """The defaults and the help text of ``multiple_impute`` are ``MI_OPTIONS``' (as tests/imputer/test_options.py checks impute's)."""
    import inspect

    from imputer.options import MI_OPTIONS
    from tests.imputer.test_options import _docstring_params, _norm

    params = inspect.signature(imputer.multiple_impute).parameters
    documented = _docstring_params(imputer.multiple_impute)
    for name, option in MI_OPTIONS.items():
        # method=None: the model's own default, MI_OPTIONS' ("posterior") for the normal
        assert params[name].default == (None if name == "method" else option.default), name
        assert documented[name][1].startswith(_norm(option.help)), name


@pytest.mark.parametrize("method", METHODS)
def test_result_pickles(table: pd.DataFrame, method: str) -> None:
    import pickle

    mi = imputer.multiple_impute(table, m=2, method=method, seed=8)
    back = pickle.loads(pickle.dumps(mi))
    assert back == mi and back.imputations[1].equals(mi.imputations[1])
    assert back.analyze(lambda d: (d[["v0"]].mean(), d[["v0"]].std())).estimates.shape == (2, 1)



@pytest.mark.parametrize("method", METHODS)
def test_start_begins_every_fit_there(table: pd.DataFrame, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # start=(mean, cov): the EM fit (and with the bootstrap each resample's) starts there; from
    # the converged estimate the fit ends at once, at the same estimate (one maximum here), and
    # the same seed gives the same imputations to the fits' tolerance
    from imputer.mi import _bootstrap  # (its engine is the whole-data fit's too)

    fit = imputer.impute(table)
    starts: list[tuple[np.ndarray, np.ndarray] | None] = []
    real = _bootstrap.engine.run

    def recorded(*args, **kwargs):  # type: ignore[no-untyped-def]
        starts.append(kwargs.get("start"))
        return real(*args, **kwargs)

    monkeypatch.setattr(_bootstrap.engine, "run", recorded)
    fits = 1 + 2 * (method == "bootstrap")  # the whole-data fit, and each resample's
    plain = imputer.multiple_impute(table, m=2, seed=5, method=method)
    assert starts == [None] * fits and plain.em.to_dict()["options"]["start"] is False
    starts.clear()
    warm = imputer.multiple_impute(table, m=2, seed=5, method=method, start=(fit.mean, fit.cov))
    assert warm.em.n_evals <= 2 < plain.em.n_evals
    assert warm.em.converged and warm.em.to_dict()["options"]["start"] is True
    np.testing.assert_allclose(warm.em.mean, plain.em.mean, atol=1e-6 * float(np.sqrt(np.diag(fit.cov)).min()))
    # every fit from the start, each in its own (the resample's) standardised units
    assert len(starts) == fits and all(s is not None for s in starts)
    for s in starts:
        assert s[0].shape == (4,) and s[1].shape == (4, 4) and np.all(np.isfinite(s[1]))
    for a, b in zip(plain.imputations, warm.imputations):
        pd.testing.assert_frame_equal(a[["group", "note"]], b[["group", "note"]])
        np.testing.assert_allclose(a[["v0", "v1", "v2"]].to_numpy(float), b[["v0", "v1", "v2"]].to_numpy(float),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"model": "t"}, ImputerTypeError, r"start: available for model='normal' only \(not with categorical, "
         r"transforms, bounds, integer, panel or idvars\)"),
        ({"transforms": {"v1": "log"}}, ImputerTypeError, r"start: available for model='normal' only"),
        ({"integer": ["count"]}, ImputerTypeError, r"start: available for model='normal' only"),
        ({"categorical": ["group"]}, ImputerTypeError, r"start: available for model='normal' only"),
        ({"columns": ["v0", "v2"]}, None, None),  # extra labels in the start are ignored
        ({"columns": ["v0", "v1", "v2", "count"]}, ImputerValueError,
         r"start: the mean has no entry for column\(s\) \['count'\]"),
    ],
)
def test_start_with_what_it_does_not_combine_with(table: pd.DataFrame, kwargs: dict, error: type | None,
                                                  match: str | None) -> None:
    fit = imputer.impute(table, columns=["v0", "v1", "v2"])
    if error is None:
        mi = imputer.multiple_impute(table, m=2, seed=1, start=(fit.mean, fit.cov), **kwargs)
        assert mi.em.to_dict()["options"]["start"] is True
        return
    with pytest.raises(error, match=match):
        imputer.multiple_impute(table, m=2, seed=1, start=(fit.mean, fit.cov), **kwargs)


def _collinear(eps: float) -> pd.DataFrame:
    """``c = 2 b + 1`` (plus ``eps`` noise), with gaps in ``a`` and ``c``."""
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.standard_normal((30, 2)), columns=["a", "b"])
    df["c"] = df["b"] * 2 + 1 + eps * rng.standard_normal(30)
    df.iloc[::5, 0] = np.nan
    df.loc[[4, 11], "c"] = np.nan
    return df


@pytest.mark.parametrize(
    ("eps", "kwargs"),
    [
        (0.0, {}),  # was numpy's LinAlgError from the P-step's Cholesky factorisation
        (1e-9, {}),  # was the engine's internal Infeasible from the I-step
        (1e-5, {}),  # the chain could run, from a singular estimate impute warns about
        (0.0, {"integer": ["a"]}),  # the extended path runs the same chain
        (0.0, {"prior": "amelia"}),  # no prior either
    ],
    ids=["exact", "near", "near-1e-5", "extended", "amelia-ridge-0"],
)
def test_posterior_on_collinear_columns_asks_for_a_ridge(eps: float, kwargs: dict) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused before the chain: not even impute's warning first
        with pytest.raises(ImputerValueError, match=(
            r"^method='posterior': the covariance is \(nearly\) singular \(smallest eigenvalue of the EM estimate's "
            r"correlation matrix .*; the columns \['[bc]', '[bc]'\] are collinear, or too few rows observe them "
            r"together\): without a prior \(ridge=0\) the posterior of the covariance is improper .* pass ridge > 0"
        )):
            imputer.multiple_impute(_collinear(eps), m=2, seed=0, **kwargs)


def test_posterior_with_too_weak_a_ridge_asks_for_a_larger_one() -> None:
    # a ridge far below rounding leaves the drawn covariances singular: named, not LinAlgError/Infeasible
    with pytest.warns(imputer.ConvergenceWarning), pytest.raises(ImputerValueError, match=(
        r"^method='posterior': the covariance is \(nearly\) singular .*, and ridge=1e-14 is too weak a prior to keep "
        r"the covariances drawn by data augmentation positive definite in float64; pass a larger ridge"
    )):
        imputer.multiple_impute(_collinear(0.0), m=2, seed=0, ridge=1e-14)


@pytest.mark.filterwarnings("ignore::imputer.ConvergenceWarning")  # ridge=1e-8: impute's singular-estimate warning
@pytest.mark.parametrize("ridge", [1e-8, 0.5])
def test_posterior_on_collinear_columns_runs_with_a_ridge(ridge: float) -> None:
    # the ridge prior makes the posterior proper: the chain runs (the refusal is for ridge=0 only)
    mi = imputer.multiple_impute(_collinear(0.0), m=2, seed=0, ridge=ridge)
    for imp in mi.imputations:
        assert np.isfinite(imp.to_numpy(float)).all()
