"""The sparse coupling path of the mixed-model equations against the dense one.

When the eliminated term has one effect and its coupling ``B`` to the dense part is large
and sparse (InstEval: 1,157 x 2,972, 2.7% non-zero), :class:`imputer.mixed._mme.System`
keeps ``B`` sparse: the Schur complement's update ``B D^-1 B'`` is a sparse product and
the traces come from ``L^-1`` alone (``_traces_sparse``). Here the thresholds are lowered
so that small models take that path, and every estimate is compared with the dense
path's (the independent computation: the same equations with dense ``B`` and ``S^-1``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.mixed import _mme

DATA = Path(__file__).resolve().parents[2] / "data"

CASES = {
    "penicillin": (DATA / "penicillin.csv", "diameter", [], ["plate", "sample"]),
    "pastes": (DATA / "lme4" / "pastes.csv", "strength", [], ["batch", "batch:cask"]),
    "scotssec": (DATA / "lme4" / "scotssec.csv", "attain", ["verbal", "sex"], ["primary", "second", "primary:second"]),
}


def _fit(name: str, method: str):
    path, y, fixed, random = CASES[name]
    df = pd.read_csv(path, dtype=str)
    for col in [y] + [c for c in fixed if c != "sex"]:
        df[col] = df[col].astype(float)
    return imputer.fit_mixed_frame(df, y, fixed=fixed, random=random, method=method)


@pytest.mark.parametrize(
    ("name", "method"),
    [("penicillin", "REML"), ("penicillin", "ML"), ("pastes", "ML"), ("scotssec", "REML")],
)
def test_sparse_path_matches_dense_path(name, method, monkeypatch):
    monkeypatch.setattr(_mme, "SPARSE_DENSITY", -1.0)  # never sparse
    dense = _fit(name, method)
    monkeypatch.setattr(_mme, "SPARSE_MIN_SIZE", 0)
    monkeypatch.setattr(_mme, "SPARSE_DENSITY", 1.0)
    taken = []
    original = _mme.System._traces_sparse

    def spy(self, *args):
        taken.append(True)
        return original(self, *args)

    monkeypatch.setattr(_mme.System, "_traces_sparse", spy)
    sparse = _fit(name, method)
    assert taken, "the sparse path was not taken"
    np.testing.assert_allclose(sparse.var_comp.to_numpy(), dense.var_comp.to_numpy(), rtol=1e-9, atol=1e-14)
    assert sparse.loglik == pytest.approx(dense.loglik, rel=1e-13)
    np.testing.assert_allclose(sparse.beta.to_numpy(), dense.beta.to_numpy(), rtol=1e-9)
    for term in dense.u:
        np.testing.assert_allclose(sparse.u[term].to_numpy(), dense.u[term].to_numpy(), rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(sparse.pev[term].to_numpy(), dense.pev[term].to_numpy(), rtol=1e-7, atol=1e-14)
