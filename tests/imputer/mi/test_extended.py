"""multiple_impute with transforms, bounds and integer columns (imputer.mi._extended)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 400
    y = rng.normal(size=n)
    x = 0.3 + 0.9 * y + 0.5 * rng.normal(size=n)  # many rows with a conditional mean near or below 0
    x = np.abs(x)  # observed values inside the bounds x >= 0
    count = np.rint(np.exp(1.0 + 0.4 * y + 0.3 * rng.normal(size=n)))
    df = pd.DataFrame({"x": x, "y": y, "count": count, "id": np.arange(n) * 10})
    df.loc[df.index[:200], "x"] = np.nan
    df.loc[df.index[50:90], "count"] = np.nan
    df["count"] = df["count"].astype("Int64")
    return df


@pytest.fixture(scope="module")
def bounded(frame: pd.DataFrame) -> imputer.MultipleImputation:
    return imputer.multiple_impute(frame, m=50, seed=5, bounds={"x": (0, None)}, idvars=["id"])


def test_no_draw_outside_bounds_in_10000(frame: pd.DataFrame, bounded: imputer.MultipleImputation) -> None:
    drawn = np.concatenate([imp["x"].to_numpy()[:200] for imp in bounded.imputations])
    assert drawn.size == 10_000
    assert drawn.min() >= 0.0
    # truncation, not clipping: no mass piled on the bound
    assert (drawn == 0.0).sum() == 0
    # without bounds the same draws leave the bounds often (the check can fail)
    free = imputer.multiple_impute(frame, m=5, seed=5, idvars=["id"])
    assert np.concatenate([imp["x"].to_numpy()[:200] for imp in free.imputations]).min() < 0.0


def test_observed_cells_columns_dtypes_kept(frame: pd.DataFrame, bounded: imputer.MultipleImputation) -> None:
    for imp in bounded.imputations[:3]:
        assert imp.columns.equals(frame.columns) and imp.index.equals(frame.index)
        expected = frame.dtypes.copy()
        expected["count"] = pd.Float64Dtype()  # a filled Int64 column: Float64, as impute() returns it
        assert (imp.dtypes == expected).all()
        obs = frame["x"].notna().to_numpy()
        assert np.array_equal(imp["x"].to_numpy()[obs], frame["x"].to_numpy()[obs])
        assert np.array_equal(imp["id"].to_numpy(), frame["id"].to_numpy())
    assert "id" not in bounded.params[0][0].index


def test_log_draws_are_draws_on_the_log_scale_mapped_back(frame: pd.DataFrame) -> None:
    df = frame.drop(columns=["count", "id"]).assign(x=lambda d: d["x"] + 0.1)
    logged = df.assign(x=np.log(df["x"])).rename(columns={"x": "log(x)"})
    got = imputer.multiple_impute(df, m=3, seed=2, transforms={"x": "log"})
    ref = imputer.multiple_impute(logged, m=3, seed=2)
    miss = df["x"].isna().to_numpy()
    for a, b in zip(got.imputations, ref.imputations):
        np.testing.assert_allclose(a["x"].to_numpy()[miss], np.exp(b["log(x)"].to_numpy()[miss]), rtol=1e-12)
        assert np.array_equal(a["x"].to_numpy()[~miss], df["x"].to_numpy()[~miss])
    assert got.params[0][0].index.tolist() == ["log(x)", "y"]


def test_log_column_with_bounds(frame: pd.DataFrame) -> None:
    df = frame.drop(columns=["count", "id"]).assign(x=lambda d: d["x"] + 0.1)
    mi = imputer.multiple_impute(df, m=20, method="bootstrap", seed=4, transforms={"x": "log"}, bounds={"x": (0.1, 4.0)})
    drawn = np.concatenate([imp["x"].to_numpy()[:200] for imp in mi.imputations])
    assert drawn.min() >= 0.1 and drawn.max() <= 4.0


def test_integer_rounds_the_draw(frame: pd.DataFrame) -> None:
    df = frame.drop(columns=["id"]).assign(count=frame["count"].astype(float))
    kw = dict(m=5, seed=8, method="bootstrap", bounds={"x": (0, None)})
    whole = imputer.multiple_impute(df, integer=["count"], **kw)
    raw = imputer.multiple_impute(df, **kw)
    miss = df["count"].isna().to_numpy()
    for a, b in zip(whole.imputations, raw.imputations):
        assert np.array_equal(a["count"].to_numpy()[miss], np.rint(b["count"].to_numpy()[miss]))  # the same draw, rounded
        assert not np.array_equal(b["count"].to_numpy()[miss], np.rint(b["count"].to_numpy()[miss]))
        assert np.array_equal(a["x"].to_numpy(), b["x"].to_numpy())  # other columns not rounded
    # a draw, not a mean: the same cell differs across imputations
    cells = np.array([imp["count"].to_numpy()[miss] for imp in whole.imputations])
    assert (cells.std(axis=0) > 0).mean() > 0.5


def test_integer_nullable_column_stays_int64(frame: pd.DataFrame, bounded: imputer.MultipleImputation) -> None:
    mi = imputer.multiple_impute(frame, m=2, seed=1, integer=["count"], idvars=["id"])
    for imp in mi.imputations:
        assert imp["count"].dtype == "Int64" and imp["count"].notna().all()
    assert bounded.imputations[0]["count"].dtype == "Float64"  # not asked: a float draw


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        (dict(integer=["nope"]), ImputerValueError, r"integer: 'nope' is not a modelled column"),
        (dict(integer="count"), ImputerTypeError, r"integer must be a list of column labels"),
        (dict(bounds={"x": (2, 1)}), ImputerValueError, r"bounds\['x'\]: lower 2 must be below upper 1"),
        (dict(bounds={"x": (0.5, None)}), ImputerValueError, r"bounds\['x'\]: row \d+ holds .*outside \[0.5, inf\]"),
        (dict(transforms={"y": "log"}), ImputerValueError, r"transforms\['y'\]: 'log' needs positive values, but row"),
        (dict(transforms={"x": "log"}, model="t"), ImputerValueError, r"model='normal' only, not 't'"),
    ],
)
def test_bad_options(frame: pd.DataFrame, kwargs: dict, err: type, match: str) -> None:
    with warnings.catch_warnings(), pytest.raises(err, match=match):
        warnings.simplefilter("ignore")
        imputer.multiple_impute(frame, m=2, seed=1, idvars=["id"], **kwargs)
