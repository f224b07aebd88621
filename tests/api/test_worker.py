"""api.worker: the parent's handle on one worker process."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

from api.worker import WorkerProcess


class SlowClosePipe:
    """The parent's pipe end, with a close() slow enough for two killers to overlap."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.n_close = conn, 0

    @property
    def closed(self) -> bool:
        return bool(self.conn.closed)

    def close(self) -> None:
        self.n_close += 1
        time.sleep(0.05)
        self.conn.close()


def test_kill_from_two_threads_at_once_closes_the_pipe_once() -> None:
    # the pool's stop() and a job's own replacement may kill the same worker together;
    # two closes of the pipe at once raised OSError(EBADF) into the job
    worker = WorkerProcess(multiprocessing.get_context("spawn"))
    pipe = SlowClosePipe(worker.conn)
    worker.conn = pipe  # type: ignore[assignment]
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def kill() -> None:
        start.wait()
        try:
            worker.kill()
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=kill) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert pipe.n_close == 1
    assert not worker.alive() and pipe.closed
