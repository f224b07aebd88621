"""Tests of the text-rendering helpers behind summary()."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imputer._render import format_value, render_fields, render_table, render_title


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (True, 6, "yes"),
        (np.bool_(False), 6, "no"),
        (1234567, 6, "1,234,567"),
        (np.int64(3), 6, "3"),
        (-1234.56789012, 6, "-1234.57"),
        (0.000123456789, 3, "0.000123"),
        (float("nan"), 6, "nan"),
        (float("-inf"), 6, "-inf"),
        ("Ozone", 6, "Ozone"),
    ],
)
def test_format_value(value: object, digits: int, expected: str) -> None:
    assert format_value(value, digits) == expected


def test_title_is_underlined_to_its_length() -> None:
    assert render_title("EM fit") == "EM fit\n======"


def test_fields_are_aligned() -> None:
    text = render_fields([("rows", 153), ("converged", True)])
    assert text.splitlines() == ["rows:      153", "converged: yes"]
    assert render_fields([]) == ""


def test_table_keeps_labels_and_formats_numbers() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.123456789], "b": [np.nan, 3.0]}, index=["x", "y"])
    lines = render_table(frame, digits=3).splitlines()
    assert lines[0].split() == ["a", "b"]
    assert lines[1].split() == ["x", "1", "nan"]
    assert lines[2].split() == ["y", "2.12", "3"]
    series_lines = render_table(pd.Series([1.5], index=["m"], name="mean")).splitlines()
    assert series_lines[0].split() == ["mean"] and series_lines[1].split() == ["m", "1.5"]
