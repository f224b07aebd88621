"""``imputer diagnose`` (imputer/_cli_diagnose.py), called in-process through ``main([...])``.

The JSON it prints is compared with the library on the same table
(:func:`imputer.diagnostics._overview.overview`, which is :func:`imputer.patterns` and
:func:`imputer.mcar_test`); the airquality MCAR value is the pinned 35.106175 on 14 df.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

import imputer
from imputer import cli
from imputer.diagnostics._overview import overview

DATA = Path(__file__).resolve().parents[1] / "data"
AIR = DATA / "airquality.csv"


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    code, out, err = _run(["diagnose", *args, "--json"], capsys)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize(
    "extra, columns",
    [([], None), (["--columns", "Ozone,Solar.R,Wind"], ["Ozone", "Solar.R", "Wind"]), (["--columns", "Temp, Ozone"], ["Temp", "Ozone"])],
)
def test_json_equals_the_library(extra: list[str], columns: list[str] | None, capsys: pytest.CaptureFixture[str]) -> None:
    got = _json([str(AIR), *extra], capsys)
    expected = overview(pd.read_csv(AIR), columns).to_dict()
    assert got.pop("input") == str(AIR)
    assert got == json.loads(json.dumps(expected))


def test_airquality_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    got = _json([str(AIR)], capsys)
    assert got["mcar"]["statistic"] == pytest.approx(35.106175, abs=5e-7)
    assert (got["mcar"]["df"], got["mcar_error"], got["warnings"]) == (14, None, [])
    assert got["missing"][0] == {"column": "Ozone", "n_missing": 37, "share": 37 / 153}
    assert got["patterns"]["table"]["data"][0] == [1, 1, 1, 1, 1, 1, 111, 0]


def test_text_output_is_the_summaries(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["diagnose", str(AIR)], capsys)
    assert code == 0 and err == ""
    assert out.strip() == overview(pd.read_csv(AIR)).summary().strip()
    assert "Missingness patterns" in out and "Little's MCAR test" in out


def test_reads_files_as_impute_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # semicolons and decimal commas, a text column, a Parquet copy and standard input: same numbers
    frame = pd.read_csv(AIR)
    frame.insert(0, "station", [f"s{i % 3}" for i in range(len(frame))])
    semi = tmp_path / "air.csv"
    frame.to_csv(semi, sep=";", decimal=",", index=False)
    base = _json([str(AIR)], capsys)
    for args in ([str(semi), "--decimal", ","], [str(semi), "--sep", ";", "--decimal", ","]):
        got = _json(args, capsys)
        assert got["passthrough"] == ["station"]
        assert got["mcar"] == base["mcar"] and got["patterns"]["table"] == base["patterns"]["table"]
    pq = tmp_path / "air.parquet"
    pytest.importorskip("pyarrow")
    frame.to_parquet(pq)
    assert _json([str(pq)], capsys)["mcar"] == base["mcar"]


def test_standard_input(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(AIR.read_bytes())))
    got = _json(["-"], capsys)
    assert got["input"] == "<stdin>" and got["mcar"]["df"] == 14


@pytest.mark.parametrize(
    "text, mcar_error, nothing_to_test",
    [
        ("a,b\n1,\n2,\n3,\n", "column 'b' has no observed value", False),
        ("a,b\n1,2\n3,1\n2,5\n", None, True),
        ("a,b\n1,\n,2\n", "data has 2 rows for 2 modelled columns", False),
    ],
    ids=["all-missing-column", "no-missing-cell", "too-few-rows"],
)
def test_patterns_even_when_the_test_cannot_run(
    text: str, mcar_error: str | None, nothing_to_test: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    got = _json([str(path)], capsys)
    assert got["patterns"]["n_rows"] == text.count("\n") - 1
    if mcar_error is None:
        assert got["mcar_error"] is None and got["mcar"]["df"] == 0 and got["mcar"]["p_value"] is None
    else:
        assert got["mcar"] is None and got["mcar_error"].startswith(mcar_error)
    code, out, _ = _run(["diagnose", str(path)], capsys)
    assert code == 0 and "Missingness patterns" in out
    assert ("nothing to test" in out) == nothing_to_test
    assert ("Little's MCAR test: not run: " in out) == (mcar_error is not None)


def test_warnings_are_reported(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from imputer.diagnostics import _overview

    def one_iteration(data, columns):  # type: ignore[no-untyped-def]
        return imputer.mcar_test(data, columns, max_iter=1)

    monkeypatch.setattr(_overview, "mcar_test", one_iteration)
    got = _json([str(AIR)], capsys)
    assert got["mcar"]["converged"] is False
    assert len(got["warnings"]) == 1 and "max_iter" in got["warnings"][0]
    code, out, _ = _run(["diagnose", str(AIR)], capsys)
    assert code == 0 and "\nwarning: " in out


@pytest.mark.parametrize(
    "text, args, status, message",
    [
        ("s\nx\ny\n", [], 1, "data has no numeric column to model"),
        ("a,b\n1,2\n", ["--columns", "a,zz"], 1, "columns: unknown column 'zz'"),
        ("a,s\n1,x\n2,y\n", ["--columns", "s"], 1, "column 's' has non-numeric dtype"),
        ("a,b\n1,2\n", ["--columns", "a,,b"], 2, "--columns 'a,,b': empty column name"),
        ("a,b\n1,2\n", ["--sep", "ab"], 2, "--sep 'ab': expected one character"),
        ("", [], 1, "is empty"),
    ],
)
def test_bad_input_is_one_line(
    text: str, args: list[str], status: int, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    code, out, err = _run(["diagnose", str(path), *args], capsys)
    assert code == status and out == ""
    assert err.startswith("imputer: error: ") and err.count("\n") == 1
    assert message in err


def test_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["diagnose", "no/such.csv"], capsys)
    assert code == 1 and "does not exist" in err


def test_help_lists_the_subcommand() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert "diagnose" in sub.choices
    dests = {a.dest for a in sub.choices["diagnose"]._actions}
    assert {"input", "columns", "json", "sep", "decimal", "encoding", "index_col", "na_values", "format"} <= dests


def test_values_unchanged_between_library_and_cli(capsys: pytest.CaptureFixture[str]) -> None:
    got = _json([str(AIR)], capsys)
    lib = imputer.mcar_test(pd.read_csv(AIR))
    assert got["mcar"]["statistic"] == lib.statistic
    assert got["mcar"]["cov"]["data"] == lib.cov.to_numpy().tolist()
