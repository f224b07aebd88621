"""``imputer impute -m M``: multiple imputation from the command line, called through ``main([...])``.

Every written table is compared with :func:`imputer.multiple_impute` on the same input
and seed: the long table with ``MultipleImputation.long()``, each file of ``{imp}`` with
the imputation of that number, ``--json-summary`` with ``to_dict()`` (the tables left
out, the EM estimates with their standard errors). CSV writes floats with enough digits
to round-trip, so the comparisons are exact.
"""

from __future__ import annotations

import json
import re
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


def _assert_same(written: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert [str(c) for c in written.columns] == [str(c) for c in expected.columns]
    for col in expected.columns:
        if pd.api.types.is_numeric_dtype(expected[col]):
            np.testing.assert_array_equal(written[col].to_numpy(dtype=float), expected[col].to_numpy(dtype=float))
        else:
            assert written[col].astype(str).tolist() == expected[col].astype(str).tolist()


@pytest.mark.parametrize(
    ("extra", "kwargs"),
    [
        ([], {}),
        (["--method", "bootstrap"], {"method": "bootstrap"}),
        (["--burn-in", "5", "--thin", "2"], {"burn_in": 5, "thin": 2}),
        (["--columns", "Ozone,Solar.R,Wind,Temp", "--ridge", "0.5"], {"columns": ["Ozone", "Solar.R", "Wind", "Temp"], "ridge": 0.5}),
        (["--tol", "1e-9", "--max-iter", "500"], {"tol": 1e-9, "max_iter": 500}),
    ],
    ids=["posterior", "bootstrap", "burn-in-thin", "columns-ridge", "tol-max-iter"],
)
def test_long_table_is_the_librarys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], kwargs: dict[str, Any]
) -> None:
    out = tmp_path / "mi.csv"
    code, stdout, stderr = _run(["impute", str(AIR), "-m", "4", "--seed", "7", "-o", str(out), *extra], capsys)
    assert code == 0, stderr
    mi = imputer.multiple_impute(pd.read_csv(AIR), 4, seed=7, **kwargs)
    assert mi.summary() in stdout
    assert f"wrote {out} (4 x 153 rows, long table)" in stdout
    assert out.read_text().splitlines()[0] == ".imp,.id,Ozone,Solar.R,Wind,Temp,Month,Day"
    written = pd.read_csv(out)
    assert written[".imp"].tolist() == np.repeat(np.arange(1, 5), 153).tolist()
    _assert_same(written, mi.long())


@pytest.mark.parametrize(
    ("pattern", "indexed"),
    [("out_{imp}.csv", False), ("{imp}th.tsv", False), ("out_{imp}.csv", True)],
    ids=["csv", "tsv", "indexed"],
)
def test_one_file_per_imputation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pattern: str, indexed: bool
) -> None:
    frame = pd.read_csv(AIR)
    src = AIR
    if indexed:
        frame.index = pd.Index([f"d{m}-{d}" for m, d in zip(frame["Month"], frame["Day"])])
        src = tmp_path / "indexed.csv"
        frame.to_csv(src)
    code, stdout, stderr = _run(["impute", str(src), "-m", "3", "--seed", "2", "-o", str(tmp_path / pattern)], capsys)
    assert code == 0, stderr
    mi = imputer.multiple_impute(frame, 3, seed=2)
    names = [tmp_path / pattern.replace("{imp}", str(j)) for j in (1, 2, 3)]
    assert f"wrote {names[0]} ... {names[2]} (3 files of 153 rows)" in stdout
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "indexed.csv") == sorted(p.name for p in names)
    for name, expected in zip(names, mi.imputations):
        sep = "\t" if name.suffix == ".tsv" else ","
        back = pd.read_csv(name, sep=sep, index_col=0 if indexed else None)
        if indexed:
            assert back.index.tolist() == frame.index.tolist()
        _assert_same(back, expected)


def test_dialect_and_index_kept_in_the_long_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.read_csv(AIR).head(40)
    frame.index = pd.Index([f"r{i}" for i in range(40)])
    src, out = tmp_path / "semi.csv", tmp_path / "long.csv"
    frame.to_csv(src, sep=";", decimal=",")
    code, _, stderr = _run(["impute", str(src), "-m", "2", "--seed", "3", "--decimal", ",", "-o", str(out)], capsys)
    assert code == 0, stderr
    header = out.read_text().splitlines()[0]
    assert header == ".imp;.id;Ozone;Solar.R;Wind;Temp;Month;Day"
    back = pd.read_csv(out, sep=";", decimal=",")
    expected = imputer.multiple_impute(frame, 2, seed=3).long()
    assert back[".id"].tolist() == [f"r{i}" for i in range(40)] * 2
    _assert_same(back, expected)


