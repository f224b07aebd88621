"""Tests of the JSON-ready conversion shared by the results' to_dict()."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from imputer._json import finite_or_none, json_key, json_value, split_frame, square_frame


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (pd.NA, None),
        (pd.NaT, None),
        (np.bool_(True), True),
        (np.int64(7), 7),
        (np.float32(1.5), 1.5),
        (float("nan"), None),
        (float("inf"), None),
        (pd.Timestamp("2020-01-02"), "2020-01-02T00:00:00"),
        (("x", np.int64(1)), ["x", 1]),
        ("s", "s"),
    ],
)
def test_json_value(value: object, expected: object) -> None:
    assert json_value(value) == expected


@pytest.mark.parametrize(("label", "key"), [("a", "a"), (3, "3"), (("x", 1), '["x", 1]')])
def test_json_key_round_trips_tuples(label: object, key: str) -> None:
    assert json_key(label) == key


@pytest.mark.parametrize(("x", "expected"), [(np.float64(2.0), 2.0), (np.inf, None), (np.nan, None), (3, 3.0)])
def test_finite_or_none(x: object, expected: float | None) -> None:
    assert finite_or_none(x) == expected


def test_split_and_square_frames_are_json_serialisable_with_nulls() -> None:
    frame = pd.DataFrame({"a": [1.0, np.nan], "s": ["u", None]}, index=["r1", "r2"])
    split = split_frame(frame)
    assert split == {"columns": ["a", "s"], "index": ["r1", "r2"], "data": [[1.0, "u"], [None, None]]}
    square = square_frame(pd.DataFrame([[1.0, np.inf], [np.inf, 2.0]], index=["a", "b"], columns=["a", "b"]))
    assert square == {"columns": ["a", "b"], "data": [[1.0, None], [None, 2.0]]}
    json.dumps([split, square], allow_nan=False)
