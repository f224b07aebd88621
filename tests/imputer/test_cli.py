"""The ``imputer`` command line, called in-process through ``main([...])``.

Written tables are compared with :func:`imputer.impute` on the same input: observed
cells must come back identical and filled cells equal to the library's.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer import cli

DATA = Path(__file__).resolve().parents[1] / "data"
ROOT = Path(__file__).resolve().parents[2]
AIR = DATA / "airquality.csv"


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _assert_completed(written: pd.DataFrame, source: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same labels; observed cells identical to the source; every cell equal to expected."""
    assert list(written.columns) == list(source.columns)
    assert list(written.index) == list(source.index)
    for col in source.columns:
        obs = source[col].notna()
        if pd.api.types.is_numeric_dtype(source[col]):
            np.testing.assert_array_equal(
                written.loc[obs, col].to_numpy(dtype=float), source.loc[obs, col].to_numpy(dtype=float)
            )
            np.testing.assert_array_equal(
                written[col].to_numpy(dtype=float), expected[col].to_numpy(dtype=float)
            )
        else:
            assert written[col].astype(object).tolist() == source[col].astype(object).tolist()


# ------------------------------------------------------------------------------- impute


@pytest.mark.parametrize(
    ("extra", "kwargs"),
    [
        ([], {}),
        (["--columns", "Ozone,Solar.R,Wind,Temp"], {"columns": ["Ozone", "Solar.R", "Wind", "Temp"]}),
        (["--columns", "Ozone, Temp"], {"columns": ["Ozone", "Temp"]}),
        (["--tol", "1e-10", "--max-iter", "5000"], {"tol": 1e-10, "max_iter": 5000}),
        (["--no-accelerate"], {"accelerate": False}),
        (["--ridge", "0.5"], {"ridge": 0.5}),
    ],
    ids=["defaults", "columns", "columns-with-space", "tol-max-iter", "no-accelerate", "ridge"],
)
def test_impute_csv_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], kwargs: dict[str, Any]
) -> None:
    out = tmp_path / "completed.csv"
    code, stdout, stderr = _run(["impute", str(AIR), "-o", str(out), *extra], capsys)
    assert code == 0, stderr
    source = pd.read_csv(AIR)
    result = imputer.impute(source, **kwargs)
    assert result.summary() in stdout
    n_missing = int(source[list(result.mean.index)].isna().sum().sum())
    assert f"wrote {out} ({len(source)} rows, {n_missing} cells filled)" in stdout
    text = out.read_text()
    assert text.splitlines()[0] == "Ozone,Solar.R,Wind,Temp,Month,Day"  # no index column
    _assert_completed(pd.read_csv(out), source, result.completed)


