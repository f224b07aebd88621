"""``imputer impute IN -o OUT --scheduler/--workers`` and README's "Bigger than memory" section.

The README's blocks run as written, with two substitutions in the sh block: the local
cluster ``--workers 2`` asks for is the test's cluster (``distributed.LocalCluster``
recorded and pointed at it, to save a second start-up), and ``tcp://scheduler:8786`` is
that cluster's address. The written Parquet files equal the in-memory fit of the table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.cli import main
from tests.imputer.dask._data import mar_table

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[3]


def _section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Bigger than memory: Dask")
    return readme[start : readme.index("\n## ", start + 1)]


def test_readme_python_block(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "examples").mkdir()
    for name in ("airquality.csv", "sleepstudy.csv"):
        (tmp_path / "examples" / name).write_bytes((ROOT / "examples" / name).read_bytes())
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", _section(), re.S)
    assert len(blocks) == 3  # impute, multiple_impute on the same ddf, then a mixed model
    namespace: dict[str, Any] = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    assert "Multivariate-normal EM imputation (Dask)" in out
    mi = namespace["mi"]
    assert f"\n{mi.burn_in} {mi.thin} {round(mi.rate, 3)}\n" in out
    assert "Linear mixed model fit by REML (EM, mme, Dask)" in out
    fit = namespace["fit"]
    assert fit.n_partitions > 1
    mem = imputer.fit_mixed_frame(pd.read_csv("examples/sleepstudy.csv", dtype={"Subject": str}), "Reaction ~ Days + (Days | Subject)")
    np.testing.assert_allclose(fit.covariances["Subject"].to_numpy(), mem.covariances["Subject"].to_numpy(), rtol=1e-10)
    completed = pd.read_parquet("sleepstudy_completed")  # partition order (read_csv restarts the index per partition)
    np.testing.assert_allclose(completed.iloc[:, 0].to_numpy(), mem.completed.to_numpy(), rtol=1e-12)
    drawn = pd.read_parquet("airquality_imp1").sort_index(kind="stable")
    assert len(drawn) == 153 and not drawn.isna().any().any()
    res = namespace["res"]
    ref = imputer.impute(pd.read_csv("examples/airquality.csv"))
    np.testing.assert_allclose(res.mean.to_numpy(), ref.mean.to_numpy(), rtol=1e-12)
    written = pd.read_parquet("airquality_completed").sort_index(kind="stable")
    assert len(written) == 153 and not written.isna().any().any()


class _Recorded:
    """Stands in for ``distributed.LocalCluster``: records its options, points at the test's cluster."""

    calls: list[dict[str, Any]] = []

    def __init__(self, address: str, **options: Any) -> None:
        self.calls.append(options)
        self.scheduler_address = address

    def close(self) -> None:  # the test's cluster outlives the command
        self.calls.append({"closed": True})


def test_readme_command_lines(client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = mar_table(3_000, 4, seed=8)
    (tmp_path / "data").mkdir()
    for i, a in enumerate(range(0, 3_000, 1_000)):
        frame.iloc[a : a + 1_000].to_parquet(tmp_path / "data" / f"part-{i}.parquet")
    ref = imputer.impute(frame)
    address = client.scheduler.address
    monkeypatch.setattr(distributed, "LocalCluster", lambda **kw: _Recorded(address, **kw))
    monkeypatch.chdir(tmp_path)
    block = re.search(r"```sh\n(.*?)```", _section(), re.S)
    assert block is not None
    lines = block.group(1).strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        words = [w.strip("'") for w in line.replace("tcp://scheduler:8786", address).split()]
        assert words[:2] == ["imputer", "impute"]
        assert main(words[1:]) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        assert "wrote completed/ (3000 rows in 3 Parquet files" in out
        got = pd.read_parquet(tmp_path / "completed").sort_index()
        cols = list(ref.columns)
        sd = np.sqrt(np.diag(ref.cov.to_numpy()))
        assert np.max(np.abs(got[cols].to_numpy() - ref.completed[cols].to_numpy()) / sd) <= 1e-10
        assert (got["site"] == ref.completed["site"]).all()
    options = {"n_workers": 2, "threads_per_worker": 1, "processes": True, "memory_limit": "1GB", "dashboard_address": None}
    assert _Recorded.calls == [options, {"closed": True}]


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--workers", "2", "--scheduler", "tcp://x:1"], "--scheduler and --workers exclude each other"),
        (["--workers", "0"], "--workers: expected a positive integer, got 0"),
        (["--workers", "1", "--model", "t"], "the Dask engine fits --model normal"),
        (["--workers", "1", "--seed", "3"], "--seed applies to multiple imputation: give -m M"),
        (["--workers", "1", "--na-values", "-"], "--na-values is not available with --scheduler/--workers"),
    ],
)
def test_usage_errors(extra: list[str], match: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["impute", "data/*.parquet", "-o", "out/", *extra]) == 2
    assert match in capsys.readouterr().err


