"""imputer.plot.densities: one panel per incomplete column, the KDEs of the right values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy.stats import gaussian_kde

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.plot import densities


def _check_kde(line, values: np.ndarray) -> None:
    x, y = line.get_data()
    np.testing.assert_allclose(y, gaussian_kde(values)(x), rtol=1e-12)


def test_single_fit(air: pd.DataFrame, air_fit: imputer.ImputeResult) -> None:
    fig = densities(air_fit)
    assert isinstance(fig, Figure)
    assert [ax.get_xlabel() for ax in fig.axes] == ["Ozone", "Solar.R"]
    assert [ax.get_ylabel() for ax in fig.axes] == ["density", "density"]
    assert [ax.get_title() for ax in fig.axes] == ["Ozone: 37 imputed", "Solar.R: 7 imputed"]
    for ax, col in zip(fig.axes, ["Ozone", "Solar.R"], strict=True):
        observed_line, imputed_line = ax.get_lines()
        miss = air[col].isna().to_numpy()
        _check_kde(observed_line, air[col].dropna().to_numpy(dtype=float))
        _check_kde(imputed_line, air_fit.completed[col].to_numpy()[miss])
        assert observed_line.get_label() == f"observed (n={(~miss).sum()})"


def test_one_line_per_imputation(air: pd.DataFrame, air_mi) -> None:
    fig = densities(air_mi)
    assert len(fig.axes) == 2
    for ax, col in zip(fig.axes, ["Ozone", "Solar.R"], strict=True):
        lines = ax.get_lines()
        assert len(lines) == 1 + 3
        miss = air[col].isna().to_numpy()
        for line, table in zip(lines[1:], air_mi.imputations, strict=True):
            _check_kde(line, table[col].to_numpy()[miss])
        assert lines[1].get_label() == f"imputed, 3 imputations (n={miss.sum()})"


def test_columns_chosen(air_fit: imputer.ImputeResult) -> None:
    fig = densities(air_fit, columns=["Solar.R", "Wind"])
    assert [ax.get_xlabel() for ax in fig.axes] == ["Solar.R", "Wind"]
    # Wind is complete: its observed density alone
    assert len(fig.axes[1].get_lines()) == 1


def test_a_single_imputed_value_is_a_rug() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.5, 4.0, np.nan], "b": [2.0, 1.0, 4.0, 3.0, 5.0]})
    res = imputer.impute(frame)
    (ax,) = densities(res).axes
    _, rug = ax.get_lines()
    assert rug.get_marker() == "|"
    np.testing.assert_array_equal(rug.get_xdata(), [res.completed["a"].iloc[4]])


def test_no_missing_cells_says_so() -> None:
    res = imputer.impute(pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": [3.0, 1.0, 2.0]}))
    fig = densities(res)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.texts] == ["No missing cells: nothing was imputed."]


def test_draws_into_a_given_figure(air_fit: imputer.ImputeResult) -> None:
    fig = Figure()
    assert densities(air_fit, fig=fig) is fig
    assert len(fig.axes) == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"columns": ["nope"]}, ImputerValueError, r"densities: columns: 'nope' is not a column of the fit"),
        ({"columns": ["note"]}, ImputerValueError, r"'note' is a passed-through \(non-numeric\) column"),
        ({"columns": "Ozone"}, ImputerTypeError, "columns must be a list of column labels, got str"),
        ({"fig": 3}, ImputerTypeError, "densities: fig must be a matplotlib Figure, got int"),
    ],
)
def test_bad_input(air: pd.DataFrame, kwargs: dict, error: type, match: str) -> None:
    res = imputer.impute(air.assign(note="x"))
    with pytest.raises(error, match=match):
        densities(res, **kwargs)


def test_not_a_result(air: pd.DataFrame) -> None:
    with pytest.raises(ImputerTypeError, match="densities: result must be an ImputeResult"):
        densities(air)
