"""Parquet bodies a table of values cannot hold are 422s naming the column (issue 14, hardening
items 4 and 8: malformed pandas metadata and invalid UTF-8 gave 500s; binary and list
columns came back as Python reprs)."""

from __future__ import annotations

import decimal
import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from tests.api._assert import assert_problem

PARQUET = {"content-type": "application/vnd.apache.parquet"}
NUMBERS = {"a": [1.0, None, 3.0, 4.0], "b": [2.0, 3.0, 5.0, 4.5]}


def _bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _with(column: pa.Array) -> pa.Table:
    return pa.table({"s": column, **NUMBERS})


def _invalid_utf8() -> pa.Array:
    raw = pa.array([b"ok", b"\xff\xfe", b"x", b"y"], type=pa.binary())
    return pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())  # skips Arrow's UTF-8 check


@pytest.mark.parametrize(
    ("table", "detail"),
    [
        (
            pa.table(NUMBERS).replace_schema_metadata({b"pandas": b'{"index_columns": [], "columns": 5}'}),
            r"^body: the Parquet file's pandas metadata \(schema key 'pandas'\) is malformed \(TypeError: ",
        ),
        (_with(pa.array([b"a", b"b", b"c", b"d"])), r"^body: column 's' of the Parquet file has type binary, which"),
        (_with(pa.array([[1], [2], [], [3]])), r"^body: column 's' of the Parquet file has type list<element: int64>"),
        (_with(pa.array([{"x": 1}] * 4)), r"^body: column 's' of the Parquet file has type struct<x: int64>"),
        (_with(pa.array([decimal.Decimal("1.5")] * 4)), r"has type decimal128\(2, 1\), .*; cast it to float64$"),
        (_with(_invalid_utf8()), r"^body: column 's' of the Parquet file holds text that is not valid UTF-8"),
    ],
    ids=["malformed-pandas-metadata", "binary", "list", "struct", "decimal", "invalid-utf8"],
)
@pytest.mark.parametrize("route", ["/v1/impute", "/v1/diagnostics"])
def test_unholdable_parquet_is_422(client: TestClient, route: str, table: pa.Table, detail: str) -> None:
    r = client.post(route, content=_bytes(table), headers=PARQUET)
    assert_problem(r, 422, detail)


def test_dictionary_text_and_times_still_read(client: TestClient) -> None:
    table = _with(pa.array(["u", "v", "u", None]).dictionary_encode())
    r = client.post("/v1/impute", content=_bytes(table), headers=PARQUET)
    assert r.status_code == 200, r.text
    assert r.json()["passthrough"] == ["s"]


def test_decoded_size_is_checked_before_reading(client: TestClient) -> None:
    import numpy as np

    from api.formats import read_parquet_body

    # two million rows of one repeated value: a tiny file that decodes to many cells
    table = pa.table({"a": np.zeros(2_000_000), "b": np.ones(2_000_000)})
    body = _bytes(table)
    assert len(body) < 200_000
    with pytest.raises(Exception, match=r"^body: the Parquet file holds 2,000,000 rows x 2 columns = 4,000,000 cells, "
                                        r"more than the 1,000,000 a request may decode to"):
        read_parquet_body(body, max_cells=1_000_000)
    assert read_parquet_body(body, max_cells=4_000_000).shape == (2_000_000, 2)


@pytest.mark.parametrize("query", ["", "?m=2&seed=1"])
def test_parquet_answer_by_accept(client: TestClient, query: str) -> None:
    # a first-time user's request (issue 14 item 11): the completed table as Parquet
    body = _bytes(pa.table({**NUMBERS, "label": ["w", "x", "y", "z"]}))
    csv = client.post(f"/v1/impute{query}", content=body, headers={**PARQUET, "accept": "text/csv"})
    r = client.post(f"/v1/impute{query}", content=body, headers={**PARQUET, "accept": "application/vnd.apache.parquet"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apache.parquet"
    got = pd.read_parquet(io.BytesIO(r.content))
    pd.testing.assert_frame_equal(got, pd.read_csv(io.BytesIO(csv.content)), check_dtype=False)


def test_parquet_answer_of_a_text_column_holding_a_number(client: TestClient) -> None:
    # a JSON label column with a number in it is passed through as it is (JSON answers keep the
    # number); Parquet holds one type a column: the text, missing cells null (was a 500)
    body = {"data": {"columns": ["t", "a", "b"],
                     "data": [["x", 1, 2], ["y", 2, None], [3, 3, 5], [None, 4, 1], ["w", 5, 3]]}}
    r = client.post("/v1/impute", json=body, headers={"accept": "application/vnd.apache.parquet"})
    assert r.status_code == 200, r.text
    column = pq.read_table(io.BytesIO(r.content)).column("t")
    assert pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    assert column.to_pylist() == ["x", "y", "3", None, "w"]
    assert client.post("/v1/impute", json=body).json()["completed"]["data"][2][0] == 3


MIXED_INDEX = {"data": {"columns": ["a", "b"], "index": ["x", 1, "y", "z"],
                        "data": [[1.0, 2.0], [None, 3.0], [3.0, None], [4.0, 6.5]]}}


def test_parquet_answer_of_row_labels_mixing_text_and_numbers(client: TestClient) -> None:
    # was a 500: pyarrow refuses an index of two types; the labels are written as text
    r = client.post("/v1/impute", json=MIXED_INDEX, headers={"accept": "application/vnd.apache.parquet"})
    assert r.status_code == 200, r.text
    back = pd.read_parquet(io.BytesIO(r.content))
    assert back.index.tolist() == ["x", "1", "y", "z"]
    assert back.notna().all().all()


def test_a_job_with_row_labels_mixing_text_and_numbers_succeeds_in_every_format(client: TestClient) -> None:
    import time

    # was a failed job (500), the JSON answer included: the job encodes every format
    r = client.post("/v1/jobs/impute", json=MIXED_INDEX)
    assert r.status_code == 202, r.text
    location = r.headers["location"]
    while (doc := client.get(location).json())["status"] in ("queued", "running"):
        time.sleep(0.02)
    assert doc["status"] == "succeeded", doc
    assert client.get(f"{location}/result").json()["completed"]["index"] == ["x", 1, "y", "z"]
    parquet = client.get(f"{location}/result", headers={"accept": "application/vnd.apache.parquet"})
    assert parquet.status_code == 200
    assert pd.read_parquet(io.BytesIO(parquet.content)).index.tolist() == ["x", "1", "y", "z"]
