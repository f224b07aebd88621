"""README's "Formulas, interactions, contrasts, missing covariates" example runs as written and says what it claims."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_readme_formula_example_runs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("### Formulas, interactions, contrasts, missing covariates")
    section = readme[start : readme.index("\n## ", start + 1)]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    res, kept = namespace["res"], namespace["kept"]
    # the numbers and texts quoted in the README's comments
    assert round(res.beta["temperature.L"], 2) == 6.43
    assert round(res.beta["recipe[T.B]:temperature.L"], 2) == 0.45
    assert dict(res.contrasts) == {"recipe": "treatment", "temperature": "poly"}
    assert "Number of obs: 270, groups: recipe:replicate, 45" in out
    assert "Contrasts: recipe treatment, temperature poly" in out
    assert out.rstrip().endswith("2 (0, 5)")
    assert kept.n_dropped == 2 and kept.dropped == (0, 5) and kept.n_obs == 268
