"""Watching a fit: ``progress``, ``callback(iteration, progress)`` and ``max_time``.

For every engine the callback must see exactly the run the result reports (its
objectives are the result's ``loglik_history``, in the same units; its evaluation count
ends at the trace's), a callback that never stops must leave the result bit-for-bit
unchanged, and a stop (by the callback or the clock) must end the fit at once, with
``converged=False``, the right ``stop_reason`` and a warning that says why.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer._em import monitor as monitor_module
from imputer.errors import ConvergenceWarning, ImputerTypeError, ImputerValueError

DATA = Path(__file__).resolve().parents[2] / "data"


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 4)) @ np.array([[1, 0.5, 0.2, 0], [0, 1, 0.4, 0.3], [0, 0, 1, 0.6], [0, 0, 0, 1.0]])
    x[rng.random(x.shape) < 0.25] = np.nan
    return pd.DataFrame(x, columns=list("abcd"))


def _dyestuff(**kw: Any) -> Any:
    df = pd.read_csv(DATA / "dyestuff.csv")
    return imputer.fit_mixed_frame(df, "Yield", random=["Batch"], **kw)


#: name -> fit(**monitor_kwargs); each makes several accepted iterates at the defaults
FITS: dict[str, Callable[..., Any]] = {
    "impute": lambda **kw: imputer.impute(_table(), **kw),
    "impute-ridge": lambda **kw: imputer.impute(_table(), ridge=3.0, **kw),
    "impute_t": lambda **kw: imputer.impute_t(_table(), **kw),
    "impute_mixture": lambda **kw: imputer.impute_mixture(_table(), 2, n_init=2, seed=3, **kw),
    "fit_mixed_frame": _dyestuff,
}


def _quiet(fit: Callable[..., Any], **kw: Any) -> tuple[Any, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fit(**kw)
    return out, list(caught)


@pytest.mark.parametrize("name", ["impute", "impute-ridge", "impute_t", "fit_mixed_frame"])
def test_callback_sees_the_reported_run_and_changes_nothing(name: str) -> None:
    fit = FITS[name]
    seen: list[imputer.Progress] = []
    plain, _ = _quiet(fit)
    watched, _ = _quiet(fit, callback=lambda i, s: seen.append(s))
    assert watched == plain  # frozen results compare every field: nothing moved
    assert [s.iteration for s in seen] == list(range(1, len(seen) + 1))
    # the objectives shown are the result's history, in its units
    history = np.asarray(watched.loglik_history)
    np.testing.assert_allclose([s.objective for s in seen], history[: len(seen)], rtol=0, atol=1e-9 * abs(history[-1]))
    assert len(seen) >= 3
    assert all(b.n_evals >= a.n_evals for a, b in zip(seen, seen[1:]))
    assert all(b.elapsed >= a.elapsed for a, b in zip(seen, seen[1:]))
    assert math.isnan(seen[0].change)
    assert all(s.change >= 0 for s in seen[1:] if not math.isnan(s.change))


@pytest.mark.parametrize("name", list(FITS))
def test_truthy_callback_stops_at_that_iterate(name: str) -> None:
    fit = FITS[name]
    seen: list[imputer.Progress] = []

    def stop_at_two(i: int, s: imputer.Progress) -> bool:
        seen.append(s)
        return i == 2

    res, caught = _quiet(fit, callback=stop_at_two)
    assert len(seen) == 2
    assert res.converged is False
    assert res.trace.stop_reason == "stopped"
    messages = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(messages) == 1
    assert "EM stopped after 2 iterates because the callback asked to stop" in messages[0]
    assert "max_iter" not in messages[0]


@pytest.mark.parametrize("name", ["impute", "impute_t", "fit_mixed_frame"])
def test_stopped_fit_returns_the_stopping_iterate(name: str) -> None:
    fit = FITS[name]
    seen: list[imputer.Progress] = []
    res, _ = _quiet(fit, callback=lambda i, s: seen.append(s) or i == 3)
    assert res.trace.n_evals == seen[-1].n_evals + (1 if name == "fit_mixed_frame" else 0)  # mixed: + final loglik
    assert res.loglik_history[-1] == pytest.approx(seen[-1].objective, rel=1e-12)


@pytest.mark.parametrize("name", list(FITS))
def test_max_time_stops_the_whole_call(name: str) -> None:
    res, caught = _quiet(FITS[name], max_time=1e-9)
    assert res.converged is False
    assert res.trace.stop_reason == "max_time"
    messages = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(messages) == 1
    assert "because the time limit max_time=1e-09 s was reached" in messages[0]
    if name in ("impute", "impute-ridge", "fit_mixed_frame"):
        assert "time limit (max_time) reached" in res.summary()


def test_generous_max_time_changes_nothing() -> None:
    assert _quiet(FITS["impute"], max_time=3600)[0] == _quiet(FITS["impute"])[0]


def test_progress_line_on_stderr(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor_module, "PROGRESS_DELAY", 0.0)
    _quiet(FITS["impute"], progress=True)
    err = capsys.readouterr().err
    assert err.startswith("\rimpute:") or "impute:" in err
    assert "objective=-" in err and "change=" in err


def test_progress_waits_for_slow_fits(capsys: pytest.CaptureFixture[str]) -> None:
    _quiet(FITS["impute"], progress=True)  # well under PROGRESS_DELAY
    assert capsys.readouterr().err == ""


def test_callback_exception_propagates_and_the_line_is_closed() -> None:
    def boom(i: int, s: imputer.Progress) -> bool:
        raise RuntimeError("from the callback")

    with pytest.raises(RuntimeError, match="from the callback"):
        imputer.impute(_table(), callback=boom, progress=True)
    assert monitor_module.current_monitor() is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"callback": 3}, ImputerTypeError, r"callback must be callable as callback\(iteration, progress\), got int"),
        ({"progress": "yes"}, ImputerTypeError, "progress must be a bool, got str"),
        ({"max_time": "10"}, ImputerTypeError, "max_time must be a number of seconds or None, got str"),
        ({"max_time": True}, ImputerTypeError, "max_time must be a number of seconds or None, got bool"),
        ({"max_time": 0}, ImputerValueError, r"max_time must be a finite number of seconds > 0 or None, got 0.0"),
        ({"max_time": float("inf")}, ImputerValueError, "max_time must be a finite number of seconds > 0"),
        ({"max_time": 10**400}, ImputerValueError, "max_time must be .* got a value too large for a float"),
    ],
)
@pytest.mark.parametrize("name", ["impute", "impute_t", "impute_mixture", "fit_mixed_frame"])
def test_bad_monitor_arguments_are_named(name: str, kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        FITS[name](**kwargs)


def test_cli_max_time_warns_and_writes(tmp_path: Path) -> None:
    from imputer.cli import main

    out = tmp_path / "out.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["impute", str(DATA / "airquality.csv"), "-o", str(out), "--max-time", "1e-9", "--no-progress"])
    assert code == 0
    done = pd.read_csv(out)
    assert not done[["Ozone", "Solar.R"]].isna().any().any()


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon"])
def test_cli_rejects_bad_max_time(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    from imputer.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["impute", str(DATA / "airquality.csv"), "-o", "x.csv", "--max-time", value])
    assert exc.value.code == 2
    assert f"argument --max-time: expected a number of seconds > 0, got '{value}'" in capsys.readouterr().err
