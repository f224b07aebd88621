"""Each endpoint's answer, built from the result's to_dict(), is exactly what /openapi.json declares.

The response schema of every JSON endpoint is taken from the served OpenAPI document
(``responses["200"]``, ``application/json``) and the actual bodies are validated
against it with ``jsonschema``: a key the schema does not describe, a missing required
key or a value of the wrong type fails. The response models forbid unknown keys
(``additionalProperties: false``), which is checked too, so the document cannot drift
from ``to_dict()``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import imputer
from tests.api.conftest import answer_of, split_of

pytestmark = pytest.mark.timeout(120)


def _impute_body(airquality: pd.DataFrame) -> dict[str, Any]:
    return {"data": split_of(airquality), "options": {"conditional_var": True}}


MATRIX_BODY = {
    "y": [10.1, 11.3, 9.8, None, 14.2, 15.0, 13.1, 12.2, 12.9],
    "ZETA": {"batch": {"Z": [[1, 0, 0]] * 3 + [[0, 1, 0]] * 3 + [[0, 0, 1]] * 3}},
    "options": {"method": "ML"},
}
FRAME_BODY = {
    "data": {
        "columns": ["Batch", "Yield"],
        "index": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"],
        "data": [["A", 1545], ["A", 1440], ["A", 1440], ["B", 1540], ["B", 1555], ["B", None],
                 ["C", 1595], ["C", 1550], ["C", 1605], ["D", 1445], ["D", 1440], ["D", 1595]],
    },
    "response": "Yield",
    "random": ["Batch"],
}


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def _schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    """The 200 JSON schema of ``POST path``, with the components its references point into."""
    ref = spec["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    return {**ref, "components": spec["components"]}


def _validator(spec: dict[str, Any], path: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_schema(spec, path))


def _objects(schema: Any, components: dict[str, Any], seen: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object schema with ``properties`` reachable from ``schema`` (references followed once)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in seen:
                seen.add(name)
                target = components["schemas"][name]
                yield name, target
                yield from _objects(target, components, seen)
        for key, value in schema.items():
            if key != "$ref":
                yield from _objects(value, components, seen)
    elif isinstance(schema, list):
        for item in schema:
            yield from _objects(item, components, seen)


ENDPOINTS = [
    ("/v1/impute", "ImputeResponse"),
    ("/v1/mixed", "MixedResponse"),
    ("/v1/mixed/frame", "MixedResponse"),
]
OPTIONAL = {name: {"conditional_var"} for name in ("ImputeResponse", "ImputeTResponse", "ImputeMixtureResponse", "ImputeExtendedResponse")}


@pytest.mark.parametrize(("path", "model"), ENDPOINTS)
def test_response_schemas_forbid_unknown_keys_and_require_the_rest(spec: dict[str, Any], path: str, model: str) -> None:
    ref = spec["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    objects = dict(_objects(ref, spec["components"], set()))
    assert model in objects and "Trace" in objects
    for name, schema in objects.items():
        if "properties" not in schema:
            continue
        assert schema.get("additionalProperties") is False, name
        assert set(schema["properties"]) - set(schema.get("required", [])) == OPTIONAL.get(name, set()), name


@pytest.mark.parametrize("path", [p for p, _ in ENDPOINTS])
def test_each_endpoint_answers_what_its_schema_declares(
    client: TestClient, spec: dict[str, Any], airquality: pd.DataFrame, path: str
) -> None:
    body = {"/v1/impute": _impute_body(airquality), "/v1/mixed": MATRIX_BODY, "/v1/mixed/frame": FRAME_BODY}[path]
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    _validator(spec, path).validate(answer)
    assert "trace" in answer and "options" in answer
    if path != "/v1/impute":
        assert len(answer["index"]) == len(answer["fitted"]) and answer["n_evals"] >= answer["n_iter"]
    if path == "/v1/mixed/frame":
        assert answer["index"] == FRAME_BODY["data"]["index"]


def _mvn_cases() -> list[tuple[str, dict[str, Any]]]:
    rng = np.random.default_rng(9)
    x = rng.normal(size=(40, 3)) @ np.array([[1.0, 0.4, 0.1], [0.0, 1.0, 0.3], [0.0, 0.0, 1.0]])
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:, 0] = rng.normal(size=40)
    df = pd.DataFrame(x, columns=["a", "b", "c"]).assign(note=["n"] * 40)
    y = np.full(30, np.nan)
    y[[0, 1]] = [1.0, 2.5]
    singular = pd.DataFrame({"x": rng.normal(size=30), "y": y})
    return [
        ("plain", answer_of(lambda: imputer.impute(df).to_dict())),
        ("conditional_var", answer_of(lambda: imputer.impute(df, ridge=1.0).to_dict(conditional_var=True))),
        ("max_iter", answer_of(lambda: imputer.impute(df, max_iter=2, accelerate=False).to_dict())),
        ("singular", answer_of(lambda: imputer.impute(singular).to_dict())),
    ]


def _mixed_cases() -> list[tuple[str, dict[str, Any]]]:
    rng = np.random.default_rng(10)
    n = 30
    G = rng.normal(size=(n, 60))
    y = rng.normal(size=n) + G[:, 0]
    y[3] = np.nan
    frame = pd.DataFrame({"y": y, "g": np.repeat(list("abcde"), 6)}, index=[f"r{i}" for i in range(n)])
    return [
        ("frame", answer_of(lambda: imputer.fit_mixed_frame(frame, "y", random=["g"]).to_dict())),
        ("spectral", answer_of(lambda: imputer.fit_mixed(y, None, {"k": {"Z": np.eye(n), "K": G @ G.T / 60}}).to_dict())),
        ("max_iter", answer_of(
            lambda: imputer.fit_mixed_frame(frame, "y", random=["g"], max_iter=1, accelerate=False).to_dict()
        )),
    ]


@pytest.fixture(scope="module")
def payloads() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    mvn, mixed = _mvn_cases(), _mixed_cases()
    # a fit stopped at max_iter says so in its warnings; a converged one has none
    for cases in (mvn, mixed):
        warned = {name: body["warnings"] for name, body in cases}
        assert warned["max_iter"] and all("did not converge" in w for w in warned["max_iter"]), warned
        assert warned[cases[0][0]] == []
    return {"/v1/impute": mvn, "/v1/mixed": mixed}


@pytest.mark.parametrize("path", ["/v1/impute", "/v1/mixed"])
def test_every_kind_of_result_fits_the_schema(spec: dict[str, Any], payloads: dict[str, Any], path: str) -> None:
    validator = _validator(spec, path)
    reasons = set()
    for name, payload in payloads[path]:
        body = json.loads(json.dumps(payload, allow_nan=False))
        errors = [e.message for e in validator.iter_errors(body)]
        assert not errors, (name, errors)
        reasons.add(body["trace"]["stop_reason"])
    assert "max_iter" in reasons and "converged" in reasons


def _extra_key(d: dict[str, Any]) -> None:
    d["unexpected"] = 1


def _extra_nested_key(d: dict[str, Any]) -> None:
    d["trace"]["unexpected"] = 1


def _missing_key(d: dict[str, Any]) -> None:
    del d["trace"]


def _wrong_type(d: dict[str, Any]) -> None:
    d["n_evals"] = "many"


def _wrong_reason(d: dict[str, Any]) -> None:
    d["trace"]["stop_reason"] = "tired"


@pytest.mark.parametrize("path", ["/v1/impute", "/v1/mixed"])
@pytest.mark.parametrize("spoil", [_extra_key, _extra_nested_key, _missing_key, _wrong_type, _wrong_reason],
                         ids=lambda f: f.__name__.strip("_"))
def test_the_check_fails_on_a_body_that_drifts(spec: dict[str, Any], payloads: dict[str, Any], path: str, spoil: Any) -> None:
    body = json.loads(json.dumps(payloads[path][0][1], allow_nan=False))
    spoil(body)
    with pytest.raises(jsonschema.ValidationError):
        _validator(spec, path).validate(body)
