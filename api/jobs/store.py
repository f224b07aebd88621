"""The job store: one SQL database (SQLAlchemy Core) shared by servers and their workers.

Two tables. ``jobs`` holds one row per job: its owner (the SHA-256 of the API key that
created it, ``""`` without keys), kind, status, the server instance that runs it and
that instance's last heartbeat, timestamps (seconds since the epoch, UTC), the latest
progress report and, for a failed job, the problem document (JSON). ``job_outputs``
holds the answers of a succeeded (or failed) job, one row per format (``json``,
``csv``, ``parquet``): HTTP status, media type, size, the body compressed with zstd
(:mod:`api.jobs.codec`) and the answer's further headers (JSON, null for none: a
table's ``Imputer-Warnings``). A table made before that column existed gets it when
the server opens the store (:meth:`JobStore.__init__`).

Any SQLAlchemy URL works with the same code; the default is a SQLite file, opened in
WAL mode with a busy timeout so that the server and its worker processes (which write
progress) share it. Every method is blocking: the server calls them from threads.
Status changes are conditional updates (``WHERE status IN (...)``), so a late writer
(a worker reporting ``running`` after the job was cancelled) never overrides a final
state.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

__all__ = [
    "ACTIVE",
    "FINISHED",
    "JobRow",
    "JobStore",
    "Output",
    "owner_of",
    "absolute_url",
]

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)

metadata = sa.MetaData()

jobs = sa.Table(
    "imputer_jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("instance", sa.String(32), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float, index=True),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
    sa.Column("worker_pid", sa.Integer),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("iteration", sa.Integer),
    sa.Column("n_evals", sa.Integer),
    sa.Column("objective", sa.Float),
    sa.Column("change", sa.Float),
    sa.Column("elapsed", sa.Float),
    sa.Column("progress_at", sa.Float),
    sa.Column("error", sa.Text),
)

outputs = sa.Table(
    "imputer_job_outputs",
    metadata,
    sa.Column("job_id", sa.String(32), primary_key=True),
    sa.Column("format", sa.String(8), primary_key=True),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("media_type", sa.String(128), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("headers", sa.Text),  # added after the first release: see _add_missing_columns
)


def owner_of(key: str | None) -> str:
    """The owner recorded for a job: SHA-256 (hex) of the API key, ``""`` without one.

    The key itself is never stored; API keys are long random strings, for which an
    unsalted hash is not open to guessing.
    """
    if not key:
        return ""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def absolute_url(url: str) -> str:
    """``url`` with a relative SQLite file path made absolute (workers may not share the cwd)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.is_absolute():
            parsed = parsed.set(database=str(path.resolve()))
    return parsed.render_as_string(hide_password=False)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


@dataclass(frozen=True)
class Output:
    """One stored answer of a job: HTTP status, media type, uncompressed size, zstd body, further headers."""

    format: str
    status: int
    media_type: str
    size: int
    payload: bytes
    headers: tuple[tuple[str, str], ...] = ()


def _headers_text(headers: tuple[tuple[str, str], ...]) -> str | None:
    """The stored form of an answer's headers: a JSON list of ``[name, value]``, None for none."""
    return json.dumps([list(pair) for pair in headers]) if headers else None


def _headers_of(text: str | None) -> tuple[tuple[str, str], ...]:
    """The headers of :func:`_headers_text`'s text (none for null: an answer stored without them)."""
    return () if text is None else tuple((str(name), str(value)) for name, value in json.loads(text))


def _add_missing_columns(engine: Engine) -> None:
    """Add to a table made by an earlier release the nullable columns added since (``headers``).

    Several servers may open the store at once: a column another one has just added is
    not an error.
    """
    quote = engine.dialect.identifier_preparer
    for table in (outputs,):
        have = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            alter = f"ALTER TABLE {quote.format_table(table)} ADD COLUMN {quote.format_column(column)} {kind}"
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql(alter)
            except sa.exc.DBAPIError:
                if column.name not in {c["name"] for c in sa.inspect(engine).get_columns(table.name)}:
                    raise


