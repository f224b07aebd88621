"""``imputer diagnose IN --report FILE.html`` (imputer/_cli_report.py), in-process through ``main``.

The report's content is tested in tests/imputer/diagnostics/test_report.py; here: the
file is written from the table the command read, it names the exact command, the other
output is unchanged (``--json`` stays pure JSON), and bad names or awkward tables give a
one-line message or a report that says so, never a traceback.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer import cli

from .diagnostics._html_check import check_self_contained

pytest.importorskip("matplotlib", reason="the report's figures need matplotlib (pip install 'imputer[plot]')")

AIR = Path(__file__).resolve().parents[1] / "data" / "airquality.csv"


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_airquality(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "report.html"
    args = ["diagnose", str(AIR), "--report", str(out_file)]
    code, out, err = _run(args, capsys)
    assert code == 0, err
    assert err == f"imputer: wrote report {str(out_file)!r} (4 figures)\n"
    assert "Little's MCAR test" in out  # the text output as without --report
    doc = check_self_contained(out_file.read_text(encoding="utf-8"))
    assert f"command {shlex.join(['imputer', *args])}" in doc.text
    assert f"library imputer {imputer.__version__}" in doc.text
    assert "Diagnostics: airquality.csv" in doc.text
    assert "chi-square statistic 35.106175" in doc.text


def test_json_stays_json_and_columns_are_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "r.htm"
    code, out, err = _run(["diagnose", str(AIR), "--json", "--columns", "Ozone,Solar.R", "--report", str(out_file)],
                          capsys)
    assert code == 0, err
    assert json.loads(out)["columns"] == ["Ozone", "Solar.R"]
    text = check_self_contained(out_file.read_text(encoding="utf-8")).text
    assert "columns looked at 2: Ozone, Solar.R" in text
    assert "other columns (not looked at, passed through) 4: Wind, Temp, Month, Day" in text


def test_awkward_tables_give_reports_that_say_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "odd.csv"
    pd.DataFrame({
        "<b>x</b>": [1.0, 2.0, 3.0, 4.0, 5.0],
        "site": ["a", "b", "NA", "c", "d"],
    }).to_csv(src, index=False)
    out_file = tmp_path / "odd.html"
    code, _, err = _run(["diagnose", str(src), "--report", str(out_file)], capsys)
    assert code == 0, err
    html_text = out_file.read_text(encoding="utf-8")
    text = check_self_contained(html_text).text
    assert "&lt;b&gt;x&lt;/b&gt;" in html_text and "<b>x</b>" in text
    assert "other columns (not looked at, passed through) 1: site" in text
    assert "No missing cells: every numeric cell is observed" in text


def test_a_part_that_cannot_be_computed_is_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "gap.csv"
    pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [np.nan] * 4}).to_csv(src, index=False)
    out_file = tmp_path / "gap.html"
    code, _, err = _run(["diagnose", str(src), "--report", str(out_file)], capsys)
    assert code == 0, err
    assert err.endswith("(1 figure; 2 parts not available (see its notes))\n")
    text = check_self_contained(out_file.read_text(encoding="utf-8")).text
    assert "The EM fit could not be made: column 'y' has no observed value" in text


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("report.csv", 2, "--report '{p}': the report is an HTML file; give a name ending in .html"),
        ("nope/report.html", 2, "--report '{p}': folder '{d}' does not exist"),
        ("dir.html", 1, "--report '{p}': cannot write the report: Is a directory"),
    ],
)
def test_bad_report_names(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, status: int,
                          message: str) -> None:
    (tmp_path / "dir.html").mkdir()
    path = tmp_path / name
    code, _, err = _run(["diagnose", str(AIR), "--report", str(path)], capsys)
    assert code == status
    assert err == "imputer: error: " + message.format(p=path, d=path.parent) + "\n"


def test_unreadable_input_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "text.csv"
    src.write_text("a,b\nx,y\nz,w\n")
    code, _, err = _run(["diagnose", str(src), "--report", str(tmp_path / "r.html")], capsys)
    assert code == 1
    assert err.startswith("imputer: error: ") and err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()
