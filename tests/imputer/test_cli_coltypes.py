"""The bad inputs of issue 11 on the command line: exit status 1 and the library's message naming
the option, the column, the row and the value (as ``imputer.impute`` raises it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer import cli
from imputer.errors import ImputerValueError

BAD = pd.DataFrame({"x": [1.0, 2.0, -0.5, np.nan, 3.0, 4.0], "y": [1.0, np.nan, 2.0, 3.0, 4.5, 5.0]})

CASES = [
    (["--transform", "x=log"], {"transforms": {"x": "log"}}, "transforms['x']: 'log' needs positive values, but row 2 holds -0.5"),
    (["--bounds", "x=0:"], {"bounds": {"x": (0, None)}}, "bounds['x']: row 2 holds -0.5, outside [0, inf]"),
    (["--bounds", "y=3:1"], {"bounds": {"y": (3, 1)}}, "bounds['y']: lower 3 must be below upper 1"),
    (["--transform", "y=logit:5:1"], {"transforms": {"y": ("logit", 5, 1)}}, "transforms['y']: the logit's range needs finite lo < hi, got (5, 1)"),
]


@pytest.mark.parametrize(("flags", "kwargs", "message"), CASES, ids=["log-non-positive", "outside-bounds", "low-above-high", "logit-range"])
def test_bad_column_specs_name_column_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], kwargs: dict, message: str
) -> None:
    data = tmp_path / "bad.csv"
    BAD.to_csv(data, index=False)
    code = cli.main(["impute", str(data), "-o", str(tmp_path / "out.csv"), "--no-progress", *flags])
    assert code == 1
    assert capsys.readouterr().err.strip() == f"imputer: error: {message}"
    assert not (tmp_path / "out.csv").exists()
    with pytest.raises(ImputerValueError) as info:  # the library's own words
        imputer.impute(BAD, **kwargs)
    assert str(info.value) == message


SIM = Path(__file__).resolve().parents[1] / "data" / "glom" / "sim.csv"


def test_continuous_keeps_a_two_valued_column_continuous(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "numbers.csv"
    frame = pd.read_csv(SIM).drop(columns="a")
    frame.to_csv(data, index=False)
    out = tmp_path / "out.csv"
    assert cli.main(["impute", str(data), "-o", str(out), "--no-progress", "--categorical", "auto", "--continuous", "b"]) == 0
    want = imputer.impute(frame, categorical="auto", continuous=["b"])  # nothing categorical left: the normal
    assert "Multivariate-normal EM" in capsys.readouterr().out
    np.testing.assert_array_equal(pd.read_csv(out).to_numpy(), want.completed.to_numpy())
    assert not set(want.completed["b"]) <= {0.0, 1.0}  # b filled by conditional means, as asked
    assert cli.main(["impute", str(data), "-o", str(out), "--continuous", "b"]) == 2
    assert "--continuous applies with --categorical only" in capsys.readouterr().err


FREETRADE = Path(__file__).resolve().parents[1] / "data" / "amelia" / "freetrade.csv"


def test_log_is_a_log_transform_of_each_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_log, out_transform = tmp_path / "log.csv", tmp_path / "transform.csv"
    base = ["impute", str(FREETRADE), "--no-progress", "--bounds", "tariff=0:", "--idvars", "year,country"]
    assert cli.main([*base, "-o", str(out_log), "--log", "gdp.pc,pop"]) == 0
    assert cli.main([*base, "-o", str(out_transform), "--transform", "gdp.pc=log", "--transform", "pop=log"]) == 0
    assert out_log.read_bytes() == out_transform.read_bytes()
    assert cli.main([*base, "-o", str(out_log), "--log", "pop", "--transform", "pop=sqrt"]) == 2
    assert "--log pop: the column has a --transform too" in capsys.readouterr().err
    assert cli.main(["impute", str(SIM), "-o", str(out_log), "--categorical", "a", "--log", "x1"]) == 2
    assert "no --transform, --log, --bounds" in capsys.readouterr().err
