"""BLAS thread control around the engines' iterations.

Both engines iterate on many small dense matrices (per-pattern blocks; the Schur
complement of Henderson's equations). For these, a multi-threaded BLAS spends more
on synchronising its threads than on arithmetic (measured 3-5x slower with two
threads on two cores), so the iterations run with one BLAS thread when the
caller says the work is small.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import numpy  # noqa: F401  (numpy's and scipy's BLAS must be loaded before the
import scipy.linalg  # noqa: F401  controller below takes its one snapshot of them)
from threadpoolctl import ThreadpoolController

__all__ = ["single_blas_thread"]


@functools.cache
def _controller() -> ThreadpoolController:
    # Scanning the loaded libraries costs about 1 ms; do it once per process.
    return ThreadpoolController()


@contextmanager
def single_blas_thread(enabled: bool = True) -> Iterator[None]:
    """Limit BLAS to one thread inside the block when ``enabled``; otherwise do nothing."""
    if not enabled:
        yield
        return
    with _controller().limit(limits=1, user_api="blas"):
        yield
