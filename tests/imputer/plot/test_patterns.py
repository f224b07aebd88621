"""imputer.plot.patterns: the image is the pattern table of a naive grouping of ``isna()``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.plot import patterns


def naive(frame: pd.DataFrame) -> pd.DataFrame:
    """Patterns by grouping the observed-indicator rows (1 observed, 0 missing), most frequent first."""
    obs = frame.notna().astype(int)
    counts = obs.groupby(list(obs.columns)).size().rename("count").reset_index()
    return counts.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def _image(fig: Figure) -> np.ndarray:
    (ax,) = fig.axes
    (img,) = ax.get_images()
    return np.asarray(img.get_array())


def _labels(axis) -> list[str]:
    return [t.get_text() for t in axis.get_ticklabels()]


def test_airquality(air: pd.DataFrame) -> None:
    fig = patterns(air)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    expected = naive(air)
    got = _image(fig)
    assert got.shape == (4, 6)
    # rows with equal counts may come in either order: compare as sets of (pattern, count)
    rows = {(tuple(r), c) for r, c in zip(got.astype(int).tolist(), expected["count"], strict=True)}
    assert rows == {(tuple(r[:6]), r[6]) for r in expected.to_numpy().tolist()}
    top_axis, right_axis = ax.child_axes
    assert _labels(ax.xaxis) == list(air.columns)
    assert _labels(top_axis.xaxis) == [f"{v:,}" for v in air.isna().sum()]
    assert _labels(right_axis.yaxis) == [f"{v:,}" for v in expected["count"]]
    assert _labels(ax.yaxis) == [str(6 - sum(r[:6])) for r in got.astype(int).tolist()]
    assert ax.get_xlabel() == "column (6)"
    assert ax.get_ylabel() == "missing cells in the pattern"
    assert right_axis.get_ylabel() == "rows with the pattern"
    assert ax.get_title() == "Missingness patterns: 4 patterns, 44 missing of 918 cells"


@pytest.mark.parametrize("top", [50, 10])
def test_thousands_of_patterns_show_the_top(top: int) -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(3000, 14))
    values[rng.random(values.shape) < 0.4] = np.nan
    frame = pd.DataFrame(values, columns=[f"x{j}" for j in range(14)])
    expected = naive(frame)
    assert len(expected) > 1000
    fig = patterns(frame, top=top)
    got = _image(fig)
    assert got.shape == (top, 14)
    # the drawn counts are the largest ones, in order, each beside its own pattern
    (ax,) = fig.axes
    right_axis = ax.child_axes[1]
    counts = [int(t.replace(",", "")) for t in _labels(right_axis.yaxis)]
    assert counts == expected["count"].iloc[:top].tolist()
    known = {tuple(r[:14]): r[14] for r in expected.to_numpy().tolist()}
    assert [known[tuple(r)] for r in got.astype(int).tolist()] == counts
    more = len(expected) - top
    rest = int(expected["count"].iloc[top:].sum())
    assert ax.get_title().endswith(
        f"\nthe {top} most frequent shown; {more:,} more patterns ({rest:,} rows) not shown"
    )


def test_no_missing_cells_says_so() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4, 5, 6]})
    fig = patterns(frame)
    np.testing.assert_array_equal(_image(fig), [[1.0, 1.0]])
    assert fig.axes[0].get_title() == "No missing cells: 3 rows, all 2 columns observed"


def test_one_column() -> None:
    frame = pd.DataFrame({"only one": [1.0, np.nan, 3.0, np.nan, np.nan]})
    fig = patterns(frame)
    np.testing.assert_array_equal(_image(fig), [[0.0], [1.0]])
    (ax,) = fig.axes
    assert _labels(ax.child_axes[1].yaxis) == ["3", "2"]
    assert _labels(ax.xaxis) == ["only one"]


def test_text_columns_are_left_out_by_default(air: pd.DataFrame) -> None:
    frame = air.assign(note=["x", None] * (len(air) // 2) + ["x"] * (len(air) % 2))
    assert _image(patterns(frame)).shape == (4, 6)


def test_draws_into_a_given_axes(air: pd.DataFrame) -> None:
    fig = Figure()
    ax = fig.add_subplot(1, 2, 2)
    assert patterns(air, ax=ax) is fig
    assert len(fig.axes) == 1 and fig.axes[0] is ax


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"columns": ["Ozone", "note"]}, ImputerTypeError, "'note'"),
        ({"columns": ["nope"]}, ImputerValueError, "'nope'"),
        ({"top": 0}, ImputerValueError, "top must be a positive integer, got 0"),
        ({"top": 2.5}, ImputerValueError, "top must be a positive integer, got 2.5"),
        ({"ax": "axes"}, ImputerTypeError, "patterns: ax must be a matplotlib Axes, got str"),
    ],
)
def test_bad_input(air: pd.DataFrame, kwargs: dict, error: type, match: str) -> None:
    frame = air.assign(note="text")
    with pytest.raises(error, match=match):
        patterns(frame, **kwargs)


def test_an_array_and_a_pattern_table(air: pd.DataFrame) -> None:
    np.testing.assert_array_equal(_image(patterns(air.to_numpy())), _image(patterns(air)))
    np.testing.assert_array_equal(_image(patterns(imputer.patterns(air))), _image(patterns(air)))
    with pytest.raises(ImputerValueError, match="patterns: columns must be None when data is a PatternTable"):
        patterns(imputer.patterns(air), columns=["Ozone"])


def test_not_a_table() -> None:
    with pytest.raises(ImputerValueError, match=r"data must be 2-D \(rows x columns\)"):
        patterns("airquality.csv")
