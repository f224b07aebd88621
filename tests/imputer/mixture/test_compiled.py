"""The compiled mixture pass (imputer/mixture/_compiled.py): when it is chosen, its exponential, and whole fits.

Its statistics against the row-by-row computation are checked with the other passes in
``test_kernel.py``; here the numpy pass (:class:`PatternPlan`) is the reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer._gaussian.layout import build_layout
from imputer.mixture import _kernel
from imputer.mixture._kernel import MixturePlan, PatternPlan
from imputer.mixture._rowkernel import RowPlan

numba = pytest.importorskip("numba")

from imputer.mixture._compiled import CompiledPlan, exp_nonpositive  # noqa: E402 (needs numba)


def _tall(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)) + rng.integers(0, 2, n)[:, None] * 3.0
    x[rng.random((n, 3)) < 0.2] = np.nan
    return x


@pytest.mark.parametrize(
    ("n", "min_rows", "env", "installed", "expected"),
    [
        (3000, 1000, None, True, CompiledPlan),
        (3000, 1000, "0", True, PatternPlan),  # switched off
        (3000, 1000, None, False, PatternPlan),  # numba not installed
        (3000, 5000, None, True, PatternPlan),  # too few rows to pay for the compilation
        (40, 10, None, True, RowPlan),  # too few rows per pattern: the row pass either way
    ],
    ids=["chosen", "IMPUTER_COMPILED=0", "no-numba", "small", "row-pass"],
)
def test_when_the_compiled_pass_is_chosen(monkeypatch, n, min_rows, env, installed, expected) -> None:
    monkeypatch.setattr(_kernel, "COMPILED_MIN_ROWS", min_rows)
    if env is None:
        monkeypatch.delenv("IMPUTER_COMPILED", raising=False)
    else:
        monkeypatch.setenv("IMPUTER_COMPILED", env)
    if not installed:
        real = _kernel.importlib.util.find_spec
        monkeypatch.setattr(_kernel.importlib.util, "find_spec", lambda name, *a: None if name == "numba" else real(name, *a))
    assert type(MixturePlan(build_layout(_tall(n)), 2)) is expected


def test_the_exponential_is_the_c_librarys_to_an_ulp() -> None:
    src = np.concatenate([-np.logspace(-300, np.log10(700.0), 5000), [0.0, -1e-320, -745.0, -700.0]])
    dst = np.empty_like(src)
    bits = np.empty(src.size, dtype=np.int64)
    exp_nonpositive(src, dst, bits, src.size)
    ref = np.exp(np.maximum(src, -700.0))
    np.testing.assert_allclose(dst, ref, rtol=3e-16, atol=0.0)


@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_a_fit_with_the_compiled_pass_is_the_numpy_fit(monkeypatch, cov_type: str) -> None:
    x = _tall(4000, seed=3)
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    kw = dict(n_components=2, n_init=2, seed=1, covariance_type=cov_type, tol=1e-10)
    monkeypatch.setattr(_kernel, "COMPILED_MIN_ROWS", 1000)
    calls = []
    run = CompiledPlan.run
    monkeypatch.setattr(CompiledPlan, "run", lambda self, *a, **k: calls.append(1) or run(self, *a, **k))
    monkeypatch.setenv("IMPUTER_COMPILED", "0")
    ref = imputer.impute_mixture(frame, **kw)
    assert not calls
    monkeypatch.delenv("IMPUTER_COMPILED")
    res = imputer.impute_mixture(frame, **kw)
    assert calls  # the compiled pass did the fit
    assert res.converged and ref.converged
    assert res.loglik == pytest.approx(ref.loglik, rel=1e-12)
    np.testing.assert_allclose(res.means.to_numpy(), ref.means.to_numpy(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(res.weights.to_numpy(), ref.weights.to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(res.completed.to_numpy(), ref.completed.to_numpy(), rtol=1e-7, atol=1e-9)
    # observed cells bit for bit whichever pass ran
    obs = ~np.isnan(x)
    np.testing.assert_array_equal(res.completed.to_numpy()[obs], x[obs])


def test_a_numba_that_fails_leaves_the_numpy_pass_with_one_warning(monkeypatch) -> None:
    # e.g. no writable cache directory, or a numpy this numba does not support: the failure
    # shows on a tiny table before any fit, once, and the numpy pass does the work
    from imputer.errors import ImputerWarning

    def broken(self, *args, **kwargs):
        raise RuntimeError("cannot cache function 'piece_rows': no locator available")

    monkeypatch.setattr(_kernel, "COMPILED_MIN_ROWS", 1000)
    monkeypatch.delenv("IMPUTER_COMPILED", raising=False)
    monkeypatch.setattr(CompiledPlan, "run", broken)
    _kernel._compiled_works.cache_clear()
    try:
        with pytest.warns(ImputerWarning, match=r"compiled mixture pass is unavailable \(RuntimeError: cannot cache"):
            plan = MixturePlan(build_layout(_tall(3000)), 2)
        assert type(plan) is PatternPlan
        assert type(MixturePlan(build_layout(_tall(3000)), 2)) is PatternPlan  # no second attempt, no warning
    finally:
        _kernel._compiled_works.cache_clear()
