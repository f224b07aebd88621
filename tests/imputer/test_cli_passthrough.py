"""``imputer impute`` never alters a passed-through column, and never drops a column of
numbers in silence (issue 17): round trips of awkward cells through CSV, and the exit
status 2 with the message for a column of numbers holding other text."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from imputer import cli

try:  # pandas' own list of the texts it reads as missing by default
    from pandas._libs.parsers import STR_NA_VALUES
except ImportError:  # pragma: no cover - the list as documented for pandas.read_csv
    STR_NA_VALUES = {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
        "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    }

CELLS = sorted(STR_NA_VALUES) + ["007", str(2**53 + 1), "123456789012345678901234567890"]
ROWS = "{cell},1.0,2.0\nZA,2.0,\nab,3.5,6.1\ncd,4.0,8.2\nef,5.5,\n"


def _text(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_text_column_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str, ext: str) -> None:
    src = tmp_path / "in.csv"
    src.write_text("label,x,y\n" + ROWS.format(cell=cell))
    out = tmp_path / f"out.{ext}"
    assert cli.main(["impute", str(src), "-o", str(out)]) == 0
    assert "passed through:       1 (label)" in capsys.readouterr().out
    back = _text(out) if ext == "csv" else pd.read_parquet(out)
    assert back["label"].tolist() == [cell, "ZA", "ab", "cd", "ef"]
    assert (back["y"] != "").all() if ext == "csv" else back["y"].notna().all()  # filled


@pytest.mark.parametrize("cell", ["007", str(2**53 + 1), "123456789012345678901234567890", "1e3", "NA", ""])
def test_unmodelled_columns_keep_their_text(tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,x,y,w\n" + "\n".join(
        f"{i},{x},{y},{w}" for i, x, y, w in
        [(cell, "1.0", "2.0", "8"), ("010", "2.0", "", "7.50"), ("3", "3.5", "6.1", ""), ("4", "4.0", "8.2", "1"), ("5", "5.5", "", "2")]
    ) + "\n")
    out = tmp_path / "out.csv"
    assert cli.main(["impute", str(src), "-o", str(out), "--columns", "x,y"]) == 0
    capsys.readouterr()
    back, before = _text(out), _text(src)
    pd.testing.assert_frame_equal(back[["id", "w", "x"]].assign(x=back["x"].astype(float)),
                                  before[["id", "w", "x"]].assign(x=before["x"].astype(float)))


def test_index_and_passthrough_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.csv"
    src.write_text(",country,gdp,pop\nr1,NA,5.1,2.5\nr2,ZA,6.2,\nr3,None,7.0,3.5\nr4,null,8.5,3.0\n")
    out = tmp_path / "out.csv"
    assert cli.main(["impute", str(src), "-o", str(out)]) == 0
    capsys.readouterr()
    back = _text(out)
    assert out.read_text().startswith(",country,gdp,pop\nr1,NA,5.1,2.5\n")
    assert back.iloc[:, 0].tolist() == ["r1", "r2", "r3", "r4"]
    assert back["country"].tolist() == ["NA", "ZA", "None", "null"]


def test_issue_example_subprocess(tmp_path: Path) -> None:
    src = tmp_path / "t.csv"
    src.write_text("country,gdp,pop\nNA,5.1,2.5\nZA,6.2,\nBW,7.0,3.5\n")
    out = tmp_path / "out.csv"
    done = subprocess.run(
        [sys.executable, "-m", "imputer", "impute", str(src), "-o", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text().splitlines()[1].startswith("NA,5.1,2.5")


@pytest.mark.parametrize(
    ("body", "extra", "match"),
    [
        (
            "gdp,pop\n5.1,2\nn.a.,3\n6.2,4\n7,5\n", [],
            r"imputer: error: '.*in\.csv': column 'gdp' holds numbers, but 1 of its 4 non-empty cells "
            r"is not a number: 'n\.a\.' \(line 3\)\. If they mark missing values, say so with "
            r"na_values=\['n\.a\.'\] \(command line: --na-values=n\.a\.\); otherwise",
        ),
        (
            "a,b\n1,2\n-,3\n4,-\n-,6\n7,8\n", [],
            r"column 'a' holds numbers, but 2 of its 5 non-empty cells are not a number: "
            r"'-' \(lines 3, 5\)\. .*\(command line: --na-values=-\).*--passthrough a\)\n$",
        ),
        ("a,b\n1,2\n3,4\n", ["--passthrough", "c"], r"passthrough: 'c' is not a column"),
        ("a,b\n1,2\n3,4\n", ["--passthrough", "a,", "--columns", "b"], r"--passthrough 'a,': empty column name"),
    ],
    ids=["stray-string", "dash-marker", "unknown-passthrough", "empty-passthrough-name"],
)
def test_column_of_numbers_with_text_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, extra: list[str], match: str
) -> None:
    src = tmp_path / "in.csv"
    src.write_text(body)
    code = cli.main(["impute", str(src), "-o", str(tmp_path / "o.csv"), *extra])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert re.search(match, err), err
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize(
    "extra",
    [["--na-values=-"], ["--na-values", "-", "--na-values", "."], ["--passthrough", "a", "--na-values=-"]],
)
def test_the_suggested_fixes_work(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]) -> None:
    src = tmp_path / "in.csv"
    src.write_text("a,b,c\n1,2,1\n-,3,2\n4,-,3\n-,6,5\n7,8,4\n9,9,7\n")
    out = tmp_path / "o.csv"
    assert cli.main(["impute", str(src), "-o", str(out), *extra]) == 0
    stdout = capsys.readouterr().out
    back = _text(out)
    if "--passthrough" in extra:
        assert back["a"].tolist() == ["1", "-", "4", "-", "7", "9"]
        assert "passed through:       1 (a)" in stdout
    else:
        assert "-" not in back["a"].tolist() and "passed through:       none" in stdout
