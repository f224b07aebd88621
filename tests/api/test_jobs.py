"""Asynchronous jobs over the ASGI app: submit, poll, fetch, cancel, expire, isolate by key.

Every job's result is compared with the answer of its synchronous twin for the same
body (the reference: the endpoint the job API reuses), byte for byte where the answer
is deterministic.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.jobs.service import ORPHAN_DETAIL
from api.jobs.store import JobStore
from api.routers.disperse import EXAMPLE as DISPERSE_EXAMPLE
from api.routers.impute import MI_EXAMPLE
from api.routers.mixed import _FRAME_EXAMPLE, _MATRIX_EXAMPLE
from api.schemas.pool import POOL_EXAMPLE
from tests.api.conftest import DATA, JOBS_DB, slow_impute_body
from tests.api.live import alive

pytestmark = pytest.mark.timeout(120)

TABLE = {
    "columns": ["height", "weight"],
    "index": ["a", "b", "c", "d", "e"],
    "data": [[1.62, 58.0], [1.75, None], [1.80, 81.5], [None, 70.2], [1.68, 64.0]],
}


def wait_finished(client: TestClient, location: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Poll the job's status until it has finished (bounded by the test timeout)."""
    while True:
        doc = client.get(location, headers=headers or {}).json()
        if doc["status"] not in ("queued", "running"):
            return doc
        time.sleep(0.02)


def submit(client: TestClient, path: str, **kw: Any) -> tuple[str, dict[str, Any]]:
    r = client.post(f"/v1/jobs/{path}", **kw)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/v1/jobs/{r.json()['id']}"
    return r.headers["location"], r.json()


def store() -> JobStore:
    return JobStore(f"sqlite:///{JOBS_DB}")


CASES = [
    ("impute", {"json": {"data": TABLE, "options": {"tol": 1e-8, "conditional_var": True}}}),
    ("impute", {"json": MI_EXAMPLE}),  # multiple imputation, seeded
    ("impute", {"content": (DATA / "airquality.csv").read_bytes(), "headers": {"content-type": "text/csv"},
                "params": {"columns": ["Ozone", "Solar.R", "Wind"]}}),
    ("diagnostics", {"content": (DATA / "airquality.csv").read_bytes(), "headers": {"content-type": "text/csv"}}),
    ("diagnostics/disperse", {"json": DISPERSE_EXAMPLE}),  # seeded: the same runs
    ("mixed", {"json": _MATRIX_EXAMPLE}),
    ("mixed/frame", {"json": _FRAME_EXAMPLE}),
    ("pool", {"json": POOL_EXAMPLE}),
]


@pytest.mark.parametrize(("kind", "request_kw"), CASES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CASES)])
def test_job_result_is_the_synchronous_answer(client: TestClient, kind: str, request_kw: dict[str, Any]) -> None:
    sync = client.post(f"/v1/{kind}", **request_kw)
    assert sync.status_code == 200, sync.text
    location, doc = submit(client, kind, **request_kw)
    assert doc["kind"] == kind and doc["status"] in ("queued", "running")
    assert len(doc["id"]) == 22  # 16 random bytes, URL-safe base64
    done = wait_finished(client, location)
    assert done["status"] == "succeeded", done
    assert done["result"] == f"{location}/result"
    assert done["created_at"] <= done["started_at"] <= done["finished_at"] < done["expires_at"]
    r = client.get(f"{location}/result")
    assert r.status_code == 200
    assert r.headers["content-type"] == sync.headers["content-type"]
    if kind == "impute" and "m" not in request_kw.get("json", {}).get("options", {}):
        assert r.content == sync.content
    else:  # the same answer up to the wall-clock fields
        assert _without_time(r.json()) == _without_time(sync.json())


def _without_time(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _without_time(v) for k, v in doc.items() if k not in ("elapsed", "elapsed_s", "time")}
    if isinstance(doc, list):
        return [_without_time(v) for v in doc]
    return doc


