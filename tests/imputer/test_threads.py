"""Tests of the BLAS thread limit used around the engines' iterations."""

from __future__ import annotations

import numpy as np  # noqa: F401  (loads the BLAS that threadpoolctl inspects)
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from imputer._threads import single_blas_thread


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.fixture
def two_blas_threads():
    if not _blas_threads():
        pytest.skip("no BLAS library visible to threadpoolctl")
    with threadpool_limits(limits=2, user_api="blas"):
        yield


@pytest.mark.usefixtures("two_blas_threads")
@pytest.mark.parametrize(("enabled", "inside"), [(True, 1), (False, 2)])
def test_limit_applies_only_when_enabled_and_is_restored(enabled: bool, inside: int) -> None:
    before = _blas_threads()
    with single_blas_thread(enabled):
        assert set(_blas_threads()) == {min(inside, max(before))}
    assert _blas_threads() == before
