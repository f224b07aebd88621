"""imputer.plot.caterpillar: BLUPs sorted with +-1.96 sqrt(PEV), read back from the axes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.plot import caterpillar


def _points(fig: Figure) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    (ax,) = fig.axes
    (bars,) = ax.containers
    x = bars.lines[0].get_xdata()
    (segments,) = bars.lines[2]
    half = np.array([(s[1, 0] - s[0, 0]) / 2 for s in segments.get_segments()])
    return np.asarray(x), np.asarray(bars.lines[0].get_ydata()), half


def test_dyestuff(dyestuff_fit: imputer.MixedResult) -> None:
    fig = caterpillar(dyestuff_fit, "Batch")
    (ax,) = fig.axes
    x, y, half = _points(fig)
    u = dyestuff_fit.u["Batch"].sort_values(kind="stable")
    np.testing.assert_array_equal(x, u.to_numpy())
    np.testing.assert_array_equal(y, np.arange(6))
    np.testing.assert_allclose(half, 1.96 * np.sqrt(dyestuff_fit.pev["Batch"][u.index].to_numpy()), rtol=1e-12)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(u.index)
    assert ax.get_xlabel() == "BLUP, units of the response (bars: +-1.96 sqrt(PEV))"
    assert ax.get_ylabel() == "Batch level (6, sorted)"
    sd = np.sqrt(dyestuff_fit.var_comp["Batch"])
    assert ax.get_title() == f"Random effect Batch: sd {sd:.4g}"


def test_many_levels_drop_their_names() -> None:
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(80), 3)
    frame = pd.DataFrame({"g": g.astype(str), "y": rng.normal(size=80)[g] + rng.normal(size=g.size)})
    res = imputer.fit_mixed_frame(frame, "y", random=["g"])
    fig = caterpillar(res, "g")
    x, _, _ = _points(fig)
    assert x.size == 80 and np.all(np.diff(x) >= 0)
    assert fig.axes[0].get_yticklabels() == []


def test_draws_into_a_given_axes(dyestuff_fit: imputer.MixedResult) -> None:
    fig = Figure()
    ax = fig.add_subplot()
    assert caterpillar(dyestuff_fit, "Batch", ax=ax) is fig


def test_bad_input(dyestuff_fit: imputer.MixedResult, air_fit: imputer.ImputeResult) -> None:
    match = r"caterpillar: term 'batch' is not a random effect of the fit; terms: \['Batch'\]"
    with pytest.raises(ImputerValueError, match=match):
        caterpillar(dyestuff_fit, "batch")
    with pytest.raises(ImputerTypeError, match="caterpillar: result must be a MixedResult, got ImputeResult"):
        caterpillar(air_fit, "Batch")
    with pytest.raises(ImputerTypeError, match="caterpillar: ax must be a matplotlib Axes, got Figure"):
        caterpillar(dyestuff_fit, "Batch", ax=Figure())


@pytest.mark.parametrize("effect", [None, "Days"])
def test_term_with_several_effects(effect: str | None) -> None:
    from pathlib import Path

    df = pd.read_csv(Path(__file__).resolve().parents[2] / "data" / "sleepstudy.csv")
    fit = imputer.fit_mixed_frame(df, "Reaction", fixed=["Days"], random=["(Days | Subject)"])
    fig = caterpillar(fit, "Subject", effect=effect)
    chosen = effect or "(Intercept)"
    x, _, half = _points(fig)
    u = fit.u["Subject"][chosen].sort_values(kind="stable")
    np.testing.assert_array_equal(x, u.to_numpy())
    np.testing.assert_allclose(half, 1.96 * np.sqrt(fit.pev["Subject"][chosen][u.index].to_numpy()), rtol=1e-12)
    sd = np.sqrt(fit.covariances["Subject"].loc[chosen, chosen])
    assert fig.axes[0].get_title() == f"Random effect Subject: {chosen}: sd {sd:.4g}"
    with pytest.raises(ImputerValueError, match=r"effect 'Age' is not an effect of term 'Subject'; effects: \['\(Intercept\)', 'Days'\]"):
        caterpillar(fit, "Subject", effect="Age")
