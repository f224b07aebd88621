"""The OpenAPI document declares every response and error; health endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

import imputer
from api.main import create_app
from api.settings import Settings, get_settings
from tests.api.conftest import slow_impute_body

pytestmark = pytest.mark.timeout(120)

OPERATIONS = [("/v1/impute", "post"), ("/v1/diagnostics/disperse", "post"), ("/v1/mixed", "post"), ("/v1/mixed/frame", "post")]
ERRORS = ["401", "406", "413", "415", "422", "500", "503", "504"]
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def spec(client: TestClient, app: Any) -> dict[str, Any]:
    app.openapi_schema = None  # built once per app and cached; rebuild with default settings
    r = client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_every_error_is_declared_as_problem_json(spec: dict[str, Any], path: str, method: str) -> None:
    responses = spec["paths"][path][method]["responses"]
    for status in ERRORS:
        assert responses[status]["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}, status
    assert "Retry-After" in responses["503"]["headers"]


def test_request_bodies_declare_the_media_types(spec: dict[str, Any]) -> None:
    impute = spec["paths"]["/v1/impute"]["post"]["requestBody"]["content"]
    for path in ["/v1/impute", "/v1/diagnostics", "/v1/diagnostics/disperse", "/v1/jobs/impute", "/v1/jobs/diagnostics",
                 "/v1/jobs/diagnostics/disperse"]:
        content = spec["paths"][path]["post"]["requestBody"]["content"]
        assert set(content) == {"application/json", "text/csv", "application/vnd.apache.parquet", "multipart/form-data"}
        upload = content["multipart/form-data"]["schema"]  # curl -F file=@data.csv
        assert upload["required"] == ["file"] and upload["properties"]["file"]["format"] == "binary"
    assert impute["application/json"]["schema"] == {"$ref": "#/components/schemas/ImputeRequest"}
    for path, model in [("/v1/diagnostics/disperse", "DisperseRequest"), ("/v1/mixed", "MixedRequest"),
                        ("/v1/mixed/frame", "MixedFrameRequest")]:
        content = spec["paths"][path]["post"]["requestBody"]["content"]
        assert content["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
    for name in ["ImputeRequest", "ImputeOptions", "SplitFrame", "MixedRequest", "RandomTerm", "MixedFrameRequest"]:
        assert name in spec["components"]["schemas"]


def test_impute_answers_json_or_csv(spec: dict[str, Any]) -> None:
    ok = spec["paths"]["/v1/impute"]["post"]["responses"]["200"]["content"]
    # one table of conditional means, or multiple imputation when options.m is given, or the
    # t's or the mixture's answer with options.model
    assert ok["application/json"]["schema"]["anyOf"] == [
        {"$ref": "#/components/schemas/ImputeResponse"},
        {"$ref": "#/components/schemas/ImputeMIResponse"},
        {"$ref": "#/components/schemas/ImputeTResponse"},
        {"$ref": "#/components/schemas/ImputeMixtureResponse"},
        {"$ref": "#/components/schemas/ImputeGlomResponse"},  # options.categorical
        {"$ref": "#/components/schemas/ImputeExtendedResponse"},
    ]
    assert ok["text/csv"]["schema"] == {"type": "string"}


def test_non_finite_outputs_are_nullable(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    null = {"type": "null"}
    impute = schemas["ImputeResponse"]["properties"]
    assert null in impute["loglik"]["anyOf"]
    assert null in impute["mean"]["additionalProperties"]["anyOf"]
    assert null in schemas["LabelledMatrix"]["properties"]["data"]["items"]["items"]["anyOf"]
    mixed = schemas["MixedResponse"]["properties"]
    for field in ["loglik", "aic", "bic"]:
        assert null in mixed[field]["anyOf"]
    assert null in mixed["fitted"]["items"]["anyOf"]


def test_every_field_is_documented(spec: dict[str, Any]) -> None:
    for name, schema in spec["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{field} has no description"


def test_api_key_optional_without_keys_and_required_with(spec: dict[str, Any]) -> None:
    assert spec["paths"]["/v1/impute"]["post"]["security"] == [{"APIKeyHeader": []}, {}]
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: Settings(api_keys="k")
    secured = TestClient(app).get("/openapi.json").json()
    assert secured["paths"]["/v1/impute"]["post"]["security"] == [{"APIKeyHeader": []}]
    assert "security" not in secured["paths"]["/healthz"]["get"]


def test_docs_page(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()


def test_healthz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.json() == {"status": "ok", "version": imputer.__version__}


def test_readyz_reports_the_pool(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ready", "workers": 2, "alive": 2, "idle": 2, "busy": 0, "waiting": 0, "max_queue": 8
    }


def test_readyz_503_before_the_pool_starts() -> None:
    app = create_app()
    r = TestClient(app).get("/readyz")  # no lifespan: workers never started
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"] == "5"
    assert r.json()["detail"] == "Not ready: 0/1 workers alive, 0 idle, 0/256 requests waiting."


def test_timeout_in_process_is_504(client: TestClient, settings_override: Callable[..., None], app: Any) -> None:
    settings_override(timeout_s=0.5)
    before = set(app.state.runner.worker_pids())
    r = client.post("/v1/impute", json=slow_impute_body())
    assert r.status_code == 504, r.text[:300]
    assert r.json()["detail"] == "The computation exceeded the time limit of 0.5 s and was stopped."
    after = set(app.state.runner.worker_pids())
    assert len(before - after) == 1 and len(after) == 2


def test_head_readyz_503_before_the_pool_starts() -> None:
    r = TestClient(create_app()).head("/readyz")  # no lifespan: workers never started
    assert r.status_code == 503 and r.headers["retry-after"] == "5" and r.content == b""


#: the job routes and the errors each can answer (a failed job's result: its problem, with its status)
JOB_OPERATIONS = [
    ("/v1/jobs/{job_id}", "get", ["401", "404", "406", "422", "503"]),
    ("/v1/jobs/{job_id}/result", "get", ["401", "404", "406", "409", "422", "500", "503", "504"]),
    ("/v1/jobs/{job_id}", "delete", ["401", "404", "422", "503"]),
]


@pytest.mark.parametrize(("path", "method", "statuses"), JOB_OPERATIONS)
def test_job_routes_declare_their_errors_as_problem_json(
    spec: dict[str, Any], path: str, method: str, statuses: list[str]
) -> None:
    responses = spec["paths"][path][method]["responses"]
    for status in statuses:
        assert responses[status]["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}, status
    assert "Retry-After" in responses["503"]["headers"]


def test_every_status_of_a_failed_job_is_declared_on_its_result(spec: dict[str, Any]) -> None:
    from api.problems import SERVICE_STATUS

    # a failed job holds the 422 of invalid data, a service error's status, or the 500 of a bug
    failed = {422, 500, *SERVICE_STATUS.values()}
    declared = spec["paths"]["/v1/jobs/{job_id}/result"]["get"]["responses"]
    assert {str(s) for s in failed} <= set(declared)
    assert "IMPUTER_JOBS_TIMEOUT_S" in declared["504"]["description"]
