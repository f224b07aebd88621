"""``imputer mixed IN FORMULA``: the library's fit (summary, JSON estimates) and the table written
back with only the missing responses predicted; bad input named with the exit status."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def sleep_holes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """sleepstudy with text subjects, a text column of spaces, and three responses removed."""
    df = pd.read_csv(DATA / "sleepstudy.csv")
    df["Subject"] = "s" + df["Subject"].astype(str)
    df["note"] = "a  b"
    df.loc[[3, 50, 120], "Reaction"] = np.nan
    path = tmp_path_factory.mktemp("mixed") / "sleep.csv"
    df.to_csv(path, index=False)
    return path, df


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("formula", ["Reaction ~ Days + (Days | Subject)", "Reaction ~ Days + (1 | Subject)"])
def test_fit_and_table_are_the_librarys(sleep_holes, tmp_path: Path, capsys, formula: str, method: str) -> None:
    path, df = sleep_holes
    out, js = tmp_path / "out.csv", tmp_path / "fit.json"
    assert main(["mixed", str(path), formula, "-o", str(out), "--json-summary", str(js), "--method", method]) == 0
    ref = imputer.fit_mixed_frame(df, formula, method=method)
    printed = capsys.readouterr().out
    assert ref.summary() in printed and "3 missing 'Reaction' predicted" in printed
    summary = json.loads(js.read_text())
    expected = {k: v for k, v in json.loads(json.dumps(ref.to_dict())).items()
                if k not in ("index", "fitted", "completed", "residuals")}
    assert summary == expected
    before, after = path.read_text().splitlines(), out.read_text().splitlines()
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert len(before) == len(after) and changed == [4, 51, 121]  # the three rows with no response (+ header)
    got = pd.read_csv(out)
    assert np.array_equal(got["Reaction"].to_numpy(), ref.completed.to_numpy())  # predictions round-trip exactly
    assert got["note"].eq("a  b").all()


@pytest.mark.parametrize("na_action", ["error", "drop"])
def test_repeated_row_labels_are_matched_by_position(sleep_holes, tmp_path: Path, capsys, na_action: str) -> None:
    # before: a traceback ("cannot reindex on an axis with duplicate labels")
    _, df = sleep_holes
    labelled = df.set_axis([f"r{i % 5}" for i in range(len(df))])
    if na_action == "drop":
        labelled.loc[labelled.index[7:8], "Days"] = np.nan  # r2: five rows share the label
        labelled = labelled.iloc[:20]
    path, out = tmp_path / "dup.csv", tmp_path / "out.csv"
    labelled.to_csv(path)
    code = main(["mixed", str(path), "Reaction ~ Days + (1 | Subject)", "-o", str(out), "--na-action", na_action])
    err = capsys.readouterr().err
    if na_action == "drop":
        assert code == 2
        assert "the row labels repeat, so the fitted rows cannot be matched" in err
        assert not out.exists()
        return
    assert code == 0
    ref = imputer.fit_mixed_frame(df, "Reaction ~ Days + (1 | Subject)")
    got = pd.read_csv(out, index_col=0)
    assert got.index.tolist() == labelled.index.tolist()
    assert np.array_equal(got["Reaction"].to_numpy(), ref.completed.to_numpy())


def test_parquet_output_and_stdout(sleep_holes, tmp_path: Path, capsys) -> None:
    path, df = sleep_holes
    ref = imputer.fit_mixed_frame(df, "Reaction ~ Days + (1 | Subject)")
    assert main(["mixed", str(path), "Reaction ~ Days + (1 | Subject)", "-o", str(tmp_path / "o.parquet")]) == 0
    pd.testing.assert_series_equal(pd.read_parquet(tmp_path / "o.parquet")["Reaction"], ref.completed, check_names=False)
    capsys.readouterr()
    assert main(["mixed", str(path), "Reaction ~ Days + (1 | Subject)", "-o", "-"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Reaction,Days,Subject,note\n") and "Linear mixed model" in captured.err


def test_poly_contrasts_as_the_library(tmp_path: Path, capsys) -> None:
    frame = pd.read_csv(DATA / "lme4" / "cake.csv")
    formula = "angle ~ recipe * temperature + (1 | recipe:replicate)"
    js = tmp_path / "fit.json"
    assert main(["mixed", str(DATA / "lme4" / "cake.csv"), formula, "--contrasts", "temperature=poly",
                 "--json-summary", str(js)]) == 0
    ordered = frame.assign(temperature=pd.Categorical(frame["temperature"], ordered=True))
    ref = imputer.fit_mixed_frame(ordered, formula, contrasts={"temperature": "poly"})
    assert json.loads(js.read_text())["beta"] == pytest.approx(ref.to_dict()["beta"], rel=1e-12)


def test_a_boundary_fit_is_reported(capsys) -> None:
    # Dyestuff2: the batch variance's REML optimum is zero (lme4: "boundary (singular) fit")
    assert main(["mixed", str(DATA / "lme4" / "dyestuff2.csv"), "Yield ~ 1 + (1 | Batch)"]) == 0
    assert "on the boundary (singular): Batch" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "status", "match"),
    [
        (["Reaction ~ Days + (1 | Nope)"], 1, r"random: column 'Nope' is not in data"),
        (["Reaction ~ Days + (1 | Subject)", "--contrasts", "Days=helmert"], 2,
         r"--contrasts 'Days=helmert': expected COL=poly or COL=treatment"),
        (["Reaction ~ Days + (1 | Subject)", "-o", "out.xlsx"], 2, r"out.xlsx"),
        (["Reaction ~ Days + (1 | Subject)", "--method", "reml"], 2, r"invalid choice: 'reml'"),
    ],
    ids=["unknown-column", "contrasts", "output-format", "method"],
)
def test_bad_input_is_named(sleep_holes, capsys, extra: list[str], status: int, match: str) -> None:
    path, _ = sleep_holes
    if extra[-1] == "reml":
        with pytest.raises(SystemExit) as exc:
            main(["mixed", str(path), *extra])
        assert exc.value.code == status
    else:
        assert main(["mixed", str(path), *extra]) == status
    import re

    assert re.search(match, capsys.readouterr().err)


def test_on_a_local_dask_cluster_as_in_memory(sleep_holes, tmp_path: Path, capsys) -> None:
    """--workers: the Gram sums on a LocalCluster, OUT a directory of Parquet files; the in-memory answer."""
    dd = pytest.importorskip("dask.dataframe")
    pytest.importorskip("distributed")
    _, df = sleep_holes
    parts = tmp_path / "parts"
    dd.from_pandas(df, npartitions=3).to_parquet(parts)
    out, js = tmp_path / "out", tmp_path / "fit.json"
    formula = "Reaction ~ Days + (Days | Subject)"
    assert main(["mixed", str(parts), formula, "--workers", "1", "-o", str(out), "--json-summary", str(js)]) == 0
    ref = imputer.fit_mixed_frame(df, formula)
    assert "3 missing 'Reaction' predicted" in capsys.readouterr().out
    got = pd.read_parquet(out)
    np.testing.assert_allclose(got["Reaction"].to_numpy(), ref.completed.to_numpy(), rtol=1e-12)
    pd.testing.assert_frame_equal(got.drop(columns="Reaction").reset_index(drop=True), df.drop(columns="Reaction"),
                                  check_dtype=False)  # Dask reads text back as its string dtype
    assert json.loads(js.read_text())["var_comp"] == pytest.approx(ref.to_dict()["var_comp"], rel=1e-10)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--workers", "1", "--scheduler", "tcp://127.0.0.1:1"], r"--scheduler and --workers exclude each other"),
        (["--workers", "1", "-o", "out.csv"], r"OUT is a directory of Parquet files, got 'out.csv'"),
        (["--workers", "1", "--na-values", "x"], r"--na-values is not available with --scheduler/--workers \(imputer mixed\)"),
    ],
    ids=["both", "csv-out", "na-values"],
)
def test_dask_usage_errors(sleep_holes, capsys, extra: list[str], match: str) -> None:
    path, _ = sleep_holes
    assert main(["mixed", str(path), "Reaction ~ Days + (1 | Subject)", *extra]) == 2
    import re

    assert re.search(match, capsys.readouterr().err)
