"""``imputer disperse`` (imputer/_cli_disperse.py), called in-process through ``main([...])``.

The reference is Murray's (1977) twelve rows (Little & Rubin 2002, section 8.1), whose
log-likelihood has two maxima, correlation +1/2 and -1/2 with both variances 8/3
(log-likelihood -29.97428641046502), and a saddle point at correlation 0 with variances
2.5 (-30.033342386268007), where EM from the engine's own start stays. The values are
those of the direct maximisation, independent of EM. The JSON printed is compared with
:func:`imputer.disperse` on the same table, through JSON.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer import cli
from imputer.options import DISPERSE_OPTIONS

MURRAY = "x1,x2\n1,1\n1,-1\n-1,1\n-1,-1\n2,\n2,\n-2,\n-2,\n,2\n,2\n,-2\n,-2\n"
#: the direct maximisation (module docstring)
MAX_LOGLIK, SADDLE_LOGLIK = -29.97428641046502, -30.033342386268007


@pytest.fixture
def murray(tmp_path: Path) -> Path:
    path = tmp_path / "murray.csv"
    path.write_text(MURRAY)
    return path


def _unique_table(path: Path) -> Path:
    """30 rows of three correlated columns, 20% missing: one maximum."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 3)) @ np.array([[1.0, 0.5, 0.2], [0.0, 1.0, 0.4], [0.0, 0.0, 1.0]])
    x[rng.random(x.shape) < 0.2] = np.nan
    pd.DataFrame(x.round(3), columns=list("abc")).to_csv(path, index=False)
    return path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _strict_json(text: str) -> Any:
    """``json.loads`` refusing NaN and Infinity tokens (what ``allow_nan=False`` guarantees)."""

    def refuse(token: str) -> None:
        raise ValueError(f"non-finite token {token} in the JSON output")

    return json.loads(text, parse_constant=refuse)


def _json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = _run(["disperse", *args, "--json"], capsys)
    assert code == 0, err
    return _strict_json(out)


