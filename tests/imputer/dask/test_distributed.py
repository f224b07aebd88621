"""The Dask engine on a real ``distributed.LocalCluster`` with two worker processes.

The same estimates as in memory (1e-10 SD) with the client given or as dask's default,
from the pattern table or by a map-reduce per EM evaluation; a worker killed during the fit (the scheduler recomputes its
partitions from the graph) changes nothing; a closed client is a clear error.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.dask import _engine
from imputer.errors import ImputerValueError
from tests.imputer.dask._data import assert_same_estimates, mar_table

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


#: A loose tolerance: fewer EM evaluations (round trips to the cluster); the same for the
#: in-memory reference, so the iterates are still the same ones.
TOL = 1e-5


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, imputer.ImputeResult]:
    frame = mar_table(20_000, 5, seed=21)
    return frame, imputer.impute(frame, tol=TOL)


def test_local_cluster_equals_in_memory(client: Any, table: tuple[pd.DataFrame, imputer.ImputeResult]) -> None:
    # the pattern table's pass on dask's default scheduler: a client of the cluster made the
    # default one (the per-evaluation map-reduce on persisted layouts: the worker test below)
    frame, ref = table
    ddf = dd.from_pandas(frame, npartitions=4)
    with distributed.Client(client.scheduler.address) as default:
        res = imputer.impute(ddf, persist=False, progress=False, tol=TOL)
        assert res.persisted is False and res.pattern_table is True
        assert_same_estimates(res, ref)
        got = res.completed.compute()
        assert default.run(os.getpid)  # the workers that computed it
        np.testing.assert_allclose(res.se_mean.to_numpy(), ref.se_mean.to_numpy(), rtol=1e-7)
    cols = list(ref.columns)
    sd = np.sqrt(np.diag(ref.cov.to_numpy()))
    assert np.max(np.abs(got[cols].to_numpy() - ref.completed[cols].to_numpy()) / sd) <= 1e-10


@pytest.mark.usefixtures("rows_engine")
def test_worker_killed_during_the_fit(client: Any, table: tuple[pd.DataFrame, imputer.ImputeResult], monkeypatch: pytest.MonkeyPatch) -> None:
    frame, ref = table
    statistics = _engine.Partitions.statistics
    calls = []

    def kill_then_compute(self: Any, *args: Any) -> Any:
        calls.append(None)
        if len(calls) == 3:  # mid-fit: one worker process dies with its persisted layouts
            pids = client.run(os.getpid)
            os.kill(next(iter(pids.values())), signal.SIGKILL)
        return statistics(self, *args)

    monkeypatch.setattr(_engine.Partitions, "statistics", kill_then_compute)
    ddf = dd.from_pandas(frame, npartitions=4)
    res = imputer.impute(ddf, client=client, persist=True, progress=False, tol=TOL)
    assert res.persisted is True and res.pattern_table is False
    assert len(calls) == ref.n_evals + 1
    assert_same_estimates(res, ref)
    client.wait_for_workers(2, timeout=30)


def test_closed_client(table: tuple[pd.DataFrame, imputer.ImputeResult], client: Any) -> None:
    other = distributed.Client(client.scheduler.address)
    other.close()
    ddf = dd.from_pandas(table[0].iloc[:100], npartitions=2)
    with pytest.raises(ImputerValueError, match="client is closed: connect a new distributed.Client"):
        imputer.impute(ddf, client=other, progress=False)
