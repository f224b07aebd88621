"""POST /v1/impute with ``options.start``: EM from the client's starting values.

The reference is Murray's (1977) twelve rows (Little & Rubin 2002, section 8.1), whose
log-likelihood has two maxima, correlation +1/2 and -1/2 (log-likelihood
-29.97428641046502), and a saddle point at correlation 0 (-30.033342386268007), where EM
from the engine's own start stays; the values are those of the direct maximisation,
independent of EM (tests/api/test_diagnostics_disperse.py). The answer with a start must
equal :func:`imputer.impute` with the same ``start=`` (its ``to_dict()`` through JSON).
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import imputer
from api.routers.impute import START_EXAMPLE
from tests.api.conftest import answer_of, split_of
from tests.api.test_diagnostics_disperse import MAX_LOGLIK, MURRAY, SADDLE_LOGLIK
from tests.api.test_jobs import submit, wait_finished
from tests.readme import ROOT

pytestmark = pytest.mark.timeout(120)
PATH = "/v1/impute"
#: one of the two maxima (correlation -1/2, variances 8/3: the direct maximisation)
MAXIMUM = {"mean": {"x1": 0.0, "x2": 0.0},
           "cov": {"columns": ["x1", "x2"], "data": [[8 / 3, -4 / 3], [-4 / 3, 8 / 3]]}}


def test_readme_example(client: TestClient) -> None:
    """README's curl body with options.start answers the maximum it says, and matches the test's table."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Does the estimate depend on where EM starts?"):]
    body = json.loads(re.search(r"curl -s -X POST \$B/v1/impute -H 'Content-Type: application/json' -d '(\{[^']*\})'",
                                section).group(1))  # type: ignore[union-attr]
    assert pd.DataFrame(body["data"]["data"], columns=body["data"]["columns"]).equals(MURRAY.astype(float))
    assert body == START_EXAMPLE  # and the OpenAPI document's example
    examples = client.get("/openapi.json").json()["paths"][PATH]["post"]["requestBody"]["content"]["application/json"]
    assert examples["examples"]["start"]["value"] == START_EXAMPLE
    r = client.post(PATH, json=body)
    assert r.status_code == 200, r.text
    assert round(r.json()["loglik"], 4) == -29.9743 and r.json()["options"]["start"] is True
    assert round(r.json()["corr"]["data"][0][1], 6) == -0.5


def test_the_default_start_stays_on_the_saddle(client: TestClient) -> None:
    r = client.post(PATH, json={"data": split_of(MURRAY)})
    assert r.status_code == 200, r.text
    assert r.json()["loglik"] == pytest.approx(SADDLE_LOGLIK, abs=1e-9)
    assert r.json()["options"]["start"] is False