def test_stdout_gets_the_table_and_stderr_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, stderr = _run(["impute", str(AIR), "-m", "2", "--seed", "1", "-o", "-"], capsys)
    assert code == 0
    mi = imputer.multiple_impute(pd.read_csv(AIR), 2, seed=1)
    assert mi.summary() in stderr
    assert stdout.splitlines()[0].startswith(".imp,.id,")
    assert len(stdout.splitlines()) == 1 + 2 * 153


def test_same_seed_same_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert cli.main(["impute", str(AIR), "-m", "3", "--seed", "11", "-o", str(a)]) == 0
    assert cli.main(["impute", str(AIR), "-m", "3", "--seed", "11", "-o", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("method", ["posterior", "bootstrap"])
def test_json_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str], method: str) -> None:
    out, js = tmp_path / "o.csv", tmp_path / "mi.json"
    args = ["impute", str(AIR), "-m", "3", "--seed", "5", "--method", method, "-o", str(out), "--json-summary", str(js)]
    code, _, stderr = _run(args, capsys)
    assert code == 0, stderr
    mi = imputer.multiple_impute(pd.read_csv(AIR), 3, seed=5, method=method)
    expected = mi.to_dict()
    del expected["long"]
    expected["em"] = mi.em.to_dict(standard_errors=True)
    del expected["em"]["completed"]
    got = json.loads(js.read_text())
    assert got == json.loads(json.dumps(expected))
    assert set(got["em"]["se_mean"]) == {"Ozone", "Solar.R", "Wind", "Temp", "Month", "Day"}
    assert got["method"] == method and got["m"] == 3 and got["seed"] == 5


def test_without_m_nothing_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "single.csv"
    code, stdout, _ = _run(["impute", str(AIR), "-o", str(out)], capsys)
    assert code == 0
    assert imputer.impute(pd.read_csv(AIR)).summary() in stdout
    _assert_same(pd.read_csv(out), imputer.impute(pd.read_csv(AIR)).completed)


@pytest.mark.parametrize(
    ("args", "status", "match"),
    [
        (["-m", "0"], 1, r"m must be >= 1, got 0"),
        (["-m", "-3"], 1, r"m must be >= 1, got -3"),
        (["-m", "1.5"], 2, r"argument -m/--m: invalid int value: '1\.5'"),
        (["-m", "two"], 2, r"argument -m/--m: invalid int value: 'two'"),
        (["-m", "2", "--method", "x"], 2, r"argument --method: invalid choice: 'x'"),
        (["-m", "2", "--seed", "a"], 2, r"argument --seed: invalid int value: 'a'"),
        (["-m", "2", "--seed", "-1"], 1, r"seed must be a non-negative integer, got -1"),
        (["-m", "2", "--thin", "0"], 1, r"thin must be >= 1, got 0"),
        (["-m", "2", "--burn-in", "-1"], 1, r"burn_in must be >= 0, got -1"),
        (["--method", "bootstrap"], 2, r"--method applies to multiple imputation: give -m M"),
        (["--seed", "1", "--thin", "2"], 2, r"--seed, --thin applies to multiple imputation: give -m M"),
        (["-m", "2", "--no-accelerate"], 2, r"--no-accelerate applies to a single imputation"),
        (["-m", "2", "--model", "t", "--method", "posterior"], 1, r"method='posterior' is not available for model='t'"),
    ],
    ids=["m-0", "m-negative", "m-fraction", "m-text", "method", "seed-text", "seed-negative", "thin-0",
         "burn-in-negative", "method-without-m", "seed-thin-without-m", "no-accelerate", "model-t"],
)
def test_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], status: int, match: str
) -> None:
    out = tmp_path / "o.csv"
    try:
        code = cli.main(["impute", str(AIR), "-o", str(out), *args])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == status
    assert re.search(match, err), err
    assert not out.exists()


