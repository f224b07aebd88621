"""``imputer impute --transform COL=SPEC --bounds COL=LO:HI`` writes what
``imputer.impute(transforms=..., bounds=...)`` computes; malformed flags are usage errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer import cli

AIR = Path(__file__).resolve().parents[1] / "data" / "airquality.csv"


def test_writes_the_librarys_fills(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.csv"
    code = cli.main(["impute", str(AIR), "-o", str(out), "--no-progress", "--transform", "Ozone=log",
                     "--transform", "Solar.R=logit:0:400", "--bounds", "Wind=0:", "--bounds", "Temp=:120"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    res = imputer.impute(pd.read_csv(AIR), transforms={"Ozone": "log", "Solar.R": ("logit", 0.0, 400.0)},
                         bounds={"Wind": (0.0, None), "Temp": (None, 120.0)})
    assert res.summary() in stdout
    written = pd.read_csv(out)
    np.testing.assert_array_equal(written.to_numpy(dtype=float), res.completed.to_numpy(dtype=float))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--transform", "Ozone=cube"], "--transform 'Ozone=cube': expected log, sqrt, logit or logit:LO:HI"),
        (["--transform", "Ozone"], "--transform 'Ozone': expected COL=SPEC"),
        (["--transform", "Ozone=logit:0:"], "--transform 'Ozone=logit:0:': logit:LO:HI needs both ends"),
        (["--bounds", "Wind=0"], "--bounds 'Wind=0': expected COL=LO:HI (either may be empty)"),
        (["--bounds", "Wind=a:1"], "--bounds 'Wind=a:1': 'a' is not a number"),
        (["--transform", "Ozone=log", "--model", "t"], "--transform applies to a single imputation with --model normal"),
        (["--bounds", "Wind=0:", "-m", "2"], "--bounds applies to a single imputation with --model normal"),
    ],
)
def test_malformed_flags_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str) -> None:
    code = cli.main(["impute", str(AIR), "-o", str(tmp_path / "o.csv"), *extra])
    assert code == 2
    assert message in capsys.readouterr().err


def test_data_errors_name_the_column_and_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["impute", str(AIR), "-o", str(tmp_path / "o.csv"), "--bounds", "Wind=0:10"])
    assert code == 1
    assert "bounds['Wind']: row" in capsys.readouterr().err
