"""Variance components that are small but not zero: where EM is slowest, against the dense reference.

Two crossed random intercepts on 500 rows, ``y ~ x + (1 | a) + (1 | b)`` (25 and 15
levels, the data of :func:`crossed_small`), whose REML optimum has components 0.04-2% of
the residual's. There EM's rate is within 1e-4 of 1 or closer (the fraction of missing
information about a small component is near 1). SQUAREM alone (the driver before its
Newton points) took 2,427 and 2,328 evaluations on seeds 0 and 17 and stopped 1.7e-7 and
3.2e-7 (relative) from the optimum, because its test on one EM step's change (``tol =
1e-10``) reads the distance left times ``1 - rate``; on seed 24 it ran out of its 10,000
iterations (25,494 evaluations) at a log-likelihood 0.64 below the maximum, with both
components near 0.007, where the optimum has ``a = 0`` and ``b`` 1e-7 of the residual.
The driver's Newton points (:mod:`imputer._em.fdnewton`) reach the optimum.

The reference is :func:`tests.reference.mixed_reml.fit_reference`: the dense REML
likelihood maximised over log-variances with its analytic gradient, polished by Newton
until the gradient's max-norm is below 1e-11 (no EM, no mixed-model equations).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imputer import fit_mixed_frame
from tests.reference.mixed_reml import MixedReference, fit_reference

FORMULA = "y ~ x + (1 | a) + (1 | b)"


def crossed_small(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, la, lb = 500, 25, 15
    a, b, x = rng.integers(0, la, n), rng.integers(0, lb, n), rng.normal(size=n)
    y = 1 + 2 * x + 0.05 * rng.normal(size=la)[a] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "a": pd.Categorical(a), "b": pd.Categorical(b)})


def reference(df: pd.DataFrame) -> MixedReference:
    a, b = df["a"].cat.codes.to_numpy(), df["b"].cat.codes.to_numpy()
    return fit_reference(
        df["y"].to_numpy(), np.column_stack([np.ones(len(df)), df["x"]]),
        {"a": (np.eye(25)[a], None), "b": (np.eye(15)[b], None)},
    )


def assert_monotone(history: np.ndarray) -> None:
    assert np.all(np.diff(history) >= -1e-12 * np.abs(history[1:]))


@pytest.mark.parametrize("seed", [0, 17])
def test_small_components_reach_the_reml_optimum(seed: int) -> None:
    df = crossed_small(seed)
    res, ref = fit_mixed_frame(df, FORMULA), reference(df)
    assert ref.boundary == () and ref.grad_norm < 1e-11
    assert res.converged and res.boundary == ()
    assert res.var_comp.min() < 1e-2 * res.var_comp["residual"]  # the slow case it is meant to be
    np.testing.assert_allclose(res.var_comp.to_numpy(), ref.var_comp, rtol=1e-9)
    assert res.loglik == pytest.approx(ref.loglik, rel=1e-13)
    assert_monotone(res.loglik_history)
    assert res.n_evals <= 150  # SQUAREM alone: 2,427 and 2,328


def test_a_component_at_zero_and_one_at_1e_7_of_the_residual() -> None:
    df = crossed_small(24)
    res, ref = fit_mixed_frame(df, FORMULA), reference(df)
    assert ref.boundary == ("a",) and 0 < ref.var_comp[1] < 1e-6
    assert res.converged and res.boundary == ("a",)
    # b is 1e-7 of the residual: the likelihood is flat in it to 1e-13 (relative) between
    # 1e-7 and 3e-7, which is as far as the EM map's rounding can place it
    assert 0 < res.var_comp["b"] < 1e-6
    assert res.var_comp["residual"] == pytest.approx(ref.var_comp[2], rel=1e-6)
    assert res.loglik == pytest.approx(ref.loglik, rel=1e-12)
    assert_monotone(res.loglik_history)
    assert res.n_evals <= 300  # SQUAREM alone: 25,494, not converged
