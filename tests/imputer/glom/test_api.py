"""impute_glom and impute(categorical=...): columns by role, dtypes, fills, errors, the result's value forms."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.glom._validate import MAX_CELLS
from tests.imputer.glom.conftest import kinds_columns


@pytest.fixture(scope="module")
def mixed() -> pd.DataFrame:
    """One column of each kind the automatic rule meets, with holes in every modelled column."""
    rng = np.random.default_rng(3)
    n = 40
    df = pd.DataFrame({
        **kinds_columns(rng, n),
        "f01": rng.integers(0, 2, n).astype(float),
        "txt": rng.choice(["alpha", "beta"], n).astype(object),
        "x": rng.normal(size=n),
        "y": rng.normal(size=n),
    })
    for c, k in [("cat", 3), ("ordc", 5), ("flag", 7), ("bin", 9), ("f01", 1), ("x", 4), ("y", 6)]:
        df.loc[df.index[k::10], c] = np.nan if c in ("f01", "x", "y") else None
    df.index = pd.RangeIndex(100, 100 + n)
    return df


@pytest.fixture(scope="module")
def fitted(mixed: pd.DataFrame) -> tuple[pd.DataFrame, imputer.GlomImputeResult]:
    before = mixed.copy(deep=True)
    res = imputer.impute_glom(mixed)
    pd.testing.assert_frame_equal(mixed, before)  # the caller's frame is not modified
    return mixed, res


def test_automatic_roles(fitted) -> None:
    _, res = fitted
    assert res.categorical == ("cat", "ordc", "flag", "bin", "f01")
    assert res.continuous == ("x", "y")
    assert res.passthrough == ("txt",)  # text stays untouched unless listed
    assert res.n_cells == 2 * 3 * 2 * 2 * 2
    assert res.means == "additive"  # 48 cells for 40 rows


@pytest.mark.parametrize("column", ["cat", "ordc", "flag", "bin", "f01", "txt", "x", "y"])
def test_dtypes_kept_observed_cells_bit_for_bit(fitted, column) -> None:
    df, res = fitted
    out = res.completed[column]
    assert out.dtype == (np.float64 if column in ("x", "y") else df[column].dtype)
    if isinstance(df[column].dtype, pd.CategoricalDtype):
        assert list(out.cat.categories) == list(df[column].cat.categories)
        assert out.cat.ordered == df[column].cat.ordered
    assert not out.isna().any()
    seen = df[column].notna().to_numpy()
    if column in ("x", "y", "f01"):
        assert np.array_equal(out.to_numpy(dtype=float)[seen].view(np.int64), df[column].to_numpy(dtype=float)[seen].view(np.int64))
    else:
        assert out[seen].tolist() == df[column][seen].tolist()


@pytest.mark.parametrize("column", ["cat", "ordc", "flag", "bin", "f01"])
def test_missing_category_is_its_most_probable_level(fitted, column) -> None:
    df, res = fitted
    probs = res.level_probabilities[column]
    missing = df.index[df[column].isna()]
    assert list(probs.index) == list(missing)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    assert res.completed.loc[missing, column].tolist() == probs.idxmax(axis=1).tolist()


def test_continuous_fill_is_a_number_per_cell(fitted) -> None:
    df, res = fitted
    filled = res.completed.loc[df["x"].isna(), "x"]
    assert filled.notna().all() and filled.nunique() > 1


def test_continuous_overrides_the_rule(mixed) -> None:
    res = imputer.impute_glom(mixed, continuous=["f01"], means="additive")
    assert "f01" in res.continuous and "f01" not in res.categorical
    assert res.completed["f01"].between(0, 1).all()


def test_explicit_list_and_text_column(mixed) -> None:
    res = imputer.impute_glom(mixed, categorical=["txt", "cat"])
    assert res.categorical == ("txt", "cat")
    assert set(res.continuous) == {"bin", "f01", "x", "y"}  # numeric and not listed: continuous
    assert res.probabilities.index.names == ["txt", "cat"]


def test_impute_dispatch_and_backward_compatibility(mixed) -> None:
    plain = imputer.impute(mixed)
    assert type(plain).__name__ == "ImputeResult"
    assert "cat" in plain.passthrough and "flag" in plain.passthrough  # as before: untouched
    assert plain.completed["cat"].isna().sum() == mixed["cat"].isna().sum()
    glom = imputer.impute(mixed, categorical="auto")
    assert isinstance(glom, imputer.GlomImputeResult)
    assert glom == imputer.impute_glom(mixed)
    assert type(imputer.impute(mixed[["x", "y"]], categorical="auto")).__name__ == "ImputeResult"


def test_value_forms(fitted) -> None:
    _, res = fitted
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert len(d["cells"]) == len(d["probabilities"]) == res.n_cells
    assert d["cells"][0] == ["lo", "s", False, 0, 0.0]
    assert set(d["level_probabilities"]) == set(res.categorical)
    text = res.summary()
    assert "General location model" in text and "additive" in text
    assert pickle.loads(pickle.dumps(res)) == res
    with pytest.raises(Exception, match="cannot assign"):
        res.loglik = 0.0  # type: ignore[misc]


def test_levels_given(mixed) -> None:
    res = imputer.impute_glom(mixed, categorical={"txt": ["beta", "alpha"], "cat": None})
    assert list(res.probabilities.index.get_level_values("txt").unique()) == ["beta", "alpha"]


def _frame(n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": rng.choice(["a", "b"], n).astype(object), "x": rng.normal(size=n), "y": rng.normal(size=n)})
    df.loc[3, "g"] = None
    df.loc[5, "x"] = np.nan
    return df


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"categorical": ["nope"]}, ImputerValueError, r"categorical: unknown column 'nope'"),
        ({"categorical": "g"}, ImputerTypeError, r"categorical must be 'auto' or a list"),
        ({"categorical": ["g", "g"]}, ImputerValueError, r"column 'g' is listed twice"),
        ({"categorical": ["g", "x"], "continuous": ["x"]}, ImputerValueError, r"'x' is listed in both"),
        ({"categorical": ["g"], "continuous": ["g"]}, ImputerTypeError, r"continuous: column 'g' has non-numeric dtype"),
        ({"categorical": ["g"], "means": "full"}, ImputerValueError, r"means must be one of"),
        ({"categorical": {"g": ["a"]}}, ImputerValueError, r"categorical column 'g': value 'b' \(row \d+\) is not one of its levels \['a'\]"),
        ({"categorical": {"g": ["a", "b", "c"]}}, ImputerValueError, r"categorical column 'g': level 'c' is never observed"),
    ],
)
def test_errors(kwargs, err, match) -> None:
    with pytest.raises(err, match=match):
        imputer.impute_glom(_frame(), **kwargs)


def test_too_many_levels_named_before_any_allocation() -> None:
    n = 10_000
    df = pd.DataFrame({"id": np.arange(n).astype(str).astype(object), "x": np.random.default_rng(1).normal(size=n)})
    with pytest.raises(ImputerValueError, match=rf"categorical column 'id' has 10000 levels: .* exceed the limit of {MAX_CELLS}"):
        imputer.impute_glom(df, categorical=["id"])


def test_saturated_needs_data_in_every_cell() -> None:
    df = _frame()
    df["h"] = np.where(df["g"] == "a", "p", "q").astype(object)  # cells (a, q) and (b, p) hold no row
    with pytest.raises(ImputerValueError, match=r"means='saturated': the cell \(g='a', h='q'\) has no row"):
        imputer.impute_glom(df, categorical=["g", "h"], means="saturated")


def test_categorical_column_with_no_observed_value() -> None:
    df = _frame()
    df["e"] = pd.Categorical([None] * len(df), categories=["u"])
    with pytest.raises(ImputerValueError, match=r"categorical column 'e' has no observed value"):
        imputer.impute_glom(df)


def test_continuous_column_with_no_observed_value_names_continuous() -> None:
    df = _frame()
    df["z"] = np.nan
    # the shared check said "leave it out of columns=", which impute_glom does not take
    with pytest.raises(ImputerValueError, match=r"^column 'z' has no observed value; drop it or leave it out of continuous=$"):
        imputer.impute_glom(df)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"categorical": ["g"], "columns": ["x"]}, r"columns: with categorical=, name the continuous columns"),
        ({"categorical": ["g"], "ridge": 1.0}, r"ridge: not available with categorical="),
        ({"continuous": ["x"]}, r"continuous= and means= go with categorical="),
    ],
)
def test_impute_dispatch_errors(kwargs, match) -> None:
    with pytest.raises(ImputerTypeError, match=match):
        imputer.impute(_frame(), **kwargs)
