"""POST /v1/diagnostics/disperse in JSON, CSV, Parquet and upload: the library's runs, the declared schema.

The reference is Murray's (1977) twelve rows (Little & Rubin 2002, section 8.1): two
maxima of the log-likelihood, correlation +1/2 and -1/2 with both variances 8/3
(log-likelihood -29.97428641046502), and a saddle point at correlation 0 with variances
2.5 (-30.033342386268007), where EM from the engine's own start stays; the values are
those of the direct maximisation, independent of EM. Every answer is also compared with
:func:`imputer.disperse` on the same table (its ``to_dict()`` through JSON, with the
warnings the service records) and validated with ``jsonschema`` against the response
schema of the served /openapi.json, as tests/api/test_response_schema.py does for the
other endpoints.
"""

from __future__ import annotations

import io
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import imputer
from api.routers.disperse import EXAMPLE
from api.schemas.disperse import DisperseResponse
from tests.api.conftest import answer_of, split_of
from tests.api.test_limits import _wide_csv
from tests.api.test_response_schema import _objects

pytestmark = pytest.mark.timeout(120)
PATH = "/v1/diagnostics/disperse"

nan = np.nan
MURRAY = pd.DataFrame(
    {"x1": [1, 1, -1, -1, 2, 2, -2, -2, nan, nan, nan, nan], "x2": [1, -1, 1, -1, nan, nan, nan, nan, 2, 2, -2, -2]}
)
MURRAY_CSV = MURRAY.to_csv(index=False).encode()
#: the direct maximisation (module docstring)
MAX_LOGLIK, SADDLE_LOGLIK = -29.97428641046502, -30.033342386268007


def reference(frame: pd.DataFrame, columns: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
    """What the service must answer: the library's runs through JSON, with their warnings."""
    return answer_of(lambda: imputer.disperse(frame, columns, **kwargs).to_dict(), allow_nan=False)


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def _validator(spec: dict[str, Any]) -> jsonschema.Draft202012Validator:
    ref = spec["paths"][PATH]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**ref, "components": spec["components"]})


def test_murray_two_maxima_and_the_saddle_point(client: TestClient, spec: dict[str, Any]) -> None:
    r = client.post(PATH, json={"data": split_of(MURRAY), "options": {"starts": 8, "seed": 1}})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    _validator(spec).validate(body)
    assert body == reference(MURRAY, starts=8, seed=1)
    assert set(body) == set(DisperseResponse.model_fields)
    assert (body["n_points"], body["unique"], body["seed"], body["warnings"]) == (3, False, 1, [])
    engine, best = body["runs"][0], body["runs"][body["best"] - 1]
    # the engine's own start stays at the saddle point, the lowest of the three points
    assert (engine["run"], engine["start"], engine["point"], engine["converged"]) == (1, "engine", 3, True)
    assert engine["loglik"] == pytest.approx(SADDLE_LOGLIK, abs=1e-9)
    assert engine["gap"] == pytest.approx(MAX_LOGLIK - SADDLE_LOGLIK, abs=1e-9)
    assert best["loglik"] == pytest.approx(MAX_LOGLIK, abs=1e-9) and best["point"] == 1 and best["gap"] == 0
    cov = np.array(body["cov"]["data"])  # variances 8/3, correlation +-1/2
    np.testing.assert_allclose(np.diag(cov), [8 / 3, 8 / 3], atol=1e-6)
    assert abs(cov[0, 1]) == pytest.approx(4 / 3, abs=1e-6)
    np.testing.assert_allclose(body["means"]["data"], np.zeros((8, 2)), atol=1e-6)  # every point has mean 0
    assert sorted(body["histories"], key=int) == [str(k) for k in range(1, 9)]
    for run in body["runs"][1:]:  # the overdispersed starts all reach one of the two maxima
        assert run["point"] in (1, 2) and run["loglik"] == pytest.approx(MAX_LOGLIK, abs=1e-9)


def _parquet(frame: pd.DataFrame) -> bytes:
    pytest.importorskip("pyarrow")
    buf = io.BytesIO()
    frame.to_parquet(buf)
    return buf.getvalue()


@pytest.mark.parametrize("form", ["csv", "parquet", "upload"])
def test_table_bodies_with_query_options_give_the_json_answer(client: TestClient, form: str) -> None:
    params = {"starts": 6, "seed": 4, "atol": 1e-3, "columns": ["x2", "x1"]}
    if form == "csv":
        r = client.post(PATH, params=params, content=MURRAY_CSV, headers={"content-type": "text/csv"})
    elif form == "parquet":
        r = client.post(PATH, params=params, content=_parquet(MURRAY),
                        headers={"content-type": "application/vnd.apache.parquet"})
    else:
        r = client.post(PATH, params=params, files={"file": ("murray.csv", MURRAY_CSV, "text/csv")})
    assert r.status_code == 200, r.text
    expected = reference(MURRAY, ["x2", "x1"], starts=6, seed=4, atol=1e-3)
    assert r.json() == expected
    as_json = client.post(PATH, json={"data": split_of(MURRAY), "options": params})
    assert as_json.json() == expected and expected["columns"] == ["x2", "x1"]


