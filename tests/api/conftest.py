"""Fixtures: an app with its worker pool running (TestClient), settings overrides, data."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings, get_settings
from api.tasks import recorded_warnings

DATA = Path(__file__).resolve().parents[1] / "data"
#: the job store of the test apps (a SQLite file of this test session, not ./imputer-jobs.sqlite3)
JOBS_DB = Path(tempfile.mkdtemp(prefix="imputer-jobs-")) / "jobs.sqlite3"


def base_settings(**changes: Any) -> Settings:
    """Test settings: 2 workers, generous limits, then ``changes``."""
    values: dict[str, Any] = {
        "max_concurrent_jobs": 2,
        "max_queue": 8,
        "timeout_s": 60.0,
        "api_keys": "",
        "max_body_bytes": 64 * 1024 * 1024,
        "jobs_url": f"sqlite:///{JOBS_DB}",
    }
    values.update(changes)
    return Settings(**values)


def _default_settings() -> Settings:
    # no parameters: FastAPI would read them as query parameters of every route
    return base_settings()


@pytest.fixture(scope="session")
def app() -> FastAPI:
    application = create_app()
    application.dependency_overrides[get_settings] = _default_settings
    return application


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    """A TestClient whose lifespan (the worker pool) spans the session."""
    with TestClient(app) as c:
        yield c


@pytest.fixture
def settings_override(app: FastAPI) -> Iterator[Callable[..., Any]]:
    """``settings_override(**changes)``: per-request settings for the rest of the test."""

    def apply(**changes: Any) -> None:
        app.dependency_overrides[get_settings] = lambda: base_settings(**changes)

    yield apply
    app.dependency_overrides[get_settings] = _default_settings


@pytest.fixture(scope="session")
def airquality() -> pd.DataFrame:
    return pd.read_csv(DATA / "airquality.csv")


@pytest.fixture(scope="session")
def airquality_csv() -> bytes:
    return (DATA / "airquality.csv").read_bytes()


def split_of(frame: pd.DataFrame) -> dict[str, Any]:
    """``frame`` in split orientation with NaN as null (what a client would send)."""
    return json.loads(frame.to_json(orient="split"))


def answer_of(fit: Callable[[], dict[str, Any]], *, allow_nan: bool = True) -> dict[str, Any]:
    """What the service answers for a fit: ``fit()`` (the library's ``to_dict()``, run
    here) through JSON, with the ``warnings`` the library raised while it ran (recorded
    as the service records them, :func:`api.tasks.recorded_warnings`)."""
    with recorded_warnings() as raised:
        payload = fit()
    return json.loads(json.dumps({**payload, "warnings": list(raised)}, allow_nan=allow_nan))


def slow_impute_body() -> dict[str, Any]:
    """An EM fit that runs for many minutes: 1500 x 10, 30% missing, tol ~ 0, no acceleration."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1500, 10)) @ rng.standard_normal((10, 10))
    x[rng.random(x.shape) < 0.3] = np.nan
    frame = pd.DataFrame(np.round(x, 3), columns=[f"c{i}" for i in range(10)])
    return {
        "data": split_of(frame),
        "options": {"tol": 1e-300, "max_iter": 100000, "accelerate": False},
    }
