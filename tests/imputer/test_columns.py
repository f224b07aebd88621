"""imputer.columns: the one definition of a modelled (numeric) column, and its users."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.columns import is_modelled, modelled_columns
from imputer.errors import ImputerTypeError

COLUMNS: dict[str, tuple[pd.Series, bool]] = {
    "float64": (pd.Series([1.0, np.nan, 3.0]), True),
    "float32": (pd.Series([1.0, np.nan, 3.0], dtype="float32"), True),
    "int64": (pd.Series([1, 2, 4]), True),
    "uint8": (pd.Series([1, 2, 4], dtype="uint8"), True),
    "Int64": (pd.Series([1, None, 4], dtype="Int64"), True),
    "Float64": (pd.Series([1.5, None, 4.0], dtype="Float64"), True),
    "bool": (pd.Series([True, False, True]), False),
    "boolean": (pd.Series([True, None, True], dtype="boolean"), False),
    "complex": (pd.Series([1 + 1j, 2.0, 3.0]), False),
    "timedelta": (pd.Series(pd.to_timedelta([1, 2, 3], unit="D")), False),
    "datetime": (pd.Series(pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"])), False),
    "string": (pd.Series(["a", "b", None], dtype="string"), False),
    "object": (pd.Series(["a", "b", "c"], dtype=object), False),
    "category": (pd.Series([1, 2, 1], dtype="category"), False),
}


@pytest.mark.parametrize("kind", list(COLUMNS))
def test_is_modelled_on_series_and_dtype(kind: str) -> None:
    series, expected = COLUMNS[kind]
    assert is_modelled(series) is expected
    assert is_modelled(series.dtype) is expected


def _frame() -> pd.DataFrame:
    # three distinct rows per column so every modelled column is non-constant
    return pd.DataFrame({k: s for k, (s, _) in COLUMNS.items()}).assign(
        int64=[1, 5, 2], uint8=np.array([3, 1, 2], dtype="uint8")
    )


def test_modelled_columns_in_frame_order() -> None:
    assert modelled_columns(_frame()) == [k for k, (_, m) in COLUMNS.items() if m]


def test_impute_models_exactly_the_modelled_columns() -> None:
    frame = _frame()
    res = imputer.impute(frame, ridge=1.0)
    assert list(res.columns) == modelled_columns(frame)


@pytest.mark.parametrize("kind", [k for k, (_, m) in COLUMNS.items() if not m])
def test_impute_and_emimputer_refuse_the_same_columns(kind: str) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0], "b": [2.0, 1.0, 3.0, np.nan]})
    frame["x"] = pd.concat([COLUMNS[kind][0], COLUMNS[kind][0].iloc[:1]], ignore_index=True)
    with pytest.raises(ImputerTypeError, match="column 'x' has non-numeric dtype"):
        imputer.impute(frame, columns=["a", "b", "x"])
    with pytest.raises(ImputerTypeError, match="column 'x' has non-numeric dtype"):
        imputer.EMImputer().fit(frame)

