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


@pytest.mark.parametrize(
    ("body", "kw", "match"),
    [
        (b"a,a,b\n1,2,3\n2,,4\n", {}, r"the CSV header names column 'a' twice \(fields 1 and 2\)"),
        (b"a,b,a\n1,2,3\n2,,4\n", {"columns": ["b"]}, r"names column 'a' twice \(fields 1 and 3\)"),
        (b"x,,y\n1,a,2\n2,b,\n", {}, r"the CSV header's field 2 is empty; .*'Unnamed: 1'"),
        (b"a,b,\n1,2,\n2,,\n", {}, r"the CSV header's field 3 is empty"),
        (b",a,b\nr1,1,2\nr2,,3\n", {}, r"field 1 is empty; .*say so with index_col"),
        (b"\xef\xbb\xbfa;a\n1;2\n", {"sep": ";"}, r"names column 'a' twice"),
    ],
    ids=["duplicate", "duplicate-unmodelled", "empty-middle", "empty-last", "empty-first-no-index", "bom-semicolon"],
)
def test_a_header_pandas_would_rename_is_an_error(body: bytes, kw: dict[str, object], match: str) -> None:
    # pandas reads the second 'a' as 'a.1' and an empty name as 'Unnamed: 1': the table
    # written back would carry other names than it was given
    with pytest.raises(ImputerValueError, match=match):
        read_csv_table(body, **kw)


def test_the_first_header_field_may_be_empty_when_it_holds_the_row_labels() -> None:
    frame, _ = read_csv_table(b",a,b\nr1,1,2\nr2,,3\n", index_col=0)
    assert list(frame.columns) == ["a", "b"]
    assert list(frame.index) == ["r1", "r2"]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"a,b,c\n1,2,3\n4,5\n6,,\n", r"fewer fields than the header's 3 \(line 3 has 2\)"),
        (b"a,b,c\r\n1,2,3\r\n6,,\r\n7\r\n", r"\(line 4 has 1\)"),
        (b"a,b,c\n1,2,3\n6,,\n7,8", r"\(line 4 has 2\)"),  # a file cut off mid-line
        (b'a,b,c\n1,"2,5",3\n"4",5\n6,,\n', r"\(line 3 has 2\)"),  # quoted: counted by csv
        (b"a,b,c\n" + b"1,2\n" * 5, r"line 2 has 2, line 3 has 2, line 4 has 2, \.\.\.\)"),
    ],
    ids=["short", "crlf", "cut-off", "quoted", "many"],
)
def test_a_row_cut_short_is_an_error_not_imputed(body: bytes, match: str) -> None:
    with pytest.raises(ImputerValueError, match=match):
        read_csv_table(body)


@pytest.mark.parametrize(
    "body",
    [
        b"a,b,c\n1,2,3\n\n6,,\n7,8,9\n",  # a blank line is skipped, as pandas skips it
        b"a,b,c\r\n1,2,3\r\n6,,\r\n",
        b'a,b,c\n1,"x, y",3\n6,"",\n',
        b"a,b,c\n1,2,3\n6,,",
    ],
    ids=["blank-line", "crlf", "quoted", "no-final-newline"],
)
def test_rows_with_empty_last_cells_are_read_as_missing(body: bytes) -> None:
    frame, _ = read_csv_table(body)
    assert frame.shape[1] == 3
    assert frame["c"].isna().sum() == 1


def test_a_row_cut_short_is_found_in_a_utf16_file() -> None:
    body = "a,b,c\n1,2,3\n4,5\n6,,\n".encode("utf-16")
    with pytest.raises(ImputerValueError, match=r"\(line 3 has 2\)"):
        read_csv_table(body, encoding="utf-16")


@pytest.mark.parametrize(
    ("cell", "ok"),
    [
        (str(2**53 + 1), False),
        ("12345678901234567", False),
        (f"-{2**60 + 3}", False),
        (str(2**53), True),  # exact in float64
        ("1e17", True),  # not an integer's digits: a float as written
        (str(2**53 - 1), True),
    ],
)
def test_integers_float64_would_round_in_a_modelled_column_are_an_error(cell: str, ok: bool) -> None:
    # with a gap the column is read as float64: 2**53 + 1 would come back as 2**53
    body = f"a,big\n1,{cell}\n2,\n3,5\n4,7\n".encode()
    if ok:
        frame, _ = read_csv_table(body)
        assert frame["big"].iloc[0] == float(cell)
        return
    with pytest.raises(ImputerValueError, match=rf"column 'big' holds integers of magnitude 2\*\*53 or more \({cell}, line 2\)"):
        read_csv_table(body)


def test_integers_beyond_2_53_pass_through_unchanged_when_not_modelled() -> None:
    body = f"a,big\n1,{2**53 + 1}\n2,\n3,5\n4,7\n".encode()
    frame, originals = read_csv_table(body, passthrough=["big"])
    assert frame["big"].tolist() == [str(2**53 + 1), "", "5", "7"]
    frame, originals = read_csv_table(body, columns=["a"])
    assert originals["big"][0] == str(2**53 + 1)


@pytest.mark.parametrize(
    ("body", "kw", "labels"),
    [
        (b"id,x\n007,1\n1.50,\nNA,3\n0x1,4\n", {"index_col": "id"}, ["007", "1.50", "NA", "0x1"]),
        (b",x\n007,1\n8,\nN/A,3\n", {"index_col": 0}, ["007", "8", "N/A"]),
        (b"id,x\n1,1\n2,\n8,3\n", {"index_col": "id"}, [1, 2, 8]),  # labels that print as written stay numbers
        (b"id,x\nr1,1\nr2,\n", {"index_col": "id"}, ["r1", "r2"]),
    ],
    ids=["text-by-name", "text-first-column", "integers", "names"],
)
def test_row_labels_are_read_as_written(body: bytes, kw: dict[str, object], labels: list[object]) -> None:
    # before: parsed with the numbers and markers: 007 -> 7, 1.50 -> 1.5, NA -> missing
    frame, _ = read_csv_table(body, **kw)
    assert frame.index.tolist() == labels
    assert frame["x"].isna().sum() == 1
