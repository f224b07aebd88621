"""Size limits beyond the body: modelled columns (IMPUTER_MAX_COLUMNS), worker memory."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import imputer
from api import tasks
from tests.api.conftest import split_of

pytestmark = pytest.mark.timeout(120)


def test_too_many_columns_is_422(
    client: TestClient, settings_override: Callable[..., None], airquality: pd.DataFrame
) -> None:
    settings_override(max_columns=3)
    r = client.post("/v1/impute", json={"data": split_of(airquality)})
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "columns: 6 columns to model exceed the limit of 3 (IMPUTER_MAX_COLUMNS); "
        "select fewer with the 'columns' option"
    )
    ok = client.post(
        "/v1/impute", json={"data": split_of(airquality), "options": {"columns": ["Ozone", "Solar.R", "Temp"]}}
    )
    assert ok.status_code == 200


def _raise_memory_error(*args: Any, **kwargs: Any) -> Any:
    raise MemoryError


@pytest.mark.parametrize(
    ("task", "engine", "args"),
    [
        (tasks.ImputeTask, "impute",
         ("json", json.dumps({"data": {"columns": ["a", "b"], "data": [[1, 2], [2, None], [3, 1]]}}).encode(),
          {}, "json", "/v1/impute")),
        (tasks.MixedTask, "fit_mixed",
         (json.dumps({"y": [1, 2, 3], "ZETA": [{"Z": [[1], [1], [0]]}]}).encode(), "/v1/mixed")),
        (tasks.MixedFrameTask, "fit_mixed_frame",
         (json.dumps({"data": {"columns": ["y", "g"], "data": [[1, "a"], [2, "b"]]}, "response": "y",
                      "random": ["g"]}).encode(), "/v1/mixed/frame")),
    ],
)
def test_memory_exhaustion_in_a_task_is_422(
    monkeypatch: pytest.MonkeyPatch, task: Callable[..., Any], engine: str, args: tuple[Any, ...]
) -> None:
    monkeypatch.setattr(imputer, engine, _raise_memory_error)
    status, media, body = task(*args).run()
    assert status == 422 and media == "application/problem+json"
    problem = json.loads(body)
    assert problem["detail"].startswith("The problem is too large for the memory available to a worker")
    assert problem["instance"] == args[-1]


def test_result_not_fitting_the_response_model_is_500_not_422(monkeypatch: pytest.MonkeyPatch) -> None:
    class Odd:
        def to_dict(self, conditional_var: bool = False) -> dict[str, Any]:
            return {"columns": ["a"]}  # most keys missing

    monkeypatch.setattr(imputer, "impute", lambda *a, **k: Odd())
    body = json.dumps({"data": {"columns": ["a", "b"], "data": [[1, 2], [2, None], [3, 1]]}}).encode()
    status, media, payload = tasks.ImputeTask("json", body, {}, "json", "/v1/impute").run()
    assert status == 500 and media == "application/problem+json"
    assert json.loads(payload)["detail"] == "The result could not be encoded; the failure has been logged."