def _library(path: Path, columns: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
    return json.loads(json.dumps(imputer.disperse(pd.read_csv(path), columns, **kwargs).to_dict(), allow_nan=False))


def test_murray_two_maxima_and_the_saddle_point(murray: Path, capsys: pytest.CaptureFixture[str]) -> None:
    got = _json([str(murray), "--starts", "8", "--seed", "1"], capsys)
    assert got.pop("input") == str(murray)
    assert got == _library(murray, starts=8, seed=1)
    assert (got["n_points"], got["unique"], got["seed"]) == (3, False, 1)
    engine, best = got["runs"][0], got["runs"][got["best"] - 1]
    # the engine's own start stays at the saddle point: correlation 0, the lowest of the three points
    assert engine["start"] == "engine" and engine["point"] == 3 and engine["converged"]
    assert engine["loglik"] == pytest.approx(SADDLE_LOGLIK, abs=1e-9)
    assert engine["gap"] == pytest.approx(MAX_LOGLIK - SADDLE_LOGLIK, abs=1e-9)
    assert engine["distance"] == pytest.approx(0.5, abs=1e-6)  # the covariance entry 0 vs +-4/3, in SD units
    assert best["loglik"] == pytest.approx(MAX_LOGLIK, abs=1e-9) and best["point"] == 1
    # the best estimate: variances 8/3, correlation +-1/2
    cov = np.array(got["cov"]["data"])
    np.testing.assert_allclose(np.diag(cov), [8 / 3, 8 / 3], atol=1e-6)
    assert abs(cov[0, 1]) == pytest.approx(4 / 3, abs=1e-6)
    # every other run reached one of the two maxima, the other one at distance 1 (covariance -4/3 vs +4/3)
    others = got["runs"][1:]
    assert {r["point"] for r in others} == {1, 2}
    for r in others:
        assert r["loglik"] == pytest.approx(MAX_LOGLIK, abs=1e-9)
        assert r["distance"] == pytest.approx(0.0 if r["point"] == 1 else 1.0, abs=1e-6)


@pytest.mark.parametrize(
    ("table", "unique", "verdict"),
    [("murray", False, "3 distinct end points"), ("unique", True, "every run reached the same point")],
)
def test_exit_status_is_0_whether_or_not_the_runs_agree(
    table: str, unique: bool, verdict: str, murray: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = murray if table == "murray" else _unique_table(tmp_path / "unique.csv")
    args = [str(path), "--starts", "8" if table == "murray" else "4", "--seed", "1"]
    code, out, err = _run(["disperse", *args], capsys)
    assert (code, err) == (0, "")
    expected = imputer.disperse(pd.read_csv(path), starts=int(args[2]), seed=1)
    assert expected.unique is unique
    assert out == expected.summary() + "\n"
    assert verdict in out
    assert _json(args, capsys)["unique"] is unique


@pytest.mark.parametrize(
    ("flags", "columns", "kwargs"),
    [
        ([], None, {}),
        (["--ridge", "1", "--prior", "amelia"], None, {"ridge": 1.0, "prior": "amelia"}),
        (["--tol", "1e-5", "--max-iter", "50"], None, {"tol": 1e-5, "max_iter": 50}),
        (["--no-accelerate"], None, {"accelerate": False}),
        (["--atol", "0.01"], None, {"atol": 0.01}),
        (["--around", "estimate"], None, {"around": "estimate"}),
        (["--columns", "x2, x1"], ["x2", "x1"], {}),
    ],
    ids=["defaults", "prior", "tol", "no-accelerate", "atol", "around", "columns"],
)
def test_options_reach_the_library(
    flags: list[str], columns: list[str] | None, kwargs: dict[str, Any], murray: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    got = _json([str(murray), "--starts", "4", "--seed", "7", *flags], capsys)
    del got["input"]
    expected = _library(murray, columns, starts=4, seed=7, **kwargs)
    assert got == expected
    for name, value in kwargs.items():
        if name != "accelerate":  # not on the result: the equality above tells (n_evals differ)
            assert got[name] == value
    if columns is not None:
        assert got["columns"] == columns


def test_seed_is_drawn_and_reported_when_not_given(murray: Path, capsys: pytest.CaptureFixture[str]) -> None:
    got = _json([str(murray), "--starts", "4"], capsys)
    assert isinstance(got["seed"], int) and got["seed"] >= 0
    again = _json([str(murray), "--starts", "4", "--seed", str(got["seed"])], capsys)
    assert again == got  # the reported seed replays the runs


def test_runs_that_do_not_converge_warn_and_stay_valid_json(murray: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["disperse", str(murray), "--starts", "2", "--seed", "3", "--max-iter", "1", "--json"], capsys)
    assert code == 0
    got = _strict_json(out)
    assert [r["converged"] for r in got["runs"]] == [True, False]
    assert got["runs"][1]["point"] == 0 and got["runs"][1]["stop_reason"] == "max_iter"
    assert got["unique"] is False
    assert err == "imputer: warning: disperse: run(s) 2 did not converge within max_iter=1 (point 0 in runs); raise max_iter\n"


def test_standard_input(murray: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MURRAY.encode())))
    got = _json(["-", "--starts", "4", "--seed", "2"], capsys)
    assert got.pop("input") == "<stdin>"
    assert got == _library(murray, starts=4, seed=2)


def test_reads_files_as_impute_does(tmp_path: Path, murray: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.read_csv(murray).assign(site=list("abcdefghijkl"))
    semi = tmp_path / "semi.csv"
    frame.to_csv(semi, sep=";", decimal=",", index=False)
    base = _json([str(murray), "--starts", "4", "--seed", "5"], capsys)
    del base["input"]
    got = _json([str(semi), "--starts", "4", "--seed", "5", "--decimal", ","], capsys)
    del got["input"]
    assert got.pop("passthrough") == ["site"] and base.pop("passthrough") == []  # reported, not modelled
    assert got == base
    pytest.importorskip("pyarrow")
    pq = tmp_path / "murray.parquet"
    frame.to_parquet(pq)
    got = _json([str(pq), "--starts", "4", "--seed", "5"], capsys)
    del got["input"]
    assert got.pop("passthrough") == ["site"]
    assert got == base


#: the first bytes of each figure format
MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".svg": b"<?xml", ".pdf": b"%PDF-"}


@pytest.mark.parametrize("suffix", sorted(MAGIC))
def test_plot_saves_the_figure_in_the_format_of_its_suffix(
    suffix: str, murray: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    figure = tmp_path / f"runs{suffix.upper() if suffix == '.png' else suffix}"
    code, out, err = _run(["disperse", str(murray), "--starts", "4", "--seed", "1", "--plot", str(figure)], capsys)
    assert (code, err) == (0, "")
    assert out == imputer.disperse(pd.read_csv(murray), starts=4, seed=1).summary() + "\n"
    assert figure.read_bytes().startswith(MAGIC[suffix]) and figure.stat().st_size > 1000


@pytest.mark.parametrize(
    ("text", "args", "status", "message"),
    [
        (MURRAY, ["--starts", "1"], 1, "starts must be >= 2, got 1"),
        (MURRAY, ["--atol", "0"], 1, "atol must be a finite number > 0, got 0.0"),
        (MURRAY, ["--seed", "-1"], 1, "seed must be a non-negative integer, got -1"),
        (MURRAY, ["--tol", "0"], 1, "tol must be a finite number > 0, got 0.0"),
        (MURRAY, ["--max-iter", "0"], 1, "max_iter must be >= 1, got 0"),
        (MURRAY, ["--ridge", "-1"], 1, "ridge must be a finite number >= 0, got -1.0"),
        (MURRAY, ["--columns", "x1,zz"], 1, "columns: unknown column 'zz'"),
        (MURRAY, ["--columns", "x1,,x2"], 2, "--columns 'x1,,x2': empty column name"),
        (MURRAY, ["--plot", "runs.jpg"], 2, "--plot 'runs.jpg': unknown figure format"),
        (MURRAY, ["--plot", "no/such/dir/runs.png"], 1, "--plot 'no/such/dir/runs.png': no directory 'no/such/dir'"),
        ("s\nx\ny\n", [], 1, "data has no numeric column to model"),
        ("a,b,c\n1,2,\n2,,3\n,4,5\n", [], 1, "data has 3 rows for 3 modelled columns"),
    ],
    ids=["starts", "atol", "seed", "tol", "max-iter", "ridge", "unknown-column", "empty-column", "plot-suffix",
         "plot-directory", "no-numeric", "too-few-rows"],
)
def test_bad_options_and_data_are_one_line(
    text: str, args: list[str], status: int, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    code, out, err = _run(["disperse", str(path), *args], capsys)
    assert code == status and out == ""
    assert err.startswith("imputer: error: ") and err.count("\n") == 1
    assert message in err


@pytest.mark.parametrize("args", [["--prior", "flat"], ["--starts", "two"], ["--seed", "1.5"], ["--around", "mode"],
                                  ["--jobs", "0"], ["--jobs", "-2"], ["--jobs", "two"]])
def test_option_text_argparse_cannot_read_is_a_usage_error(
    args: list[str], murray: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["disperse", str(murray), *args])
    assert info.value.code == 2
    assert args[0] in capsys.readouterr().err


@pytest.mark.parametrize("around", ["start", "estimate"])
def test_jobs_give_the_runs_of_one_at_a_time(around: str, murray: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(murray), "--starts", "6", "--seed", "1", "--around", around, "--no-progress"]
    assert _json([*args, "--jobs", "2"], capsys) == _json(args, capsys)
    assert _json([*args, "--jobs", "2"], capsys)["n_points"] == 3


def _disperse_actions() -> dict[str, Any]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return {a.dest: a for a in sub.choices["disperse"]._actions}


def test_help_documents_every_option_and_the_exit_status() -> None:
    actions = _disperse_actions()
    assert set(DISPERSE_OPTIONS) | {"input", "json", "plot", "jobs", "sep", "decimal", "na_values", "format"} <= set(actions)
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    text = sub.choices["disperse"].format_help()
    assert "Exit status: 0 when the runs were made, whether they reached one point or several" in " ".join(text.split())


def test_max_time_stops_the_runs_with_warnings(murray: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["disperse", str(murray), "--starts", "3", "--seed", "1", "--max-time", "1e-9",
                           "--no-progress", "--json"], capsys)
    assert code == 0, err
    assert [r["stop_reason"] for r in _strict_json(out)["runs"]] == ["max_time"] * 3
    assert "imputer: warning: disperse: run(s) 1, 2, 3 did not converge (time limit (max_time) reached" in err
    assert "imputer: warning: EM stopped after" in err


@pytest.mark.parametrize("value", ["0", "-1", "inf", "soon"])
def test_max_time_must_be_positive_seconds(value: str, murray: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from imputer.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["disperse", str(murray), "--max-time", value])
    assert exc.value.code == 2
    assert f"--max-time: expected a number of seconds > 0, got '{value}'" in capsys.readouterr().err
