"""imputer.plot.disperse: each run's gap below the best end point, and its distance from it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import imputer
from imputer.errors import ImputerTypeError
from imputer.plot import disperse
from imputer.plot.disperse import FLOOR

nan = math.nan
MURRAY = pd.DataFrame(
    {
        "x1": [1, 1, -1, -1, 2, 2, -2, -2, nan, nan, nan, nan],
        "x2": [1, -1, 1, -1, nan, nan, nan, nan, 2, 2, -2, -2],
    }
)


@pytest.fixture(scope="module")
def result() -> imputer.Dispersion:
    return imputer.disperse(MURRAY, starts=6, seed=1)


def test_lines_are_the_gaps_below_the_best(result: imputer.Dispersion) -> None:
    fig = disperse(result)
    left, right = fig.axes
    best = result.runs.loc[result.best, "objective"]
    floor = FLOOR * max(1.0, abs(best))
    lines = left.get_lines()
    assert len(lines) == 2 * len(result.runs)  # a line and its end marker per run
    for k, run in enumerate(result.runs.index):
        line, end = lines[2 * k], lines[2 * k + 1]
        np.testing.assert_array_equal(line.get_ydata(), np.maximum(best - result.histories[run], floor))
        assert end.get_ydata()[0] == line.get_ydata()[-1]
    assert lines[0].get_label() == "run 1 (engine start): point 3"
    assert lines[0].get_linewidth() > lines[2].get_linewidth()
    assert left.get_yscale() == right.get_yscale() == "log"
    # the saddle point levels off at its gap
    assert lines[0].get_ydata()[-1] == pytest.approx(result.runs.loc[1, "gap"])


def test_markers_are_the_distances(result: imputer.Dispersion) -> None:
    fig = disperse(result)
    right = fig.axes[1]
    (dots,) = right.collections
    xy = dots.get_offsets()
    np.testing.assert_array_equal(xy[:, 0], result.runs.index.to_numpy())
    np.testing.assert_array_equal(xy[:, 1], np.maximum(result.runs["distance"].to_numpy(), FLOOR))
    (atol,) = right.get_lines()
    assert atol.get_ydata()[0] == result.atol
    assert fig._suptitle.get_text() == "EM from 6 starts: 3 distinct end points"


def test_unconverged_runs_are_grey_and_counted() -> None:
    with pytest.warns(imputer.ConvergenceWarning):
        d = imputer.disperse(MURRAY.assign(x3=np.arange(12.0) ** 1.5), starts=3, seed=0, max_iter=2)
    fig = disperse(d)
    assert "3 run(s) not converged" in fig._suptitle.get_text()
    assert all(line.get_color() == "#999999" for line in fig.axes[0].get_lines())


def test_draws_into_a_given_figure(result: imputer.Dispersion) -> None:
    fig = Figure()
    assert disperse(result, fig=fig) is fig
    assert len(fig.axes) == 2


@pytest.mark.parametrize(
    ("arg", "match"),
    [
        ("x", "disperse: result must be a Dispersion"),
        (None, "disperse: result must be a Dispersion"),
    ],
)
def test_wrong_input(arg: object, match: str) -> None:
    with pytest.raises(ImputerTypeError, match=match):
        disperse(arg)  # type: ignore[arg-type]


def test_wrong_fig(result: imputer.Dispersion) -> None:
    with pytest.raises(ImputerTypeError, match="disperse: fig must be a matplotlib Figure, got list"):
        disperse(result, fig=[])  # type: ignore[arg-type]
