"""Media-type negotiation and table parsing (CSV, Parquet, split JSON)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from fastapi import HTTPException

from api.formats import (
    frame_from_split,
    frame_to_csv,
    read_csv_body,
    read_parquet_body,
    request_kind,
    response_kind,
)
from api.problems import clean_validation_errors, validation_detail
from api.schemas.common import SplitFrame
from imputer.errors import ImputerValueError

ALL = ("json", "csv", "parquet")


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("application/json", "json"),
        ("application/json; charset=utf-8", "json"),
        ("Application/JSON", "json"),
        ("application/merge-patch+json", "json"),
        ("text/csv", "csv"),
        ("text/csv; charset=utf-8; header=present", "csv"),
        ("application/csv", "csv"),
        ("application/vnd.apache.parquet", "parquet"),
        ("application/x-parquet", "parquet"),
    ],
)
def test_request_kind(header: str, kind: str) -> None:
    assert request_kind(header, ALL) == kind


@pytest.mark.parametrize("header", [None, "", "text/plain", "multipart/form-data; boundary=x", "application/xml"])
def test_request_kind_rejects(header: str | None) -> None:
    with pytest.raises(HTTPException) as info:
        request_kind(header, ALL)
    assert info.value.status_code == 415


def test_request_kind_respects_allowed() -> None:
    with pytest.raises(HTTPException, match="send one of: application/json"):
        request_kind("text/csv", ("json",))


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        (None, "json"),
        ("", "json"),
        ("*/*", "json"),
        ("application/json", "json"),
        ("text/csv", "csv"),
        ("text/*", "csv"),
        ("text/csv, application/json;q=0.5", "csv"),
        ("text/csv;q=0.4, application/json;q=0.5", "json"),
        ("text/csv, application/json", "json"),  # equal q: server preference (JSON)
        ("application/problem+json", "json"),
        ("application/xml, */*;q=0.1", "json"),
    ],
)
def test_response_kind(accept: str | None, kind: str) -> None:
    assert response_kind(accept, ("json", "csv")) == kind


@pytest.mark.parametrize("accept", ["application/xml", "text/csv;q=0", "image/png, text/html"])
def test_response_kind_rejects(accept: str) -> None:
    with pytest.raises(HTTPException) as info:
        response_kind(accept, ("json", "csv"))
    assert info.value.status_code == 406


def test_response_kind_csv_not_offered() -> None:
    with pytest.raises(HTTPException):
        response_kind("text/csv", ("json",))


def test_csv_options() -> None:
    body = b"id;x;y\nr1;1,5;NA\nr2;-;2,25\nr3;3;4\n"
    frame = read_csv_body(body, sep=";", decimal=",", na_values=["-"], index_col="id")
    assert list(frame.columns) == ["x", "y"]
    assert list(frame.index) == ["r1", "r2", "r3"]
    np.testing.assert_array_equal(frame["x"].to_numpy(), [1.5, np.nan, 3.0])
    np.testing.assert_array_equal(frame["y"].to_numpy(), [np.nan, 2.25, 4.0])


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"", "body: the CSV body is empty"),
        (b"  \n", "body: the CSV body is empty"),
        (b'a,b\n"1,2\n', "body: the CSV could not be parsed"),
        (b"a,b\n1,2,3,4\n", "body: the CSV could not be parsed"),
        (b"a,b\n-inf,1\n", "body: column 'a' holds an infinite value \\(row 0\\)"),
        # the offset is in the body (pandas reports it within the field)
        (b"a,b\n1,2\n3,4\xff5\n", "body: the CSV is not valid UTF-8 \\(invalid start byte at byte 11\\)$"),
    ],
)
def test_csv_errors(body: bytes, match: str) -> None:
    with pytest.raises(ImputerValueError, match=match):
        read_csv_body(body)


def test_parquet_roundtrip_keeps_index_and_missing() -> None:
    frame = pd.DataFrame({"x": [1.0, np.nan, 3.0], "y": [0.5, 1.5, np.nan]}, index=pd.Index(["a", "b", "c"], name="k"))
    buf = io.BytesIO()
    frame.to_parquet(buf)
    back = read_parquet_body(buf.getvalue())
    pd.testing.assert_frame_equal(back, frame, check_index_type=False)


def test_parquet_garbage() -> None:
    with pytest.raises(ImputerValueError, match="body: the Parquet file could not be read"):
        read_parquet_body(b"PAR1 not really")


def test_frame_from_split_types() -> None:
    split = SplitFrame(columns=["x", "g", "e"], index=["a", "b"], data=[[1, "u", None], [None, "v", None]])
    frame = frame_from_split(split)
    assert frame["x"].dtype == np.float64 and frame["e"].dtype == np.float64
    assert frame["g"].tolist() == ["u", "v"]
    assert list(frame.index) == ["a", "b"]
    assert np.isnan(frame.loc["b", "x"])


def test_frame_from_split_integers() -> None:
    split = SplitFrame.model_validate_json(
        b'{"columns": ["i", "big", "mixed"], "data": [[1, 100000000000000000000000000000, 1], [2, 3, 2.5]]}',
        strict=True,
    )
    frame = frame_from_split(split)
    assert frame["i"].dtype == np.int64
    assert frame["big"].dtype == np.float64 and frame["big"].iloc[0] == 1e29
    assert frame["mixed"].dtype == np.float64


def test_frame_to_csv_index_and_missing() -> None:
    plain = pd.DataFrame({"x": [1.0, np.nan, np.inf], "y": ["u", None, "w"]})
    assert frame_to_csv(plain) == b"x,y\n1.0,u\n,\n,w\n"
    labelled = pd.DataFrame({"x": [1.0, 2.0]}, index=pd.Index(["a", "b"], name="id"))
    assert frame_to_csv(labelled) == b"id,x\na,1.0\nb,2.0\n"


def test_clean_validation_errors_drops_union_noise() -> None:
    raw = [
        {"loc": ("data", "data", 3, 1, "float"), "msg": "Input should be a finite number", "type": "finite_number"},
        {"loc": ("data", "data", 3, 1, "str"), "msg": "Input should be a valid string", "type": "string_type"},
        {"loc": ("ZETA", "list[RandomTerm]", 0, "Z"), "msg": "bad Z", "type": "value_error"},
        {"loc": ("ZETA", "dict[str,RandomTerm]"), "msg": "Input should be an object", "type": "dict_type"},
    ]
    assert clean_validation_errors(raw, prefix=("body",)) == [
        {"loc": ["body", "data", "data", 3, 1], "msg": "Input should be a finite number", "type": "finite_number"},
        {"loc": ["body", "ZETA", 0, "Z"], "msg": "bad Z", "type": "value_error"},
    ]


@pytest.mark.parametrize(
    ("n", "detail"),
    [
        (0, "The request is invalid."),
        (1, "body.data.0: bad"),
        (3, "body.data.0: bad; body.data.1: bad; body.data.2: bad"),
        (5, "body.data.0: bad; body.data.1: bad; body.data.2: bad (and 2 more)"),
    ],
)
def test_validation_detail_names_the_first_three_fields(n: int, detail: str) -> None:
    errors = [{"loc": ["body", "data", i], "msg": "bad", "type": "value_error"} for i in range(n)]
    assert validation_detail(errors) == detail


def test_parquet_multiindex_becomes_string_labels() -> None:
    frame = pd.DataFrame(
        {"x": [1.0, 2.0]}, index=pd.MultiIndex.from_tuples([(1, "a"), (2, "b")], names=["k", "s"])
    )
    buf = io.BytesIO()
    frame.to_parquet(buf)
    back = read_parquet_body(buf.getvalue())
    assert list(back.index) == ["1|a", "2|b"] and back.index.name == "k|s"


@pytest.mark.parametrize(
    ("labels", "written"),
    [(["x", 1, "y"], ["x", "1", "y"]), (["x", 2.5, 3], ["x", "2.5", "3"]), (["a", "b", "c"], ["a", "b", "c"])],
)
def test_frame_to_parquet_writes_row_labels_mixing_text_and_numbers_as_text(labels: list, written: list) -> None:
    from api.formats import frame_to_parquet

    # a JSON index such as ["x", 1, "y"]: pyarrow refuses a column of two types (was a 500)
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=pd.Index(labels, dtype=object, name="k"))
    back = pd.read_parquet(io.BytesIO(frame_to_parquet(frame)))
    assert back.index.tolist() == written and back.index.name == "k"
    assert back["a"].tolist() == [1.0, 2.0, 3.0]
    assert frame.index.tolist() == labels  # the caller's frame is not changed


def test_parquet_query_table_restores_the_passed_through_types() -> None:
    from api.formats import parquet_query_table, restore_types

    frame = pd.DataFrame({"k": ["a", "b"], "n": pd.array([1, None], dtype="Int64"), "c": pd.Categorical(["u", "v"]),
                          "x": [1.5, 2.5]})
    table, types = parquet_query_table(frame, index_col="k", passthrough=["n", "c"])
    assert list(table.columns) == ["n", "c", "x"] and table.index.tolist() == ["a", "b"]
    assert table["n"].dtype == object and table["c"].dtype == object and table["x"].dtype == np.float64
    pd.testing.assert_frame_equal(restore_types(table, types), frame.set_index("k"))
