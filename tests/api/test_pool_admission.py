"""Queue admission by expected wait and the supervisor of idle workers (issue 14, hardening
items 1 and 10): a burst of short jobs is all served; a job whose expected wait exceeds its
queue timeout is refused at once with Retry-After from that wait; a dead idle worker is
replaced without a request finding it, and readiness recovers."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest

from api.errors import PoolSaturated
from api.pool import SUPERVISE_S, WorkerPool
from tests.api.test_pool import pid_gone, sleep_task, until, with_pool

pytestmark = pytest.mark.timeout(120)


def test_a_burst_of_short_jobs_is_all_served() -> None:
    async def body(p: WorkerPool) -> list[Any]:
        await p.submit(sleep_task(0.01), timeout_s=30).result()  # one run time on record
        jobs = [p.submit(sleep_task(0.01), timeout_s=30) for _ in range(40)]
        return await asyncio.gather(*(j.result() for j in jobs))

    assert with_pool(body, n=2, queue_timeout_s=30) == [None] * 40


def test_expected_wait_beyond_the_queue_timeout_is_refused_with_its_retry_after() -> None:
    async def body(p: WorkerPool) -> tuple[PoolSaturated, float, list[Any]]:
        await p.submit(sleep_task(1.0), timeout_s=30).result()  # recent mean run time: ~1 s
        running = p.submit(sleep_task(1.0), timeout_s=30)
        waiting = [p.submit(sleep_task(1.0), timeout_s=30) for _ in range(2)]  # expected waits ~1 s, ~2 s
        expected = p.expected_wait(3)
        with pytest.raises(PoolSaturated) as info:
            p.submit(sleep_task(1.0), timeout_s=30)  # ~3 s > 2.5 s
        # a job allowed to wait longer (e.g. an asynchronous job) is admitted
        patient = p.submit(sleep_task(0.01), timeout_s=30, queue_timeout_s=60)
        done = await asyncio.gather(running.result(), *(w.result() for w in waiting), patient.result())
        return info.value, expected, done

    refused, expected, done = with_pool(body, n=1, queue_timeout_s=2.5, max_queue=100)
    assert 2.5 < expected < 4.0
    assert refused.retry_after == int(expected) + 1
    assert "the expected wait of" in str(refused) and "exceeds the limit of 2.5 s" in str(refused)
    assert done == [None] * 4


def test_max_queue_still_bounds_the_line() -> None:
    async def body(p: WorkerPool) -> PoolSaturated:
        p.submit(sleep_task(0.5), timeout_s=30)
        p.submit(sleep_task(0.01), timeout_s=30)
        with pytest.raises(PoolSaturated) as info:
            p.submit(sleep_task(0.01), timeout_s=30)
        return info.value

    assert "1 requests are already waiting" in str(with_pool(body, n=1, max_queue=1))


def test_dead_idle_worker_is_replaced_by_the_supervisor() -> None:
    async def body(p: WorkerPool) -> tuple[int, list[int], dict[str, Any]]:
        victim = p.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        await until(lambda: victim not in p.worker_pids() and len(p.worker_pids()) == 1, within_s=10 + 5 * SUPERVISE_S)
        return victim, p.worker_pids(), dict(p.status())

    victim, pids, status = with_pool(body, n=1)
    assert pid_gone(victim)
    assert pids and victim not in pids
    assert status["alive"] == 1 and status["idle"] == 1


def test_check_admission_refuses_as_submit_would_and_reserves_nothing() -> None:
    # asked by the server before it reads a large body (tests/api/test_body_admission.py)
    async def body(p: WorkerPool) -> tuple[int, str]:
        p.check_admission()  # an idle worker: admitted
        p.submit(sleep_task(0.5), timeout_s=30)
        p.check_admission()  # no idle worker, room in the line: admitted
        p.submit(sleep_task(0.01), timeout_s=30)
        with pytest.raises(PoolSaturated) as info:
            p.check_admission()
        return p.status()["waiting"], str(info.value)

    waiting, message = with_pool(body, n=1, max_queue=1)
    assert waiting == 1
    assert "1 requests are already waiting" in message
