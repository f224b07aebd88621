"""``imputer impute --categorical COL[,COL] --means MODEL`` writes what ``imputer.impute(categorical=...)``
computes (empty text cells of a listed column are its missing cells); misuse is a usage error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer import cli

SIM = Path(__file__).resolve().parents[1] / "data" / "glom" / "sim.csv"


@pytest.mark.parametrize("means", ["saturated", "additive"])
def test_writes_the_librarys_fills(tmp_path: Path, capsys: pytest.CaptureFixture[str], means: str) -> None:
    out, summary = tmp_path / "out.csv", tmp_path / "s.json"
    code = cli.main(["impute", str(SIM), "-o", str(out), "--no-progress", "--categorical", "a,b", "--means", means,
                     "--json-summary", str(summary)])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    res = imputer.impute(pd.read_csv(SIM), categorical=["a", "b"], means=means)
    assert res.summary() in stdout
    written = pd.read_csv(out)
    assert written["a"].tolist() == res.completed["a"].tolist()  # the empty cells of a text column filled
    np.testing.assert_array_equal(written[["b", "x1", "x2"]].to_numpy(), res.completed[["b", "x1", "x2"]].to_numpy())
    saved = json.loads(summary.read_text())
    assert saved["loglik"] == pytest.approx(res.loglik, rel=1e-12)
    assert "level_probabilities" not in saved and "completed" not in saved


def test_pairwise_probabilities(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim3 = SIM.with_name("sim3.csv")
    out, summary = tmp_path / "out.csv", tmp_path / "s.json"
    code = cli.main(["impute", str(sim3), "-o", str(out), "--no-progress", "--categorical", "a,b,c",
                     "--probabilities", "pairwise", "--json-summary", str(summary)])
    assert code == 0, capsys.readouterr().err
    res = imputer.impute(pd.read_csv(sim3), categorical=["a", "b", "c"], probabilities="pairwise")
    saved = json.loads(summary.read_text())
    assert saved["probability_model"] == "pairwise"
    assert saved["loglik"] == pytest.approx(res.loglik, rel=1e-12)
    assert pd.read_csv(out)["c"].tolist() == res.completed["c"].tolist()


def test_multiple_imputation_writes_the_librarys_draws(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, summary = tmp_path / "mi.csv", tmp_path / "mi.json"
    code = cli.main(["impute", str(SIM), "-o", str(out), "--no-progress", "-m", "3", "--seed", "4", "--categorical", "a,b",
                     "--means", "additive", "--json-summary", str(summary)])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    mi = imputer.multiple_impute(pd.read_csv(SIM), m=3, seed=4, categorical=["a", "b"], means="additive")
    assert mi.summary() in stdout
    written = pd.read_csv(out)
    expected = mi.long()
    assert written["a"].tolist() == expected["a"].tolist()  # the empty text cells drawn
    np.testing.assert_allclose(written[["b", "x1", "x2"]].to_numpy(), expected[["b", "x1", "x2"]].to_numpy(), rtol=1e-15)
    saved = json.loads(summary.read_text())
    assert saved["model"] == "glom" and len(saved["params"]) == 3 and saved["method"] == "bootstrap" and set(saved["params"][0]) == {"probabilities", "cell_means", "cov"}


def test_multiple_imputation_by_data_augmentation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mi.csv"
    code = cli.main(["impute", str(SIM), "-o", str(out), "--no-progress", "-m", "2", "--seed", "4", "--categorical", "a,b",
                     "--method", "posterior", "--burn-in", "5", "--thin", "2"])
    assert code == 0, capsys.readouterr().err
    mi = imputer.multiple_impute(pd.read_csv(SIM), m=2, seed=4, categorical=["a", "b"], method="posterior", burn_in=5, thin=2)
    assert pd.read_csv(out)["a"].tolist() == mi.long()["a"].tolist()


def test_auto_takes_the_two_valued_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.csv"
    assert cli.main(["impute", str(SIM), "-o", str(out), "--no-progress", "--categorical", "auto"]) == 0
    assert "categorical columns: b" in capsys.readouterr().out
    assert set(pd.read_csv(out)["b"]) == {0.0, 1.0}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--categorical", "a", "--model", "t"], "--categorical applies with --model normal only"),
        (["--categorical", "a", "-m", "2", "--burn-in", "3"], "--burn-in and --thin apply to --method posterior only"),
        (["--means", "additive"], "--means applies with --categorical only"),
        (["--probabilities", "pairwise"], "--probabilities applies with --categorical only"),
        (["--categorical", "a,,b"], "--categorical 'a,,b': empty column name in the list"),
    ],
)
def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str) -> None:
    code = cli.main(["impute", str(SIM), "-o", str(tmp_path / "out.csv"), "--no-progress", *extra])
    assert code == 2
    assert message in capsys.readouterr().err


def test_readme_command_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import re
    import shlex

    root = SIM.parents[3]
    readme = (root / "README.md").read_text()
    start = readme.index("## Categorical columns: the general location model")
    section = readme[start : readme.index("\n## ", start + 1)]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    words = shlex.split(block.group(1).strip())
    assert words[:2] == ["imputer", "impute"]
    words[2] = str(root / words[2])
    monkeypatch.chdir(tmp_path)
    assert cli.main([*words[1:], "--no-progress"]) == 0, capsys.readouterr().err
    assert not pd.read_csv(tmp_path / "sim_completed.csv")[["a", "b", "x1", "x2"]].isna().any().any()
