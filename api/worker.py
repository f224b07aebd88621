"""One worker process of the pool: its main loop and the parent's handle on it.

A worker is a long-lived process connected to the server by a duplex pipe. It
receives a task (:class:`Task`: any picklable object with a ``run()`` method;
:class:`Call` wraps a module-level function), runs it and replies ``("ok", value)``
or ``("error", exception class name)``; ``None`` asks it to exit.
The parent talks to it from a thread (:meth:`WorkerProcess.call` blocks), never from
the event loop. A worker that must stop now is killed (SIGKILL) and reaped.

This module knows nothing about HTTP nor about the tasks it runs.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Generic, Literal, Protocol, TypeVar

__all__ = ["Task", "Call", "Reply", "WorkerProcess"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Task(Protocol[T_co]):
    """What a worker runs: a picklable object whose ``run()`` returns a picklable value."""

    def run(self) -> T_co:
        """Compute the value (in the worker process)."""
        ...


@dataclass(frozen=True)
class Call(Generic[T]):
    """A task that calls an importable (module-level) function: ``func(*args, **kwargs)``."""

    func: Callable[..., T]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def run(self) -> T:
        """Call the function (in the worker process)."""
        return self.func(*self.args, **self.kwargs)


#: ``("ok", value)``, ``("error", exception class name)`` or ``("died", None)``.
Reply = tuple[Literal["ok", "error", "died"], Any]


def worker_main(conn: Connection, memory_limit_mb: int = 0, nice: int = 0) -> None:
    """Worker loop: receive a task, reply ``("ok", task.run())`` or ``("error", name)``.

    With ``memory_limit_mb > 0`` the address space of the worker is capped
    (``RLIMIT_AS``), so an oversized problem raises ``MemoryError`` in the worker
    instead of exhausting the machine. ``nice > 0`` lowers the worker's CPU priority, so
    the server's event loop (health checks, 503 answers) keeps the CPU it needs.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops workers itself
    if nice > 0:
        os.nice(nice)
    if memory_limit_mb > 0:
        import resource

        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            reply: Reply = ("ok", task.run())
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, logged here
            traceback.print_exc(file=sys.stderr)
            reply = ("error", type(exc).__name__)
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable value
            traceback.print_exc(file=sys.stderr)
            try:
                conn.send(("error", type(exc).__name__))
            except (EOFError, OSError):
                return


class WorkerProcess:
    """One worker process and the parent's end of its pipe.

    Parameters
    ----------
    ctx : multiprocessing context
        Context that starts the process (the pool uses ``forkserver``).
    memory_limit_mb, nice : int
        Passed to :func:`worker_main`.
    """

    def __init__(self, ctx: Any, memory_limit_mb: int = 0, nice: int = 0) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.conn: Connection = parent
        self.proc = ctx.Process(
            target=worker_main,
            args=(child, memory_limit_mb, nice),
            daemon=True,
            name="imputer-worker",
        )
        self.proc.start()
        child.close()
        # kill() may run from two executor threads at once (a job's own replacement and
        # the pool's stop()): the lock makes it idempotent, so the pipe is closed once
        self._kill_lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """Process id (None before start)."""
        return self.proc.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.is_alive()

    def call(self, task: Task[Any]) -> Reply:
        """Send one task and wait for its reply (blocks: call it from a thread)."""
        try:
            self.conn.send(task)
        except (EOFError, OSError):
            return ("died", None)
        except Exception as exc:  # noqa: BLE001 - not picklable: nothing was sent
            return ("error", type(exc).__name__)
        try:
            return self.conn.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError):
            return ("died", None)

    def kill(self) -> None:
        """Kill the process (SIGKILL), reap it and close the pipe; safe to call repeatedly."""
        with self._kill_lock:
            if self.proc.is_alive():
                self.proc.kill()
            self.proc.join(timeout=10)
            if not self.conn.closed:
                self.conn.close()

    def stop(self, grace_s: float = 2.0) -> None:
        """Ask the worker to exit; kill it if it has not after ``grace_s`` seconds."""
        try:
            self.conn.send(None)
        except (EOFError, OSError):
            pass
        self.proc.join(timeout=grace_s)
        self.kill()
