"""Service errors (api.errors) as problem+json: status, type, title, detail, Retry-After."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import errors
from api.errors import (
    JobCancelled,
    JobFailed,
    JobTimedOut,
    PoolNotRunning,
    PoolSaturated,
    PoolStopping,
    ServiceError,
    WorkerCrashed,
)
from api.problems import install_problem_handlers
from imputer.errors import ImputerError

_LOGGED = "The server failed to process the request; the failure has been logged."

CASES = [
    (PoolNotRunning("The computation service is not running.", retry_after=5),
     503, "/problems/saturated", "Service Unavailable", "The computation service is not running.", "5"),
    (PoolSaturated("All 1 workers are busy and 0 requests are already waiting; retry later.", retry_after=9),
     503, "/problems/saturated", "Service Unavailable",
     "All 1 workers are busy and 0 requests are already waiting; retry later.", "9"),
    (PoolStopping("The computation service is shutting down.", retry_after=0),
     503, "/problems/saturated", "Service Unavailable", "The computation service is shutting down.", "0"),
    (JobTimedOut(3.0), 504, "/problems/timeout", "Gateway Timeout",
     "The computation exceeded the time limit of 3 s and was stopped.", None),
    (JobFailed("ValueError"), 500, "/problems/internal-error", "Internal Server Error",
     "The computation failed unexpectedly; the failure has been logged.", None),
    (WorkerCrashed(), 500, "/problems/internal-error", "Internal Server Error",
     "The worker process ended unexpectedly; the failure has been logged.", None),
    # no HTTP meaning yet (the synchronous endpoints never answer a cancelled job)
    (JobCancelled(), 500, "/problems/internal-error", "Internal Server Error", _LOGGED, None),
]


@pytest.fixture(scope="module")
def raising_client() -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/raise/{i}")
    async def raise_case(i: int) -> None:
        raise CASES[i][0]

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("i", "status", "type_", "title", "detail", "retry_after"),
    [(i, *case[1:]) for i, case in enumerate(CASES)],
    ids=[type(case[0]).__name__ for case in CASES],
)
def test_service_error_is_answered_as_its_problem(
    raising_client: TestClient,
    i: int,
    status: int,
    type_: str,
    title: str,
    detail: str,
    retry_after: str | None,
) -> None:
    r = raising_client.get(f"/raise/{i}")
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json() == {
        "type": type_, "title": title, "status": status, "detail": detail, "instance": f"/raise/{i}"
    }
    assert r.headers.get("retry-after") == retry_after


@pytest.mark.parametrize("name", errors.__all__)
def test_service_errors_share_one_root_apart_from_the_library_errors(name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, ServiceError)
    assert not issubclass(cls, ImputerError)  # else answered as 422 "Invalid data or options"


def test_validation_errors_are_capped_with_their_count(client) -> None:  # type: ignore[no-untyped-def]
    # 300 rows each with a string where a number or null belongs in a numbers-only field: one error per cell
    body = {"y": ["x"] * 300}
    r = client.post("/v1/mixed", json=body)
    assert r.status_code == 422, r.text
    problem = r.json()
    count = problem["error_count"]
    assert count >= 300  # every cell of y (and possibly a missing field besides)
    assert len(problem["errors"]) == 100
    assert problem["errors"][0]["loc"] == ["body", "y", 0]
    assert problem["detail"].endswith(f"(and {count - 3} more)")
