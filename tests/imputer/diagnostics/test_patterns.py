"""``imputer.patterns`` against a naive grouping of ``isna()``.

The naive table: ``frame[columns].notna().astype(int)`` grouped by every column with
pandas' ``groupby(...).size()``, then sorted by the documented order (count descending,
fewer missing first, then 1 before 0 column by column) with ``sort_values``.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer import ImputerTypeError, ImputerValueError, PatternTable

DATA = Path(__file__).resolve().parents[2] / "data"


def naive(frame: pd.DataFrame, columns: list) -> pd.DataFrame:
    obs = frame[columns].notna().astype(np.int64)
    obs.columns = range(len(columns))
    sizes = obs.groupby(list(obs.columns)).size().reset_index(name="count")
    sizes["n_missing"] = len(columns) - sizes[list(range(len(columns)))].sum(axis=1)
    sizes = sizes.sort_values(
        ["count", "n_missing", *range(len(columns))],
        ascending=[False, True] + [False] * len(columns),
        kind="stable",
    ).reset_index(drop=True)
    sizes.columns = [*columns, "count", "n_missing"]
    return sizes


def _many(n: int, p: int, rate: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    x[rng.random((n, p)) < rate] = np.nan
    return pd.DataFrame(x, columns=[f"v{j}" for j in range(p)])


def _cases() -> dict[str, tuple[pd.DataFrame, list | None]]:
    air = pd.read_csv(DATA / "airquality.csv")
    mixed = pd.DataFrame(
        {
            "id": ["a", None, "c", "d", "e"],
            "x": [1.0, np.nan, 3.0, np.nan, 5.0],
            "n": pd.array([1, 2, None, 4, None], dtype="Int64"),
            "flag": [True, False, True, True, False],
        }
    )
    return {
        "airquality": (air, None),
        "airquality-columns": (air, ["Solar.R", "Ozone"]),
        "no-missing": (pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4, 5, 6]}), None),
        "one-column": (pd.DataFrame({"a": [1.0, np.nan, np.nan, 4.0]}), None),
        "all-missing-column": (pd.DataFrame({"a": [1.0, 2.0, np.nan], "b": [np.nan] * 3}), None),
        "single-row": (pd.DataFrame({"a": [1.0], "b": [np.nan]}), None),
        "passthrough": (mixed, None),
        "ties": (pd.DataFrame({"a": [np.nan, 1, 2, 3], "b": [1, np.nan, 2, 3], "c": [1, 2, np.nan, 3.0]}), None),
        "many-patterns": (_many(20_000, 16, 0.3, 1), None),
        "wide-65": (_many(3_000, 65, 0.05, 2), None),
    }


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_table_equals_naive_groupby(name: str) -> None:
    frame, columns = CASES[name]
    before = frame.copy()
    res = imputer.patterns(frame, columns)
    cols = list(columns) if columns is not None else list(imputer.columns.modelled_columns(frame))
    expected = naive(frame, cols)
    got = res.table
    assert list(got.columns) == [*cols, "count", "n_missing"]
    assert got.index.name == "pattern"
    assert (got.dtypes == np.int64).all()
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())
    np.testing.assert_array_equal(res.column_missing.to_numpy(), frame[cols].isna().sum().to_numpy())
    assert list(res.column_missing.index) == cols
    assert res.n_rows == len(frame) == int(got["count"].sum())
    assert res.n_missing_cells == int(frame[cols].isna().to_numpy().sum())
    assert res.n_complete_rows == int(frame[cols].notna().all(axis=1).sum())
    assert res.n_patterns == len(expected)
    assert res.passthrough == tuple(c for c in frame.columns if c not in cols)
    pd.testing.assert_frame_equal(frame, before)  # the caller's data is untouched


@pytest.mark.parametrize("name", ["airquality", "ties", "many-patterns"])
def test_order_does_not_depend_on_row_order(name: str) -> None:
    frame, columns = CASES[name]
    shuffled = frame.sample(frac=1.0, random_state=3)
    assert imputer.patterns(shuffled, columns) == imputer.patterns(frame, columns)


def test_airquality_md_pattern() -> None:
    # R: mice::md.pattern(airquality) has these four patterns (its rows ordered by n_missing)
    res = imputer.patterns(CASES["airquality"][0])
    assert res.table[["Ozone", "Solar.R", "count", "n_missing"]].to_numpy().tolist() == [
        [1, 1, 111, 0],
        [0, 1, 35, 1],
        [1, 0, 5, 1],
        [0, 0, 2, 2],
    ]
    assert res.column_missing.to_dict() == {"Ozone": 37, "Solar.R": 7, "Wind": 0, "Temp": 0, "Month": 0, "Day": 0}


def test_columns_named_count_and_n_missing() -> None:
    frame = pd.DataFrame({"count": [1.0, np.nan, 3.0], "n_missing": [np.nan, 2.0, 3.0]})
    res = imputer.patterns(frame)
    assert list(res.table.columns) == ["count", "n_missing", "count", "n_missing"]
    assert res.counts.tolist() == [1, 1, 1]
    assert res.n_complete_rows == 1


def test_summary_shows_top_patterns_and_how_many_more() -> None:
    res = imputer.patterns(CASES["many-patterns"][0])
    assert res.n_patterns > 50
    text = res.summary()
    assert f"... ({res.n_patterns - 50:,} more patterns" in text
    assert "missingness patterns:" in text and "Per column" in text
    short = imputer.patterns(CASES["airquality"][0]).summary(max_patterns=2)
    assert "... (2 more patterns, 7 rows)" in short and "No missing cells" not in short
    assert "No missing cells: nothing to impute." in imputer.patterns(CASES["no-missing"][0]).summary()


def test_to_dict_is_json_and_round_trips_the_table() -> None:
    res = imputer.patterns(CASES["passthrough"][0])
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["columns"] == ["x", "n"] and d["passthrough"] == ["id", "flag"]
    assert d["table"]["columns"] == ["x", "n", "count", "n_missing"]
    assert d["table"]["data"] == res.table.to_numpy().tolist()
    assert d["column_missing"] == {"x": 2, "n": 2}
    assert (d["n_rows"], d["n_patterns"], d["n_complete_rows"], d["n_missing_cells"]) == (5, 3, 1, 4)


def test_result_is_a_read_only_value() -> None:
    res = imputer.patterns(CASES["airquality"][0])
    table, column_missing = res.table, res.column_missing
    table.iloc[0, 0] = 99
    column_missing.iloc[0] = 99
    assert res.table.iloc[0, 0] == 1 and res.column_missing.iloc[0] == 37
    assert isinstance(res, PatternTable) and hash(res) == hash(imputer.patterns(CASES["airquality"][0]))
    with pytest.raises(AttributeError):
        res.n_rows = 3  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(res)) == res


def test_array_input() -> None:
    arr = np.array([[1.0, np.nan], [np.nan, 2.0], [3.0, 4.0]])
    res = imputer.patterns(arr)
    assert res.columns == (0, 1) and res.n_patterns == 3


@pytest.mark.parametrize(
    "data, columns, err, match",
    [
        (pd.DataFrame(), None, ImputerValueError, r"data is empty \(0 rows x 0 columns\)"),
        (pd.DataFrame({"s": ["a", None]}), None, ImputerTypeError, "data has no numeric column to model"),
        (pd.DataFrame({"a": [1.0, 2.0]}), ["b"], ImputerValueError, "columns: unknown column 'b'"),
        (pd.DataFrame({"a": [1.0, 2.0]}), ["a", "a"], ImputerValueError, "columns: column 'a' is listed twice"),
        (pd.DataFrame({"a": [1.0], "s": ["x"]}), ["s"], ImputerTypeError, "columns: column 's' has non-numeric dtype"),
        (pd.DataFrame({"a": [1.0]}), "a", ImputerTypeError, "columns must be a list of column names"),
        (np.zeros(3), None, ImputerValueError, r"data must be 2-D \(rows x columns\)"),
    ],
)
def test_bad_input(data: object, columns: object, err: type, match: str) -> None:
    with pytest.raises(err, match=match):
        imputer.patterns(data, columns)  # type: ignore[arg-type]
