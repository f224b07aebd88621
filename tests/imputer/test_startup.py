"""Start-up cost: ``import imputer`` leaves scikit-learn alone until ``EMImputer`` is used.

The time itself is measured, not asserted (``python -X importtime -c "import imputer"``);
the test pins the cause of the slow start the issue found: scikit-learn imported up front.
"""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_does_not_load_sklearn() -> None:
    assert _run("import sys, imputer; print('sklearn' in sys.modules)") == "False"


@pytest.mark.parametrize(
    "code",
    [
        "import imputer; print(imputer.EMImputer.__name__)",
        "from imputer import EMImputer; print(EMImputer.__name__)",
        "from imputer import *; print(EMImputer.__name__)",
    ],
)
def test_emimputer_is_loaded_on_first_use(code: str) -> None:
    assert _run(code) == "EMImputer"


def test_unknown_attribute_is_an_attribute_error() -> None:
    import imputer

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        imputer.nope  # noqa: B018
    assert "EMImputer" in dir(imputer)
