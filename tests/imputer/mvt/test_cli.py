"""``imputer impute --model t [--dof NU]``: the command line's multivariate t equals :func:`imputer.impute_t`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer import cli

from .conftest import DATA

AIR = DATA / "airquality.csv"


@pytest.mark.parametrize(("extra", "dof"), [([], None), (["--dof", "4"], 4.0)], ids=["dof-estimated", "dof-fixed"])
def test_model_t_writes_impute_ts_table(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], dof: float | None) -> None:
    out, js = tmp_path / "out.csv", tmp_path / "fit.json"
    code = cli.main(["impute", str(AIR), "-o", str(out), "--model", "t", *extra, "--json-summary", str(js)])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    source = pd.read_csv(AIR)
    res = imputer.impute_t(source, dof=dof)
    assert res.summary() in stdout
    written = pd.read_csv(out)
    np.testing.assert_allclose(written.to_numpy(dtype=float), res.completed.to_numpy(dtype=float), rtol=1e-15)
    fit = json.loads(js.read_text())
    assert fit["dof"] == res.dof and fit["dof_estimated"] is (dof is None)


@pytest.mark.parametrize(
    ("extra", "status", "match"),
    [
        (["--dof", "4"], 2, "--dof applies to --model t only"),
        (["--model", "t", "--dof", "0"], 1, "dof must be > 0"),
    ],
)
def test_bad_dof_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], status: int, match: str) -> None:
    code = cli.main(["impute", str(AIR), "-o", str(tmp_path / "o.csv"), *extra])
    err = capsys.readouterr().err
    assert code == status and match in err and err.count("\n") == 1


def test_unknown_model_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["impute", str(AIR), "-o", str(tmp_path / "o.csv"), "--model", "cauchy"])
    assert info.value.code == 2 and "invalid choice: 'cauchy'" in capsys.readouterr().err
