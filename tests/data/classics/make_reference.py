"""Write reference.json: the maximiser of each classic data set by direct maximisation.

Run from the repository root: ``python tests/data/classics/make_reference.py``.
It uses the test-only independent reference :func:`tests.reference.mvn_mle.mvn_mle`
(L-BFGS then Newton polishing on the observed-data log-likelihood; no EM) and, for
``marijuana``, the engine's documented ridge prior with ``lambda = 1``
(:func:`tests.imputer.mvn.test_reference_agreement.ridge_prior`): the posterior mode.
About 25 s.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tests.imputer.mvn.test_reference_agreement import ridge_prior
from tests.reference.mvn_mle import mvn_mle

HERE = Path(__file__).resolve().parent
#: data set -> ridge (prior strength in pseudo-rows; 0: maximum likelihood)
CASES = {"missvals": 0.0, "boys": 0.0, "marijuana": 1.0}


def main() -> None:
    out = {}
    for name, ridge in CASES.items():
        frame = pd.read_csv(HERE / f"{name}.csv")
        values = frame.to_numpy(dtype=float)
        ref = mvn_mle(values, prior=ridge_prior(ridge, values) if ridge > 0 else None)
        out[name] = {
            "ridge": ridge,
            "columns": list(frame.columns),
            "mean": [float(v) for v in ref.mean],
            "cov": [[float(v) for v in row] for row in np.asarray(ref.cov)],
            "grad_norm": float(ref.grad_norm),
        }
    (HERE / "reference.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
