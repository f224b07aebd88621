"""POST /v1/mixed (matrix form) and /v1/mixed/frame (table form) against lme4 fits.

Reference values: tests/data/lme4/*.json, written by tests/data/lme4/make_fixtures.R
(lme4 1.1-31, tight bobyqa control).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import imputer
from api.schemas.mixed import MixedResponse, MultiTraitResponse
from tests.api.conftest import DATA, answer_of, split_of

pytestmark = pytest.mark.timeout(120)

MODELS = {
    "dyestuff": ("dyestuff.csv", "Yield", None, ["Batch"]),
    "penicillin": ("penicillin.csv", "diameter", None, ["plate", "sample"]),
    "sleepstudy": ("sleepstudy.csv", "Reaction", ["Days"], ["Subject"]),
}


def lme4(model: str, fit: str) -> dict[str, Any]:
    return json.loads((DATA / "lme4" / f"{model}.json").read_text())[fit]


def frame_body(model: str, method: str = "REML") -> tuple[pd.DataFrame, dict[str, Any]]:
    csv, response, fixed, random = MODELS[model]
    frame = pd.read_csv(DATA / csv)
    body = {
        "data": split_of(frame),
        "response": response,
        "fixed": fixed,
        "random": random,
        "options": {"method": method, "tol": 1e-10},
    }
    return frame, body


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_frame_form_matches_lme4(client: TestClient, model: str, method: str) -> None:
    frame, body = frame_body(model, method)
    r = client.post("/v1/mixed/frame", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    MixedResponse.model_validate(out)
    ref = lme4(model, method)
    got_vc = dict(out["var_comp"])
    assert list(got_vc)[-1] == "residual"
    ref_vc = {("residual" if k == "Residual" else k): v for k, v in ref["var_comp"].items()}
    assert got_vc == pytest.approx(ref_vc, rel=1e-4)
    assert out["beta"] == pytest.approx(ref["fixef"], rel=1e-6)
    assert out["loglik"] == pytest.approx(ref["loglik"], abs=1e-4)
    assert out["method"] == method and out["converged"] is True
    # and exactly what the library returns
    _, response, fixed, random = MODELS[model]
    direct = answer_of(lambda: imputer.fit_mixed_frame(
        frame, response, fixed=fixed, random=random, method=method, tol=1e-10
    ).to_dict())
    assert out == direct


def test_frame_form_predicts_missing_response(client: TestClient) -> None:
    frame, body = frame_body("sleepstudy")
    hidden = [3, 50, 177]
    rows = body["data"]["data"]
    col = body["data"]["columns"].index("Reaction")
    for i in hidden:
        rows[i][col] = None
    r = client.post("/v1/mixed/frame", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["n_missing"] == 3 and out["n_obs"] == 177
    assert all(out["residuals"][i] is None for i in hidden)
    assert all(out["completed"][i] == out["fitted"][i] for i in hidden)
    assert all(v is not None for v in out["completed"])


def test_frame_form_kernels_define_levels(client: TestClient) -> None:
    frame, body = frame_body("dyestuff")
    levels = ["A", "B", "C", "D", "E", "F", "G"]  # G has no observation: predicted u = 0
    body["kernels"] = {"Batch": {"levels": levels, "data": np.eye(7).tolist()}}
    r = client.post("/v1/mixed/frame", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert list(out["u"]["Batch"]) == levels
    assert out["u"]["Batch"]["G"] == pytest.approx(0.0, abs=1e-12)
    ref = lme4("dyestuff", "REML")["var_comp"]
    assert out["var_comp"]["Batch"] == pytest.approx(ref["Batch"], rel=1e-4)


def incidence(labels: pd.Series) -> np.ndarray:
    codes, _ = pd.factorize(labels, sort=True)
    return np.eye(codes.max() + 1)[codes]


@pytest.mark.parametrize("named", [False, True])
def test_matrix_form_equals_the_frame_form(client: TestClient, named: bool) -> None:
    frame = pd.read_csv(DATA / "sleepstudy.csv")
    X = np.column_stack([np.ones(len(frame)), frame["Days"]])
    term = {"Z": incidence(frame["Subject"]).tolist()}
    body = {
        "y": frame["Reaction"].tolist(),
        "X": X.tolist(),
        "ZETA": {"Subject": term} if named else [term],
        "options": {"tol": 1e-10},
    }
    r = client.post("/v1/mixed", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    name = "Subject" if named else "u1"
    assert list(out["var_comp"]) == [name, "residual"]
    ref = lme4("sleepstudy", "REML")
    assert out["var_comp"][name] == pytest.approx(ref["var_comp"]["Subject"], rel=1e-4)
    assert list(out["beta"].values()) == pytest.approx(list(ref["fixef"].values()), rel=1e-6)
    assert out["loglik"] == pytest.approx(ref["loglik"], abs=1e-4)


def test_matrix_form_with_K_and_missing_y(client: TestClient) -> None:
    y = [1.0, 2.0, 3.0, None, 5.0, 6.5, 4.0, 2.5]
    Z = [[1, 0], [1, 0], [1, 0], [0, 1], [0, 1], [0, 1], [1, 0], [0, 1]]
    body = {"y": y, "ZETA": [{"Z": Z, "K": [[1.0, 0.5], [0.5, 1.0]]}]}
    r = client.post("/v1/mixed", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    direct = answer_of(lambda: imputer.fit_mixed(
        np.array([np.nan if v is None else v for v in y]),
        None,
        [{"Z": np.array(Z, dtype=float), "K": np.array([[1.0, 0.5], [0.5, 1.0]])}],
    ).to_dict())
    assert out == direct
    assert out["residuals"][3] is None and out["completed"][3] is not None


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        ("/v1/mixed", {"y": [1, 2, 3], "ZETA": [{"Z": [[1], [1]]}]}, "has 2 rows but y has 3"),
        ("/v1/mixed", {"y": [1, 2, 3], "X": [[1], [1]], "ZETA": [{"Z": [[1], [1], [0]]}]}, "X"),
        ("/v1/mixed", {"y": [1, 2, 3, 4], "ZETA": {"residual": {"Z": [[1], [1], [0], [0]]}}},
         "ZETA: 'residual' is reserved for the residual variance"),
        ("/v1/mixed/frame", {"data": {"columns": ["y", "g"], "data": [[1, "a"], [2, "b"]]},
                             "response": "nope", "random": ["g"]}, "nope"),
        ("/v1/mixed/frame", {"data": {"columns": ["y", "g"], "data": [[1, "a"], [2, "b"]]},
                             "response": "y", "random": ["h"]}, "h"),
    ],
)
def test_engine_errors_are_422(client: TestClient, path: str, body: dict[str, Any], detail: str) -> None:
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["title"] == "Invalid data or options"
    assert problem["instance"] == path
    assert detail in problem["detail"]


@pytest.mark.parametrize(
    ("path", "body", "loc", "msg"),
    [
        ("/v1/mixed", {"y": [1, 2], "ZETA": [{"Z": [[1, 0], [1]]}]}, ["body", "ZETA", 0, "Z"],
         "Value error, all rows must have the same length; row 1 has 1 entries, row 0 has 2"),
        ("/v1/mixed", {"y": [1, 2], "ZETA": [{"Z": [[1], [1]]}], "options": {"method": "MLE"}},
         ["body", "options", "method"], "Input should be 'REML' or 'ML'"),
        ("/v1/mixed", {"y": [1, "2"], "ZETA": [{"Z": [[1], [1]]}]}, ["body", "y", 1],
         "Input should be a valid number"),
        ("/v1/mixed", {"y": [], "ZETA": []}, ["body", "y"], "List should have at least 1 item after validation, not 0"),
        ("/v1/mixed/frame", {"data": {"columns": ["y"], "data": [[1]]}, "response": "y", "random": []},
         ["body", "random"], "List should have at least 1 item after validation, not 0"),
        ("/v1/mixed/frame", {"data": {"columns": ["y", "g"], "data": [[1, "a"]]}, "response": "y",
                             "random": ["g"], "kernels": {"g": {"levels": ["a", "b"], "data": [[1.0]]}}},
         ["body", "kernels", "g"], "Value error, 'data' must be 2 x 2 (one row and column per level), got 1 x 1"),
        ("/v1/mixed/frame", {"data": {"columns": ["y", "g"], "data": [[1, "a"]]}, "response": "y",
                             "random": ["g"], "kernels": {"g": {"levels": ["a", "a"], "data": [[1, 0], [0, 1]]}}},
         ["body", "kernels", "g"], "Value error, 'levels' must be unique"),
    ],
)
def test_invalid_mixed_bodies_are_422_with_location(
    client: TestClient, path: str, body: dict[str, Any], loc: list[Any], msg: str
) -> None:
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["title"] == "Invalid request"
    assert problem["errors"][0]["loc"] == loc
    assert problem["errors"][0]["msg"] == msg


def _examples(client: TestClient, path: str) -> dict[str, Any]:
    spec = client.get("/openapi.json").json()
    return spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["examples"]


@pytest.mark.parametrize("path", ["/v1/mixed", "/v1/mixed/frame"])
def test_openapi_examples_run_and_show_slopes(client: TestClient, path: str) -> None:
    examples = _examples(client, path)
    assert set(examples) == {"intercepts", "slopes", "multitrait"}
    for name, ex in examples.items():
        r = client.post(path, json=ex["value"])
        assert r.status_code == 200, (name, r.text)
        out = r.json()
        (MultiTraitResponse if name == "multitrait" else MixedResponse).model_validate(out)
        if name == "slopes":
            (term,) = out["covariances"]
            assert len(out["covariances"][term]["columns"]) == 2
            assert set(out["u"][term]) == {"columns", "index", "data"}


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_frame_form_random_slopes_match_lme4(client: TestClient, method: str) -> None:
    """(Days | Subject) on sleepstudy (tests/data/lme4/slopes_sleepstudy.json, make_slopes_fixtures.R)."""
    frame = pd.read_csv(DATA / "sleepstudy.csv")
    body = {"data": split_of(frame), "response": "Reaction", "fixed": ["Days"], "random": ["(Days | Subject)"],
            "options": {"method": method}}
    r = client.post("/v1/mixed/frame", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    ref = json.loads((DATA / "lme4" / "slopes_sleepstudy.json").read_text())[method]
    cov = out["covariances"]["Subject"]
    assert cov["columns"] == ["(Intercept)", "Days"]
    np.testing.assert_allclose(np.array(cov["data"]), np.array(ref["covariances"]["Subject"]["data"]), rtol=1e-5)
    assert out["correlations"]["Subject"]["data"][0][1] == pytest.approx(ref["correlations"]["Subject"]["data"][0][1], abs=1e-5)
    assert list(out["var_comp"]) == ["Subject", "Subject.Days", "residual"]
    assert out["loglik"] >= ref["loglik"] - 1e-10 * abs(ref["loglik"])
    u = out["u"]["Subject"]
    assert u["columns"] == ["(Intercept)", "Days"] and len(u["index"]) == 18
    # the library's to_dict() is the answer
    lib = imputer.fit_mixed_frame(frame, "Reaction", fixed=["Days"], random=["(Days | Subject)"], method=method)
    assert out["covariances"] == lib.to_dict()["covariances"]


def test_matrix_form_list_of_Z_is_the_frame_model(client: TestClient) -> None:
    frame = pd.read_csv(DATA / "sleepstudy.csv")
    subj = sorted(frame["Subject"].unique())
    Z1 = (frame["Subject"].to_numpy()[:, None] == np.array(subj)).astype(float)
    Z2 = Z1 * frame["Days"].to_numpy()[:, None]
    X = np.column_stack([np.ones(len(frame)), frame["Days"].to_numpy(float)])
    body = {"y": frame["Reaction"].tolist(), "X": X.tolist(),
            "ZETA": {"Subject": {"Z": [Z1.tolist(), Z2.tolist()], "effects": ["(Intercept)", "Days"],
                                 "structure": "diagonal"}}}
    r = client.post("/v1/mixed", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    ref = json.loads((DATA / "lme4" / "slopes_sleepstudy_diag.json").read_text())["REML"]
    np.testing.assert_allclose(np.array(out["covariances"]["Subject"]["data"]),
                               np.array(ref["covariances"]["Subject"]["data"]), rtol=1e-5, atol=0)
    assert out["covariances"]["Subject"]["data"][0][1] == 0.0


def test_bad_bar_term_is_422(client: TestClient) -> None:
    frame = pd.read_csv(DATA / "sleepstudy.csv")
    body = {"data": split_of(frame), "response": "Reaction", "random": ["(Hours | Subject)"]}
    r = client.post("/v1/mixed/frame", json=body)
    assert r.status_code == 422, r.text
    assert "random term '(Hours | Subject)': column 'Hours' is not in data" in r.json()["detail"]
