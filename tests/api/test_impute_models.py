"""POST /v1/impute with ``options.model``: the multivariate t and the Gaussian mixture, the same answer as the library.

The reference is the library called with the same options: the JSON answer must equal the
result's ``to_dict()`` (through JSON), the CSV answer its completed table. Every answer is
validated against the OpenAPI document (as tests/api/test_response_schema.py does) and
against its response model; an option of one model sent with another, and ``m`` with the
posterior's options under the t or the mixture, are 422s naming the option. With ``m``
the reference is ``mi_payload(multiple_impute(..., model=...))``.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import imputer
from api.routers.impute import MIXTURE_EXAMPLE, T_EXAMPLE
from api.schemas.impute_models import ImputeMixtureResponse, ImputeTResponse
from tests.api._assert import assert_422_at
from tests.api.conftest import answer_of, split_of
from tests.imputer.mixture.helpers import DATA, with_holes

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = {"t": imputer.impute_t, "mixture": imputer.impute_mixture}
RESPONSE = {"t": ImputeTResponse, "mixture": ImputeMixtureResponse}


def reference(model: str, frame: pd.DataFrame, conditional_var: bool = False, **kw: Any) -> dict[str, Any]:
    """What the service must return: the library's ``to_dict()`` with the same options, through JSON, with its warnings."""
    return answer_of(lambda: LIBRARY[model](frame, **kw).to_dict(conditional_var=conditional_var), allow_nan=False)


