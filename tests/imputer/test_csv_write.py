"""The vectorised CSV writer against pandas' ``to_csv`` (the reference it must match).

Where the module promises the same text (integers, booleans, text with every quoting
case, missing cells, whole-number and everyday floats, index or not, separators, decimal
comma) the bytes must equal ``to_csv``'s; where it only promises the same numbers (floats
of every magnitude, Arrow's notation) parsing its text must give the same doubles bit for
bit. ``float_format`` must touch the marked cells only.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imputer._csv_write import CHUNK_ROWS, csv_chunks

ROOT = Path(__file__).resolve().parents[2]


def _text(frame: pd.DataFrame, **kw: object) -> str:
    chunks = csv_chunks(frame, **kw)  # type: ignore[arg-type]
    assert chunks is not None
    return b"".join(bytes(c) for c in chunks).decode("utf-8")


def _mixed(sep: str) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "x": [1.0, np.nan, 2.5, -0.0, np.inf, -np.inf, 123456.75, -3.0],
            "label": ["a", "", None, f"a{sep}b", 'q"q', "line\nbreak", "tab\there", "  spaced "],
            "n": pd.array([1, None, 3, 4, 5, 6, 7, -8], dtype="Int64"),
            "k": np.arange(8, dtype=np.int32),
            "ok": [True, False] * 4,
            "s": pd.array(["u", None, "w", "x", "y", "z", sep, '"'], dtype="string"),
            "f32": np.array([0.1, 2.0, np.nan, 1.5, 3.25, -1.0, 7.0, 0.5], dtype=np.float32),
            "F": pd.array([0.5, None, 2.0, 1.25, 3.0, 4.5, -1.0, 2.0], dtype="Float64"),
        },
        index=pd.Index([f"r{i}" for i in range(8)], name="id"),
    )
    frame.columns = ["x", "label", f"n{sep}quoted", "k", "ok", "s", "f32", "F"]
    return frame


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
@pytest.mark.parametrize("index", [True, False])
def test_same_bytes_as_to_csv(sep: str, index: bool) -> None:
    frame = _mixed(sep)
    assert _text(frame, index=index, sep=sep) == frame.to_csv(index=index, sep=sep)


@pytest.mark.parametrize("index", [True, False])
def test_decimal_comma_same_bytes(index: bool) -> None:
    frame = _mixed(";")
    assert _text(frame, index=index, sep=";", decimal=",") == frame.to_csv(index=index, sep=";", decimal=",")


def test_carriage_return_is_quoted_and_reads_back() -> None:
    # the csv module (and so to_csv on Python 3.11) leaves a lone \r unquoted, which
    # pandas' reader then takes for a line end; quoting it keeps the cell
    frame = pd.DataFrame({"t": ["cr\rhere", "plain"], "x": [1.5, 2.0]})
    text = _text(frame, index=False)
    assert text == 't,x\n"cr\rhere",1.5\nplain,2.0\n'
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(text)), frame)


def test_unnamed_and_range_index() -> None:
    frame = pd.DataFrame({"a": [1.5, 2.0], "b": ["x", "y"]})
    assert _text(frame, index=True) == frame.to_csv()


def test_floats_of_every_magnitude_read_back_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    x = rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, n)
    x[::97] = np.round(x[::97])
    x[::89] = np.round(rng.normal(size=x[::89].size) * 10.0 ** rng.integers(0, 17, x[::89].size))
    x[::101] = np.nan
    specials = [5e-324, 1.7976931348623157e308, 1e16, 1e15, 9007199254740993.0, 0.1, 1e-5, 1e-4, 123456789012345680.0]
    x[: len(specials)] = specials
    frame = pd.DataFrame({"x": x, "y": -x})
    back = pd.read_csv(io.StringIO(_text(frame, index=False)))
    np.testing.assert_array_equal(back.to_numpy(), frame.to_numpy())  # NaN == NaN here
    assert np.array_equal(np.signbit(back["x"]), np.signbit(frame["x"]))


def test_chunks_join_across_the_chunk_boundary() -> None:
    n = CHUNK_ROWS + 3
    frame = pd.DataFrame({"i": np.arange(n), "x": np.arange(n) / 4.0})
    assert _text(frame, index=False) == frame.to_csv(index=False)


def test_float_format_applies_to_filled_cells_only() -> None:
    frame = pd.DataFrame({"a": [1.23456789, 2.3456789, 3.0], "b": [0.123456789, np.nan, 5.5], "t": ["x", "y", "z"]})
    filled = pd.DataFrame({"a": [False, True, False], "b": [True, True, False], "t": [False, True, False]})
    text = _text(frame, index=False, float_format="%.3f", filled=filled)
    assert text == "a,b,t\n1.23456789,0.123,x\n2.346,,y\n3.0,5.5,z\n"
    text = _text(frame, index=False, sep=";", decimal=",", float_format="%.2f", filled=filled)
    assert text == "a;b;t\n1,23456789;0,12;x\n2,35;;y\n3,0;5,5;z\n"


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"when": pd.to_datetime(["2020-01-01", "2021-02-03"]), "x": [1.0, 2.0]}),
        pd.DataFrame({"c": pd.Categorical(["a", "b"]), "x": [1.0, 2.0]}),
        pd.DataFrame({"o": [1, "a"], "x": [1.0, 2.0]}),
        pd.DataFrame({"x": [1.0, 2.0]}),  # one field per row: pandas quotes an empty one
        pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]}, index=pd.MultiIndex.from_tuples([(1, 2), (3, 4)])),
        pd.DataFrame({"b": pd.array([True, None], dtype="boolean"), "x": [1.0, 2.0]}),
    ],
    ids=["datetime", "category", "mixed-objects", "single-field", "multiindex", "nullable-bool"],
)
def test_tables_not_covered_are_left_to_pandas(frame: pd.DataFrame) -> None:
    assert csv_chunks(frame, index=False) is None


def test_cli_float_format_rounds_fills_and_keeps_observed_cells(tmp_path: Path) -> None:
    src = ROOT / "examples" / "airquality.csv"
    out = tmp_path / "out.csv"
    done = subprocess.run(
        [sys.executable, "-m", "imputer", "impute", str(src), "-o", str(out), "--float-format", "%.2f", "--no-progress"],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )
    assert done.returncode == 0, done.stderr
    before = pd.read_csv(src)
    after = pd.read_csv(out, dtype=str)
    for col in ["Ozone", "Solar.R"]:
        gaps = before[col].isna().to_numpy()
        filled = after[col][gaps]
        assert filled.str.fullmatch(r"-?\d+\.\d\d").all()
        observed = after[col][~gaps].astype(float).to_numpy()
        np.testing.assert_array_equal(observed, before[col][~gaps].to_numpy())


@pytest.mark.parametrize("fmt", ["%d%", "%s %s", "abc"])
def test_cli_rejects_bad_float_format(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    from imputer.cli import main

    with pytest.raises(SystemExit):
        main(["impute", str(ROOT / "examples" / "airquality.csv"), "-o", "x.csv", "--float-format", fmt])
    assert f"argument --float-format: expected a printf format for one number such as %.6g or %.3f, got '{fmt}'" in capsys.readouterr().err
