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
        (["--transform", "Ozone=log", "--model", "t"], "--transform applies to --model normal only"),
        (["--bounds", "Wind=0:", "-m", "2", "--model", "t"], "--bounds applies to --model normal only"),
        (["--cs", "Month"], "--cs needs --ts (the time column)"),
        (["--polytime", "2"], "--polytime needs --ts (the time column)"),
        (["--integer", "Ozone"], "--integer applies to multiple imputation (-m M)"),
        (["--ts", "Month", "--workers", "1"], "not available with --scheduler/--workers"),
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


FREETRADE = Path(__file__).resolve().parents[1] / "data" / "amelia" / "freetrade.csv"


@pytest.mark.parametrize("m", [None, 2])
def test_panel_flags_are_the_librarys_panel(tmp_path: Path, capsys: pytest.CaptureFixture[str], m: int | None) -> None:
    out = tmp_path / ("out.csv" if m is None else "out_{imp}.csv")
    flags = ["--ts", "year", "--cs", "country", "--polytime", "2", "--intercs", "--bounds", "tariff=0:",
             "--transform", "gdp.pc=log", "--lags", "gdp.pc", "--leads", "gdp.pc"]
    mi_flags = [] if m is None else ["-m", str(m), "--seed", "3", "--ridge", "2", "--integer", "signed"]
    code = cli.main(["impute", str(FREETRADE), "-o", str(out), "--no-progress", *flags, *mi_flags])
    assert code == 0, capsys.readouterr().err
    df = pd.read_csv(FREETRADE)
    panel = dict(time="year", unit="country", polytime=2, intercs=True, lags=["gdp.pc"], leads=["gdp.pc"])
    kw = dict(panel=panel, bounds={"tariff": (0.0, None)}, transforms={"gdp.pc": "log"})
    if m is None:
        expected = [imputer.impute(df, **kw).completed]
        written = [pd.read_csv(out)]
    else:
        mi = imputer.multiple_impute(df, m, seed=3, ridge=2.0, integer=["signed"], **kw)
        expected = list(mi.imputations)
        written = [pd.read_csv(tmp_path / f"out_{j}.csv") for j in range(1, m + 1)]
    for got, want in zip(written, expected):
        assert got.columns.tolist() == df.columns.tolist()
        assert got["country"].equals(df["country"])
        num = [c for c in df.columns if c != "country"]
        np.testing.assert_allclose(got[num].to_numpy(dtype=float), want[num].to_numpy(dtype=float), rtol=1e-12)
