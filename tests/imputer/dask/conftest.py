"""Shared fixtures of the Dask engine's tests: 200,000 x 10 MAR rows and their in-memory fit, a LocalCluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import imputer
from tests.imputer.dask._data import mar_table

pytest.importorskip("dask.dataframe")


@pytest.fixture(scope="session")
def big() -> pd.DataFrame:
    return mar_table(200_000, 10, seed=12)


@pytest.fixture(scope="session")
def big_ref(big: pd.DataFrame) -> imputer.ImputeResult:
    return imputer.impute(big)


@pytest.fixture(scope="session")
def client() -> Iterator[Any]:
    """A real ``distributed.LocalCluster``: two worker processes, one thread each, 700 MB each."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, memory_limit="700MB", dashboard_address=None
    )
    # not dask's default scheduler: the other tests keep the threaded one
    with distributed.Client(cluster, set_as_default=False) as c:
        yield c
    cluster.close()


@pytest.fixture()
def rows_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-evaluation map-reduce over the partitions, as for tables with too many patterns for a pattern table."""
    from imputer.dask import api

    monkeypatch.setattr(api, "MAX_TABLE_BYTES", -1)
