"""The synchronous dispatch policy: a job lives as long as its HTTP client waits."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.requests import Request
from starlette.types import Message

from api.dispatch import CLIENT_CLOSED, answer_while_connected
from api.errors import JobTimedOut, PoolNotRunning
from api.pool import Call, WorkerPool
from api.tasks import JobOutput
from tests.api.test_pool import pid_gone, until, with_pool

pytestmark = pytest.mark.timeout(60)

#: a task answering (status, media, body, headers)
ANSWER = Call(JobOutput, (201, "text/plain", b"done", (("Imputer-Warnings", '["slow"]'),)))
SLOW = Call(time.sleep, (60,))


def make_request(receive: Callable[[], Awaitable[Message]]) -> Request:
    scope = {"type": "http", "method": "POST", "path": "/v1/x", "headers": [], "query_string": b""}
    return Request(scope, receive)


async def stays_connected() -> Message:
    await asyncio.Event().wait()  # never set: the client waits for its answer
    raise AssertionError("unreachable")


def test_connected_client_gets_the_task_answer() -> None:
    async def body(pool: WorkerPool) -> Any:
        return await answer_while_connected(make_request(stays_connected), pool, ANSWER, timeout_s=30)

    response = with_pool(body, n=1)
    assert response.status_code == 201 and response.body == b"done"
    assert response.media_type == "text/plain" and response.headers["imputer-warnings"] == '["slow"]'


def test_client_that_leaves_stops_its_job_and_frees_the_worker() -> None:
    async def body(pool: WorkerPool) -> tuple[Any, list[int], list[int]]:
        before = pool.worker_pids()
        leave = asyncio.Event()

        async def receive() -> Message:
            await leave.wait()
            return {"type": "http.disconnect"}

        request = make_request(receive)
        answer = asyncio.ensure_future(answer_while_connected(request, pool, SLOW, timeout_s=60))
        await until(lambda: pool.status()["busy"] == 1)
        leave.set()
        response = await answer
        return response, before, pool.worker_pids()

    response, before, after = with_pool(body, n=1)
    assert response.status_code == CLIENT_CLOSED
    assert len(after) == 1 and after != before
    assert pid_gone(before[0])


def test_request_torn_down_stops_its_job() -> None:
    async def body(pool: WorkerPool) -> tuple[list[int], list[int], int]:
        before = pool.worker_pids()
        request = make_request(stays_connected)
        answer = asyncio.ensure_future(answer_while_connected(request, pool, SLOW, timeout_s=60))
        await until(lambda: pool.status()["busy"] == 1)
        answer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await answer
        await until(lambda: pool.status()["idle"] == 1)
        return before, pool.worker_pids(), await pool.submit(Call(os.getpid), timeout_s=30).result()

    before, after, pid = with_pool(body, n=1)
    assert after == [pid] and pid != before[0]


@pytest.mark.parametrize(
    ("started", "task", "error", "message"),
    [
        (True, SLOW, JobTimedOut, "The computation exceeded the time limit of 0.3 s and was stopped."),
        (False, ANSWER, PoolNotRunning, "The computation service is not running."),
    ],
)
def test_pool_errors_reach_the_caller(started: bool, task: Any, error: type[Exception], message: str) -> None:
    async def main() -> None:
        pool = WorkerPool(1)
        if started:
            await pool.start()
        try:
            with pytest.raises(error, match=re.escape(message)):
                await answer_while_connected(make_request(stays_connected), pool, task, timeout_s=0.3)
        finally:
            await pool.stop()

    asyncio.run(main())