def test_a_start_near_a_maximum_ends_there(client: TestClient) -> None:
    near = {"mean": {"x2": 0.1, "x1": -0.1},  # keys in any order: aligned by label
            "cov": {"columns": ["x2", "x1"], "data": [[2.0, -0.5], [-0.5, 3.0]]}}
    r = client.post(PATH, json={"data": split_of(MURRAY), "options": {"start": near}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["loglik"] == pytest.approx(MAX_LOGLIK, abs=1e-9)
    assert body["corr"]["data"][0][1] == pytest.approx(-0.5, abs=1e-6)
    assert body["options"]["start"] is True
    mean = np.array([near["mean"]["x1"], near["mean"]["x2"]])
    cov = np.array(near["cov"]["data"])[::-1, ::-1]  # to the order x1, x2
    expected = answer_of(lambda: imputer.impute(MURRAY, start=(mean, cov)).to_dict(), allow_nan=False)
    assert body == expected


def test_a_disperse_answer_goes_back_as_the_start(client: TestClient) -> None:
    """The best run of POST /v1/diagnostics/disperse, sent back as it is, restarts EM at its maximum."""
    d = client.post("/v1/diagnostics/disperse", json={"data": split_of(MURRAY), "options": {"starts": 8, "seed": 1}})
    assert d.status_code == 200, d.text
    best = {"mean": d.json()["mean"], "cov": d.json()["cov"]}
    r = client.post(PATH, json={"data": split_of(MURRAY), "options": {"start": best}})
    assert r.status_code == 200, r.text
    assert r.json()["loglik"] == pytest.approx(MAX_LOGLIK, abs=1e-9)
    assert r.json()["n_evals"] <= 3


@pytest.mark.parametrize("method", ["posterior", "bootstrap"])
def test_multiple_imputation_from_the_start(client: TestClient, method: str) -> None:
    """With m the EM estimate (the posterior chain's start) is the maximum the start leads to, as
    :func:`imputer.multiple_impute` with the same ``start=`` and seed answers; without, the saddle."""
    options = {"m": 2, "seed": 4, "method": method}
    r = client.post(PATH, json={"data": split_of(MURRAY), "options": {**options, "start": MAXIMUM}})
    assert r.status_code == 200, r.text
    est = r.json()["estimates"]
    assert est["loglik"] == pytest.approx(MAX_LOGLIK, abs=1e-9) and est["options"]["start"] is True
    start = (pd.Series(MAXIMUM["mean"]), pd.DataFrame(MAXIMUM["cov"]["data"], index=["x1", "x2"], columns=["x1", "x2"]))
    mi = imputer.multiple_impute(MURRAY, **options, start=start)
    assert r.json()["long"] == answer_of(lambda: mi.to_dict(), allow_nan=False)["long"]
    plain = client.post(PATH, json={"data": split_of(MURRAY), "options": options})
    assert plain.json()["estimates"]["loglik"] == pytest.approx(SADDLE_LOGLIK, abs=1e-9)


@pytest.mark.parametrize(
    ("options", "detail"),
    [
        ({"model": "t"}, "body.options.start: Value error, start applies to model 'normal' only, not 't'"),
        ({"m": 2, "integer": ["x1"]}, "body.options.start: Value error, start does not combine with integer"),
        ({"transforms": {"x1": "log"}}, "body.options.start: Value error, start does not combine with transforms"),
        ({"categorical": "auto"}, "body.options.start: Value error, start does not combine with categorical"),
    ],
    ids=["t", "integer", "transforms", "categorical"],
)
def test_start_with_another_model_is_422_at_start(client: TestClient, options: dict[str, Any], detail: str) -> None:
    r = client.post(PATH, json={"data": split_of(MURRAY), "options": {**options, "start": MAXIMUM}})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"].startswith(detail)


@pytest.mark.parametrize(
    ("start", "detail"),
    [
        ({"mean": {"x1": 0, "x2": 0}, "cov": {"columns": ["x1", "x2"], "data": [[1.0, 0.0]]}},
         "body.options.start.cov: Value error, 'data' must be 2 x 2 (one row and column per label of columns), got 1 x 2"),
        ({"mean": {"x1": 0, "x2": 0}, "cov": {"columns": ["x1", "x1"], "data": [[1, 0], [0, 1]]}},
         "body.options.start.cov: Value error, 'columns' must be unique"),
        ({"mean": {}, "cov": MAXIMUM["cov"]}, "body.options.start.mean: Dictionary should have at least 1 item"),
        ({"mean": {"x1": 0, "x2": 0}}, "body.options.start.cov: Field required"),
        ({**MAXIMUM, "sd": 1}, "body.options.start.sd: Extra inputs are not permitted"),
        ({"mean": {"x1": 0}, "cov": MAXIMUM["cov"]}, "start: the mean has no entry for column(s) ['x2']"),
        ({"mean": {"x1": 0, "x2": 0}, "cov": {"columns": ["x1", "x2"], "data": [[1, 2], [2, 1]]}},
         "start: the covariance is not positive definite"),
        ({"mean": {"x1": 0, "x2": 0}, "cov": {"columns": ["x1", "x2"], "data": [[1, 0.5], [0.4, 1]]}},
         "start: the covariance is not symmetric"),
    ],
    ids=["not-square", "repeated-label", "empty-mean", "no-cov", "unknown-key", "column-absent", "not-pd",
         "not-symmetric"],
)
def test_bad_starts_are_422_naming_start(client: TestClient, start: dict[str, Any], detail: str) -> None:
    r = client.post(PATH, json={"data": split_of(MURRAY), "options": {"start": start}})
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(detail)


def test_the_job_takes_the_start_too(client: TestClient) -> None:
    location, _ = submit(client, "impute", json={"data": split_of(MURRAY), "options": {"start": MAXIMUM}})
    done = wait_finished(client, location)
    assert done["status"] == "succeeded", done
    result = client.get(f"{location}/result").json()
    assert result["loglik"] == pytest.approx(MAX_LOGLIK, abs=1e-9)
    assert result["options"]["start"] is True
    # and with m: the imputations' EM estimate
    location, _ = submit(client, "impute", json={"data": split_of(MURRAY), "options": {"start": MAXIMUM, "m": 2}})
    done = wait_finished(client, location)
    assert done["status"] == "succeeded", done
    estimates = client.get(f"{location}/result").json()["estimates"]
    assert estimates["loglik"] == pytest.approx(MAX_LOGLIK, abs=1e-9) and estimates["options"]["start"] is True
