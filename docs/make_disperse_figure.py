"""Make docs/disperse.png, the figure of README's "Does the estimate depend on where EM starts?".

Run from the project root: ``python docs/make_disperse_figure.py`` (needs matplotlib).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import imputer
from imputer import plot

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    d = imputer.disperse(pd.read_csv(ROOT / "examples" / "murray.csv"), starts=8, seed=1)
    plot.disperse(d).savefig(ROOT / "docs" / "disperse.png", dpi=80)
    print(d.summary().splitlines()[2])
