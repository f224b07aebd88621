"""impute/multiple_impute with panel= and idvars= (imputer.panel)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.panel._design import _shifted
from imputer.panel._spec import PanelSpec

TRENDS = {"A": (1.0, 0.5), "B": (10.0, -0.8), "C": (-3.0, 1.5)}  # intercept, slope per year


@pytest.fixture(scope="module")
def trend_frame() -> pd.DataFrame:
    """Three units with their own linear trend in y (noise sd 0.05), z unrelated noise; a hole in B."""
    rng = np.random.default_rng(11)
    rows = []
    for u, (a, b) in TRENDS.items():
        for t in range(2000, 2012):
            rows.append({"unit": u, "year": t, "y": a + b * (t - 2000) + 0.05 * rng.normal(), "z": rng.normal(), "code": f"{u}{t}"})
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=2)  # row order does not matter
    df.loc[(df.unit == "B") & df.year.isin([2004, 2005, 2006]), "y"] = np.nan
    df.loc[(df.unit == "A") & (df.year == 2003), "z"] = np.nan
    return df


def test_gap_filled_from_its_units_trend(trend_frame: pd.DataFrame) -> None:
    res = imputer.impute(trend_frame, panel=dict(time="year", unit="unit", polytime=1, intercs=True), idvars=["code"])
    hole = trend_frame.y.isna()
    a, b = TRENDS["B"]
    truth = a + b * (trend_frame.loc[hole, "year"] - 2000)
    assert np.abs(res.completed.loc[hole, "y"] - truth).max() < 0.15  # 3 noise sd
    # without the panel the gap gets the overall mean instead, far from B's trend
    plain = imputer.impute(trend_frame, idvars=["code", "year"], columns=["y", "z"])
    assert np.abs(plain.completed.loc[hole, "y"] - truth).min() > 0.5


def test_completed_is_the_input_table(trend_frame: pd.DataFrame) -> None:
    before = trend_frame.copy(deep=True)
    res = imputer.impute(trend_frame, panel=dict(time="year", unit="unit", polytime=2, intercs=True, lags=["y"], leads=["y"]))
    pd.testing.assert_frame_equal(trend_frame, before)  # the caller's data is not changed
    out = res.completed
    assert out.columns.equals(trend_frame.columns) and out.index.equals(trend_frame.index)
    assert (out.dtypes == trend_frame.dtypes).all()
    obs = trend_frame.y.notna().to_numpy()
    assert np.array_equal(out.y.to_numpy()[obs], trend_frame.y.to_numpy()[obs])
    for c in ("unit", "year", "code"):
        assert out[c].equals(trend_frame[c])
    assert {"lag(y)", "lead(y)", "time[A]", "time^2[C]", "unit[B]"} <= set(res.mean.index)
    assert "unit[A]" not in res.mean.index  # the first unit's indicator is the intercept
    assert res.to_dict()["panel"]["lags"] == ["y"] and "Panel" in res.summary()


def test_lags_and_leads_follow_each_units_time_order() -> None:
    df = pd.DataFrame({"u": ["a", "b", "a", "b", "a"], "t": [3, 1, 1, 2, 2], "x": [30.0, 100.0, 10.0, 200.0, np.nan]})
    spec = PanelSpec(time="t", unit="u")
    np.testing.assert_array_equal(_shifted(spec, df, "x", 1), [np.nan, np.nan, np.nan, 100.0, 10.0])
    np.testing.assert_array_equal(_shifted(spec, df, "x", -1), [np.nan, 200.0, np.nan, np.nan, 30.0])


def test_multiple_impute_with_panel(trend_frame: pd.DataFrame) -> None:
    mi = imputer.multiple_impute(
        trend_frame, m=3, seed=1, method="bootstrap", panel=dict(time="year", unit="unit", polytime=1, intercs=True), idvars=["code"],
    )
    hole = trend_frame.y.isna()
    a, b = TRENDS["B"]
    truth = a + b * (trend_frame.loc[hole, "year"] - 2000)
    for imp in mi.imputations:
        assert imp.columns.equals(trend_frame.columns) and (imp.dtypes == trend_frame.dtypes).all()
        assert np.abs(imp.loc[hole, "y"] - truth).max() < 0.5  # drawn around B's own trend
        assert imp["code"].equals(trend_frame["code"])
    assert "time[B]" in mi.params[0][0].index


@pytest.mark.parametrize(
    ("options", "err", "match"),
    [
        (dict(panel=dict(time="yr")), ImputerValueError, r"panel\['time'\]: column 'yr' is not in the data"),
        (dict(panel=dict(time="year", unit="country")), ImputerValueError, r"panel\['unit'\]: column 'country' is not in the data"),
        (dict(panel=dict(time="gappy")), ImputerValueError, r"panel\['time'\]: column 'gappy' has 2 missing value\(s\) \(first at row \d+\)"),
        (dict(panel=dict(time="year", unit="unit", lags=["code"])), ImputerValueError, r"panel\['lags'\]: 'code' is not a modelled column"),
        (dict(panel=dict(time="year", leads=["nope"])), ImputerValueError, r"panel\['leads'\]: 'nope' is not a modelled column"),
        (dict(panel=dict(time="year", intercs=True)), ImputerValueError, r"panel\['intercs'\]: time trends per unit need panel\['unit'\]"),
        (dict(panel=dict(time="year", polytime=4)), ImputerValueError, r"panel\['polytime'\] must be 0..3, got 4"),
        (dict(panel=dict(time="year", lags=["y"])), ImputerValueError, r"panel: row .* repeats time .*one row per unit and time"),
        (dict(panel=dict(time="unit")), ImputerTypeError, r"panel\['time'\]: column 'unit' must be numeric"),
        (dict(panel=dict(year="year")), ImputerValueError, r"panel: unknown key\(s\) 'year'"),
        (dict(panel="year"), ImputerTypeError, r"panel must be a dict"),
        (dict(idvars=["nope"]), ImputerValueError, r"idvars: column 'nope' is not in the data"),
        (dict(idvars=["year"], columns=["y", "year"]), ImputerValueError, r"columns: 'year' is one of the idvars columns"),
        (dict(panel=dict(time="year"), bounds={"y": (5, 1)}), ImputerValueError, r"bounds\['y'\]: lower 5 must be below upper 1"),
        (dict(panel=dict(time="year"), transforms={"year": "log"}), ImputerValueError, r"transforms: 'year' is not a modelled column"),
    ],
)
@pytest.mark.parametrize("fn", ["impute", "multiple_impute"])
def test_bad_panel_input(trend_frame: pd.DataFrame, options: dict, err: type, match: str, fn: str) -> None:
    df = trend_frame.assign(gappy=trend_frame.year.where(trend_frame.year != 2001).where(trend_frame.unit != "A", trend_frame.year))
    df = df.drop(columns=["code"]).assign(code=trend_frame["code"]) if "code" in str(options) else df.drop(columns=["code"])
    kwargs = dict(m=2, seed=1) if fn == "multiple_impute" else {}
    with warnings.catch_warnings(), pytest.raises(err, match=match):
        warnings.simplefilter("ignore")
        getattr(imputer, fn)(df, **options, **kwargs)