def test_impute_job_result_as_csv_and_formats(client: TestClient) -> None:
    body = (DATA / "airquality.csv").read_bytes()
    headers = {"content-type": "text/csv"}
    location, _ = submit(client, "impute", content=body, headers=headers)
    wait_finished(client, location)
    sync = client.post("/v1/impute", content=body, headers={**headers, "accept": "text/csv"})
    r = client.get(f"{location}/result", headers={"accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content == sync.content
    # the stored answers are compressed
    stored = store().output(location.rsplit("/", 1)[1], "csv")
    assert stored is not None and stored.size == len(sync.content) and len(stored.payload) < stored.size / 2
    # and as Parquet (the synchronous endpoint's bytes, hence its table)
    parquet = "application/vnd.apache.parquet"
    r = client.get(f"{location}/result", headers={"accept": parquet})
    sync = client.post("/v1/impute", content=body, headers={**headers, "accept": parquet})
    assert r.status_code == 200 and r.headers["content-type"] == parquet
    assert r.content == sync.content
    # a mixed job answers JSON only
    mixed, _ = submit(client, "mixed", json=_MATRIX_EXAMPLE)
    wait_finished(client, mixed)
    r = client.get(f"{mixed}/result", headers={"accept": "text/csv"})
    assert r.status_code == 406 and r.headers["content-type"] == "application/problem+json"


def test_invalid_data_make_a_failed_job_with_the_synchronous_problem(client: TestClient) -> None:
    body = {"data": TABLE, "options": {"tol": -1}}
    sync = client.post("/v1/impute", json=body)
    assert sync.status_code == 422
    location, _ = submit(client, "impute", json=body)
    done = wait_finished(client, location)
    assert done["status"] == "failed" and done["result"] is None
    expected = {**sync.json(), "instance": location}
    assert {k: v for k, v in done["error"].items() if v is not None} == expected
    r = client.get(f"{location}/result")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json() == {**expected, "instance": f"{location}/result"}


def test_query_parameters_are_checked_at_submission(client: TestClient) -> None:
    r = client.post("/v1/jobs/impute?tol=abc", content=b"a\n1\n", headers={"content-type": "text/csv"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "tol"]
    r = client.post("/v1/jobs/impute", content=b"a\n1\n", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    r = client.post("/v1/jobs/mixed", json=_MATRIX_EXAMPLE, headers={"accept": "text/csv"})
    assert r.status_code == 406


@pytest.mark.parametrize(
    ("method", "suffix"), [("get", ""), ("get", "/result"), ("delete", "")]
)
def test_unknown_job_is_404_problem(client: TestClient, method: str, suffix: str) -> None:
    r = client.request(method.upper(), f"/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA{suffix}")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "/problems/not-found"
    assert r.json()["detail"].startswith("No job 'AAAAAAAAAAAAAAAAAAAAAA': unknown, expired")


def test_running_job_reports_progress_and_cancel_kills_its_worker(client: TestClient, app: Any) -> None:
    location, _ = submit(client, "impute", json=slow_impute_body())
    job_id = location.rsplit("/", 1)[1]
    seen: list[int] = []
    while len(set(seen)) < 2:  # two different iterations reported while it runs
        doc = client.get(location).json()
        assert doc["status"] in ("queued", "running")
        if doc["progress"] is not None:
            seen.append(doc["progress"]["iteration"])
            assert doc["progress"]["objective"] < 0 and doc["progress"]["elapsed"] >= 0
        time.sleep(0.05)
    assert seen == sorted(seen)
    assert doc["status"] == "running" and doc["started_at"] is not None
    r = client.get(f"{location}/result")
    assert r.status_code == 409 and r.headers["retry-after"] == "1"
    assert r.json()["detail"] == f"The job is running; poll {location} until it has finished."
    pid = store().get(job_id).worker_pid  # type: ignore[union-attr]
    assert pid is not None and alive(pid)
    r = client.delete(location)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert not alive(pid)  # the worker process was killed (and replaced)
    assert pid not in app.state.runner.worker_pids() and len(app.state.runner.worker_pids()) == 2
    r = client.get(f"{location}/result")
    assert r.status_code == 409 and r.json()["detail"] == "The job was cancelled; it has no result."
    assert client.delete(location).status_code == 204  # a finished job is deleted
    assert client.get(location).status_code == 404


def test_a_disperse_job_reports_progress_across_its_runs(client: TestClient) -> None:
    body = slow_impute_body()
    body["options"] = {"starts": 3, "seed": 0, "tol": 1e-300, "max_iter": 100000, "accelerate": False}
    location, _ = submit(client, "diagnostics/disperse", json=body)
    seen: list[int] = []
    deadline = time.monotonic() + 60.0
    while len(set(seen)) < 2:  # two different iterations reported while it runs
        assert time.monotonic() < deadline, "no progress reported"
        doc = client.get(location).json()
        assert doc["status"] in ("queued", "running")
        if doc["progress"] is not None:
            seen.append(doc["progress"]["iteration"])
            assert doc["progress"]["objective"] < 0 and doc["progress"]["n_evals"] >= doc["progress"]["iteration"]
        time.sleep(0.05)
    assert seen == sorted(seen)
    r = client.delete(location)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_expired_job_is_removed_on_access(client: TestClient, settings_override: Callable[..., None]) -> None:
    location, _ = submit(client, "pool", json=POOL_EXAMPLE)
    wait_finished(client, location)
    job_id = location.rsplit("/", 1)[1]
    assert store().get(job_id) is not None
    settings_override(jobs_ttl_s=1e-9)
    assert client.get(f"{location}/result").status_code == 404
    assert store().get(job_id) is None and store().formats(job_id) == []


def test_sweep_expires_old_jobs_and_fails_orphans(client: TestClient, app: Any) -> None:
    service = app.state.jobs
    s = store()
    # a finished job past the TTL, and an active one whose server stopped heartbeating
    s.create("old", owner="", kind="pool", instance="gone")
    s.finish("old", "succeeded")
    s.create("orphan", owner="", kind="impute", instance="gone")
    with s.engine.begin() as conn:
        from api.jobs.store import jobs

        conn.execute(jobs.update().where(jobs.c.id == "old").values(finished_at=time.time() - service.ttl_s - 1))
        conn.execute(jobs.update().where(jobs.c.id == "orphan").values(heartbeat_at=time.time() - 3 * service.heartbeat_s - 1))
    client.portal.call(service.sweep)  # type: ignore[attr-defined]
    assert s.get("old") is None
    orphan = client.get("/v1/jobs/orphan").json()
    assert orphan["status"] == "failed" and orphan["error"]["detail"] == ORPHAN_DETAIL
    s.delete("orphan")


def test_a_job_is_visible_only_to_the_key_that_created_it(
    client: TestClient, settings_override: Callable[..., None]
) -> None:
    settings_override(api_keys="key-one,key-two")
    one, two = {"x-api-key": "key-one"}, {"x-api-key": "key-two"}
    assert client.post("/v1/jobs/pool", json=POOL_EXAMPLE).status_code == 401
    location, _ = submit(client, "pool", json=POOL_EXAMPLE, headers=one)
    wait_finished(client, location, one)
    for method, suffix in [("GET", ""), ("GET", "/result"), ("DELETE", "")]:
        assert client.request(method, f"{location}{suffix}", headers=two).status_code == 404
    assert client.get(f"{location}/result", headers=one).status_code == 200
    row = store().get(location.rsplit("/", 1)[1])
    assert row is not None and row.owner == hashlib.sha256(b"key-one").hexdigest()
    assert b"key-one" not in JOBS_DB.read_bytes()  # the key itself is never stored
    assert client.delete(location, headers=one).status_code == 204


def test_status_document_is_declared(client: TestClient, app: Any) -> None:
    app.openapi_schema = None
    spec = client.get("/openapi.json").json()
    app.openapi_schema = None
    post = spec["paths"]["/v1/jobs/impute"]["post"]
    assert post["requestBody"] == spec["paths"]["/v1/impute"]["post"]["requestBody"]
    assert post["responses"]["202"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/JobStatus"}
    assert "Location" in post["responses"]["202"]["headers"]
    for kind in ["diagnostics", "diagnostics/disperse", "mixed", "mixed/frame", "pool"]:
        assert spec["paths"][f"/v1/jobs/{kind}"]["post"]["requestBody"] == spec["paths"][f"/v1/{kind}"]["post"]["requestBody"]
    assert set(spec["paths"]["/v1/jobs/{job_id}"]) == {"get", "delete"}
    assert json.dumps(spec["components"]["schemas"]["JobStatus"])  # documented fields (test_openapi_and_health)


def test_head_of_a_job_and_of_its_result(client: TestClient) -> None:
    # RFC 9110: HEAD wherever GET (was 405): the same status and headers, no body
    location, _ = submit(client, "impute", json={"data": TABLE})
    wait_finished(client, location)
    for path, accept in [(location, "application/json"), (f"{location}/result", "text/csv")]:
        get, head = client.get(path, headers={"accept": accept}), client.head(path, headers={"accept": accept})
        assert head.status_code == get.status_code == 200 and head.content == b""
        for name in ("content-type", "content-length"):
            assert head.headers[name] == get.headers[name], (path, name)
    assert client.head("/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA").status_code == 404
    assert client.head("/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA/result").status_code == 404
