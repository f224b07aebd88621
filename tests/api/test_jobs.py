"""The worker-process job runner: results, timeouts that kill, saturation, crashes."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi import HTTPException

from api.jobs import JobRunner
from imputer.errors import ImputerValueError

pytestmark = pytest.mark.timeout(60)


def pid_gone(pid: int, within_s: float = 5.0) -> bool:
    """True once /proc/<pid> has disappeared (killed and reaped)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            return True
        time.sleep(0.05)
    return False


def with_runner(
    body: Callable[[JobRunner], Awaitable[Any]], n: int = 2, **kw: Any
) -> Any:
    async def main() -> Any:
        runner = JobRunner(n, **kw)
        await runner.start()
        try:
            return await body(runner)
        finally:
            await runner.stop()

    return asyncio.run(main())


def test_runs_in_other_processes_and_reuses_warm_workers() -> None:
    async def body(r: JobRunner) -> tuple[list[int], list[int]]:
        first = [await r.run(os.getpid, timeout_s=30) for _ in range(4)]
        return first, r.worker_pids()

    pids, workers = with_runner(body)
    assert os.getpid() not in pids
    assert set(pids) <= set(workers)


def test_timeout_kills_the_worker_and_replaces_it() -> None:
    async def body(r: JobRunner) -> tuple[HTTPException, list[int], list[int], int]:
        before = r.worker_pids()
        with pytest.raises(HTTPException) as info:
            await r.run(time.sleep, 60, timeout_s=0.5)
        after = r.worker_pids()
        value = await r.run(int, "7", timeout_s=30)  # the pool still works
        return info.value, before, after, value

    exc, before, after, value = with_runner(body)
    assert exc.status_code == 504
    assert exc.detail == "The computation exceeded the time limit of 0.5 s and was stopped."
    killed = set(before) - set(after)
    assert len(killed) == 1 and len(after) == 2
    assert pid_gone(killed.pop())
    assert value == 7


def test_saturated_pool_answers_503_with_retry_after() -> None:
    async def body(r: JobRunner) -> list[Any]:
        return await asyncio.gather(
            *[r.run(time.sleep, 1.0, timeout_s=30) for _ in range(3)], return_exceptions=True
        )

    results = with_runner(body, n=1, max_queue=1, retry_after_s=7)
    refused = [x for x in results if isinstance(x, HTTPException)]
    assert results.count(None) == 2
    assert len(refused) == 1
    assert refused[0].status_code == 503
    assert refused[0].headers == {"Retry-After": "7"}
    assert "1 requests are already waiting" in refused[0].detail


def test_queue_wait_is_bounded() -> None:
    async def body(r: JobRunner) -> list[Any]:
        return await asyncio.gather(
            r.run(time.sleep, 2.0, timeout_s=30),
            r.run(os.getpid, timeout_s=30),
            return_exceptions=True,
        )

    first, second = with_runner(body, n=1, max_queue=4, queue_timeout_s=0.3)
    assert first is None
    assert isinstance(second, HTTPException) and second.status_code == 503
    assert second.detail == "No worker became free within 0.3 s; retry later."


def test_failing_job_gives_500_without_details_and_keeps_the_worker() -> None:
    async def body(r: JobRunner) -> tuple[HTTPException, list[int], list[int]]:
        before = r.worker_pids()
        with pytest.raises(HTTPException) as info:
            await r.run(int, "not a number", timeout_s=30)
        return info.value, before, r.worker_pids()

    exc, before, after = with_runner(body, n=1)
    assert exc.status_code == 500
    assert exc.detail == "The computation failed unexpectedly; the failure has been logged."
    assert "not a number" not in exc.detail
    assert before == after


def test_dead_worker_gives_500_and_is_replaced() -> None:
    async def body(r: JobRunner) -> tuple[HTTPException, list[int], list[int], bool]:
        before = r.worker_pids()
        with pytest.raises(HTTPException) as info:
            await r.run(os._exit, 3, timeout_s=30)
        return info.value, before, r.worker_pids(), r.ready()

    exc, before, after, ready = with_runner(body, n=1)
    assert exc.status_code == 500
    assert exc.detail == "The worker process ended unexpectedly; the failure has been logged."
    assert len(after) == 1 and after != before
    assert ready


def test_status_and_stop_reap_every_worker() -> None:
    async def main() -> tuple[dict[str, Any], list[int], bool]:
        r = JobRunner(2, max_queue=3)
        assert not r.ready()
        await r.start()
        st = r.status()
        pids = r.worker_pids()
        await r.stop()
        return st, pids, r.ready()

    st, pids, ready_after = asyncio.run(main())
    assert st == {
        "started": True, "workers": 2, "alive": 2, "idle": 2, "busy": 0, "waiting": 0, "max_queue": 3
    }
    assert not ready_after
    assert all(pid_gone(p) for p in pids)


def test_not_started_runner_refuses_with_503() -> None:
    async def main() -> HTTPException:
        with pytest.raises(HTTPException) as info:
            await JobRunner(1).run(os.getpid, timeout_s=1)
        return info.value

    exc = asyncio.run(main())
    assert exc.status_code == 503
    assert exc.detail == "The computation service is not running."


def test_pool_size_is_validated() -> None:
    with pytest.raises(ImputerValueError, match="n_workers must be >= 1, got 0"):
        JobRunner(0)


def test_worker_memory_cap_turns_exhaustion_into_memoryerror_in_the_worker() -> None:
    async def body(r: JobRunner) -> tuple[HTTPException, int]:
        with pytest.raises(HTTPException) as info:
            await r.run(bytearray, 2**31, timeout_s=30)  # 2 GiB > 1 GiB cap
        return info.value, len(await r.run(bytearray, 2**20, timeout_s=30))

    exc, small = with_runner(body, n=1, memory_limit_mb=1024)
    assert exc.status_code == 500  # a bare MemoryError outside a task
    assert small == 2**20  # the same worker keeps serving


def test_worker_killed_while_idle_is_replaced_before_use() -> None:
    async def body(r: JobRunner) -> tuple[int, int, list[int]]:
        victim = r.worker_pids()[0]
        os.kill(victim, 9)
        await asyncio.sleep(0.2)
        pid = await r.run(os.getpid, timeout_s=30)
        return victim, pid, r.worker_pids()

    victim, pid, workers = with_runner(body, n=1)
    assert pid != victim and workers == [pid]


def test_workers_run_at_lower_cpu_priority() -> None:
    async def body(r: JobRunner) -> int:
        return await r.run(os.getpriority, os.PRIO_PROCESS, 0, timeout_s=30)

    assert with_runner(body, n=1, nice=7) == os.getpriority(os.PRIO_PROCESS, 0) + 7


def test_stopping_answers_the_running_and_the_waiting_job_with_503() -> None:
    async def main() -> list[BaseException | None]:
        runner = JobRunner(1, max_queue=1)
        await runner.start()
        running = asyncio.ensure_future(runner.run(time.sleep, 30, timeout_s=60))
        await asyncio.sleep(0.3)
        waiting = asyncio.ensure_future(runner.run(os.getpid, timeout_s=60))
        await asyncio.sleep(0.1)
        await runner.stop()
        done = await asyncio.gather(running, waiting, return_exceptions=True)
        return [d if isinstance(d, BaseException) else None for d in done]

    for exc in asyncio.run(main()):
        assert isinstance(exc, HTTPException) and exc.status_code == 503
        assert exc.detail == "The computation service is shutting down."
