"""imputer._util: read-only copies, read-only mappings, first line of a message."""

from __future__ import annotations

import numpy as np
import pytest

from imputer._util import LOG_2PI, first_line, readonly, readonly_mapping


def test_log_2pi() -> None:
    assert LOG_2PI == pytest.approx(1.8378770664093453, rel=1e-15)


def test_readonly_copies_and_locks() -> None:
    src = np.arange(3)
    out = readonly(src)
    assert out.dtype == float and not out.flags.writeable
    src[0] = 5
    assert out[0] == 0.0
    with pytest.raises(ValueError, match="read-only"):
        out[1] = 2.0


def test_readonly_mapping() -> None:
    d = {"a": 1}
    m = readonly_mapping(d)
    d["a"] = 2
    assert m["a"] == 1
    with pytest.raises(TypeError, match="does not support item assignment"):
        m["a"] = 3  # type: ignore[index]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [(ValueError("first\nsecond"), "first"), (ValueError("  \n"), "ValueError"), (KeyError("k"), "'k'")],
)
def test_first_line(exc: BaseException, expected: str) -> None:
    assert first_line(exc) == expected
