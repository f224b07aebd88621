"""POST /v1/impute never alters a passed-through column (CSV, JSON, Parquet) and answers a
CSV column of numbers holding other text with 422 (issue 17)."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from fastapi.testclient import TestClient

try:  # pandas' own list of the texts it reads as missing by default
    from pandas._libs.parsers import STR_NA_VALUES
except ImportError:  # pragma: no cover - the list as documented for pandas.read_csv
    STR_NA_VALUES = {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
        "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    }

pytestmark = pytest.mark.timeout(120)

CELLS = sorted(STR_NA_VALUES) + ["007", str(2**53 + 1), "123456789012345678901234567890"]
LABELS = ["ZA", "ab", "cd", "ef"]
NUMBERS = [[1.0, 2.0], [2.0, None], [3.5, 6.1], [4.0, 8.2], [5.5, None]]


def _csv(cell: str) -> bytes:
    rows = [[label, *xy] for label, xy in zip([cell, *LABELS], NUMBERS, strict=True)]
    return ("label,x,y\n" + "".join(f"{a},{b},{'' if c is None else c}\n" for a, b, c in rows)).encode()


@pytest.mark.parametrize("cell", CELLS)
def test_csv_in_csv_out(client: TestClient, cell: str) -> None:
    r = client.post("/v1/impute", content=_csv(cell), headers={"content-type": "text/csv", "accept": "text/csv"})
    assert r.status_code == 200, r.text
    back = pd.read_csv(io.StringIO(r.text), dtype=str, keep_default_na=False, na_filter=False)
    assert back["label"].tolist() == [cell, *LABELS]
    assert (back["y"] != "").all()


@pytest.mark.parametrize("cell", CELLS)
def test_csv_in_json_out(client: TestClient, cell: str) -> None:
    r = client.post("/v1/impute", content=_csv(cell), headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["columns"] == ["x", "y"] and body["passthrough"] == ["label"]
    assert [row[0] for row in body["completed"]["data"]] == [cell, *LABELS]


@pytest.mark.parametrize("cell", CELLS)
def test_json_and_parquet_round_trip(client: TestClient, cell: str) -> None:
    frame = pd.DataFrame([[label, *xy] for label, xy in zip([cell, *LABELS], NUMBERS, strict=True)],
                         columns=["label", "x", "y"])
    split = {"columns": list(frame.columns), "data": frame.astype(object).where(frame.notna(), None).values.tolist()}
    r = client.post("/v1/impute", json={"data": split})
    assert r.status_code == 200, r.text
    assert [row[0] for row in r.json()["completed"]["data"]] == [cell, *LABELS]
    buf = io.BytesIO()
    frame.to_parquet(buf)
    r = client.post("/v1/impute", content=buf.getvalue(), headers={"content-type": "application/vnd.apache.parquet"})
    assert r.status_code == 200, r.text
    assert [row[0] for row in r.json()["completed"]["data"]] == [cell, *LABELS]
    assert r.json()["passthrough"] == ["label"]


def test_unmodelled_numbers_keep_their_text_in_csv_and_their_type_in_json(client: TestClient) -> None:
    body = b"id,x,y,w\n007,1.0,2.0,8\n010,2.0,,7.50\n9007199254740993,3.5,6.1,\n4,4.0,8.2,1\n5,5.5,,2\n"
    url = "/v1/impute?columns=x&columns=y"
    r = client.post(url, content=body, headers={"content-type": "text/csv", "accept": "text/csv"})
    assert r.status_code == 200, r.text
    back = pd.read_csv(io.StringIO(r.text), dtype=str, keep_default_na=False, na_filter=False)
    assert back["id"].tolist() == ["007", "010", "9007199254740993", "4", "5"]
    assert back["w"].tolist() == ["8", "7.50", "", "1", "2"]
    r = client.post(url, content=body, headers={"content-type": "text/csv"})
    assert [row[0] for row in r.json()["completed"]["data"]] == [7, 10, 9007199254740993, 4, 5]
    assert r.json()["passthrough"] == ["id", "w"]


@pytest.mark.parametrize(
    ("body", "query", "detail"),
    [
        (
            b"gdp,pop\n5.1,2\nn.a.,3\n6.2,4\n7,5\n", "",
            r"^column 'gdp' holds numbers, but 1 of its 4 non-empty cells is not a number: "
            r"'n\.a\.' \(line 3\)\. If they mark missing values, say so with na_values=\['n\.a\.'\]",
        ),
        (
            b"a,b\n1,2\n-,3\n4,-\n-,6\n7,8\n", "",
            r"^column 'a' holds numbers, but 2 of its 5 non-empty cells are not a number: '-' \(lines 3, 5\)",
        ),
        (b"a,b\n1,2\n3,4\n5,7\n", "?passthrough=c", r"^passthrough: 'c' is not a column of the CSV$"),
        (b"a,b\n1,2\n2,\n3,1\x002\n4,1\n5,3\n", "",
         r"^column 'b' holds numbers, but 1 of its 4 non-empty cells is not a number: '1\\x002' \(line 4\)"),
    ],
    ids=["stray-string", "dash-marker", "unknown-passthrough", "nul"],
)
def test_column_of_numbers_with_text_is_422(client: TestClient, body: bytes, query: str, detail: str) -> None:
    r = client.post("/v1/impute" + query, content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert re.search(detail, r.json()["detail"]), r.json()["detail"]


@pytest.mark.parametrize("query", ["?na_values=-", "?passthrough=a&na_values=-"])
def test_the_suggested_fixes_work(client: TestClient, query: str) -> None:
    body = b"a,b,c\n1,2,1\n-,3,2\n4,-,3\n-,6,5\n7,8,4\n9,9,7\n"
    r = client.post("/v1/impute" + query, content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    passthrough = ["a"] if "passthrough" in query else []
    assert r.json()["passthrough"] == passthrough


def _split(values: list[object]) -> dict[str, object]:
    return {"columns": ["gdp", "pop"], "data": [[v, float(i)] for i, v in enumerate(values)]}


@pytest.mark.parametrize(
    ("values", "detail"),
    [
        ([5.1, "n/a", 6.2, 7, 8.5], r"^column 'gdp' holds numbers, but 1 of its 5 non-null cells is not a number: "
                                   r"\"n/a\" \(row 1\)\. Send null for a missing value"),
        ([1, "-", 4, "-", 7, "x", 9], r"^column 'gdp' holds numbers, but 3 of its 7 non-null cells are not a number: "
                                       r"\"-\" \(rows 1, 3\); \"x\" \(row 5\)"),
        ([1.5, "NaN", 2.5, None, 3.5], r"holds numbers, but 1 of its 4 non-null cells is not a number: \"NaN\" \(row 1\)"),
        # the review's NUL and decimal-as-text cells (each un-modelled the whole column in silence)
        ([1.5, "1\u00002", 2.5, 3.5], r"1 of its 4 non-null cells is not a number: \"1\\u00002\" \(row 1\)"),
        ([1, 2, "2.75", 4], r"1 of its 4 non-null cells is not a number: \"2\.75\" \(row 2\)"),
    ],
    ids=["stray-string", "dash-markers", "nan-token-as-text", "nul", "decimal-text"],
)
def test_json_column_of_numbers_with_other_values_is_422(client: TestClient, values: list[object], detail: str) -> None:
    r = client.post("/v1/impute", json={"data": _split(values)})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert re.search(detail, r.json()["detail"]), r.json()["detail"]
    r = client.post("/v1/diagnostics", json={"data": _split(values)})
    assert r.status_code == 422 and re.search(detail, r.json()["detail"]), r.text


def test_json_mixed_column_left_out_by_columns_is_passed_through(client: TestClient) -> None:
    values = [5.1, "n/a", 6.2, 7, 8.5]
    r = client.post("/v1/impute", json={"data": _split(values), "options": {"columns": ["pop"]}})
    assert r.status_code == 200, r.text
    assert r.json()["passthrough"] == ["gdp"]
    assert [row[0] for row in r.json()["completed"]["data"]] == values


def test_json_text_column_with_a_few_numbers_stays_text(client: TestClient) -> None:
    values = ["ZA", "NA", 7, "BW", "LS"]  # more text than numbers: a label column
    r = client.post("/v1/impute", json={"data": _split(values)})
    assert r.status_code == 200, r.text
    assert r.json()["passthrough"] == ["gdp"]


def test_json_integers_beyond_2_53_are_never_rounded(client: TestClient) -> None:
    big = 2**53 + 1
    split = {"columns": ["id", "x"], "data": [[big, 1.0], [None, 2.0], [5, None], [7, 4.0], [9, 3.0]]}
    r = client.post("/v1/impute", json={"data": split})
    assert r.status_code == 422, r.text
    assert re.search(r"^column 'id' holds integers of magnitude 2\*\*53 or more \(9007199254740993\)", r.json()["detail"])
    r = client.post("/v1/impute", json={"data": split, "options": {"columns": ["x"]}})
    assert r.status_code == 200, r.text
    assert [row[0] for row in r.json()["completed"]["data"]] == [big, None, 5, 7, 9]
