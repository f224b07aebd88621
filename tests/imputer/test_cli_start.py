"""``imputer impute IN --start FILE.json``: EM from the mean and cov of an earlier fit or of disperse.

Reference: Murray's (1977) data (tests/imputer/diagnostics/test_dispersion.py): from the
engine's own start EM stays on the saddle point (log-likelihood -30.033342); from
disperse's best run it is at a maximum (-29.974286).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imputer.cli import main

ROOT = Path(__file__).resolve().parents[2]
MURRAY = ROOT / "examples" / "murray.csv"


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def dispersed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code, out, err = _run(["disperse", str(MURRAY), "--starts", "8", "--seed", "1", "--json"], capsys)
    assert code == 0, err
    path = tmp_path / "d.json"
    path.write_text(out)
    return path


def test_start_from_disperse_reaches_the_maximum(tmp_path: Path, dispersed: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    summary = tmp_path / "s.json"
    code, _, err = _run(["impute", str(MURRAY), "-o", str(tmp_path / "m.csv"), "--start", str(dispersed),
                         "--json-summary", str(summary)], capsys)
    assert code == 0, err
    assert json.loads(summary.read_text())["loglik"] == pytest.approx(-29.97428641046502, abs=1e-9)
    code, _, err = _run(["impute", str(MURRAY), "-o", str(tmp_path / "m.csv"), "--json-summary", str(summary)],
                        capsys)
    assert json.loads(summary.read_text())["loglik"] == pytest.approx(-30.033342386268007, abs=1e-9)


def test_start_from_an_earlier_summary_restarts_where_it_ended(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    air = ROOT / "examples" / "airquality.csv"
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert _run(["impute", str(air), "-o", str(tmp_path / "a.csv"), "--json-summary", str(first)], capsys)[0] == 0
    code, _, err = _run(["impute", str(air), "-o", str(tmp_path / "b.csv"), "--start", str(first),
                         "--json-summary", str(second)], capsys)
    assert code == 0, err
    assert json.loads(second.read_text())["n_evals"] <= 3 < json.loads(first.read_text())["n_evals"]


def test_multiple_imputation_starts_its_fit_there(tmp_path: Path, dispersed: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # with -m the EM estimate the imputations start from is the maximum disperse's best run leads to
    for start, loglik in (([], -30.033342386268007), (["--start", str(dispersed)], -29.97428641046502)):
        summary = tmp_path / "mi.json"
        code, _, err = _run(["impute", str(MURRAY), "-m", "2", "--seed", "3", "-o", str(tmp_path / "m_{imp}.csv"),
                             *start, "--json-summary", str(summary)], capsys)
        assert code == 0, err
        assert json.loads(summary.read_text())["em"]["loglik"] == pytest.approx(loglik, abs=1e-9)


@pytest.mark.parametrize(
    ("content", "extra", "status", "message"),
    [
        (None, [], 1, "--start '{path}': cannot read it"),
        ("not json", [], 1, "--start '{path}': not JSON"),
        ('{"mean": {"x1": 0, "x2": 0}}', [], 1, "--start '{path}': expected \"mean\" (an object by column) and \"cov\""),
        ('{"mean": {"x1": 0, "x2": 0}, "cov": null}', [], 1,
         "--start '{path}': its \"cov\" is null (a --json-summary written with --matrices corr or none); write it "
         "with the covariance (--matrices both or cov)"),
        ('{"mean": {"x1": 0, "x2": 0}, "cov": {"columns": ["x1", "x2"], "data": [[1, 2], [2, 1]]}}', [], 1,
         "start: the covariance is not positive definite"),
        ('{"mean": {"x1": 0}, "cov": {"columns": ["x1"], "data": [[1]]}}', [], 1,
         "start: the mean has no entry for column(s) ['x2']"),
        ('{"mean": {}, "cov": {"columns": [], "data": []}}', ["-m", "2", "--model", "t"], 2,
         "--start applies to the normal model only"),
        ('{"mean": {}, "cov": {"columns": [], "data": []}}', ["--model", "t"], 2,
         "--start applies to the normal model only"),
        ('{"mean": {"x1": 0}, "cov": {"columns": ["x1"], "data": [[1]]}}', ["-m", "2"], 1,
         "start: the mean has no entry for column(s) ['x2']"),
        ('{"mean": {"x1": 0, "x2": 0}, "cov": {"columns": ["x1", "x2"], "data": [[1, 0], [0, 1]]}}',
         ["-m", "2", "--transform", "x1=log"], 1,
         "start: available for model='normal' only (not with categorical, transforms, bounds, integer, panel or "
         "idvars)"),
    ],
)
def test_bad_start_files_are_named(content: str | None, extra: list[str], status: int, message: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "start.json"
    if content is not None:
        path.write_text(content)
    out = tmp_path / ("m_{imp}.csv" if "-m" in extra else "m.csv")
    code, _, err = _run(["impute", str(MURRAY), "-o", str(out), "--start", str(path), *extra], capsys)
    assert code == status
    assert message.format(path=path) in err