@pytest.fixture(scope="module")
def validator(client: TestClient) -> jsonschema.Draft202012Validator:
    spec = client.get("/openapi.json").json()
    schema = spec["paths"]["/v1/impute"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": spec["components"]})


@pytest.fixture(scope="module")
def faithful_holes() -> pd.DataFrame:
    """Old Faithful with 40 missing eruption times and 40 missing waiting times (different rows)."""
    return with_holes(pd.read_csv(DATA / "faithful.csv"), 40, 0)


CASES = [
    ("t", {}),
    ("t", {"dof": 4.0}),
    ("t", {"dof": 2.0, "ridge": 0.5, "columns": ["Ozone", "Solar.R", "Wind", "Temp"], "conditional_var": True}),
    ("t", {"accelerate": False, "tol": 1e-6}),
    ("mixture", {"seed": 1, "n_init": 3}),
    ("mixture", {"n_components": [1, 2, 3], "covariance_type": "tied", "n_init": 2, "seed": 5}),
    ("mixture", {"n_components": 3, "covariance_type": "diag", "n_init": 2, "seed": 2, "conditional_var": True}),
    ("mixture", {"n_components": 2, "covariance_type": "spherical", "ridge": 1.0, "n_init": 2, "seed": 3}),
]
IDS = ["t-dof-estimated", "t-dof-fixed", "t-dof2-ridge-columns-condvar", "t-plain-em",
       "mixture-defaults", "mixture-bic-tied", "mixture-diag-condvar", "mixture-spherical-ridge"]


@pytest.mark.parametrize(("model", "options"), CASES, ids=IDS)
def test_json_matches_the_library(
    client: TestClient, validator: jsonschema.Draft202012Validator, airquality: pd.DataFrame,
    faithful_holes: pd.DataFrame, model: str, options: dict[str, Any],
) -> None:
    frame = airquality if model == "t" else faithful_holes
    r = client.post("/v1/impute", json={"data": split_of(frame), "options": {"model": model, **options}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == reference(model, frame, **options)
    validator.validate(body)
    RESPONSE[model].model_validate(body)
    optional = set() if options.get("conditional_var") else {"conditional_var"}
    assert set(body) == set(RESPONSE[model].model_fields) - optional
    assert not pd.DataFrame(body["completed"]["data"]).isna().any().any()
    if model == "mixture" and isinstance(options.get("n_components"), list):
        assert body["bic_table"]["index"] == options["n_components"]
        assert len(body["weights"]) == body["bic_table"]["index"][int(np.argmin([row[3] for row in body["bic_table"]["data"]]))]


@pytest.mark.parametrize(
    ("model", "query", "kw"),
    [
        ("t", "model=t", {}),
        ("t", "model=t&dof=3.5&columns=Ozone&columns=Solar.R&columns=Wind&columns=Temp",
         {"dof": 3.5, "columns": ["Ozone", "Solar.R", "Wind", "Temp"]}),
        ("mixture", "model=mixture&n_components=2&seed=4&n_init=2", {"n_components": 2, "seed": 4, "n_init": 2}),
        ("mixture", "model=mixture&n_components=1&n_components=2&covariance_type=diag&seed=4&n_init=2",
         {"n_components": [1, 2], "covariance_type": "diag", "seed": 4, "n_init": 2}),
    ],
    ids=["t", "t-dof-columns", "mixture", "mixture-bic-diag"],
)
@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
def test_csv_query_matches_the_library(
    client: TestClient, validator: jsonschema.Draft202012Validator, airquality: pd.DataFrame,
    faithful_holes: pd.DataFrame, model: str, query: str, kw: dict[str, Any], accept: str,
) -> None:
    frame = airquality if model == "t" else faithful_holes
    content = frame.to_csv(index=False).encode()
    r = client.post(f"/v1/impute?{query}", content=content, headers={"content-type": "text/csv", "accept": accept})
    assert r.status_code == 200, r.text
    source = pd.read_csv(io.BytesIO(content))
    if accept == "text/csv":
        written = pd.read_csv(io.StringIO(r.text))
        completed = LIBRARY[model](source, **kw).completed
        np.testing.assert_allclose(written.to_numpy(dtype=float), completed.to_numpy(dtype=float), rtol=1e-15)
        return
    assert r.json() == reference(model, source, **kw)
    validator.validate(r.json())


@pytest.mark.parametrize("model", ["t", "mixture"])
def test_parquet_body_with_query_options(client: TestClient, faithful_holes: pd.DataFrame, model: str) -> None:
    buf = io.BytesIO()
    faithful_holes.to_parquet(buf)
    query, kw = ("model=t&dof=5", {"dof": 5.0}) if model == "t" else ("model=mixture&seed=8&n_init=2", {"seed": 8, "n_init": 2})
    r = client.post(f"/v1/impute?{query}", content=buf.getvalue(),
                    headers={"content-type": "application/vnd.apache.parquet"})
    assert r.status_code == 200, r.text
    assert r.json() == reference(model, faithful_holes, **kw)


@pytest.mark.parametrize("options", [None, {}, {"model": "normal"}], ids=["no-options", "empty", "normal"])
def test_normal_is_the_default_and_answers_as_before(client: TestClient, airquality: pd.DataFrame, options: Any) -> None:
    body: dict[str, Any] = {"data": split_of(airquality)}
    if options is not None:
        body["options"] = options
    r = client.post("/v1/impute", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == answer_of(lambda: imputer.impute(airquality).to_dict())


@pytest.mark.parametrize(
    ("options", "loc", "match"),
    [
        ({"dof": 4}, ["body", "options", "dof"], r"dof applies to model 't' only, not 'normal'"),
        ({"model": "mixture", "dof": 4}, ["body", "options", "dof"], r"dof applies to model 't' only, not 'mixture'"),
        ({"n_components": 2}, ["body", "options", "n_components"], r"n_components applies to model 'mixture' only, not 'normal'"),
        ({"model": "t", "covariance_type": "diag"}, ["body", "options", "covariance_type"],
         r"covariance_type applies to model 'mixture' only, not 't'"),
        ({"model": "t", "n_init": 2}, ["body", "options", "n_init"], r"n_init applies to model 'mixture' only, not 't'"),
        ({"model": "t", "m": 2, "method": "posterior"}, ["body", "options"],
         r"method 'posterior' applies to model 'normal' only: multiple imputation under model 't' is by the bootstrap"),
        ({"model": "mixture", "m": 2, "thin": 3}, ["body", "options"], r"thin applies to model 'normal' only"),
        ({"model": "t", "seed": 1}, ["body", "options"], r"seed apply to multiple imputation only: give m as well"),
        ({"model": "mixture", "accelerate": False}, ["body", "options"], r"accelerate=false applies to model 'normal' or 't'"),
        ({"model": "t", "ridge": 1.0, "prior": "amelia"}, ["body", "options"], r"prior 'amelia' applies to model 'normal' only, not 't'"),
        ({"prior": "norm"}, ["body", "options", "prior"], r"Input should be 'ridge' or 'amelia'"),
        ({"model": "cauchy"}, ["body", "options", "model"], r"'normal', 't' or 'mixture'"),
        ({"model": "t", "dof": 0}, ["body", "options", "dof"], r"greater than 0"),
        ({"model": "t", "dof": "4"}, ["body", "options", "dof"], r"valid number"),
        ({"model": "mixture", "n_components": 0}, ["body", "options", "n_components"], r"greater than or equal to 1"),
        ({"model": "mixture", "n_components": 51}, ["body", "options", "n_components"], r"less than or equal to 50"),
        ({"model": "mixture", "n_components": 1.5}, ["body", "options", "n_components"], r"valid integer"),
        ({"model": "mixture", "covariance_type": "VVV"}, ["body", "options", "covariance_type"], r"'full', 'tied', 'diag' or 'spherical'"),
        ({"model": "mixture", "n_init": 0}, ["body", "options", "n_init"], r"greater than or equal to 1"),
        ({"model": "mixture", "n_init": 101}, ["body", "options", "n_init"], r"less than or equal to 100"),
        ({"model": "mixture", "seed": -1}, ["body", "options", "seed"], r"greater than or equal to 0"),
    ],
    ids=["dof-normal", "dof-mixture", "components-normal", "covtype-t", "n-init-t", "posterior-t", "thin-mixture", "seed-t",
         "no-accelerate-mixture", "amelia-t", "unknown-prior", "unknown-model", "dof-0", "dof-text", "components-0", "components-51",
         "components-fraction", "covtype-mclust-name", "n-init-0", "n-init-101", "seed-negative"],
)
def test_bad_model_options_are_422_naming_the_option(
    client: TestClient, airquality: pd.DataFrame, options: dict[str, Any], loc: list[Any], match: str
) -> None:
    r = client.post("/v1/impute", json={"data": split_of(airquality), "options": options})
    assert_422_at(r, loc, match)


@pytest.mark.parametrize(
    ("query", "loc", "match"),
    [
        ("dof=3", ["query", "dof"], r"dof applies to model 't' only, not 'normal'"),
        ("model=t&n_init=2", ["query", "n_init"], r"n_init applies to model 'mixture' only, not 't'"),
        ("n_components=2", ["query", "n_components"], r"n_components applies to model 'mixture' only"),
        ("model=mixture&m=2&method=posterior", ["query"], r"method 'posterior' applies to model 'normal' only"),
        ("model=mixture&n_components=x", ["query", "n_components"], r"valid integer"),
        ("model=t&dof=inf", ["query", "dof"], r"finite number"),
        ("model=gauss", ["query", "model"], r"'normal', 't' or 'mixture'"),
    ],
    ids=["dof-normal", "n-init-t", "components-normal", "posterior-mixture", "components-text", "dof-inf", "unknown-model"],
)
def test_bad_query_options_are_422(client: TestClient, airquality_csv: bytes, query: str, loc: list[Any], match: str) -> None:
    r = client.post(f"/v1/impute?{query}", content=airquality_csv, headers={"content-type": "text/csv"})
    assert_422_at(r, loc, match, prefix=True)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"model": "mixture", "n_components": 6}, r"n_components"),
        ({"model": "mixture", "n_components": [2, 2]}, r"n_components"),
    ],
    ids=["more-components-than-rows", "repeated-count"],
)
def test_engine_errors_are_422(client: TestClient, options: dict[str, Any], match: str) -> None:
    body = {"data": {"columns": ["a", "b"], "data": [[1.0, 2.0], [2.0, None], [3.0, 1.0], [4.0, 3.5], [None, 2.0]]},
            "options": options}
    r = client.post("/v1/impute", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["title"] == "Invalid data or options" and re.search(match, r.json()["detail"])


def test_readme_and_openapi_examples(client: TestClient, tmp_path: Path) -> None:
    """README's curl bodies with options.model are the OpenAPI examples, and answer 200 with that model."""
    readme = (ROOT / "README.md").read_text()
    bodies = re.findall(r"curl -s -X POST \$B/v1/impute -H 'Content-Type: application/json' -d '(\{[^']*\})'", readme)
    found = {json.loads(b)["options"]["model"]: json.loads(b) for b in bodies if '"model"' in b}
    assert found == {"t": T_EXAMPLE, "mixture": MIXTURE_EXAMPLE}
    for model, body in found.items():
        r = client.post("/v1/impute", json=body)
        assert r.status_code == 200, r.text
        RESPONSE[model].model_validate(r.json())
    spec = client.get("/openapi.json").json()
    examples = spec["paths"]["/v1/impute"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert examples["multivariate t"]["value"] == T_EXAMPLE
    assert examples["Gaussian mixture"]["value"] == MIXTURE_EXAMPLE
    # the CSV examples: README's awk line punches the holes, each query answers as the library
    awk = re.search(r"^awk .*faithful_holes\.csv", readme, re.M)
    assert awk is not None
    proc = subprocess.run(["bash", "-c", awk.group(0).replace("> faithful_holes.csv", f"> {tmp_path}/faithful_holes.csv")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    csv_calls = re.findall(r'curl -s -X POST "\$B/v1/impute\?(model=[^"]*)"(.*?)--data-binary @(\S+)', readme, re.S)
    assert {q.split("&")[0] for q, _, _ in csv_calls} == {"model=t", "model=mixture"}
    for query, headers, name in csv_calls:
        path = ROOT / name if name.startswith("examples/") else tmp_path / name
        accept = "text/csv" if "Accept: text/csv" in headers else "application/json"
        r = client.post(f"/v1/impute?{query}", content=path.read_bytes(), headers={"content-type": "text/csv", "accept": accept})
        assert r.status_code == 200, (query, r.text)
        source = pd.read_csv(path)
        if query.startswith("model=t"):
            assert r.json() == reference("t", source)
        else:
            completed = imputer.impute_mixture(source, [1, 2, 3], seed=0).completed
            assert accept == "text/csv"
            np.testing.assert_allclose(pd.read_csv(io.StringIO(r.text)).to_numpy(dtype=float),
                                       completed.to_numpy(dtype=float), rtol=1e-15)


def _payloads() -> list[tuple[str, dict[str, Any]]]:
    rng = np.random.default_rng(11)
    x = rng.standard_t(3, size=(60, 3)) @ np.array([[1.0, 0.5, 0.2], [0.0, 1.0, 0.4], [0.0, 0.0, 1.0]])
    x[rng.random(x.shape) < 0.2] = np.nan
    df = pd.DataFrame(x, columns=["a", "b", "c"]).assign(note=["n"] * 60)
    short_t = answer_of(lambda: imputer.impute_t(df, max_iter=2, accelerate=False).to_dict(), allow_nan=False)
    short_mix = answer_of(lambda: imputer.impute_mixture(df, 2, seed=0, n_init=1, max_iter=2).to_dict(), allow_nan=False)
    for short in (short_t, short_mix):  # the warning the library raised, in the answer
        assert short["warnings"] == ["EM did not converge within max_iter=2 iterations (tol=1e-07); increase max_iter or tol"]
    return [
        ("t", answer_of(lambda: imputer.impute_t(df, dof=1.5).to_dict(conditional_var=True))),  # cov null: dof <= 2
        ("t", short_t),
        ("mixture", answer_of(lambda: imputer.impute_mixture(df, [1, 2], seed=0, n_init=2).to_dict(conditional_var=True))),
        ("mixture", short_mix),
    ]


def test_every_kind_of_result_fits_the_schema_and_drift_fails(validator: jsonschema.Draft202012Validator) -> None:
    reasons = set()
    for model, payload in _payloads():
        body = json.loads(json.dumps(payload, allow_nan=False))
        errors = [e.message for e in validator.iter_errors(body)]
        assert not errors, (model, errors)
        RESPONSE[model].model_validate(body)
        reasons.add(body["trace"]["stop_reason"])
        for spoil in ("extra", "nested", "missing"):
            bad = json.loads(json.dumps(body))
            if spoil == "extra":
                bad["unexpected"] = 1
            elif spoil == "nested":
                bad["options"]["unexpected"] = 1
            else:
                del bad["options"]
            with pytest.raises(jsonschema.ValidationError):
                validator.validate(bad)
    assert reasons >= {"max_iter", "converged"}


@pytest.mark.parametrize(
    "options",
    [{"model": "t", "m": 2, "seed": 3, "dof": 5.0}, {"model": "mixture", "m": 2, "seed": 3, "n_init": 2, "covariance_type": "diag"}],
    ids=["t", "mixture"],
)
def test_multiple_imputation_under_a_model(
    client: TestClient, faithful_holes: pd.DataFrame, validator: jsonschema.Draft202012Validator, options: dict[str, Any]
) -> None:
    """options.m with options.model t or mixture: the library's multiple imputation (bootstrap), as ``mi_payload``."""
    from api.schemas.impute_mi import ImputeMIResponse
    from api.tasks import mi_payload

    r = client.post("/v1/impute", json={"data": split_of(faithful_holes), "options": options})
    assert r.status_code == 200, r.text
    kwargs = {k: v for k, v in options.items() if k != "m"}
    want = answer_of(lambda: mi_payload(imputer.multiple_impute(faithful_holes, options["m"], **kwargs)), allow_nan=False)
    assert r.json() == want
    validator.validate(r.json())
    ImputeMIResponse.model_validate(r.json())
    assert r.json()["model"] == options["model"] and r.json()["method"] == "bootstrap"


def test_mixture_answer_carries_its_seed(client: TestClient, faithful_holes: pd.DataFrame) -> None:
    """Without options.seed the mixture's answer holds the seed drawn for it, and sending it back repeats the fit."""
    body = {"data": split_of(faithful_holes), "options": {"model": "mixture", "n_init": 2}}
    first = client.post("/v1/impute", json=body).json()
    assert isinstance(first["seed"], int) and 0 <= first["seed"] < 2**63
    again = client.post("/v1/impute", json={**body, "options": {**body["options"], "seed": first["seed"]}}).json()
    assert again == first
    assert first == reference("mixture", faithful_holes, n_init=2, seed=first["seed"])
