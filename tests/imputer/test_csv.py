"""Reading CSV for imputation (imputer/_csv.py): markers only in modelled columns, text kept.

Round trips through the command line are in tests/imputer/test_cli_passthrough.py and
through the service in tests/api/test_passthrough.py; this file checks the reader and
pins the message for a column of numbers with stray text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer._csv import read_csv_table, with_original_text
from imputer.errors import ImputerValueError, MixedColumnError

try:  # pandas' own list of the texts it reads as missing by default
    from pandas._libs.parsers import STR_NA_VALUES
except ImportError:  # pragma: no cover - the list as documented for pandas.read_csv
    STR_NA_VALUES = {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
        "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    }

#: every text pandas reads as missing by default, the empty cell included
DEFAULT_NA = sorted(STR_NA_VALUES)
#: awkward identifiers: leading zeros, integers beyond 2**53 (and beyond int64)
IDENTIFIERS = ["007", str(2**53 + 1), "123456789012345678901234567890"]


def test_the_default_markers_are_known() -> None:
    # the round trips below cover these, whatever pandas' list holds
    assert {"", "NA", "N/A", "null", "None", "nan", "NaN", "#N/A", "<NA>"} <= set(DEFAULT_NA)


@pytest.mark.parametrize("cell", DEFAULT_NA + IDENTIFIERS)
def test_text_column_keeps_every_cell(cell: str) -> None:
    body = f"label,x\n{cell},1.5\nZA,\nab,3.25\n".encode()
    frame, originals = read_csv_table(body)
    assert frame["label"].tolist() == [cell, "ZA", "ab"]
    np.testing.assert_array_equal(frame["x"].to_numpy(), [1.5, np.nan, 3.25])  # markers apply here
    assert originals == {}


@pytest.mark.parametrize("cell", IDENTIFIERS)
def test_unmodelled_column_of_numbers_keeps_its_text_for_csv(cell: str) -> None:
    body = f"id,x,y,z\n{cell},1.5,1,NA\n8,,2,3\n09,3.25,,4\n".encode()
    frame, originals = read_csv_table(body, columns=["x"])
    assert frame["z"].tolist() == ["NA", "3", "4"]  # a marker in an unmodelled column: text
    out = with_original_text(frame, originals)
    assert out["id"].tolist() == [cell, "8", "09"]
    assert out["y"].tolist() == ["1", "2", ""]
    assert frame is not out


def test_unmodelled_numbers_stay_numbers_when_clean() -> None:
    frame, originals = read_csv_table(b"a,b\n1.5,8\n,09\n2.5,10\n", columns=["a"])
    assert frame["b"].tolist() == [8, 9, 10]  # typed answers (JSON, Parquet) keep numbers
    assert originals["b"].tolist() == ["8", "09", "10"]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (
            b"gdp,pop\n5.1,2\nn.a.,3\n6.2,4\n7,5\n",
            r"^column 'gdp' holds numbers, but 1 of its 4 non-empty cells is not a number: "
            r"'n\.a\.' \(line 3\)\. If they mark missing values, say so with na_values=\['n\.a\.'\] "
            r"\(command line: --na-values=n\.a\.\); otherwise leave the column out of the model by "
            r"listing the modelled ones in columns=\[\.\.\.\], or keep it as text with "
            r"passthrough=\['gdp'\] \(command line: --passthrough gdp\)$",
        ),
        (
            b"a,b\n1,2\n-,3\n4,-\n-,6\n7,8\n",
            r"^column 'a' holds numbers, but 2 of its 5 non-empty cells are not a number: "
            r"'-' \(lines 3, 5\)\. If they mark missing values, say so with na_values=\['-'\] "
            r"\(command line: --na-values=-\)",
        ),
        (b"a\n1\n.\nx\n2\n3\n", r"'\.' \(line 3\); 'x' \(line 4\)\. .*na_values=\['\.', 'x'\]"),
    ],
    ids=["stray-string", "dash-marker", "two-values"],
)
def test_column_of_numbers_with_text_is_an_error(body: bytes, match: str) -> None:
    with pytest.raises(MixedColumnError, match=match):
        read_csv_table(body)


def test_the_fixes_named_in_the_message_work() -> None:
    body = b"a,b\n1,2\n-,3\n4,-\n-,6\n7,8\n"
    frame, _ = read_csv_table(body, na_values=["-"])
    assert frame["a"].isna().sum() == 2 and frame["b"].isna().sum() == 1
    frame, _ = read_csv_table(body, passthrough=["a", "b"])
    assert frame["a"].tolist() == ["1", "-", "4", "-", "7"]
    frame, _ = read_csv_table(body, columns=["b"], na_values=["-"])
    assert frame["a"].tolist() == ["1", "-", "4", "-", "7"]  # not modelled: markers do not apply


def test_a_named_column_with_text_is_an_error_even_when_mostly_text() -> None:
    with pytest.raises(MixedColumnError, match="column 'a' holds numbers, but 3 of its 4"):
        read_csv_table(b"a,b\n1,2\nx,3\ny,4\nz,5\n", columns=["a", "b"])


def test_mostly_text_column_is_passed_through() -> None:
    frame, _ = read_csv_table(b"code,x\nA1,1\n22,2\nB3,3\nC4,4\n")
    assert frame["code"].tolist() == ["A1", "22", "B3", "C4"]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"passthrough": ["nope"]}, r"^passthrough: 'nope' is not a column of the CSV$"),
        ({"passthrough": ["x"], "columns": ["x"]}, r"^passthrough: 'x' is also in columns"),
        ({"index_col": "nope"}, r"^index_col: 'nope' is not a column of the CSV"),
    ],
)
def test_bad_names(kw: dict[str, object], match: str) -> None:
    with pytest.raises(ImputerValueError, match=match):
        read_csv_table(b"x,y\n1,2\n3,4\n", **kw)  # type: ignore[arg-type]


def test_decimal_comma_counts_numbers() -> None:
    with pytest.raises(MixedColumnError, match=r"'-' \(line 3\)"):
        read_csv_table(b"x;y\n1,5;1\n-;2\n2,5;3\n", sep=";", decimal=",")
    frame, _ = read_csv_table(b"x;y\n1,5;1\n-;2\n2,5;3\n", sep=";", decimal=",", na_values=["-"])
    np.testing.assert_array_equal(frame["x"].to_numpy(), [1.5, np.nan, 2.5])


def test_index_column_is_read_as_before() -> None:
    frame, _ = read_csv_table(b",x,t\na,1,NA\nb,,u\n", index_col=0)
    assert list(frame.index) == ["a", "b"] and frame["t"].tolist() == ["NA", "u"]


def test_result_lists_modelled_and_passed_through_columns() -> None:
    frame, _ = read_csv_table(b"country,gdp,pop\nNA,5.1,2.5\nZA,6.2,\nBW,7.0,3.5\nZM,8.5,3.0\n")
    res = imputer.impute(frame)
    assert res.columns == ("gdp", "pop") and res.passthrough == ("country",)
    assert res.completed["country"].tolist() == ["NA", "ZA", "BW", "ZM"]
    assert "passed through:       1 (country)" in res.summary()
    assert res.to_dict()["passthrough"] == ["country"]
    assert res == imputer.impute(frame)  # still a value


def test_summary_of_many_passed_through_columns() -> None:
    df = pd.DataFrame({"x": [1.0, None, 3.0, 4.5], "y": [2.0, 1.0, None, 0.5]})
    for k in range(12):
        df[f"t{k}"] = "a"
    res = imputer.impute(df)
    assert "passed through:       12 (t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, ... (2 more))" in res.summary()
    assert "passed through:       none" in imputer.impute(df[["x", "y"]]).summary()
