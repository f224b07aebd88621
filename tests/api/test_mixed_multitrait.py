"""POST /v1/mixed and /v1/mixed/frame with several traits: the answer is the library's
multi-trait fit (MultiTraitResult.to_dict(), itself checked against the dense direct
maximisation in tests/imputer/mixed/test_multitrait.py); bad traits are 422 naming the field."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import imputer
from api.routers.mixed import _TRAIT_ROWS
from api.schemas.mixed import MultiTraitResponse

pytestmark = pytest.mark.timeout(120)

FRAME = pd.DataFrame(_TRAIT_ROWS, columns=["variety", "yield", "height"]).astype({"yield": float, "height": float})


def _frame_body(frame: pd.DataFrame, response: Any = ("yield", "height")) -> dict[str, Any]:
    data = [[None if isinstance(v, float) and np.isnan(v) else v for v in row] for row in frame.values.tolist()]
    return {"data": {"columns": list(frame.columns), "data": data}, "response": list(response), "random": ["variety"]}


def _matrix_body(frame: pd.DataFrame) -> dict[str, Any]:
    Y = frame[["yield", "height"]].to_numpy()
    Z = (frame["variety"].to_numpy()[:, None] == np.array(list("ABCDE"))).astype(float)
    return {"Y": [[None if np.isnan(v) else float(v) for v in row] for row in Y], "traits": ["yield", "height"],
            "ZETA": {"variety": {"Z": Z.tolist()}}}


def test_frame_and_matrix_forms_answer_the_library_fit(client: TestClient) -> None:
    lib = imputer.fit_mixed_frame(FRAME, ["yield", "height"], random=["variety"]).to_dict()
    r = client.post("/v1/mixed/frame", json=_frame_body(FRAME))
    assert r.status_code == 200, r.text
    out = r.json()
    MultiTraitResponse.model_validate(out)
    assert out["traits"] == ["yield", "height"] and out["n_missing"] == 3
    assert out["covariances"] == lib["covariances"] and out["completed"] == lib["completed"]
    r = client.post("/v1/mixed", json=_matrix_body(FRAME))
    assert r.status_code == 200, r.text
    mat = r.json()
    np.testing.assert_allclose(np.array(mat["covariances"]["variety"]["data"]),
                               np.array(lib["covariances"]["variety"]["data"]), rtol=1e-9)
    np.testing.assert_allclose(np.array(mat["completed"]["data"], dtype=float),
                               np.array(lib["completed"]["data"], dtype=float), rtol=1e-9)
    assert mat["completed"]["columns"] == ["yield", "height"]


@pytest.mark.parametrize(
    ("case", "path", "detail"),
    [
        ("missing", "/v1/mixed/frame", "response: trait 'height' has no observed values"),
        ("constant", "/v1/mixed/frame", "response: trait 'height' has zero variance"),
        ("missing", "/v1/mixed", "Y: trait 'height' has no observed values"),
        ("constant", "/v1/mixed", "Y: trait 'height' has zero variance"),
    ],
)
def test_bad_traits_are_422_naming_the_field(client: TestClient, case: str, path: str, detail: str) -> None:
    frame = FRAME.assign(height=np.nan if case == "missing" else 20.0)
    body = _frame_body(frame) if path.endswith("frame") else _matrix_body(frame)
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["title"] == "Invalid data or options"
    assert detail in r.json()["detail"]


def test_traits_must_match_the_columns_of_y(client: TestClient) -> None:
    body = _matrix_body(FRAME) | {"traits": ["yield"]}
    r = client.post("/v1/mixed", json=body)
    assert r.status_code == 422
    assert "'traits' must be 2 unique names" in r.json()["errors"][0]["msg"]
    r = client.post("/v1/mixed", json=_matrix_body(FRAME) | {"y": [1.0] * 15})
    assert r.status_code == 422
    assert "give 'y' (one response) or 'Y' (several traits)" in r.json()["errors"][0]["msg"]
