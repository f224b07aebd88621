"""imputer.plot.overimpute: predictions, intervals and coverage against a per-cell loop.

The reference loops over the observed cells of each incomplete column and solves
``Sigma_OO`` for the row's other observed cells with ``numpy.linalg.solve``:
``x_hat = mu_j + S_jO S_OO^-1 (x_O - mu_O)``, ``s^2 = S_jj - S_jO S_OO^-1 S_Oj``; the 90%
interval is ``x_hat +- 1.6448536269514722 s`` (``Phi^-1(0.95)``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.plot import overimpute, overimpute_table

Z90 = 1.6448536269514722  # scipy.stats.norm.ppf(0.95)
Z50 = 0.6744897501960817  # scipy.stats.norm.ppf(0.75)


def by_hand(frame: pd.DataFrame, res: imputer.ImputeResult, col: str, z: float) -> pd.DataFrame:
    cols = list(res.columns)
    x = frame[cols].to_numpy(dtype=float)
    mu = res.mean.to_numpy()
    s = res.cov.to_numpy()
    j = cols.index(col)
    out = []
    for i in np.flatnonzero(~np.isnan(x[:, j])):
        o = ~np.isnan(x[i])
        o[j] = False
        if o.any():
            w = np.linalg.solve(s[np.ix_(o, o)], s[o, j])
            pred = mu[j] + w @ (x[i, o] - mu[o])
            var = s[j, j] - s[j, o] @ w
        else:
            pred, var = mu[j], s[j, j]
        sd = np.sqrt(var)
        out.append((x[i, j], pred, sd, pred - z * sd <= x[i, j] <= pred + z * sd))
    return pd.DataFrame(out, columns=["observed", "predicted", "sd", "inside"], index=frame.index[~np.isnan(x[:, j])])


@pytest.mark.parametrize(("level", "z"), [(0.9, Z90), (0.5, Z50)])
def test_table_against_the_per_cell_loop(air: pd.DataFrame, air_fit: imputer.ImputeResult, level: float,
                                         z: float) -> None:
    table = overimpute_table(air_fit, level=level)
    assert list(table.columns) == ["column", "observed", "predicted", "sd", "lower", "upper", "inside"]
    assert list(dict.fromkeys(table["column"])) == ["Ozone", "Solar.R"]
    for col in ("Ozone", "Solar.R"):
        got = table[table["column"] == col]
        ref = by_hand(air, air_fit, col, z)
        assert got.index.equals(ref.index)
        np.testing.assert_array_equal(got["observed"], ref["observed"])
        np.testing.assert_allclose(got["predicted"], ref["predicted"], rtol=1e-10)
        np.testing.assert_allclose(got["sd"], ref["sd"], rtol=1e-10)
        np.testing.assert_allclose(got["upper"] - got["lower"], 2 * z * ref["sd"], rtol=1e-10)
        assert got["inside"].tolist() == ref["inside"].tolist()


def test_coverage_on_the_panels(air: pd.DataFrame, air_fit: imputer.ImputeResult) -> None:
    fig = overimpute(air_fit)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    for ax, col in zip(fig.axes, ["Ozone", "Solar.R"], strict=True):
        ref = by_hand(air, air_fit, col, Z90)
        share = ref["inside"].mean()
        assert [t.get_text() for t in ax.texts] == [f"90% intervals cover {100 * share:.1f}% of {len(ref)}"]
        assert ax.get_xlabel() == f"observed {col}"
        assert ax.get_ylabel() == f"predicted {col}"
        # the points: every observed value once, with its prediction
        containers = ax.containers
        xs = np.concatenate([c.lines[0].get_xdata() for c in containers])
        ys = np.concatenate([c.lines[0].get_ydata() for c in containers])
        assert xs.size == len(ref)
        np.testing.assert_array_equal(np.sort(xs), np.sort(ref["observed"].to_numpy()))
        np.testing.assert_allclose(np.sort(ys), np.sort(ref["predicted"].to_numpy()), rtol=1e-10)
        (diag,) = [ln for ln in ax.get_lines() if ln.get_label() == "y = x"]
        x0, x1 = diag.get_xdata()
        assert list(diag.get_ydata()) == [x0, x1]


def test_airquality_coverage_figures(air_fit: imputer.ImputeResult) -> None:
    """The coverages of the README's example: 107 of 116 Ozone, 139 of 146 Solar.R (from by_hand)."""
    table = overimpute_table(air_fit)
    assert table.groupby("column")["inside"].sum().to_dict() == {"Ozone": 107, "Solar.R": 139}


def test_multiple_imputation_uses_its_em_fit(air_fit: imputer.ImputeResult, air_mi) -> None:
    pd.testing.assert_frame_equal(overimpute_table(air_mi), overimpute_table(air_fit))


def test_a_row_with_nothing_else_observed_gets_the_mean() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0, np.nan], "b": [2.0, 1.0, 4.0, np.nan, 5.0, 3.0]})
    res = imputer.impute(frame)
    table = overimpute_table(res, columns=["a"])
    assert table.loc[3, "predicted"] == res.mean["a"]
    assert table.loc[3, "sd"] == pytest.approx(np.sqrt(res.cov.loc["a", "a"]), rel=1e-12)


def test_no_missing_cells_says_so() -> None:
    res = imputer.impute(pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": [3.0, 1.0, 2.0]}))
    (ax,) = overimpute(res).axes
    assert [t.get_text() for t in ax.texts] == ["No missing cells: nothing to check."]
    assert len(overimpute_table(res)) == 0


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, "0.9", True])
def test_bad_level(air_fit: imputer.ImputeResult, level: object) -> None:
    with pytest.raises(ImputerValueError, match="level must be a number strictly between 0 and 1"):
        overimpute(air_fit, level=level)


def test_bad_result() -> None:
    with pytest.raises(ImputerTypeError, match="overimpute: result must be an ImputeResult"):
        overimpute(object())
    with pytest.raises(ImputerTypeError, match="overimpute_table: result must be an ImputeResult"):
        overimpute_table(object())


def test_max_points_draws_a_subset_and_keeps_the_coverage(air: pd.DataFrame, air_fit: imputer.ImputeResult) -> None:
    fig = overimpute(air_fit, columns=["Ozone"], max_points=40)
    (ax,) = fig.axes
    xs = np.concatenate([c.lines[0].get_xdata() for c in ax.containers])
    assert xs.size == 40
    ref = by_hand(air, air_fit, "Ozone", Z90)
    assert set(xs) <= set(ref["observed"])
    share = ref["inside"].mean()
    assert [t.get_text() for t in ax.texts] == [f"90% intervals cover {100 * share:.1f}% of 116\n(40 drawn at random)"]
    # the same subset every time
    again = np.concatenate([c.lines[0].get_xdata() for c in overimpute(air_fit, columns=["Ozone"], max_points=40)
                            .axes[0].containers])
    np.testing.assert_array_equal(np.sort(again), np.sort(xs))
    full = overimpute(air_fit, columns=["Ozone"], max_points=None).axes[0]
    assert sum(c.lines[0].get_xdata().size for c in full.containers) == 116


@pytest.mark.parametrize("max_points", [0, -3, 2.5, True])
def test_bad_max_points(air_fit: imputer.ImputeResult, max_points: object) -> None:
    with pytest.raises(ImputerValueError, match="max_points must be a positive integer or None"):
        overimpute(air_fit, max_points=max_points)
