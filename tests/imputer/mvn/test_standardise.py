"""imputer.mvn._fit.standardise: the engine's layout is build_layout of the standardised array."""

from __future__ import annotations

import numpy as np
import pytest

from imputer._gaussian.layout import build_layout
from imputer.mvn._fit import standardise
from imputer.mvn._scaling import Scaling


@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize(("n", "p", "rate"), [(400, 6, 0.3), (3000, 4, 0.2)])
def test_standardise_is_the_layout_of_z(n, p, rate, keep) -> None:
    rng = np.random.default_rng(n)
    x = rng.normal(3.0, 2.0, size=(n, p))
    x[rng.random((n, p)) < rate] = np.nan
    scaling = Scaling(center=np.nanmean(x, axis=0), scale=np.nanstd(x, axis=0), n_observed=(~np.isnan(x)).sum(axis=0))
    data = standardise(np.isnan(x), tuple(x[:, j].copy() for j in range(p)), scaling, keep_complete=keep)
    ref = build_layout((x - scaling.center) / scaling.scale)
    np.testing.assert_allclose(data.work, ref.work, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(data.s1_complete, ref.s1_complete, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(data.s2_complete, ref.s2_complete, rtol=1e-10, atol=1e-10)
    assert len(data.dense) == len(ref.dense) and data.chunks == ref.chunks
    if keep:
        np.testing.assert_allclose(data.complete, ref.complete, rtol=1e-13, atol=1e-13)
    else:
        assert data.complete is None
