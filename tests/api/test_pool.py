"""The worker pool on its own (no FastAPI, no request): results, timeouts that kill,
saturation, crashes, cancellation, stopping, and jobs that outlive their submitter."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from api.errors import (
    JobCancelled,
    JobFailed,
    JobTimedOut,
    PoolNotRunning,
    PoolSaturated,
    PoolStopping,
    WorkerCrashed,
    WorkerOutOfMemory,
)
from api.pool import Call, JobState, WorkerPool
from api.problems import service_problem
from api.tasks import ImputeTask, JobOutput, MixedFrameTask, MixedTask
from imputer.errors import ImputerValueError
from tests.api.live import alive

pytestmark = pytest.mark.timeout(60)


def pid_gone(pid: int, within_s: float = 5.0) -> bool:
    """True once /proc/<pid> has disappeared (killed and reaped)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            return True
        time.sleep(0.05)
    return False


async def until(condition: Callable[[], bool], within_s: float = 10.0) -> None:
    """Wait (polling the event loop) until ``condition()`` holds; fail after ``within_s``."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


def with_pool(body: Callable[[WorkerPool], Awaitable[Any]], n: int = 2, **kw: Any) -> Any:
    async def main() -> Any:
        pool = WorkerPool(n, **kw)
        await pool.start()
        try:
            return await body(pool)
        finally:
            await pool.stop()

    return asyncio.run(main())


def sleep_task(seconds: float) -> Call[None]:
    return Call(time.sleep, (seconds,))


def test_runs_in_other_processes_and_reuses_warm_workers() -> None:
    async def body(p: WorkerPool) -> tuple[list[int], list[int], Any]:
        jobs = []
        for _ in range(4):
            jobs.append(p.submit(Call(os.getpid), timeout_s=30))
            await jobs[-1].wait()
        return [await j.result() for j in jobs], p.worker_pids(), jobs[0]

    pids, workers, job = with_pool(body)
    assert os.getpid() not in pids
    assert set(pids) <= set(workers)
    assert job.state is JobState.SUCCEEDED and job.error is None
    assert job.worker_pid == pids[0]
    assert job.submitted_at <= job.started_at <= job.finished_at


def test_timeout_kills_the_worker_and_replaces_it() -> None:
    async def body(p: WorkerPool) -> tuple[Any, JobTimedOut, list[int], list[int], int]:
        before = p.worker_pids()
        job = p.submit(sleep_task(60), timeout_s=0.5)
        with pytest.raises(JobTimedOut) as info:
            await job.result()
        after = p.worker_pids()
        value = await p.submit(Call(int, ("7",)), timeout_s=30).result()  # the pool still works
        return job, info.value, before, after, value

    job, exc, before, after, value = with_pool(body)
    assert str(exc) == "The computation exceeded the time limit of 0.5 s and was stopped."
    assert exc.timeout_s == 0.5
    assert job.state is JobState.FAILED and job.error is exc
    killed = set(before) - set(after)
    assert killed == {job.worker_pid} and len(after) == 2
    assert pid_gone(killed.pop())
    assert value == 7


def test_saturated_pool_refuses_at_submission_with_retry_after() -> None:
    async def body(p: WorkerPool) -> tuple[list[Any], PoolSaturated, dict[str, Any]]:
        admitted = [p.submit(sleep_task(1.0), timeout_s=30) for _ in range(2)]
        status = dict(p.status())
        with pytest.raises(PoolSaturated) as info:
            p.submit(sleep_task(1.0), timeout_s=30)
        return [await j.result() for j in admitted], info.value, status

    results, refused, status = with_pool(body, n=1, max_queue=1, retry_after_s=7)
    assert results == [None, None]
    assert status["busy"] == 1 and status["waiting"] == 1
    assert refused.retry_after == 7
    assert str(refused) == "All 1 workers are busy and 1 requests are already waiting; retry later."


def test_queue_wait_is_bounded() -> None:
    async def body(p: WorkerPool) -> tuple[Any, Any]:
        first = p.submit(sleep_task(2.0), timeout_s=30)
        second = p.submit(Call(os.getpid), timeout_s=30)
        with pytest.raises(PoolSaturated) as info:
            await second.result()
        return await first.result(), (info.value, second.state)

    first, (exc, state) = with_pool(body, n=1, max_queue=4, queue_timeout_s=0.3)
    assert first is None
    assert str(exc) == "No worker became free within 0.3 s; retry later."
    assert state is JobState.FAILED


def test_failing_task_is_jobfailed_without_its_message_and_keeps_the_worker() -> None:
    async def body(p: WorkerPool) -> tuple[JobFailed, list[int], list[int]]:
        before = p.worker_pids()
        with pytest.raises(JobFailed) as info:
            await p.submit(Call(int, ("not a number",)), timeout_s=30).result()
        return info.value, before, p.worker_pids()

    exc, before, after = with_pool(body, n=1)
    assert str(exc) == "The computation failed unexpectedly; the failure has been logged."
    assert exc.error_type == "ValueError"
    assert before == after


def test_unpicklable_task_is_jobfailed_and_keeps_the_worker() -> None:
    async def body(p: WorkerPool) -> tuple[JobFailed, int]:
        with pytest.raises(JobFailed) as info:
            await p.submit(Call(lambda: 1), timeout_s=30).result()
        return info.value, await p.submit(Call(int, ("3",)), timeout_s=30).result()

    exc, value = with_pool(body, n=1)
    assert exc.error_type in {"PicklingError", "AttributeError"}
    assert value == 3


def test_dead_worker_is_workercrashed_and_is_replaced() -> None:
    async def body(p: WorkerPool) -> tuple[WorkerCrashed, list[int], list[int], bool]:
        before = p.worker_pids()
        with pytest.raises(WorkerCrashed) as info:
            await p.submit(Call(os._exit, (3,)), timeout_s=30).result()
        return info.value, before, p.worker_pids(), p.ready()

    exc, before, after, ready = with_pool(body, n=1)
    assert str(exc) == "The worker process ended unexpectedly; the failure has been logged."
    assert len(after) == 1 and after != before
    assert ready


def test_status_and_stop_reap_every_worker() -> None:
    async def main() -> tuple[dict[str, Any], list[int], bool]:
        p = WorkerPool(2, max_queue=3)
        assert not p.ready()
        await p.start()
        st = dict(p.status())
        pids = p.worker_pids()
        await p.stop()
        return st, pids, p.ready()

    st, pids, ready_after = asyncio.run(main())
    assert st == {
        "started": True, "workers": 2, "alive": 2, "idle": 2, "busy": 0, "waiting": 0, "max_queue": 3
    }
    assert not ready_after
    assert all(pid_gone(p) for p in pids)


@pytest.mark.parametrize("started_then_stopped", [False, True])
def test_pool_not_running_refuses_at_submission(started_then_stopped: bool) -> None:
    async def main() -> PoolNotRunning:
        pool = WorkerPool(1, retry_after_s=4)
        if started_then_stopped:
            await pool.start()
            await pool.stop()
        with pytest.raises(PoolNotRunning) as info:
            pool.submit(Call(os.getpid), timeout_s=1)
        return info.value

    exc = asyncio.run(main())
    assert str(exc) == "The computation service is not running."
    assert exc.retry_after == 4


@pytest.mark.parametrize("module", ["api.pool", "api.worker", "api.errors"])
def test_the_pool_knows_nothing_about_http(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'starlette'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_pool_size_is_validated() -> None:
    with pytest.raises(ImputerValueError, match="n_workers must be >= 1, got 0"):
        WorkerPool(0)


def test_worker_memory_cap_turns_exhaustion_into_memoryerror_in_the_worker() -> None:
    async def body(p: WorkerPool) -> tuple[JobFailed, int]:
        with pytest.raises(JobFailed) as info:
            await p.submit(Call(bytearray, (2**31,)), timeout_s=30).result()  # 2 GiB > 1 GiB cap
        return info.value, len(await p.submit(Call(bytearray, (2**20,)), timeout_s=30).result())

    exc, small = with_pool(body, n=1, memory_limit_mb=1024)
    assert exc.error_type == "MemoryError"  # a bare MemoryError outside a service task
    assert small == 2**20  # the same worker keeps serving


def test_worker_killed_while_idle_is_replaced_before_use() -> None:
    async def body(p: WorkerPool) -> tuple[int, int, list[int]]:
        victim = p.worker_pids()[0]
        os.kill(victim, 9)
        await until(lambda: not alive(victim))  # dead (a zombie until the pool reaps it)
        pid = await p.submit(Call(os.getpid), timeout_s=30).result()
        return victim, pid, p.worker_pids()

    victim, pid, workers = with_pool(body, n=1)
    assert pid != victim and workers == [pid]


def test_workers_run_at_lower_cpu_priority() -> None:
    async def body(p: WorkerPool) -> int:
        job = p.submit(Call(os.getpriority, (os.PRIO_PROCESS, 0)), timeout_s=30)
        return await job.result()  # type: ignore[no-any-return]

    assert with_pool(body, n=1, nice=7) == os.getpriority(os.PRIO_PROCESS, 0) + 7


def test_stopping_fails_the_running_and_the_waiting_job_with_poolstopping() -> None:
    async def main() -> list[Any]:
        pool = WorkerPool(1, max_queue=1, retry_after_s=6)
        await pool.start()
        running = pool.submit(sleep_task(30), timeout_s=60)
        waiting = pool.submit(Call(os.getpid), timeout_s=60)
        await until(lambda: running.state is JobState.RUNNING)
        await pool.stop()
        assert running.done() and waiting.done()  # stop() lets every job record its end
        return [(j, await asyncio.gather(j.result(), return_exceptions=True)) for j in (running, waiting)]

    for job, (exc,) in asyncio.run(main()):
        assert isinstance(exc, PoolStopping) and exc.retry_after == 6
        assert str(exc) == "The computation service is shutting down."
        assert job.state is JobState.FAILED and job.error is exc


# ---------------------------------------------------------------------- cancellation


def test_cancel_a_running_job_kills_its_worker_and_replaces_it() -> None:
    async def body(p: WorkerPool) -> tuple[Any, JobCancelled, list[int], int, bool]:
        job = p.submit(sleep_task(60), timeout_s=60)
        await until(lambda: job.state is JobState.RUNNING)
        assert job.cancel()
        with pytest.raises(JobCancelled) as info:
            await job.result()
        after = p.worker_pids()
        return job, info.value, after, await p.submit(Call(os.getpid), timeout_s=30).result(), job.cancel()

    job, exc, after, pid, cancelled_again = with_pool(body, n=1)
    assert job.state is JobState.CANCELLED and job.error is exc
    assert str(exc) == "The computation was cancelled."
    assert pid_gone(job.worker_pid) and after == [pid] and pid != job.worker_pid
    assert not cancelled_again  # a finished job cannot be cancelled


def test_cancel_a_queued_job_leaves_the_line_and_spares_the_worker() -> None:
    async def body(p: WorkerPool) -> tuple[Any, Any, int, int]:
        running = p.submit(sleep_task(1.0), timeout_s=30)
        queued = p.submit(Call(os.getpid), timeout_s=30)
        await until(lambda: running.state is JobState.RUNNING)
        waiting = p.status()["waiting"]
        queued.cancel()
        await queued.wait()
        assert p.status()["waiting"] == 0
        await running.result()
        return running, queued, waiting, await p.submit(Call(os.getpid), timeout_s=30).result()

    running, queued, waiting, pid = with_pool(body, n=1)
    assert waiting == 1
    assert queued.state is JobState.CANCELLED and queued.worker_pid is None
    assert running.state is JobState.SUCCEEDED and pid == running.worker_pid  # same worker


@pytest.mark.parametrize("had_idle_worker", [True, False])
def test_cancel_before_the_job_ever_started_returns_its_reservation(had_idle_worker: bool) -> None:
    async def body(p: WorkerPool) -> tuple[Any, dict[str, Any]]:
        blocker = None if had_idle_worker else p.submit(sleep_task(0.5), timeout_s=30)
        job = p.submit(Call(os.getpid), timeout_s=30)
        job.cancel()  # before the event loop ran the job's coroutine at all
        await job.wait()
        if blocker is not None:
            await blocker.result()
        return job, dict(p.status())

    job, status = with_pool(body, n=1)
    assert job.state is JobState.CANCELLED and isinstance(job.error, JobCancelled)
    assert status["idle"] == 1 and status["waiting"] == 0


def test_a_job_outlives_the_coroutine_that_awaited_it() -> None:
    """The pool ties no job to its submitter: cancelling the awaiter leaves the job running
    (the policy an asynchronous job API needs; :mod:`api.dispatch` chooses the opposite)."""

    async def body(p: WorkerPool) -> tuple[Any, int]:
        job = p.submit(Call(os.getpid), timeout_s=30)
        awaiter = asyncio.ensure_future(job.result())
        await asyncio.sleep(0)
        awaiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await awaiter
        return job, await job.result()

    job, pid = with_pool(body, n=1)
    assert job.state is JobState.SUCCEEDED and pid == job.worker_pid


# ---------------------------------------------------------------------- the service's tasks

_IMPUTE_BODY = json.dumps({"data": {"columns": ["a", "b"], "data": [[1, 2], [2, None], [3, 5], [4, 3]]}})


@pytest.mark.parametrize(
    ("task", "status", "key"),
    [
        (ImputeTask("json", _IMPUTE_BODY.encode()), 200, "completed"),
        (ImputeTask("csv", b"a,b\n1,2\n2,\n3,5\n4,3\n", output="csv"), 200, None),
        (MixedTask(json.dumps({"y": [1, 2, 3, 5], "ZETA": [{"Z": [[1, 0], [1, 0], [0, 1], [0, 1]]}]}).encode()),
         200, "var_comp"),
        (MixedFrameTask(json.dumps({
            "data": {"columns": ["y", "g"], "data": [[1, "a"], [2, "a"], [3, "b"], [5, "b"]]},
            "response": "y", "random": ["g"]}).encode()), 200, "var_comp"),
        (MixedTask(b"{}"), 422, "errors"),
    ],
)
def test_service_tasks_run_in_the_pool_without_a_request(task: Any, status: int, key: str | None) -> None:
    async def body(p: WorkerPool) -> JobOutput:
        return await p.submit(task, timeout_s=60).result()  # type: ignore[no-any-return]

    got_status, media, payload, headers = with_pool(body, n=1, preload=["api.tasks"])
    assert got_status == status
    if key is None:  # the table of a fit: its warnings in a header
        assert media.startswith("text/csv") and payload.startswith(b"a,b")
        assert headers == (("Imputer-Warnings", "[]"),)
    else:
        assert key in json.loads(payload)


@pytest.mark.parametrize(("memory_limit_mb", "status"), [(0, 500), (1 << 20, 422)])
def test_a_worker_aborting_under_the_memory_cap_is_422(memory_limit_mb: int, status: int) -> None:
    # an allocation failure in native code (pydantic-core) aborts the process: under a cap,
    # that is the data's size (422), not a server failure (500)
    async def body(p: WorkerPool) -> WorkerCrashed:
        with pytest.raises(WorkerCrashed) as info:
            await p.submit(Call(os.abort), timeout_s=30).result()
        return info.value

    exc = with_pool(body, n=1, memory_limit_mb=memory_limit_mb)
    assert isinstance(exc, WorkerOutOfMemory) == bool(memory_limit_mb)
    assert service_problem(exc)[0] == status
