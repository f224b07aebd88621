"""The warnings a fit raises reach the REST client: ``warnings`` in every JSON answer of a fit,
the header ``Imputer-Warnings`` of its CSV and Parquet answers.

:func:`api.tasks.recorded_warnings` records the library's warnings (``ImputerWarning``
and its subclasses) in the worker; the answers of ``POST /v1/impute`` (every model),
``POST /v1/mixed`` and ``/v1/mixed/frame`` and their jobs carry the messages, each once,
in the order raised; ``[]`` when the fit raised none.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.formats import PARQUET
from api.tasks import recorded_warnings, warnings_header
from imputer.errors import ConvergenceWarning, ImputerWarning
from tests.api.conftest import DATA, split_of
from tests.api.test_jobs import submit, wait_finished

pytestmark = pytest.mark.timeout(120)

#: the message of a single EM fit stopped at max_iter=2 (default tol)
MAX_ITER_2 = "EM did not converge within max_iter=2 iterations (tol=1e-07); increase max_iter or tol"


# ------------------------------------------------------------------ the helper


def test_recorded_warnings_keeps_each_message_once_in_order_and_shows_none() -> None:
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("error")  # the process's filters neither hide repeats nor raise them
        with recorded_warnings() as raised:
            warnings.warn("b", ConvergenceWarning)
            warnings.warn("a", ImputerWarning)
            assert raised == ["b", "a"]  # filled as they are raised
            warnings.warn("b", ConvergenceWarning)
    assert raised == ["b", "a"]
    assert shown == []


def test_recorded_warnings_leaves_other_warnings_as_they_were() -> None:
    with pytest.warns(RuntimeWarning, match="overflow") as shown:
        with recorded_warnings() as raised:
            warnings.warn("overflow in exp", RuntimeWarning)
            warnings.warn("a", ConvergenceWarning)
    assert raised == ["a"]
    assert [str(w.message) for w in shown] == ["overflow in exp"]


def test_the_header_is_a_json_list_in_ascii() -> None:
    value = warnings_header(["ridge=1 for µ", "two\nlines"])
    assert value == '["ridge=1 for \\u00b5", "two\\nlines"]'
    assert value.isascii() and json.loads(value) == ["ridge=1 for µ", "two\nlines"]


# ------------------------------------------------------------------ POST /v1/impute


def _wide() -> dict[str, Any]:
    """10 rows x 200 columns, 20% missing: EM's rate nears 1 under ridge=1."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 200))
    x[rng.random(x.shape) < 0.2] = np.nan
    return split_of(pd.DataFrame(x, columns=[f"c{j}" for j in range(200)]))