def test_impute_keeps_an_index_the_input_had(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.read_csv(AIR)
    frame.index = pd.Index([f"1973-{m:02d}-{d:02d}" for m, d in zip(frame["Month"], frame["Day"])])
    src, out = tmp_path / "indexed.csv", tmp_path / "out.csv"
    frame.to_csv(src)
    code, _, stderr = _run(["impute", str(src), "-o", str(out)], capsys)
    assert code == 0, stderr
    back = pd.read_csv(out, index_col=0)
    assert back.index.tolist() == frame.index.tolist()
    expected = imputer.impute(frame).completed
    _assert_completed(back, frame, expected)


def test_impute_parquet_with_text_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pyarrow")
    frame = pd.read_csv(AIR)
    frame["station"] = np.where(frame["Day"] % 2 == 0, "north", "south")
    src, out = tmp_path / "air.parquet", tmp_path / "air_completed.parquet"
    frame.to_parquet(src, index=False)
    code, _, stderr = _run(["impute", str(src), "-o", str(out)], capsys)
    assert code == 0, stderr
    back = pd.read_parquet(out)
    assert isinstance(back.index, pd.RangeIndex)
    _assert_completed(back, frame, imputer.impute(frame).completed)

    # Parquet in, CSV out
    out_csv = tmp_path / "air_completed.csv"
    assert cli.main(["impute", str(src), "-o", str(out_csv)]) == 0
    _assert_completed(pd.read_csv(out_csv), frame, imputer.impute(frame).completed)


def test_json_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, js = tmp_path / "o.csv", tmp_path / "summary.json"
    code, _, stderr = _run(["impute", str(AIR), "-o", str(out), "--json-summary", str(js)], capsys)
    assert code == 0, stderr
    expected = json.loads(json.dumps(imputer.impute(pd.read_csv(AIR)).to_dict(standard_errors=True)))
    del expected["completed"]  # the table is the output file: the summary holds estimates only
    got = json.loads(js.read_text())
    assert got == expected
    assert set(got) >= {"mean", "cov", "se_mean", "vcov", "loglik", "trace", "n_missing"}


@pytest.mark.parametrize(("matrices", "cov", "corr"), [("cov", True, False), ("corr", False, True), ("none", False, False)])
def test_json_summary_leaves_out_the_matrices_not_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], matrices: str, cov: bool, corr: bool
) -> None:
    out, js = tmp_path / "o.csv", tmp_path / "summary.json"
    code, _, stderr = _run(["impute", str(AIR), "-o", str(out), "--json-summary", str(js), "--matrices", matrices], capsys)
    assert code == 0, stderr
    full = json.loads(json.dumps(imputer.impute(pd.read_csv(AIR)).to_dict(standard_errors=True)))
    got = json.loads(js.read_text())
    assert got["cov"] == (full["cov"] if cov else None) and got["corr"] == (full["corr"] if corr else None)
    assert got["vcov"] == full["vcov"]


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--matrices", "none"], "--matrices none applies to --json-summary: give it too"),
        (["--matrices", "cov", "--json-summary", "s.json", "-m", "2"], "--matrices applies to a single imputation "
         "under --model normal, not with -m"),
        (["--matrices", "cov", "--json-summary", "s.json", "--model", "t"], "not with --model t"),
    ],
    ids=["without-summary", "with-m", "with-t"],
)
def test_matrices_misused_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], match: str
) -> None:
    extra = [str(tmp_path / e) if e == "s.json" else e for e in extra]
    code, _, err = _run(["impute", str(AIR), "-o", str(tmp_path / "o.csv"), *extra], capsys)
    assert code == 2 and match in err and err.count("\n") == 1, err
    assert not (tmp_path / "o.csv").exists()


def test_non_convergence_is_a_one_line_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.csv"
    code, _, stderr = _run(["impute", str(AIR), "-o", str(out), "--max-iter", "1"], capsys)
    assert code == 0
    lines = [ln for ln in stderr.splitlines() if ln]
    assert lines and all(ln.startswith("imputer: warning: ") for ln in lines)
    assert out.exists()


def test_the_standard_errors_warning_is_one_line_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # before: the json summary's standard errors warned through Python's own format, twice
    src, out, js = tmp_path / "in.csv", tmp_path / "o.csv", tmp_path / "s.json"
    src.write_text(",x,y\n1,1,2\n2,2,\n3,3,4\n8,4,5\n")  # y = x + 1 where seen: singular
    code, _, stderr = _run(["impute", str(src), "-o", str(out), "--json-summary", str(js)], capsys)
    assert code == 0
    lines = [ln for ln in stderr.splitlines() if ln]
    assert lines and all(ln.startswith("imputer: warning: ") for ln in lines)
    assert sum("standard errors:" in ln for ln in lines) == 1


# ------------------------------------------------------------------------------- errors


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("make_args", "status", "match"),
    [
        (lambda d: ["impute", str(d / "nope.csv"), "-o", str(d / "o.csv")], 1, "does not exist"),
        (lambda d: ["impute", str(_write(d / "t.xlsx", "x")), "-o", str(d / "o.csv")], 2, "unknown extension"),
        (lambda d: ["impute", str(AIR), "-o", str(d / "o.xlsx")], 2, "output file .*o.xlsx.*unknown extension"),
        (lambda d: ["impute", str(_write(d / "e.csv", "")), "-o", str(d / "o.csv")], 1, "is empty"),
        (lambda d: ["impute", str(AIR), "-o", str(d / "o.csv"), "--columns", "Ozone,Nope"], 1, "Nope"),
        (lambda d: ["impute", str(AIR), "-o", str(d / "o.csv"), "--columns", "Ozone,,Temp"], 2, "empty column name"),
        (lambda d: ["impute", str(AIR), "-o", str(d / "o.csv"), "--tol", "-1"], 1, "tol"),
        (lambda d: ["impute", str(AIR), "-o", str(d / "o.csv"), "--ridge", "-1"], 1, "ridge"),
        (
            lambda d: ["impute", str(_write(d / "s.csv", "a,b\nx,y\nz,w\n")), "-o", str(d / "o.csv")],
            1,
            "numeric",
        ),
        (
            lambda d: ["impute", str(_write(d / "all.csv", "a,b\n1,\n2,\n3,\n")), "-o", str(d / "o.csv")],
            1,
            "'b'",
        ),
        (lambda d: ["impute", str(AIR), "-o", str(d / "no_dir" / "o.csv")], 1, "cannot write"),
        (lambda d: ["impute", str(d), "-o", str(d / "o.csv")], 2, "unknown extension"),
    ],
    ids=[
        "missing-file", "bad-input-ext", "bad-output-ext", "empty-file", "unknown-column",
        "empty-column-name", "bad-tol", "bad-ridge", "no-numeric-column", "all-missing-column",
        "unwritable-output", "directory",
    ],
)
def test_bad_input_one_line_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_args: Any, status: int, match: str
) -> None:
    code, stdout, stderr = _run(make_args(tmp_path), capsys)
    assert code == status
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("imputer: error: ")
    assert "Traceback" not in stderr
    import re

    assert re.search(match, lines[0]), lines[0]
    assert not (tmp_path / "o.csv").exists()


