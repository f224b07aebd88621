"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["timed", "machine"]


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """Median wall-clock seconds over ``repeats`` calls, every timing, and the last result.

    A garbage collection runs before each call so one call's garbage is not billed to
    the next.
    """
    secs, out = [], None
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        secs.append(time.perf_counter() - t0)
    return statistics.median(secs), secs, out


def machine() -> str:
    """CPU model, logical CPUs, Python and numpy versions, for the printed header."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, numpy {np.__version__}"
