"""README's "Clusters: Gaussian mixtures" example runs as written (from the repository root)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_readme_mixture_example_runs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Clusters: Gaussian mixtures")
    section = readme[start : readme.index("\n## ", start + 1)]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    res, best = namespace["res"], namespace["best"]
    assert "Gaussian-mixture EM imputation" in capsys.readouterr().out
    assert not res.completed.isna().any().any()
    assert res.n_components == 2 and best.n_components == int(best.bic_table["bic"].idxmin())
    assert list(best.bic_table.index) == [1, 2, 3, 4]
    assert np.isfinite(res.loglik) and os.getcwd() == str(ROOT)