def test_parquet_without_pyarrow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a)
    )
    code, _, stderr = _run(["impute", str(AIR), "-o", str(tmp_path / "o.parquet")], capsys)
    assert code == 1
    assert "needs pyarrow" in stderr and "pip install 'imputer[parquet]'" in stderr
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize(
    "args",
    [[], ["impute"], ["impute", str(AIR)], ["frobnicate"], ["serve", "--workers", "0"]],
    ids=["no-command", "no-input", "no-output", "unknown-command", "zero-workers"],
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    assert info.value.code == 2
    assert "usage: imputer" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"imputer {imputer.__version__}"


# -------------------------------------------------------------------------------- serve


def test_serve_runs_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    uvicorn = pytest.importorskip("uvicorn")
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append((a, k)))
    monkeypatch.setattr(cli, "_api_available", lambda: True)
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "9001", "--workers", "3"]) == 0
    production = {"http": "api.http:GuardedH11Protocol", "timeout_keep_alive": 5, "server_header": False}
    assert calls == [(("api.main:app",), {"host": "0.0.0.0", "port": 9001, "workers": 3, **production})]
    calls.clear()
    assert cli.main(["serve"]) == 0
    assert calls == [(("api.main:app",), {"host": "127.0.0.1", "port": 8000, "workers": 1, **production})]


def test_serve_without_uvicorn(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    code, _, stderr = _run(["serve"], capsys)
    assert code == 1
    assert stderr.strip() == "imputer: error: imputer serve needs the REST extra: pip install 'imputer[api]'"


def test_serve_without_api_package(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("uvicorn")
    monkeypatch.setattr(cli, "_api_available", lambda: False)
    code, _, stderr = _run(["serve"], capsys)
    assert code == 1 and "api.main:app" in stderr


# ----------------------------------------------------------------------- real processes


def test_console_script_subprocess(tmp_path: Path) -> None:
    exe = shutil.which("imputer")
    cmd = [exe] if exe else [sys.executable, "-m", "imputer"]
    out = tmp_path / "airquality_completed.csv"
    proc = subprocess.run(
        [*cmd, "impute", str(ROOT / "examples" / "airquality.csv"), "-o", str(out)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout
    assert not pd.read_csv(out)[["Ozone", "Solar.R"]].isna().any().any()

    bad = subprocess.run(
        [sys.executable, "-m", "imputer", "impute", str(tmp_path / "missing.csv"), "-o", str(out)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


# ------------------------------------------------------------------------------ examples


def test_example_script_runs(capsys: pytest.CaptureFixture[str]) -> None:
    # The shipped examples/impute_airquality.py runs end to end and reports its findings.
    import runpy

    runpy.run_path(str(ROOT / "examples" / "impute_airquality.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "Multivariate-normal EM imputation" in out
    assert "log-normal model: fills from" in out


def test_mixed_example_script_runs(capsys: pytest.CaptureFixture[str]) -> None:
    # examples/mixed_sleepstudy.py: the EM-REML fit matches lme4's printed values.
    import runpy

    runpy.run_path(str(ROOT / "examples" / "mixed_sleepstudy.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "Against lme4" in out and "Day 9 hidden for 3 subjects" in out