@pytest.mark.parametrize(
    "options",
    [
        {"ridge": 1.0, "prior": "amelia"},
        {"tol": 1e-5, "max_iter": 40},
        {"accelerate": False},
        {"atol": 0.01},
        {"around": "estimate"},
    ],
    ids=["prior", "tol", "no-accelerate", "atol", "around"],
)
def test_options_reach_the_library(client: TestClient, options: dict[str, Any]) -> None:
    r = client.post(PATH, json={"data": split_of(MURRAY), "options": {"starts": 4, "seed": 9, **options}})
    assert r.status_code == 200, r.text
    assert r.json() == reference(MURRAY, starts=4, seed=9, **options)


def test_text_columns_are_left_out(client: TestClient) -> None:
    frame = MURRAY.assign(site=list("abcdefghijkl"))
    r = client.post(PATH, json={"data": split_of(frame), "options": {"starts": 4, "seed": 2}})
    assert r.status_code == 200, r.text
    assert r.json() == {**reference(MURRAY, starts=4, seed=2), "passthrough": ["site"]}
    assert r.json()["columns"] == ["x1", "x2"]


def test_the_seed_drawn_is_returned_and_replays_the_runs(client: TestClient) -> None:
    first = client.post(PATH, json={"data": split_of(MURRAY), "options": {"starts": 4}}).json()
    assert 0 <= first["seed"] <= 2**63 - 1
    again = client.post(PATH, json={"data": split_of(MURRAY), "options": {"starts": 4, "seed": first["seed"]}})
    assert again.json() == first


def test_runs_that_do_not_converge_are_a_result_with_a_warning(client: TestClient, spec: dict[str, Any]) -> None:
    r = client.post(PATH, json={"data": split_of(MURRAY), "options": {"starts": 3, "seed": 2, "max_iter": 1}})
    assert r.status_code == 200, r.text
    body = r.json()
    _validator(spec).validate(body)
    assert body == reference(MURRAY, starts=3, seed=2, max_iter=1)
    assert [run["converged"] for run in body["runs"]] == [True, False, False]
    assert [run["point"] for run in body["runs"]] == [1, 0, 0] and body["unique"] is False
    assert body["warnings"] == [
        "disperse: run(s) 2, 3 did not converge within max_iter=1 (point 0 in runs); raise max_iter"
    ]


@pytest.mark.parametrize(
    ("options", "detail"),
    [
        ({"starts": 1}, "body.options.starts: Input should be greater than or equal to 2"),
        ({"starts": 101}, "body.options.starts: Input should be less than or equal to 100"),
        ({"atol": 0}, "body.options.atol: Input should be greater than 0"),
        ({"seed": -1}, "body.options.seed: Input should be greater than or equal to 0"),
        ({"tol": -1.0}, "body.options.tol: Input should be greater than 0"),
        ({"prior": "flat"}, "body.options.prior: Input should be 'ridge' or 'amelia'"),
        ({"around": "mode"}, "body.options.around: Input should be 'start' or 'estimate'"),
        ({"alpha": 1}, "body.options.alpha: Extra inputs are not permitted"),
        ({"columns": ["x1", "zz"]}, "columns: unknown column 'zz'"),
    ],
    ids=["starts", "starts-limit", "atol", "seed", "tol", "prior", "around", "unknown-option", "unknown-column"],
)
def test_option_errors_are_problem_details_naming_the_option(
    client: TestClient, options: dict[str, Any], detail: str
) -> None:
    r = client.post(PATH, json={"data": split_of(MURRAY), "options": options})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["instance"] == PATH and problem["detail"].startswith(detail)


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("starts=1", "query.starts: Input should be greater than or equal to 2"),
        ("atol=0", "query.atol: Input should be greater than 0"),
        ("seed=-1", "query.seed: Input should be greater than or equal to 0"),
        ("around=mode", "query.around: Input should be 'start' or 'estimate'"),
        ("columns=zz", "columns: unknown column 'zz'"),
    ],
)
def test_csv_query_errors_name_the_parameter(client: TestClient, query: str, detail: str) -> None:
    r = client.post(f"{PATH}?{query}", content=MURRAY_CSV, headers={"content-type": "text/csv"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(detail)


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        ({"columns": ["s"], "data": [["x"], ["y"]]}, "data has no numeric column to model"),
        ({"columns": ["a", "b", "c"], "data": [[1, 2, None], [2, None, 3], [None, 4, 5]]},
         "data has 3 rows for 3 modelled columns"),
        ({"columns": ["a", "b"], "data": [[1.0, None], [2.0, None], [3.0, None]]}, "column 'b' has no observed value"),
    ],
    ids=["no-numeric", "too-few-rows", "all-missing-column"],
)
def test_data_errors_are_the_engines_messages(client: TestClient, data: dict[str, Any], detail: str) -> None:
    r = client.post(PATH, json={"data": data})
    assert r.status_code == 422, r.text
    with pytest.raises(imputer.ImputerError) as engine:
        imputer.disperse(pd.DataFrame([[nan if v is None else v for v in row] for row in data["data"]],
                                      columns=data["columns"]))
    assert detail in r.json()["detail"] and r.json()["detail"] == str(engine.value)


