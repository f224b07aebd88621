"""``imputer impute`` reads and writes the delimited files people have (issue 17):
separators given or sniffed from the header line, decimal comma, an index column, other
encodings, .tsv/.txt, and ``-`` for standard input and output.

Every written table is compared with :func:`imputer.impute` on airquality: observed
cells come back identical, filled cells equal to the library's, and the passed-through
columns (text with pandas' missing-value markers, identifiers with leading zeros) keep
each cell's text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer import cli
from imputer._csv import sniff_sep

ROOT = Path(__file__).resolve().parents[2]
AIR = ROOT / "tests" / "data" / "airquality.csv"
NUMERIC = ["Ozone", "Solar.R", "Wind", "Temp", "Month", "Day"]
NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def _table() -> pd.DataFrame:
    """airquality with two text columns a default reader would alter."""
    frame = pd.read_csv(AIR)
    n = len(frame)
    frame.insert(0, "code", [["NA", "None", "007", "ZA", "n/a", "NAM"][i % 6] for i in range(n)])
    frame["label"] = [["null", "", "a b", "x"][i % 4] for i in range(n)]
    return frame


def _text(path: Path | str, sep: str, **kw: object) -> pd.DataFrame:
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_filter=False, **kw)


def _check(written: Path | str, sep: str, decimal: str, source: pd.DataFrame, *, index_col: str | None = None) -> None:
    """Numbers: observed identical, filled as the library fills; text columns cell for cell."""
    expected = imputer.impute(pd.read_csv(AIR)).completed
    numbers = pd.read_csv(written, sep=sep, decimal=decimal, index_col=index_col)
    text = _text(written, sep)
    assert list(text.columns) == ([index_col] if index_col else []) + [
        c for c in source.columns if c != index_col
    ]
    for col in NUMERIC:
        got = numbers[col].to_numpy(dtype=float)
        obs = source[col].notna().to_numpy()
        np.testing.assert_array_equal(got[obs], source[col].to_numpy(dtype=float)[obs])
        np.testing.assert_array_equal(got, expected[col].to_numpy(dtype=float))
    for col in ("code", "label"):
        assert text[col].tolist() == source[col].tolist()


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _note(name: Path, sep: str) -> str:
    return (
        f"imputer: note: {str(name)!r}: reading fields separated by {NAMES[sep]} ({sep!r}), "
        "detected from the header line; give --sep to override"
    )


# ------------------------------------------------------------------------- separators


@pytest.mark.parametrize("given", [False, True], ids=["sniffed", "given"])
@pytest.mark.parametrize("sep", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"])
def test_separator_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sep: str, given: bool
) -> None:
    source = _table()
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.to_csv(src, sep=sep, index=False)
    extra = ["--sep", "\\t" if sep == "\t" else sep] if given else []
    code, stdout, stderr = _run(["impute", str(src), "-o", str(out), *extra], capsys)
    assert code == 0, stderr
    notes = [ln for ln in stderr.splitlines() if ln.startswith("imputer: note:")]
    assert notes == ([_note(src, sep)] if sep != "," and not given else [])
    assert "passed through:       2 (code, label)" in stdout
    written_sep = "," if sep == "\t" else sep  # a .csv output keeps the separator, never a tab
    assert out.read_text().splitlines()[0] == written_sep.join(source.columns)
    _check(out, written_sep, ".", source)


@pytest.mark.parametrize(
    ("header", "sep", "ambiguous"),
    [
        ("a,b,c", ",", False),
        ("a;b;c", ";", False),
        ("a\tb\tc", "\t", False),
        ("a|b|c", "|", False),
        ('"x,y";b;c\r\n', ";", False),  # a quoted comma is no separator
        ("a;b,c", ",", True),  # a tie
        ("a b c", ",", True),  # no candidate
    ],
)
def test_sniff_sep(header: str, sep: str, ambiguous: bool) -> None:
    assert sniff_sep(header) == (sep, ambiguous)


@pytest.mark.parametrize("given", [False, True], ids=["sniffed", "given"])
def test_decimal_comma(tmp_path: Path, capsys: pytest.CaptureFixture[str], given: bool) -> None:
    source = _table()
    src, out = tmp_path / "eu.csv", tmp_path / "out.csv"
    source.to_csv(src, sep=";", decimal=",", index=False)
    assert "3,4" in src.read_text()  # Wind has decimals
    extra = ["--sep", ";"] if given else []
    code, _, stderr = _run(["impute", str(src), "-o", str(out), "--decimal", ",", *extra], capsys)
    assert code == 0, stderr
    _check(out, ";", ",", source)  # written as read: semicolons, decimal commas


def test_semicolon_decimal_comma_without_decimal_hints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "eu.csv"
    src.write_text("a;b\n1,5;2,5\n;3,5\n2,0;\n")
    code, stdout, stderr = _run(["impute", str(src), "-o", str(tmp_path / "o.csv")], capsys)
    assert code == 1 and stdout == ""
    assert stderr.splitlines() == [
        _note(src, ";"),
        f"imputer: error: {str(src)!r}: data has no numeric column to model: read with separator "
        "semicolon (';', detected from the header line) and decimal mark '.' as 2 columns ('a', "
        "'b'). If the file uses another separator or a decimal comma, say so with --sep and "
        "--decimal (for example --sep ';' --decimal ,)",
    ]
    assert not (tmp_path / "o.csv").exists()


def test_ambiguous_header_hints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "spaces.txt"
    src.write_text("a b\n1 2\n3 4\n")
    code, _, stderr = _run(["impute", str(src), "-o", str(tmp_path / "o.csv")], capsys)
    assert code == 1
    assert re.fullmatch(
        r"imputer: error: .*spaces\.txt': data has no numeric column to model: read with separator "
        r"comma \(',', a guess: the header line is ambiguous\) and decimal mark '\.' as 1 column "
        r"\('a b'\)\. If the file uses another separator .* --sep and --decimal .*\n",
        stderr,
    ), stderr


# ------------------------------------------------------------------------ index column


def test_index_col(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _table()
    source.insert(0, "id", [f"{1000 + i}" for i in range(len(source))])  # numbers, not modelled
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.to_csv(src, index=False)
    code, stdout, stderr = _run(["impute", str(src), "-o", str(out), "--index-col", "id"], capsys)
    assert code == 0, stderr
    assert "passed through:       2 (code, label)" in stdout
    assert _text(out, ",")["id"].tolist() == source["id"].tolist()  # written back first
    _check(out, ",", ".", source, index_col="id")


def test_index_col_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, stderr = _run(["impute", str(AIR), "-o", str(tmp_path / "o.csv"), "--index-col", "nope"], capsys)
    assert code == 2
    assert stderr.startswith(f"imputer: error: {str(AIR)!r}: index_col: 'nope' is not a column of the CSV")


@pytest.mark.parametrize(
    ("name", "body", "match"),
    [
        ("dup.csv", b"a,a,b\n1,2,3\n2,,5\n3,4,1\n", r"the CSV header names column 'a' twice \(fields 1 and 2\)"),
        ("unnamed.csv", b"x,,y\n1,a,2\n2,b,3\n,c,1\n", r"the CSV header's field 2 is empty"),
        ("short.csv", b"a,b,c\n1,2,3\n4,5\n6,,1\n", r"rows with fewer fields than the header's 3 \(line 3 has 2\)"),
        ("short.csv.gz", b"a,b,c\n1,2,3\n4,5\n6,,1\n", r"rows with .* \(line 3 has 2\)"),
        ("big.csv", b"a,big\n1,9007199254740993\n2,\n3,5\n4,7\n",
         r"column 'big' holds integers of magnitude 2\*\*53 or more \(9007199254740993, line 2\).*--passthrough big"),
    ],
)
def test_a_table_pandas_would_misread_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, body: bytes, match: str
) -> None:
    # read silently, these would come back renamed (a.1, Unnamed: 1), with a made-up
    # cell (a row cut short), or with an observed integer rounded (9007199254740992)
    import gzip

    src = tmp_path / name
    src.write_bytes(gzip.compress(body) if name.endswith(".gz") else body)
    out = tmp_path / "o.csv"
    code, _, stderr = _run(["impute", str(src), "-o", str(out)], capsys)
    assert code == 2
    assert re.match(rf"imputer: error: {re.escape(repr(str(src)))}: {match}", stderr)
    assert not out.exists()


@pytest.mark.parametrize(
    ("suffix", "magic"),
    [(".csv.gz", b"\x1f\x8b"), (".csv.bz2", b"BZh"), (".csv.xz", b"\xfd7zXZ"), (".tsv.gz", b"\x1f\x8b")],
)
def test_compressed_output_is_compressed(tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str, magic: bytes) -> None:
    # before: the text was written uncompressed under a .gz name
    out = tmp_path / f"o{suffix}"
    code, _, _ = _run(["impute", str(AIR), "-o", str(out)], capsys)
    assert code == 0
    assert out.read_bytes().startswith(magic)
    plain = tmp_path / ("o.tsv" if ".tsv" in suffix else "o.csv")
    assert _run(["impute", str(AIR), "-o", str(plain)], capsys)[0] == 0
    assert pd.read_csv(out, sep=None, engine="python").equals(pd.read_csv(plain, sep=None, engine="python"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, plain.name])  # nothing staged left


def test_a_failed_write_leaves_the_existing_file_intact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # before: the target was truncated to its header, then the error
    src = tmp_path / "city.csv"
    src.write_text("a,b,c\n1,2,Zürich\n,3,x\n3,,y\n4,5,z\n", encoding="utf-8")
    out = tmp_path / "keep.csv"
    out.write_text("precious,content\n")
    import imputer._cli_io as cli_io

    def fail(*args: object, **kwargs: object) -> Iterator[bytes]:  # the header, then a full disk
        yield b"a,b,c\n"
        raise OSError(28, "No space left on device")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli_io, "_encoded", fail)
        code, _, stderr = _run(["impute", str(src), "-o", str(out)], capsys)
    assert code == 1
    assert "cannot write" in stderr and "No space left on device" in stderr
    assert out.read_text() == "precious,content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.csv", "keep.csv"]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_byte_order_mark_is_written_once(tmp_path: Path, capsys: pytest.CaptureFixture[str], encoding: str) -> None:
    # before: each chunk got its own mark, one of them before the first data cell
    src = tmp_path / "bom.csv"
    src.write_bytes("a,b,name\n1,2,x\n3,,y\n5,6,z\n7,9,w\n".encode(encoding))
    out = tmp_path / "out.csv"
    code, _, _ = _run(["impute", str(src), "-o", str(out), "--encoding", encoding], capsys)
    assert code == 0
    text = out.read_bytes().decode(encoding)
    assert "\ufeff" not in text
    back = pd.read_csv(out, encoding=encoding)
    assert list(back.columns) == ["a", "b", "name"]
    assert back["a"].tolist() == [1, 3, 5, 7]


@pytest.mark.parametrize(
    ("body", "flags"),
    [
        (b"id,x,y\nNA,1,2\n1.50,2,\n0x1,3,4\n007,4,5\nN/A,5,7\n", ["--index-col", "id"]),
        (b",x,y\n007,1,2\n1.50,2,\nNA,3,4\n8,4,5\n", []),  # an empty first header cell: the row labels
    ],
    ids=["index-col", "unnamed-first-column"],
)
def test_row_labels_come_back_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: bytes, flags: list[str]) -> None:
    # before: 007 came back as 7, 1.50 as 1.5, NA and N/A as empty fields
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_bytes(body)
    code, _, _ = _run(["impute", str(src), "-o", str(out), "--ridge", "1", *flags], capsys)
    assert code == 0
    labels = [line.split(",")[0] for line in body.decode().splitlines()]
    assert [line.split(",")[0] for line in out.read_text().splitlines()] == labels


# ---------------------------------------------------------------------------- encoding


def test_latin1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = pd.read_csv(AIR)
    source.insert(0, "code", "ZA")
    source["label"] = [["São Tomé", "Zürich", "NA"][i % 3] for i in range(len(source))]
    src, out = tmp_path / "latin1.csv", tmp_path / "out.csv"
    source.to_csv(src, index=False, encoding="latin-1")
    raw = src.read_bytes()
    offset = raw.index("ã".encode("latin-1"))

    code, _, stderr = _run(["impute", str(src), "-o", str(out)], capsys)
    assert code == 1 and not out.exists()
    assert stderr == (
        f"imputer: error: cannot read {str(src)!r}: it is not valid utf-8 text (invalid "
        f"continuation byte at byte offset {offset}); give the file's encoding with --encoding "
        "(for example --encoding latin-1 or --encoding cp1252)\n"
    )

    code, _, stderr = _run(["impute", str(src), "-o", str(out), "--encoding", "latin-1"], capsys)
    assert code == 0, stderr
    assert out.read_bytes().count("São Tomé".encode("latin-1")) == (len(source) + 2) // 3  # written as read
    text = _text(out, ",", encoding="latin-1")
    assert text["label"].tolist() == source["label"].tolist()
    expected = imputer.impute(pd.read_csv(AIR)).completed
    np.testing.assert_array_equal(pd.read_csv(out, encoding="latin-1")[NUMERIC].to_numpy(), expected.to_numpy())


# ---------------------------------------------------------------------------- .tsv/.txt


@pytest.mark.parametrize(("ext_in", "ext_out"), [("tsv", "tsv"), ("tsv", "csv"), ("csv", "tsv"), ("txt", "txt")])
def test_tsv_and_txt(tmp_path: Path, capsys: pytest.CaptureFixture[str], ext_in: str, ext_out: str) -> None:
    source = _table()
    in_sep = "," if ext_in == "csv" else "\t"
    src, out = tmp_path / f"in.{ext_in}", tmp_path / f"out.{ext_out}"
    source.to_csv(src, sep=in_sep, index=False)
    code, _, stderr = _run(["impute", str(src), "-o", str(out)], capsys)
    assert code == 0, stderr
    # a .txt is sniffed (and says so); a .tsv is a tab file without a note
    assert ("imputer: note:" in stderr) == (ext_in == "txt")
    out_sep = {"tsv": "\t", "csv": ",", "txt": in_sep}[ext_out]
    _check(out, out_sep, ".", source)


# ----------------------------------------------------------------------- stdin, stdout


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet"])
def test_stdin_to_stdout(tmp_path: Path, fmt: str) -> None:
    source = _table()
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
        data = source.to_parquet(index=False)
    else:
        data = source.to_csv(sep="\t" if fmt == "tsv" else ",", index=False).encode()
    proc = subprocess.run(
        [sys.executable, "-m", "imputer", "impute", "-", "-o", "-", "--format", fmt],
        input=data, capture_output=True, cwd=tmp_path, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    assert "Multivariate-normal EM imputation" in stderr  # the summary, off stdout
    n_missing = int(pd.read_csv(AIR).isna().sum().sum())
    assert f"wrote <stdout> ({len(source)} rows, {n_missing} cells filled)" in stderr
    out = tmp_path / "stdout.csv"
    out.write_bytes(proc.stdout)
    assert proc.stdout.decode().splitlines()[0] == ",".join(source.columns)  # only the table
    if fmt == "parquet":  # typed columns: the empty label cells come back empty
        source["label"] = source["label"].fillna("")
    _check(out, ",", ".", source)
    assert list(tmp_path.iterdir()) == [out]  # no file named '-'


def test_latin1_stdin_to_stdout_keeps_the_encoding(tmp_path: Path) -> None:
    data = "city,x,y\nZürich,1.5,2\nKöln,,3\nBern,2.5,\nSão Tomé,3.5,5\n".encode("latin-1")
    proc = subprocess.run(
        [sys.executable, "-m", "imputer", "impute", "-", "-o", "-", "--encoding", "latin-1"],
        input=data, capture_output=True, cwd=tmp_path, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode("latin-1").splitlines()
    assert [ln.split(",")[0] for ln in lines] == ["city", "Zürich", "Köln", "Bern", "São Tomé"]
    assert lines[1] == "Zürich,1.5,2.0"  # observed cells as read (y is written as floats)


def test_stdout_output_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, stderr = _run(["impute", str(AIR), "-o", "-"], capsys)
    assert code == 0, stderr
    out = tmp_path / "o.csv"
    out.write_text(stdout)
    pd.testing.assert_frame_equal(pd.read_csv(out), imputer.impute(pd.read_csv(AIR)).completed)
    assert "wrote <stdout>" in stderr and "wrote" not in stdout


# ------------------------------------------------------------------------ usage errors


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--sep", "::"], r"--sep '::': expected one character \(for a tab: --sep '\\t'\)"),
        (["--decimal", ""], r"--decimal '': expected one character"),
        (["--sep", ";", "--decimal", ";"], r"--decimal ';': the decimal mark must differ from --sep"),
        (["--decimal", ","], r"the separator comma \(','\) is also the decimal mark; give the separator with --sep"),
        (["--encoding", "klingon"], r"--encoding 'klingon': unknown encoding"),
        (["--format", "tsv"], r"--format tsv applies to standard input \(IN is -\); the extension of '.*airquality.csv' gives its format"),
    ],
    ids=["long-sep", "empty-decimal", "sep-is-decimal", "sniffed-sep-is-decimal", "unknown-encoding", "format-with-a-file"],
)
def test_option_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], match: str) -> None:
    code, _, stderr = _run(["impute", str(AIR), "-o", str(tmp_path / "o.csv"), *extra], capsys)
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("imputer: error: ")
    assert re.search(match, stderr), stderr
    assert not (tmp_path / "o.csv").exists()


# ------------------------------------------------------------------------------ README


def test_readme_command_line_examples_run(tmp_path: Path) -> None:
    # the sh block of README's "Command line" section, with python -m imputer for imputer
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Command line"):readme.index("## REST service")]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for line in block.group(1).splitlines():
        cmd = line.replace("imputer impute", f"{sys.executable} -m imputer impute")
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, cwd=tmp_path,
            env=env, timeout=120,
        )
        assert proc.returncode == 0, (line, proc.stderr)
    eu = pd.read_csv(tmp_path / "eu_completed.csv", sep=";", decimal=",", index_col="id")
    assert not eu[["height", "weight"]].isna().any().any()
    assert _text(tmp_path / "eu_completed.csv", ";")["city"].tolist() == ["NA", "Zürich", "None", "Köln", "Bern"]
    for name, sep in [("completed.csv", ","), ("completed.tsv", "\t")]:
        assert not pd.read_csv(tmp_path / name, sep=sep)[["Ozone", "Solar.R"]].isna().any().any()
