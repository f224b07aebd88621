"""Run a README example in tests: the first ``python`` block after a heading or sentence.

README examples are executed from the project root (they read ``examples/...``) in a
fresh namespace, which is returned so a test can check the objects the example made.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_block(anchor: str) -> str:
    """The code of the first ```` ```python ```` block after ``anchor`` in README.md."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme[readme.index(anchor):], re.S)
    assert block is not None, f"no python block after {anchor!r}"
    return block.group(1)


def run_python_block(anchor: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Execute :func:`python_block` from the project root; return its namespace."""
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {}
    exec(compile(python_block(anchor), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    return namespace
