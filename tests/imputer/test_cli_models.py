"""``imputer impute --model mixture``: the command line's mixture equals :func:`imputer.impute_mixture`;
options of one model given with another are usage errors naming the option."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer import cli

from tests.imputer.mixture.helpers import DATA, with_holes

AIR = DATA / "airquality.csv"


@pytest.fixture(scope="module")
def holes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Old Faithful with 40 missing eruption times and 40 missing waiting times, as a CSV file."""
    path = tmp_path_factory.mktemp("faithful") / "holes.csv"
    with_holes(pd.read_csv(DATA / "faithful.csv"), 40, 0).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("extra", "kwargs"),
    [
        ([], {"n_components": 2}),
        (["--components", "3", "--covariance-type", "diag", "--n-init", "2"],
         {"n_components": 3, "covariance_type": "diag", "n_init": 2}),
        (["--components", "1,2,3", "--covariance-type", "tied", "--n-init", "3"],
         {"n_components": [1, 2, 3], "covariance_type": "tied", "n_init": 3}),
        (["--components", "2", "--covariance-type", "spherical", "--ridge", "1"],
         {"n_components": 2, "covariance_type": "spherical", "ridge": 1.0}),
    ],
    ids=["defaults", "diag-K3", "bic-choice-tied", "spherical-ridge"],
)
def test_model_mixture_writes_impute_mixtures_table(
    tmp_path: Path, holes: Path, capsys: pytest.CaptureFixture[str], extra: list[str], kwargs: dict[str, object]
) -> None:
    out, js = tmp_path / "out.csv", tmp_path / "fit.json"
    code = cli.main(["impute", str(holes), "-o", str(out), "--model", "mixture", "--seed", "7", *extra,
                     "--json-summary", str(js)])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    source = pd.read_csv(holes)
    res = imputer.impute_mixture(source, seed=7, **kwargs)  # type: ignore[arg-type]
    assert res.summary() in stdout
    written = pd.read_csv(out)
    assert not written.isna().any().any()
    np.testing.assert_allclose(written.to_numpy(dtype=float), res.completed.to_numpy(dtype=float), rtol=1e-15)
    expected = json.loads(json.dumps(res.to_dict()))
    for key in ("completed", "responsibilities", "labels"):  # per-row data stay out of the summary
        del expected[key]
    assert json.loads(js.read_text()) == expected
    chosen = kwargs["n_components"]
    if isinstance(chosen, list):
        assert json.loads(js.read_text())["bic_table"] is not None
        assert res.n_components == int(res.bic_table["bic"].idxmin())


@pytest.mark.parametrize(
    ("extra", "status", "match"),
    [
        (["--components", "2"], 2, "--components applies to --model mixture only, not --model normal"),
        (["--model", "t", "--covariance-type", "diag"], 2, "--covariance-type applies to --model mixture only, not --model t"),
        (["--n-init", "3"], 2, "--n-init applies to --model mixture only, not --model normal"),
        (["--model", "mixture", "--dof", "4"], 2, "--dof applies to --model t only, not --model mixture"),
        (["--seed", "1"], 2, "--seed applies to multiple imputation: give -m M"),
        (["--model", "t", "--seed", "1"], 2, "--seed applies to multiple imputation: give -m M"),
        (["--model", "mixture", "--no-accelerate"], 2, "--no-accelerate applies to --model normal or t"),
        (["--model", "t", "--prior", "amelia"], 2, "--prior amelia applies to --model normal only, not --model t"),
        (["--model", "mixture", "-m", "2", "--method", "posterior"], 1, "method='posterior' is not available for model='mixture'"),
        (["--model", "mixture", "--components", "0"], 1, "n_components must be >= 1, got 0"),
        (["--model", "mixture", "--n-init", "0"], 1, "n_init must be an integer >= 1, got 0"),
    ],
)
def test_model_options_misused_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], status: int, match: str
) -> None:
    code = cli.main(["impute", str(AIR), "-o", str(tmp_path / "o.csv"), *extra])
    err = capsys.readouterr().err
    assert code == status and match in err and err.count("\n") == 1, err
    assert not (tmp_path / "o.csv").exists()


