"""Figures drawn in several threads at once are the figures drawn one by one (no shared pyplot state)."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

import imputer
from imputer import plot


def _draw(args: tuple[str, object]) -> tuple[list, bytes]:
    kind, obj = args
    fig = {"patterns": plot.patterns, "densities": plot.densities, "overimpute": plot.overimpute,
           "trace": plot.trace}[kind](obj)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    data = [[np.asarray(line.get_ydata()).tolist() for line in ax.get_lines()] for ax in fig.axes]
    return data, buf.getvalue()


def test_threads_draw_what_one_thread_draws(air: pd.DataFrame, air_fit: imputer.ImputeResult) -> None:
    jobs = [("patterns", air), ("densities", air_fit), ("overimpute", air_fit), ("trace", air_fit)]
    serial = [_draw(j)[0] for j in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(_draw, jobs))
    assert [r[0] for r in results] == serial
    assert all(png[:8] == b"\x89PNG\r\n\x1a\n" for _, png in results)
