"""Query parameters with a Parquet body are applied or refused, never dropped: ``passthrough`` and
``index_col`` act as for CSV (a passed-through column is left out of the model and comes back as
sent, with its type), the CSV parse options (``na_values``, ``sep``, ``decimal``) are 422s naming them."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.api._assert import assert_422_at, assert_problem
from tests.api.conftest import DATA, split_of

pytestmark = pytest.mark.timeout(120)

PARQUET = "application/vnd.apache.parquet"
#: row labels, an integer id and a float code with a gap (both passed through), two modelled columns
TABLE = pd.DataFrame({
    "key": ["r1", "r2", "r3", "r4", "r5", "r6"],
    "id": [10, 11, 12, 13, 14, 15],
    "code": [1.0, None, 3.0, 4.0, 5.0, 7.0],
    "a": [1.5, None, 2.5, 3.0, 4.0, 5.5],
    "b": [2.0, 3.0, None, 4.5, 5.0, 6.5],
})
QUERY = {"passthrough": ["id", "code"], "index_col": "key"}


def _parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def _post(client: TestClient, path: str, frame: pd.DataFrame, params: dict[str, Any], kind: str = "parquet",
          accept: str = "application/json") -> Any:
    body, media = (_parquet(frame), PARQUET) if kind == "parquet" else (frame.to_csv(index=False).encode(), "text/csv")
    return client.post(path, params=params, content=body, headers={"content-type": media, "accept": accept})


def test_passthrough_and_index_col_apply_to_a_parquet_body(client: TestClient) -> None:
    r = _post(client, "/v1/impute", TABLE, QUERY)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["columns"] == ["a", "b"] and out["passthrough"] == ["id", "code"]
    assert out["completed"]["columns"] == ["id", "code", "a", "b"]
    assert out["completed"]["index"] == TABLE["key"].tolist()
    assert [row[:2] for row in out["completed"]["data"]] == [[10, 1.0], [11, None], [12, 3.0], [13, 4.0], [14, 5.0],
                                                            [15, 7.0]]
    # the model is the fit of the other columns alone
    ref = client.post("/v1/impute", json={"data": split_of(TABLE.set_index("key")), "options": {"columns": ["a", "b"]}})
    assert ref.status_code == 200, ref.text
    assert out["mean"] == ref.json()["mean"] and out["cov"] == ref.json()["cov"]


@pytest.mark.parametrize("accept", [PARQUET, "text/csv"])
def test_passed_through_columns_come_back_as_sent(client: TestClient, accept: str) -> None:
    r = _post(client, "/v1/impute", TABLE, QUERY, accept=accept)
    assert r.status_code == 200, r.text
    back = pd.read_parquet(io.BytesIO(r.content)) if accept == PARQUET else pd.read_csv(io.StringIO(r.text), index_col="key")
    pd.testing.assert_frame_equal(back[["id", "code"]], TABLE.set_index("key")[["id", "code"]])
    assert back[["a", "b"]].notna().all().all()


@pytest.mark.parametrize("path", ["/v1/diagnostics", "/v1/diagnostics/disperse"])
def test_parquet_passthrough_as_for_csv_on_the_diagnostics(client: TestClient, path: str) -> None:
    params = {**QUERY, **({"starts": 2, "seed": 1} if path.endswith("disperse") else {})}
    csv = _post(client, path, TABLE, params, kind="csv")
    r = _post(client, path, TABLE, params)
    assert r.status_code == 200 and csv.status_code == 200, r.text
    plain = _post(client, path, TABLE, {k: v for k, v in params.items() if k != "passthrough"})
    assert r.json() == csv.json() != plain.json()


def test_parquet_passthrough_and_index_col_on_a_mixed_model(client: TestClient) -> None:
    # passthrough=Days: a factor (as a CSV's text), one fixed effect a day
    sleep = pd.read_csv(DATA / "sleepstudy.csv").assign(row=lambda d: [f"o{i}" for i in range(len(d))])
    params = {"formula": "Reaction ~ Days + (1 | Subject)", "passthrough": "Days", "index_col": "row"}
    csv = _post(client, "/v1/mixed/frame", sleep, params, kind="csv")
    r = _post(client, "/v1/mixed/frame", sleep, params)
    assert r.status_code == 200 and csv.status_code == 200, r.text
    assert "Days[T.9]" in r.json()["beta"]
    assert r.json() == csv.json()


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"passthrough": "zz"}, r"^passthrough: 'zz' is not a column of the Parquet file$"),
        ({"index_col": "zz"}, r"^index_col: 'zz' is not a column of the Parquet file \(columns: \['key', 'id', "),
        ({"passthrough": "key", "index_col": "key"}, r"^passthrough: 'key' is not a column of the Parquet file$"),
        ({"passthrough": "a", "columns": ["a", "b"]}, r"^passthrough: 'a' is also in columns; a column is either "),
    ],
)
def test_parquet_passthrough_and_index_col_errors_name_them(client: TestClient, params: dict, detail: str) -> None:
    assert_problem(_post(client, "/v1/impute", TABLE, params), 422, detail)


@pytest.mark.parametrize(
    ("name", "value", "msg"),
    [
        ("na_values", "-99", r"^CSV only: a Parquet body's missing cells are typed nulls, not text markers; leave "
                             r"na_values out"),
        ("sep", ";", r"^CSV only: a Parquet body has no field separator; leave sep out$"),
        ("decimal", ",", r"^CSV only: a Parquet body holds typed numbers, not text with a decimal mark; leave "),
    ],
)
@pytest.mark.parametrize(
    ("path", "extra"),
    [("/v1/impute", {}), ("/v1/diagnostics", {}), ("/v1/diagnostics/disperse", {}),
     ("/v1/mixed/frame", {"formula": "a ~ b + (1 | key)"}), ("/v1/jobs/impute", {})],
)
def test_csv_parse_options_with_a_parquet_body_are_422(
    client: TestClient, path: str, extra: dict, name: str, value: str, msg: str
) -> None:
    assert_422_at(_post(client, path, TABLE, {**extra, name: value}), ["query", name], msg)


def test_csv_parse_options_with_a_parquet_upload_are_422(client: TestClient) -> None:
    files = {"file": ("t.parquet", _parquet(TABLE), PARQUET)}
    r = client.post("/v1/impute", params={"na_values": "-99"}, files=files)
    assert_422_at(r, ["query", "na_values"], r"^CSV only: ")