@dataclass(frozen=True)
class JobRow:
    """One row of ``imputer_jobs`` (see the module docstring for the fields)."""

    id: str
    owner: str
    kind: str
    status: str
    instance: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    heartbeat_at: float
    worker_pid: int | None
    cancel_requested: bool
    iteration: int | None
    n_evals: int | None
    objective: float | None
    change: float | None
    elapsed: float | None
    progress_at: float | None
    error: str | None

    @property
    def problem(self) -> dict[str, Any] | None:
        """The failure's problem document (None unless failed)."""
        return None if self.error is None else json.loads(self.error)  # type: ignore[no-any-return]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _engine(url: str) -> Engine:
    """One engine per URL and process (created here, never inherited across a fork)."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            kw: dict[str, Any] = {}
            if make_url(url).get_backend_name() == "sqlite":
                kw["connect_args"] = {"check_same_thread": False, "timeout": 10}
            else:
                kw["pool_pre_ping"] = True
            engine = sa.create_engine(url, **kw)
            if engine.dialect.name == "sqlite":
                sa.event.listen(engine, "connect", _sqlite_pragmas)
            _engines[url] = engine
        return engine


class JobStore:
    """Reads and writes jobs in the database at ``url`` (tables created if missing).

    Parameters
    ----------
    url : str
        SQLAlchemy URL (a relative SQLite path is resolved against the current directory).
    create : bool
        Create the tables (the server does; the workers find them made).
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = absolute_url(url)
        self.engine = _engine(self.url)
        if create:
            metadata.create_all(self.engine)
            _add_missing_columns(self.engine)

    # ------------------------------------------------------------------ writes
    def create(self, job_id: str, *, owner: str, kind: str, instance: str) -> JobRow:
        """Insert a queued job and return its row."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                jobs.insert().values(
                    id=job_id, owner=owner, kind=kind, status=QUEUED, instance=instance,
                    created_at=now, heartbeat_at=now, cancel_requested=False,
                )
            )
        row = self.get(job_id)
        assert row is not None
        return row

    def mark_running(self, job_id: str, pid: int) -> bool:
        """``queued`` -> ``running`` (called by the worker as it starts); False if no longer queued."""
        with self.engine.begin() as conn:
            res = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == QUEUED)
                .values(status=RUNNING, started_at=time.time(), worker_pid=pid)
            )
        return res.rowcount == 1

    def report(self, job_id: str, progress: Mapping[str, Any]) -> None:
        """Record the latest progress of a running job (iteration, n_evals, objective, change, elapsed)."""
        values = {k: progress.get(k) for k in ("iteration", "n_evals", "objective", "change", "elapsed")}
        with self.engine.begin() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status.in_(ACTIVE))
                .values(progress_at=time.time(), **values)
            )

    def finish(
        self,
        job_id: str,
        status: str,
        *,
        error: Mapping[str, Any] | None = None,
        answers: Iterable[Output] = (),
    ) -> bool:
        """Record the final state (and the answers) of an active job; False if it was not active."""
        now = time.time()
        with self.engine.begin() as conn:
            res = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status.in_(ACTIVE))
                .values(
                    status=status,
                    finished_at=now,
                    started_at=sa.func.coalesce(jobs.c.started_at, now),
                    error=None if error is None else json.dumps(error),
                )
            )
            if res.rowcount != 1:
                return False
            rows = [
                {"job_id": job_id, "format": a.format, "status": a.status, "media_type": a.media_type,
                 "size": a.size, "payload": a.payload, "headers": _headers_text(a.headers)}
                for a in answers
            ]
            if rows:
                conn.execute(outputs.insert(), rows)
        return True

    def request_cancel(self, job_id: str) -> None:
        """Flag an active job for cancellation by the server instance that runs it."""
        with self.engine.begin() as conn:
            conn.execute(
                jobs.update().where(jobs.c.id == job_id, jobs.c.status.in_(ACTIVE)).values(cancel_requested=True)
            )

    def delete(self, job_id: str) -> None:
        """Remove a job and its answers."""
        with self.engine.begin() as conn:
            conn.execute(outputs.delete().where(outputs.c.job_id == job_id))
            conn.execute(jobs.delete().where(jobs.c.id == job_id))

    # ------------------------------------------------------------------ reads
    def get(self, job_id: str) -> JobRow | None:
        """The job's row, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(jobs.select().where(jobs.c.id == job_id)).mappings().first()
        return None if row is None else JobRow(**row)

    def output(self, job_id: str, fmt: str) -> Output | None:
        """The stored answer of the job in ``fmt`` (``json``, ``csv`` or ``parquet``), or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(outputs.c.format, outputs.c.status, outputs.c.media_type, outputs.c.size,
                          outputs.c.payload, outputs.c.headers)
                .where(outputs.c.job_id == job_id, outputs.c.format == fmt)
            ).mappings().first()
        return None if row is None else Output(**{**row, "headers": _headers_of(row["headers"])})

    def formats(self, job_id: str) -> list[str]:
        """The formats in which the job's answer is stored."""
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(outputs.c.format).where(outputs.c.job_id == job_id)).scalars())

    # ------------------------------------------------------------------ the sweep
    def heartbeat(self, instance: str) -> list[str]:
        """Refresh the heartbeat of ``instance``'s active jobs; the ids flagged for cancellation."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.instance == instance, jobs.c.status.in_(ACTIVE))
                .values(heartbeat_at=now)
            )
            flagged = conn.execute(
                sa.select(jobs.c.id).where(
                    jobs.c.instance == instance, jobs.c.status.in_(ACTIVE), jobs.c.cancel_requested.is_(True)
                )
            ).scalars()
            return list(flagged)

    def fail_orphans(self, stale_before: float, problem: Mapping[str, Any], *, exclude: str = "") -> int:
        """Mark ``failed`` (with ``problem``) every active job whose server's heartbeat is
        older than ``stale_before`` (that server died); the number marked."""
        with self.engine.begin() as conn:
            res = conn.execute(
                jobs.update()
                .where(jobs.c.status.in_(ACTIVE), jobs.c.heartbeat_at < stale_before, jobs.c.instance != exclude)
                .values(status=FAILED, finished_at=time.time(), error=json.dumps(problem))
            )
        return int(res.rowcount)

    def expire(self, finished_before: float) -> int:
        """Delete the jobs (and answers) that finished before ``finished_before``; the number deleted."""
        with self.engine.begin() as conn:
            old = sa.select(jobs.c.id).where(jobs.c.status.in_(FINISHED), jobs.c.finished_at < finished_before)
            conn.execute(outputs.delete().where(outputs.c.job_id.in_(old)))
            res = conn.execute(
                jobs.delete().where(jobs.c.status.in_(FINISHED), jobs.c.finished_at < finished_before)
            )
        return int(res.rowcount)
