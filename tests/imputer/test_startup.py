"""Start-up cost: ``import imputer`` loads only the exceptions; every public name is
imported on first use (PEP 562), and the command line builds its parser without pandas.

The time itself is measured, not asserted (``python -X importtime -c "import imputer"``);
the tests pin the causes of a slow start: scikit-learn, pandas, NumPy or SciPy imported
up front by ``import imputer`` or by ``imputer --version``.
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
    ("code", "heavy"),
    [
        ("import imputer", ("numpy", "pandas", "scipy", "sklearn")),
        ("import imputer.cli as c; c.build_parser()", ("pandas", "scipy", "sklearn")),
    ],
)
def test_start_up_imports_no_heavy_library(code: str, heavy: tuple[str, ...]) -> None:
    loaded = _run(f"import sys; {code}; print(sorted(m for m in {heavy!r} if m in sys.modules))")
    assert loaded == "[]"


def test_version_runs_without_pandas() -> None:
    code = (
        "import sys, imputer.cli as c\n"
        "try:\n    c.main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print('pandas' in sys.modules)"
    )
    assert _run(code).splitlines() == ["imputer 0.1.0", "False"]


def test_every_public_name_resolves() -> None:
    import imputer

    missing = [name for name in imputer.__all__ if getattr(imputer, name, None) is None]
    assert missing == []
    assert imputer.impute.__module__ == "imputer.mvn.api"


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


def _packages() -> list[str]:
    import pkgutil

    import imputer

    return ["imputer"] + sorted(m.name for m in pkgutil.walk_packages(imputer.__path__, "imputer.") if m.ispkg)


@pytest.mark.parametrize("package", _packages())
def test_every_package_imports_first_in_a_fresh_interpreter(package: str) -> None:
    # before: `import imputer.transform` first failed on an import cycle through imputer.mvn.api
    assert _run(f"import {package}; print('ok')") == "ok"
