"""File uploads as multipart/form-data (``curl -F file=@data.csv``): the one file part is
the body, in the format of its media type or name; the answer equals the raw body's."""

from __future__ import annotations

import io
import time

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.api._assert import assert_problem


def _parquet(frame: pd.DataFrame) -> bytes:
    pytest.importorskip("pyarrow")
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "media", "fmt"),
    [
        ("air.csv", "text/csv", "csv"),
        ("air.csv", "application/octet-stream", "csv"),  # curl's type for a file it does not know: by name
        ("air.parquet", "application/octet-stream", "parquet"),  # binary, bytes exactly
    ],
)
@pytest.mark.parametrize("route", ["/v1/impute", "/v1/jobs/impute"])
def test_uploaded_file_is_the_body(
    client: TestClient, airquality: pd.DataFrame, airquality_csv: bytes, name: str, media: str, fmt: str, route: str
) -> None:
    content = airquality_csv if fmt == "csv" else _parquet(airquality)
    raw_type = "text/csv" if fmt == "csv" else "application/vnd.apache.parquet"
    expected = client.post("/v1/impute?ridge=0.5", content=content, headers={"content-type": raw_type})
    assert expected.status_code == 200, expected.text
    r = client.post(f"{route}?ridge=0.5", files={"file": (name, content, media)})
    if route == "/v1/jobs/impute":
        assert r.status_code == 202, r.text
        return
    assert r.status_code == 200, r.text
    assert r.json() == expected.json()


@pytest.mark.parametrize(
    ("files", "status", "detail"),
    [
        ({"a": ("a.csv", b"x\n1\n", "text/csv"), "b": ("b.csv", b"x\n2\n", "text/csv")}, 422,
         r"carries exactly one file \(curl -F file=@data.csv\), got 2"),
        ({"file": ("notes.xlsx", b"PK", "application/octet-stream")}, 415,
         r"uploaded file 'notes.xlsx' \(application/octet-stream\): send a .csv, .json or .parquet file"),
    ],
    ids=["two-files", "spreadsheet"],
)
def test_bad_uploads_are_problems(client: TestClient, files: dict, status: int, detail: str) -> None:
    assert_problem(client.post("/v1/impute", files=files), status, detail)


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        ({"ridge": "5"}, r"form field 'ridge' not read: a multipart upload carries the file only; send the options as query"),
        ({"ridge": "5", "tol": "1e-3"}, r"form fields 'ridge', 'tol' not read"),
    ],
)
def test_form_fields_beside_the_file_are_422_not_ignored(client: TestClient, data: dict, detail: str) -> None:
    files = {"file": ("a.csv", b"x,y\n1,2\n2,\n3,4\n4,3\n", "text/csv")}
    assert_problem(client.post("/v1/impute", files=files, data=data), 422, detail)


def test_multipart_without_a_boundary_is_400(client: TestClient) -> None:
    r = client.post("/v1/impute", content=b"x", headers={"content-type": "multipart/form-data"})
    assert_problem(r, 400, "without a boundary parameter")


@pytest.mark.parametrize("route", ["/v1/diagnostics", "/v1/jobs/diagnostics"])
def test_uploaded_file_is_the_diagnostics_body(client: TestClient, airquality_csv: bytes, route: str) -> None:
    expected = client.post("/v1/diagnostics", content=airquality_csv, headers={"content-type": "text/csv"})
    assert expected.status_code == 200, expected.text
    r = client.post(route, files={"file": ("air.csv", airquality_csv, "application/octet-stream")})
    if route == "/v1/diagnostics":
        assert r.status_code == 200, r.text
        assert r.json() == expected.json()
        return
    assert r.status_code == 202, r.text
    job = r.headers["location"]
    for _ in range(200):
        status = client.get(job).json()["status"]
        if status not in ("queued", "running"):
            break
        time.sleep(0.05)
    assert status == "succeeded"
    assert client.get(f"{job}/result").json() == expected.json()