def test_csv_output_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["impute", "data/*.parquet", "-o", "out.csv", "--workers", "1"]) == 2
    assert "OUT is a directory of Parquet files, got 'out.csv'" in capsys.readouterr().err


def test_unreachable_scheduler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import dask

    mar_table(50, 3, seed=1).to_parquet(tmp_path / "t.parquet")
    with dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}):
        status = main(["impute", str(tmp_path / "t.parquet"), "-o", str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:1"])
    assert status == 1
    assert "cannot connect to the scheduler 'tcp://127.0.0.1:1'" in capsys.readouterr().err


@pytest.mark.parametrize("engine", ["table", "rows"])
def test_json_summary_with_standard_errors(
    engine: str, client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the in-memory CLI's --json-summary entries: from the pattern table (no pass), or by
    # one more pass on the cluster before it is closed (the per-evaluation route)
    import json

    from imputer.dask import api

    if engine == "rows":
        monkeypatch.setattr(api, "MAX_TABLE_BYTES", -1)
    frame = mar_table(2_000, 3, seed=4)
    frame.to_parquet(tmp_path / "t.parquet")
    ref = imputer.impute(frame).to_dict(standard_errors=True)
    out = tmp_path / "summary.json"
    args = ["impute", str(tmp_path / "t.parquet"), "-o", str(tmp_path / "out"), "--scheduler", client.scheduler.address]
    assert main([*args, "--json-summary", str(out)]) == 0, capsys.readouterr().err
    got = json.loads(out.read_text())
    assert got["pattern_table"] is (engine == "table")
    for key in ("se_mean", "se_cov", "vcov", "fraction_missing_info"):
        theirs = ref[key]
        ours = got[key]
        assert ours.keys() == theirs.keys()
        a = np.array(ours.get("data", list(ours.values())), dtype=float)
        b = np.array(theirs.get("data", list(theirs.values())), dtype=float)
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-12)
    assert got["worst_fraction_missing_info"] == pytest.approx(ref["worst_fraction_missing_info"], rel=1e-7)


def test_multiple_imputation(client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # -m M: M directories of Parquet files, the imputations of imputer.dask.mi.multiple_impute with the seed
    from imputer.dask.mi import multiple_impute

    frame = mar_table(1_500, 3, seed=6)
    frame.to_parquet(tmp_path / "t.parquet")
    args = ["impute", str(tmp_path / "t.parquet"), "-o", str(tmp_path / "out_{imp}"), "--scheduler", client.scheduler.address]
    assert main([*args, "-m", "2", "--seed", "11", "--json-summary", str(tmp_path / "s.json")]) == 0, capsys.readouterr().err
    assert "wrote 2 imputations" in capsys.readouterr().out
    ref = multiple_impute(dd.read_parquet(str(tmp_path / "t.parquet")), 2, seed=11)
    for j in (1, 2):
        got = pd.read_parquet(tmp_path / f"out_{j}").rename_axis(None)  # dask names an unnamed index
        pd.testing.assert_frame_equal(got, ref.imputations[j - 1].compute(), check_index_type=False)
    assert (tmp_path / "s.json").read_text().count('"mean"') >= 2