def test_prior_amelia_writes_imputes_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.csv"
    code = cli.main(["impute", str(AIR), "-o", str(out), "--ridge", "5", "--prior", "Amelia"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    res = imputer.impute(pd.read_csv(AIR), ridge=5, prior="amelia")
    assert res.summary() in stdout and "(Amelia's empri)" in stdout
    np.testing.assert_allclose(pd.read_csv(out).to_numpy(dtype=float), res.completed.to_numpy(dtype=float), rtol=1e-15)


@pytest.mark.parametrize(
    ("value", "match"),
    [("two", "expected an integer or a comma list of integers, got 'two'"), ("1,x", "got '1,x'")],
)
def test_components_not_integers_is_argparse_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, match: str
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["impute", str(AIR), "-o", str(tmp_path / "o.csv"), "--model", "mixture", "--components", value])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "--components" in err and match in err


# ------------------------------------------------------------------------------ README

ROOT = Path(__file__).resolve().parents[2]


def _cli_block(heading: str) -> list[str]:
    """The command lines of the sh block (the one without curl) of README's section ``heading``."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index(heading)
    section = readme[start : readme.index("\n## ", start + 1)]
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", section, re.S) if "curl" not in b]
    assert len(blocks) == 1
    return [line for line in blocks[0].splitlines() if line.strip()]


@pytest.mark.parametrize("heading", ["### Heavy tails: the multivariate t", "## Clusters: Gaussian mixtures"])
def test_readme_model_examples_run(tmp_path: Path, heading: str) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    lines = _cli_block(heading)
    assert any("--model" in line for line in lines)
    for line in lines:
        cmd = line.replace("imputer impute", f"{sys.executable} -m imputer impute")
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, cwd=tmp_path,
                              env=env, timeout=120)
        assert proc.returncode == 0, (line, proc.stderr)
    if heading.startswith("### Heavy"):
        air = pd.read_csv(ROOT / "examples" / "airquality.csv")
        for name, dof in [("airquality_t.csv", None), ("airquality_t4.csv", 4.0)]:
            res = imputer.impute_t(air, dof=dof)
            written = pd.read_csv(tmp_path / name)
            np.testing.assert_allclose(written.to_numpy(dtype=float), res.completed.to_numpy(dtype=float), rtol=1e-15)
        assert json.loads((tmp_path / "airquality_t.json").read_text())["dof_estimated"] is True
        return
    holes = pd.read_csv(tmp_path / "faithful_holes.csv")
    assert holes["waiting"].isna().sum() == 30 and holes["eruptions"].notna().all()  # rows 8, 17, ... (NR % 9 == 0)
    res = imputer.impute_mixture(holes, 2, seed=0)
    written = pd.read_csv(tmp_path / "faithful_completed.csv")
    np.testing.assert_allclose(written.to_numpy(dtype=float), res.completed.to_numpy(dtype=float), rtol=1e-15)
    best = json.loads((tmp_path / "faithful_best.json").read_text())
    assert best["bic_table"]["index"] == [1, 2, 3, 4]
    expected = json.loads(json.dumps(imputer.impute_mixture(holes, [1, 2, 3, 4], seed=0).to_dict()))
    assert best == {k: v for k, v in expected.items() if k not in ("completed", "responsibilities", "labels")}


@pytest.mark.parametrize(
    ("extra", "kwargs"),
    [
        (["--model", "t", "--dof", "5"], {"model": "t", "dof": 5.0}),
        (["--model", "mixture", "--n-init", "2"], {"model": "mixture", "n_init": 2}),
    ],
    ids=["t", "mixture"],
)
def test_multiple_imputation_under_a_model(
    tmp_path: Path, holes: Path, capsys: pytest.CaptureFixture[str], extra: list[str], kwargs: dict[str, object]
) -> None:
    """``-m M --model t|mixture`` writes ``multiple_impute(..., model=...)``'s long table and its JSON summary."""
    out, js = tmp_path / "long.csv", tmp_path / "mi.json"
    code = cli.main(["impute", str(holes), "-o", str(out), "-m", "2", "--seed", "3", *extra, "--json-summary", str(js)])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    mi = imputer.multiple_impute(pd.read_csv(holes), 2, seed=3, **kwargs)  # type: ignore[arg-type]
    assert mi.summary() in stdout
    written = pd.read_csv(out)
    np.testing.assert_allclose(written.to_numpy(dtype=float), mi.long().to_numpy(dtype=float), rtol=1e-15)
    summary = json.loads(js.read_text())
    assert summary["model"] == kwargs["model"] and summary["method"] == "bootstrap"
    assert summary["em"]["n_rows"] == mi.em.n_rows
    assert not {"completed", "responsibilities", "labels", "row_weights"} & set(summary["em"])