@pytest.mark.parametrize(
    ("pattern", "m", "match"),
    [
        ("o_{imp}.csv", None, r"-o '.*o_\{imp\}\.csv': \{imp\} \(one file per imputation\) needs -m M"),
        ("o_{i}.csv", "2", r"\{i\}: the only placeholder is \{imp\}, once"),
        ("o_{imp}_{imp}.csv", "2", r"repeated \{imp\}: the only placeholder is \{imp\}, once"),
        ("o_{}.csv", "2", r"\{\}: the only placeholder is \{imp\}"),
        ("o_{imp.csv", "2", r"unbalanced braces"),
        ("o_{imp}.xlsx", "2", r"output file '.*o_1\.xlsx': unknown extension"),
        ("{imp}/o.csv", "2", r"\{imp\} must be in the file name, not the directory"),
        ("nowhere/o_{imp}.csv", "2", r"directory '.*nowhere' does not exist"),
    ],
    ids=["without-m", "other-field", "twice", "empty-field", "unbalanced", "bad-extension", "in-directory",
         "no-directory"],
)
def test_bad_pattern(tmp_path: Path, capsys: pytest.CaptureFixture[str], pattern: str, m: str | None, match: str) -> None:
    args = ["impute", str(AIR), "-o", str(tmp_path / pattern)] + ([] if m is None else ["-m", m])
    code, stdout, err = _run(args, capsys)
    assert code == (1 if "does not exist" in match else 2)
    assert re.search(match, err), err
    assert stdout == ""  # refused before the fit
    assert list(tmp_path.iterdir()) == []


def test_all_files_or_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # o_2.csv is a directory: the rename of the second file fails, and no file is left behind
    (tmp_path / "o_2.csv").mkdir()
    code, _, err = _run(["impute", str(AIR), "-m", "3", "--seed", "1", "-o", str(tmp_path / "o_{imp}.csv")], capsys)
    assert code == 1
    assert "(no file written)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o_2.csv"]
    assert (tmp_path / "o_2.csv").is_dir()


def test_readme_command_line_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # README's "Command line" sh block holds the multiple-imputation line; run it as written
    readme = (ROOT / "README.md").read_text()
    line = re.search(r"^imputer impute examples/airquality\.csv -m 5 --seed 1 -o airquality_mi\.csv", readme, re.M)
    assert line is not None
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "airquality.csv").write_bytes((ROOT / "examples" / "airquality.csv").read_bytes())
    assert cli.main(line.group(0).split()[1:]) == 0
    written = pd.read_csv(tmp_path / "airquality_mi.csv")
    _assert_same(written, imputer.multiple_impute(pd.read_csv(ROOT / "examples" / "airquality.csv"), 5, seed=1).long())


@pytest.mark.parametrize("pattern", ["long.csv", "one_{imp}.csv"], ids=["long", "per-imputation"])
def test_passed_through_text_comes_back_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pattern: str
) -> None:
    # a column of numbers kept as text (--passthrough) keeps each cell's text in every table
    lines = (AIR.read_text().splitlines())[:31]
    codes = ["007", "8", "1e3", "NA", "None"] * 6
    src = tmp_path / "coded.csv"
    src.write_text("\n".join([lines[0] + ',"code"'] + [f"{row},{c}" for row, c in zip(lines[1:], codes)]) + "\n")
    out = tmp_path / pattern
    code, _, stderr = _run(["impute", str(src), "-m", "2", "--seed", "1", "--passthrough", "code",
                                "--columns", "Ozone,Solar.R,Wind,Temp", "-o", str(out)], capsys)
    assert code == 0, stderr
    files = [out] if "{imp}" not in pattern else [tmp_path / pattern.replace("{imp}", str(j)) for j in (1, 2)]
    written = [pd.read_csv(f, dtype={"code": str}, keep_default_na=False) for f in files]
    texts = [c for w in written for c in w["code"].tolist()]
    assert texts == codes * 2
    assert all(not w[["Ozone", "Solar.R"]].isna().any().any() for w in written)
    assert all(len(w) == (60 if "{imp}" not in pattern else 30) for w in written)


def test_parquet_long_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pyarrow")
    frame = pd.read_csv(AIR)
    frame["station"] = np.where(frame["Day"] % 2 == 0, "north", "south")
    src, out = tmp_path / "air.parquet", tmp_path / "mi.parquet"
    frame.to_parquet(src, index=False)
    code, _, stderr = _run(["impute", str(src), "-m", "3", "--seed", "4", "-o", str(out)], capsys)
    assert code == 0, stderr
    pd.testing.assert_frame_equal(pd.read_parquet(out), imputer.multiple_impute(frame, 3, seed=4).long())
