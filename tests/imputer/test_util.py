"""imputer._util: read-only copies, read-only mappings, first line of a message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer._util import LOG_2PI, first_line, frame_like, readonly, readonly_mapping


def test_log_2pi() -> None:
    assert LOG_2PI == pytest.approx(1.8378770664093453, rel=1e-15)


def test_readonly_copies_and_locks() -> None:
    src = np.arange(3)
    out = readonly(src)
    assert out.dtype == float and not out.flags.writeable
    src[0] = 5
    assert out[0] == 0.0
    with pytest.raises(ValueError, match="read-only"):
        out[1] = 2.0


def test_readonly_mapping() -> None:
    d = {"a": 1}
    m = readonly_mapping(d)
    d["a"] = 2
    assert m["a"] == 1
    with pytest.raises(TypeError, match="does not support item assignment"):
        m["a"] = 3  # type: ignore[index]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [(ValueError("first\nsecond"), "first"), (ValueError("  \n"), "ValueError"), (KeyError("k"), "'k'")],
)
def test_first_line(exc: BaseException, expected: str) -> None:
    assert first_line(exc) == expected


def _with_text() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 40
    df = pd.DataFrame({
        "t": pd.Series(rng.choice(["a", "b", None], n), dtype=object),
        "x": rng.normal(size=n), "y": rng.normal(size=n),
        "g": pd.Series(rng.choice(["u", "v"], n), dtype=object),
        "yr": np.tile(np.arange(10), 4), "id": np.repeat(list("ABCD"), 10),
    })
    df.loc[3, "x"] = np.nan
    df.loc[5, "g"] = None
    df.loc[0, "t"] = None
    return df


_PATHS = {
    "impute": lambda df: imputer.impute(df[["t", "x", "y"]]).completed,
    "impute_t": lambda df: imputer.impute_t(df[["t", "x", "y"]]).completed,
    "mixture": lambda df: imputer.impute_mixture(df[["t", "x", "y"]], n_components=1).completed,
    "bounds": lambda df: imputer.impute(df[["t", "x", "y"]], bounds={"x": (-5, 5)}).completed,
    "categorical": lambda df: imputer.impute(df[["t", "x", "y", "g"]], categorical=["g"]).completed,
    "idvars": lambda df: imputer.impute(df[["t", "x", "y", "yr", "id"]], idvars=["yr", "id"]).completed,
    "multiple": lambda df: imputer.multiple_impute(df[["t", "x", "y"]], m=2, seed=0).imputations[0],
    "multiple-categorical": lambda df: imputer.multiple_impute(df[["t", "x", "y", "g"]], categorical=["g"], m=2, seed=0).imputations[0],
}


@pytest.mark.filterwarnings("ignore::imputer.ConvergenceWarning")
@pytest.mark.parametrize("path", list(_PATHS))
def test_an_object_column_comes_back_object_with_its_none(path: str) -> None:
    # before (pandas 3): rebuilt from its array, the column was inferred as str, None as NaN
    df = _with_text()
    out = _PATHS[path](df)
    assert out["t"].dtype == object
    assert out["t"].iloc[0] is None
    assert out["t"].tolist() == df["t"].tolist()
    if "g" in out:
        assert out["g"].dtype == object
        assert out["g"].drop(index=5).tolist() == df["g"].drop(index=5).tolist()
        assert out["g"].iloc[5] in ("u", "v")


def test_frame_like_keeps_each_part_s_dtype_and_the_labels() -> None:
    like = pd.DataFrame({"a": [1.0, 2.0], ("b", 1): pd.Series(["x", None], dtype=object)})
    like.index = pd.Index(["r", "r"])
    parts = {0: np.array([3.0, 4.0]), 1: like.iloc[:, 1].array.copy()}
    out = frame_like(parts, like)
    assert out.dtypes.tolist() == [np.float64, object]
    assert out.index.equals(like.index) and out.columns.equals(like.columns)
    assert out.iloc[1, 1] is None
