"""README's "Does the estimate depend on where EM starts?" example runs and says what it prints.

The block runs in a temporary directory holding a copy of ``examples/`` (it writes
``disperse.png``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.readme import ROOT, python_block

ANCHOR = "### Does the estimate depend on where EM starts?"


def test_example_runs_and_its_numbers_hold(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    code = python_block(ANCHOR)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    ns: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), ns)  # noqa: S102 - our own README
    out = capsys.readouterr().out.strip()
    # the comment after the print starts with what it prints
    said = code.split("print(d.n_points, d.best)")[1].split("# ", 1)[1].split(":")[0].strip()
    assert out == said == "3 2"
    d = ns["d"]
    run1 = d.runs.loc[1]  # type: ignore[attr-defined]
    assert round(run1["loglik"], 4) == -30.0333 and round(run1["gap"], 4) == 0.0591 and run1["point"] == 3
    assert d.runs["maximum"].tolist() == [False] + [True] * 7  # type: ignore[attr-defined]
    cov = d.cov.to_numpy()  # type: ignore[attr-defined]
    assert cov[0, 0] == pytest.approx(8 / 3, abs=1e-7) and cov[0, 1] / cov[0, 0] == pytest.approx(-0.5, abs=1e-7)
    assert (tmp_path / "disperse.png").stat().st_size > 1000
    assert round(ns["res"].loglik, 4) == -29.9743  # type: ignore[attr-defined]
    mi = ns["mi"]
    assert round(mi.em.loglik, 4) == -29.9743 and mi.m == 5  # type: ignore[attr-defined]


def test_example_data_is_murrays() -> None:
    murray = pd.read_csv(ROOT / "examples" / "murray.csv")
    assert murray.shape == (12, 2) and murray.isna().sum().tolist() == [4, 4]
    assert murray.iloc[:4].to_numpy().tolist() == [[1, 1], [1, -1], [-1, 1], [-1, -1]]
    assert murray.iloc[4:8, 0].tolist() == [2, 2, -2, -2] and murray.iloc[8:, 1].tolist() == [2, 2, -2, -2]


def test_shell_example_runs(tmp_path: Path) -> None:
    import json
    import os
    import re
    import subprocess
    import sys

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(ANCHOR):readme.index("## Clusters: Gaussian mixtures")]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    outputs = []
    for line in block.group(1).splitlines():
        cmd = line.replace("imputer disperse", f"{sys.executable} -m imputer disperse").replace(
            "imputer impute", f"{sys.executable} -m imputer impute")
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, cwd=tmp_path,
                              env=env, timeout=120)
        assert proc.returncode == 0, (line, proc.stderr)
        outputs.append(proc.stdout)
    assert "3 distinct end points" in outputs[0]  # what the first line's comment says
    written = json.loads((tmp_path / "disperse.json").read_text())
    assert written["n_points"] == 3 and written["unique"] is False and written["input"] == "examples/murray.csv"
    assert (tmp_path / "disperse.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "log-likelihood:       -29.9743" in outputs[3]  # the fit from the best run, as the comment says
    assert not pd.read_csv(tmp_path / "murray_completed.csv").isna().any().any()
    assert re.search(r"EM iterations: +1\n", outputs[4])  # the imputations' EM fit starts at the best run's maximum
    for j in range(1, 6):
        assert not pd.read_csv(tmp_path / f"murray_{j}.csv").isna().any().any()
