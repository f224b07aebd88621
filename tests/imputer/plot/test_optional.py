"""matplotlib stays optional and pyplot stays out: checked in fresh interpreters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_import_imputer_and_imputer_plot_leave_matplotlib_alone() -> None:
    out = _run("import sys, imputer, imputer.plot; print('matplotlib' in sys.modules)")
    assert out.stdout.strip() == "False", out.stderr


def test_without_matplotlib_a_clear_error() -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import pandas as pd, imputer.plot\n"
        "from imputer.errors import MissingDependencyError, ImputerError\n"
        "try:\n"
        "    imputer.plot.patterns(pd.DataFrame({'a': [1.0, None]}))\n"
        "except MissingDependencyError as exc:\n"
        "    print(isinstance(exc, (ImputerError, ImportError)), exc)\n"
    )
    out = _run(code)
    assert out.stdout.startswith("True imputer.plot.patterns needs matplotlib, which is not installed"), out.stderr
    assert out.stdout.strip().endswith('install it with: pip install "imputer[plot]"')


def test_every_figure_without_pyplot() -> None:
    code = (
        "import sys, pandas as pd, imputer, imputer.plot as p\n"
        "d = pd.read_csv('tests/data/airquality.csv'); r = imputer.impute(d)\n"
        "m = imputer.fit_mixed_frame(pd.read_csv('tests/data/dyestuff.csv'), 'Yield', random=['Batch'])\n"
        "figs = [p.patterns(d), p.densities(r), p.overimpute(r), p.trace(r), p.trace(m), p.caterpillar(m, 'Batch'),\n"
        "        p.disperse(imputer.disperse(d, starts=2, seed=0))]\n"
        "import io\n"
        "for f in figs: f.savefig(io.BytesIO(), format='png')\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    out = _run(code)
    assert out.stdout.strip() == "False", out.stderr
