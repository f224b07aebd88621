"""POST /v1/impute with ``matrices``: the p x p covariance and correlation left out of the answer."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import imputer
from api.schemas.impute import ImputeResponse
from api.schemas.impute_panel import ImputeExtendedResponse
from tests.api._assert import assert_422_at
from tests.api.conftest import answer_of, split_of
from tests.api.test_limits import _wide_csv

pytestmark = pytest.mark.timeout(120)

WANTED = {"both": (True, True), "cov": (True, False), "corr": (False, True), "none": (False, False)}


@pytest.mark.parametrize("matrices", list(WANTED))
def test_json_answer_leaves_out_what_is_not_asked(client: TestClient, airquality: pd.DataFrame, matrices: str) -> None:
    r = client.post("/v1/impute", json={"data": split_of(airquality), "options": {"matrices": matrices}})
    assert r.status_code == 200, r.text
    body = r.json()
    ImputeResponse.model_validate(body)
    full = answer_of(lambda: imputer.impute(airquality).to_dict())
    want_cov, want_corr = WANTED[matrices]
    assert body["cov"] == (full["cov"] if want_cov else None)
    assert body["corr"] == (full["corr"] if want_corr else None)
    # everything else as without the option
    assert {k: v for k, v in body.items() if k not in ("cov", "corr")} == {
        k: v for k, v in full.items() if k not in ("cov", "corr")
    }


def test_csv_query_and_a_transformed_fit(client: TestClient, airquality_csv: bytes) -> None:
    r = client.post("/v1/impute?matrices=none&ridge=0.5", content=airquality_csv, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json()["cov"] is None and r.json()["corr"] is None
    assert np.isfinite(np.array(r.json()["completed"]["data"], dtype=float)).all()
    # the extended answer (transforms, panels) goes through its own to_dict
    transforms = quote(json.dumps({"Ozone": "log"}))
    r = client.post(
        f"/v1/impute?matrices=cov&transforms={transforms}", content=airquality_csv, headers={"content-type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    ImputeExtendedResponse.model_validate(body)
    assert body["corr"] is None
    assert body["cov"]["columns"][0] == "log(Ozone)"


@pytest.mark.parametrize(
    ("options", "loc", "match"),
    [
        ({"matrices": "cov", "m": 2}, ["body", "options"], r"matrices applies to a single imputation under model 'normal': not with m$"),
        ({"matrices": "none", "model": "t"}, ["body", "options"], r"not with model 't'$"),
        ({"matrices": "none", "categorical": "auto"}, ["body", "options"], r"not with categorical$"),
        ({"matrices": "neither"}, ["body", "options", "matrices"], r"'both', 'cov', 'corr' or 'none'"),
    ],
    ids=["with-m", "with-t", "with-categorical", "unknown"],
)
def test_bad_matrices_are_422_naming_the_option(
    client: TestClient, airquality: pd.DataFrame, options: dict[str, Any], loc: list[Any], match: str
) -> None:
    r = client.post("/v1/impute", json={"data": split_of(airquality), "options": options})
    assert_422_at(r, loc, match)


def test_bad_matrices_in_the_query_is_422(client: TestClient, airquality_csv: bytes) -> None:
    r = client.post("/v1/impute?matrices=all", content=airquality_csv, headers={"content-type": "text/csv"})
    assert_422_at(r, ["query", "matrices"], r"'both', 'cov', 'corr' or 'none'", prefix=True)


def test_readme_wide_example_runs(client: TestClient) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    query = re.search(r'curl -s -X POST "\$B/v1/impute\?([^"]*matrices=none)" -H .Content-Type: text/csv. --data-binary @wide.csv', readme)
    assert query is not None
    r = client.post(f"/v1/impute?{query.group(1)}", content=_wide_csv(10, 300), headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cov"] is None and body["corr"] is None and body["converged"]
    assert len(body["mean"]) == 300
    # the answer without the matrices is a small fraction of the one with them
    full = client.post(f"/v1/impute?{query.group(1).replace('matrices=none', 'matrices=both')}",
                       content=_wide_csv(10, 300), headers={"content-type": "text/csv"})
    assert len(r.content) < 0.2 * len(full.content)