def test_a_wide_table_that_does_not_converge_carries_the_advice(client: TestClient) -> None:
    r = client.post("/v1/impute", json={"data": _wide(), "options": {"max_iter": 3, "ridge": 1.0}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["converged"] is False
    assert body["warnings"] == [
        "EM did not converge within max_iter=3 iterations (tol=1e-07); increase max_iter or tol; with 200 columns "
        "and 10 rows EM's rate nears 1 under a weak prior (ridge=1): a stronger one (e.g. ridge=10) converges in "
        "far fewer iterations, and the estimate can depend on where EM starts (imputer.disperse runs it from "
        "several starts)"
    ]


def test_a_fit_that_converges_has_no_warnings(client: TestClient, airquality: pd.DataFrame) -> None:
    r = client.post("/v1/impute", json={"data": split_of(airquality)})
    assert r.status_code == 200, r.text
    assert r.json()["converged"] is True
    assert r.json()["warnings"] == []


@pytest.mark.parametrize(
    "options",
    [
        {"accelerate": False},
        {"model": "t", "accelerate": False},
        {"model": "mixture", "n_components": 2, "seed": 1, "n_init": 1},
        {"categorical": ["Month"]},  # the general location model
        {"bounds": {"Ozone": [0, None]}, "accelerate": False},  # the extended answer
    ],
    ids=["normal", "t", "mixture", "glom", "bounds"],
)
def test_every_model_answers_its_warnings(client: TestClient, airquality: pd.DataFrame, options: dict[str, Any]) -> None:
    r = client.post("/v1/impute", json={"data": split_of(airquality), "options": {**options, "max_iter": 2}})
    assert r.status_code == 200, r.text
    assert r.json()["converged"] is False
    assert r.json()["warnings"] == [MAX_ITER_2]


def test_multiple_imputation_answers_each_warning_once_in_order(client: TestClient, airquality: pd.DataFrame) -> None:
    options = {"m": 2, "method": "bootstrap", "seed": 1, "max_iter": 2}
    r = client.post("/v1/impute", json={"data": split_of(airquality), "options": options})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["estimates"]["converged"] is False
    assert body["warnings"] == [  # the fit to the whole data, then the resamples' (each raised twice)
        MAX_ITER_2,
        "EM did not converge within max_iter=2 iterations on 2 of 2 bootstrap resamples (tol=1e-07); "
        "increase max_iter or tol",
    ]


@pytest.mark.parametrize("accept", ["text/csv", PARQUET])
@pytest.mark.parametrize(
    ("query", "header"),
    [({"max_iter": 2}, [MAX_ITER_2]), ({}, []), ({"m": 2, "seed": 1, "max_iter": 2}, [MAX_ITER_2])],
    ids=["max_iter", "converged", "multiple"],
)
def test_a_table_answer_carries_the_warnings_in_its_header(
    client: TestClient, airquality_csv: bytes, accept: str, query: dict[str, Any], header: list[str]
) -> None:
    r = client.post("/v1/impute", content=airquality_csv, params=query,
                    headers={"content-type": "text/csv", "accept": accept})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(accept)
    assert json.loads(r.headers["imputer-warnings"]) == header


def test_a_json_answer_has_them_in_its_body_only(client: TestClient, airquality: pd.DataFrame) -> None:
    r = client.post("/v1/impute", json={"data": split_of(airquality), "options": {"max_iter": 2}})
    assert r.status_code == 200, r.text
    assert r.json()["warnings"] == [MAX_ITER_2] and "imputer-warnings" not in r.headers


# ------------------------------------------------------------------ mixed models


def _sleepstudy_body(**options: Any) -> dict[str, Any]:
    frame = pd.read_csv(DATA / "sleepstudy.csv")
    return {"data": split_of(frame), "response": "Reaction", "fixed": ["Days"], "random": ["Subject"],
            "options": options}


def test_a_mixed_model_answers_its_warnings(client: TestClient) -> None:
    r = client.post("/v1/mixed/frame", json=_sleepstudy_body(max_iter=1, accelerate=False))
    assert r.status_code == 200, r.text
    assert r.json()["converged"] is False
    assert r.json()["warnings"] == [
        "fit_mixed: EM did not converge in max_iter=1 iterations (tol=1e-10); the result is the last iterate"
    ]
    fine = client.post("/v1/mixed/frame", json=_sleepstudy_body())
    assert fine.status_code == 200, fine.text
    assert fine.json()["converged"] is True and fine.json()["warnings"] == []


def test_the_matrix_form_answers_its_warnings(client: TestClient) -> None:
    y = [10.1, 11.3, 9.8, None, 14.2, 15.0, 13.1, 12.2, 12.9]
    body = {"y": y, "ZETA": {"batch": {"Z": [[1, 0, 0]] * 3 + [[0, 1, 0]] * 3 + [[0, 0, 1]] * 3}},
            "options": {"max_iter": 1, "accelerate": False}}
    r = client.post("/v1/mixed", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["converged"] is False
    assert r.json()["warnings"] == [
        "fit_mixed: EM did not converge in max_iter=1 iterations (tol=1e-10); the result is the last iterate"
    ]


# ------------------------------------------------------------------ jobs


def test_a_job_result_carries_the_warnings(client: TestClient, airquality: pd.DataFrame) -> None:
    request = {"json": {"data": split_of(airquality), "options": {"model": "t", "max_iter": 2}}}
    location, _ = submit(client, "impute", **request)
    assert wait_finished(client, location)["status"] == "succeeded"
    r = client.get(f"{location}/result")
    assert r.status_code == 200, r.text
    assert r.json()["converged"] is False
    assert r.json()["warnings"] == [MAX_ITER_2] and "imputer-warnings" not in r.headers
    for accept in ("text/csv", PARQUET):  # the tables, from the same fit, in the header
        table = client.get(f"{location}/result", headers={"accept": accept})
        assert table.status_code == 200 and table.headers["content-type"].startswith(accept)
        assert json.loads(table.headers["imputer-warnings"]) == [MAX_ITER_2]


def test_diagnostics_adds_the_library_warnings_raised_outside_its_own_record(
    monkeypatch: pytest.MonkeyPatch, airquality: pd.DataFrame
) -> None:
    import api.tasks as tasks

    def overview_after_a_warning(*args: Any, **kwargs: Any) -> Any:
        warnings.warn("raised outside Little's test", ImputerWarning)
        return real(*args, **kwargs)

    real = tasks.overview
    monkeypatch.setattr(tasks, "overview", overview_after_a_warning)
    body = json.dumps({"data": split_of(airquality)}).encode()
    status, _, payload, _ = tasks.DiagnosticsTask(kind="json", body=body).run()
    assert status == 200
    assert json.loads(payload)["warnings"] == ["raised outside Little's test"]
