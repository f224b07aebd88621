"""api/tasks.py: a job's answers are encoded format by format, so one format that fails to encode
(a bug) is a 500 answer of that format alone, not a failed job."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import api.tasks
from api.tasks import ImputeTask

BODY = json.dumps({"data": {"columns": ["a", "b"], "data": [[1.0, 2.0], [None, 3.0], [3.0, None], [4.0, 6.5]]}}).encode()


def _broken(frame: pd.DataFrame) -> bytes:
    raise TypeError("an encoder's bug")


def test_one_format_failing_to_encode_leaves_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.tasks, "frame_to_parquet", _broken)
    answers = ImputeTask(kind="json", body=BODY, instance="/v1/jobs/x").run_all()
    assert isinstance(answers, dict) and set(answers) == {"json", "csv", "parquet"}
    assert answers["json"].status == 200 and answers["csv"].status == 200
    failed = answers["parquet"]
    assert failed.status == 500 and failed.media_type == "application/problem+json"
    assert json.loads(failed.body)["detail"] == (
        "The result could not be encoded as Parquet; the failure has been logged. The other formats of the result "
        "are available (ask for one by Accept)."
    )


def test_one_format_asked_for_fails_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.tasks, "frame_to_parquet", _broken)
    with pytest.raises(TypeError, match="an encoder's bug"):  # the worker's 500, logged
        ImputeTask(kind="json", body=BODY, output="parquet").run()
    assert ImputeTask(kind="json", body=BODY, output="csv").run().status == 200
