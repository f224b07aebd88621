"""imputer.plot.trace: the objective history, its increments and the parameter change, for both engines."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import imputer
from imputer._em.trace import EMTrace
from imputer.errors import ImputerTypeError
from imputer.plot import trace

DATA = Path(__file__).resolve().parents[2] / "data"


def _check(fig: Figure, history: np.ndarray, name: str) -> None:
    left, right, _ = fig.axes
    (line,) = left.get_lines()
    np.testing.assert_array_equal(line.get_ydata(), history)
    np.testing.assert_array_equal(line.get_xdata(), np.arange(history.size))
    assert left.get_ylabel() == name
    assert right.get_ylabel() == f"{name} increase (log scale)"
    assert left.get_xlabel() == right.get_xlabel() == "accepted iterate"
    assert right.get_yscale() == "log"
    step, gap = right.get_lines()
    inc = np.diff(history)
    np.testing.assert_array_equal(step.get_ydata(), inc[inc > 0])
    np.testing.assert_array_equal(step.get_xdata(), np.arange(1, history.size)[inc > 0])
    g = history[-1] - history[:-1]
    np.testing.assert_array_equal(gap.get_ydata(), g[g > 0])


def _check_changes(fig: Figure, result: object) -> None:
    ax = fig.axes[2]
    changes = result.trace.changes  # type: ignore[attr-defined]
    line, tol_line = ax.get_lines()
    np.testing.assert_array_equal(line.get_ydata(), changes)
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, changes.size + 1))
    assert tol_line.get_ydata()[0] == result.tol  # type: ignore[attr-defined]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "parameter change (log scale)"
    if result.converged:  # type: ignore[attr-defined]
        assert changes[-1] <= result.tol < changes[0]  # type: ignore[attr-defined]


def test_impute_result(air_fit: imputer.ImputeResult) -> None:
    fig = trace(air_fit)
    _check(fig, air_fit.loglik_history, "log-likelihood")
    _check_changes(fig, air_fit)
    n, k = air_fit.n_iter, air_fit.n_evals
    assert fig.get_suptitle() == f"Convergence: {n} iterations, {k} EM evaluations, converged"


def test_ridge_is_a_log_posterior(air: pd.DataFrame) -> None:
    res = imputer.impute(air, ridge=1.0, accelerate=False)
    fig = trace(res)
    _check(fig, res.loglik_history, "log-posterior")
    _check_changes(fig, res)
    assert res.trace.changes.size == res.n_iter


@pytest.mark.parametrize(("method", "name"), [("REML", "restricted log-likelihood"), ("ML", "log-likelihood")])
def test_mixed_result(method: str, name: str) -> None:
    res = imputer.fit_mixed_frame(pd.read_csv(DATA / "dyestuff.csv"), "Yield", random=["Batch"], method=method)
    fig = trace(res)
    _check(fig, res.loglik_history, name)
    _check_changes(fig, res)


def test_max_iter_in_the_title(air: pd.DataFrame) -> None:
    with pytest.warns(imputer.ConvergenceWarning):
        res = imputer.impute(air, max_iter=2, accelerate=False)
    assert trace(res).get_suptitle().endswith("stopped at max_iter")


def test_zero_steps_are_counted() -> None:
    history = np.array([-10.0, -5.0, -5.0, -4.0, -4.0])
    res = imputer.impute(pd.DataFrame({"a": [1.0, 2.0, 4.0, 1.0], "b": [3.0, 1.0, 2.0, np.nan]}))
    res = dataclasses.replace(res, trace=EMTrace(4, 4, True, history, "converged"))
    fig = trace(res)
    _check(fig, history, "log-likelihood")
    assert [t.get_text() for t in fig.axes[1].texts] == ["2 zero steps not shown"]
    assert [t.get_text() for t in fig.axes[2].texts] == ["no parameter change recorded"]


def test_one_iterate_says_there_is_nothing_to_draw() -> None:
    res = imputer.impute(pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": [3.0, 1.0, 2.0]}))
    assert res.loglik_history.size == 1
    fig = trace(res)
    assert len(fig.axes) == 3
    assert [t.get_text() for t in fig.axes[1].texts] == ["fewer than two iterates:\nno change to draw"]


def test_multiple_imputation_draws_its_em_fit(air_fit: imputer.ImputeResult, air_mi) -> None:
    _check(trace(air_mi), air_fit.loglik_history, "log-likelihood")


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("not a fit",), {}, "trace: result must be an ImputeResult or a MixedResult, got str"),
        ((None,), {}, "got NoneType"),
    ],
)
def test_bad_input(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(ImputerTypeError, match=match):
        trace(*args, **kwargs)


def test_bad_fig(air_fit: imputer.ImputeResult) -> None:
    with pytest.raises(ImputerTypeError, match="trace: fig must be a matplotlib Figure, got list"):
        trace(air_fit, fig=[])