def test_column_limit(client: TestClient, settings_override: Any) -> None:
    settings_override(max_columns=1)
    r = client.post(PATH, json={"data": split_of(MURRAY), "options": {"starts": 2}})
    assert r.status_code == 422 and "exceed the limit of 1" in r.json()["detail"]


def test_runs_estimated_over_the_time_limit_are_422_at_once(client: TestClient) -> None:
    # 10 x 1,999 with ridge=1: one fit is estimated at about 8 s (tests/api/test_limits.py), ten at 80 s
    r = client.post(f"{PATH}?ridge=1&starts=10", content=_wide_csv(10, 1999), headers={"content-type": "text/csv"})
    assert r.status_code == 422, r.text[:300]
    assert r.json()["detail"].startswith("body: 10 runs of the fit of 10 rows x 1,999 columns, ")
    assert "over the time limit of 60 s (IMPUTER_TIMEOUT_S); submit it as a job (POST /v1/jobs/diagnostics/disperse" in (
        r.json()["detail"])


def test_only_json_answers(client: TestClient) -> None:
    r = client.post(PATH, content=MURRAY_CSV, headers={"content-type": "text/csv", "accept": "text/csv"})
    assert r.status_code == 406 and r.headers["content-type"] == "application/problem+json"
    assert client.post(PATH, content=b"x", headers={"content-type": "application/xml"}).status_code == 415


def test_schema_forbids_unknown_keys_and_requires_the_rest(spec: dict[str, Any]) -> None:
    ref = spec["paths"][PATH]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    objects = dict(_objects(ref, spec["components"], set()))
    assert {"DisperseResponse", "DisperseRun", "DisperseMeans", "LabelledMatrix"} <= set(objects)
    for name, schema in objects.items():
        if "properties" in schema:
            assert schema.get("additionalProperties") is False, name
            assert set(schema["properties"]) == set(schema.get("required", [])), name


def _payload() -> dict[str, Any]:
    return reference(MURRAY, starts=3, seed=2, max_iter=1)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d: d.update(unexpected=1),
        lambda d: d["runs"][0].update(unexpected=1),
        lambda d: d.pop("histories"),
        lambda d: d["runs"][1].update(point="none"),
        lambda d: d["runs"][0].update(start="random"),
        lambda d: d["means"].pop("columns"),
    ],
    ids=["extra", "extra-in-run", "missing", "wrong-type", "wrong-start", "missing-nested"],
)
def test_the_check_fails_on_a_body_that_drifts(spec: dict[str, Any], spoil: Any) -> None:
    body = _payload()
    _validator(spec).validate(body)
    spoil(body)
    with pytest.raises(jsonschema.ValidationError):
        _validator(spec).validate(body)


def test_openapi_documents_the_endpoint(spec: dict[str, Any]) -> None:
    op = spec["paths"][PATH]["post"]
    content = op["requestBody"]["content"]
    assert set(content) == {"application/json", "text/csv", "application/vnd.apache.parquet", "multipart/form-data"}
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/DisperseRequest"}
    assert {"200", "415", "422", "504"} <= set(op["responses"])
    params = {p["name"] for p in op["parameters"] if p["in"] == "query"}
    assert {"starts", "columns", "ridge", "prior", "seed", "atol", "tol", "max_iter", "accelerate", "sep"} <= params
    starts = spec["components"]["schemas"]["DisperseOptions"]["properties"]["starts"]
    assert (starts["minimum"], starts["maximum"], starts["default"]) == (2, 100, 5)


def test_the_openapi_examples_are_accepted(client: TestClient, spec: dict[str, Any]) -> None:
    content = spec["paths"][PATH]["post"]["requestBody"]["content"]
    assert content["application/json"]["example"] == EXAMPLE
    r = client.post(PATH, json=EXAMPLE)
    assert r.status_code == 200, r.text
    assert r.json()["n_points"] == 3  # Murray's: the saddle point and the two maxima
    r2 = client.post(PATH, params=EXAMPLE["options"], content=content["text/csv"]["example"].encode(),
                     headers={"content-type": "text/csv"})
    assert r2.status_code == 200, r2.text
    assert r.json() == r2.json()
