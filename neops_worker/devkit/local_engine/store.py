"""The local engine's state in one SQLite file: workers, function blocks, the job queue, results, logs.

sqlite3 only, no HTTP. Every write goes through one connection under one lock and, where it reads
before it writes, inside ``BEGIN IMMEDIATE``; so a claim is atomic even when several processes share
the file. WAL with ``synchronous=NORMAL`` keeps commits cheap: a killed engine loses nothing it
committed, a power loss may lose the last transactions but never corrupts the file; the right trade
for a development engine.

Worker liveness is counted from ``max(last ping, store opened)``: after an engine restart every
worker that was alive gets a full offline period to ping again, since it could not reach a dead engine.
"""

from __future__ import annotations

import enum
import heapq
import json
import sqlite3
import threading
import time
import uuid as uuid_module
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neops_worker.devkit.local_engine import _schema as sql
from neops_worker.devkit.local_engine.models import (
    DevFunctionBlock,
    DevJob,
    DevJobDetail,
    DevLogEntry,
    DevWorker,
    EngineJobDefinition,
    NewJob,
    ResultSubmission,
)
from neops_worker.devkit.local_engine.options import EngineOptions
from neops_worker.engine.wire import (
    JobContextWire,
    JobLog,
    JobPoll,
    JobShowResult,
    RegisterFunctionBlock,
    RegisterWorker,
    WorkerRegistration,
)

Clock = Callable[[], float]
Row = tuple[Any, ...]

#: Polls and pings sweep for silent workers at most this often; the background sweep does the rest.
SWEEP_GAP_S = 0.02


class ResultOutcome(enum.Enum):
    """What became of a pushed result."""

    ACCEPTED = "accepted"
    UNKNOWN_JOB = "unknown job"
    ALREADY_HAS_RESULT = "already has a result"


class RegistrationOutcome(enum.Enum):
    """What became of a function-block registration."""

    CREATED = "created"
    ALREADY_REGISTERED = "already registered"
    UNKNOWN_WORKER = "unknown worker"


class StoreSchemaError(RuntimeError):
    """The database file was written by an incompatible version of the local engine."""


def iso(epoch: float) -> str:
    """Epoch seconds as the engine writes timestamps: ISO 8601, milliseconds, ``Z``."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _iso_or_none(epoch: float | None) -> str | None:
    return None if epoch is None else iso(epoch)


def connect(db_path: str | Path) -> sqlite3.Connection:
    """Open (creating if needed) the database with WAL, ``synchronous=NORMAL`` and explicit transactions."""
    if str(db_path) != ":memory:":
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class EngineStore:
    """Workers, function blocks, jobs and results of the local engine; thread-safe, one connection."""

    def __init__(self, conn: sqlite3.Connection, options: EngineOptions, clock: Clock = time.time) -> None:
        self._conn = conn
        self._options = options
        self._clock = clock
        self._lock = threading.Lock()
        self._opened_at = clock()
        self._last_sweep = float("-inf")

    @classmethod
    def open(
        cls, db_path: str | Path, options: EngineOptions | None = None, clock: Clock = time.time
    ) -> EngineStore:
        """Open the store at ``db_path`` (``:memory:`` allowed), creating the tables on first use."""
        conn = connect(db_path)
        try:
            _migrate(conn)
        except BaseException:
            conn.close()
            raise
        return cls(conn, options or EngineOptions(), clock)

    def close(self) -> None:
        """Close the connection; the store is unusable afterwards."""
        with self._lock:
            self._conn.close()

    @property
    def options(self) -> EngineOptions:
        """The thresholds and answers this store was opened with."""
        return self._options

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction under the lock: reads and writes in it are atomic."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # --- worker liveness ------------------------------------------------------------------

    def sweep(self) -> list[str]:
        """Mark silent workers unreachable, expire long-silent ones and re-queue their jobs."""
        with self._write() as db:
            return self._sweep(db, self._clock())

    def _sweep(self, db: sqlite3.Connection, now: float) -> list[str]:
        self._last_sweep = now
        expired = self._expire(db, now)
        cutoff = now - self._options.unreachable_after_s
        if self._opened_at < cutoff:
            db.execute(
                "UPDATE workers SET state = 'unreachable', updated_at = ? "
                "WHERE state = 'online' AND deleted_at IS NULL AND last_ping_at < ?",
                (now, cutoff),
            )
        return expired

    def _expire(self, db: sqlite3.Connection, now: float) -> list[str]:
        cutoff = now - self._options.offline_after_s
        if self._opened_at >= cutoff:
            return []
        rows = db.execute(
            "SELECT uuid FROM workers WHERE deleted_at IS NULL AND last_ping_at < ?", (cutoff,)
        ).fetchall()
        for (worker_id,) in rows:
            db.execute(
                "UPDATE workers SET state = 'offline', deleted_at = ?, updated_at = ? WHERE uuid = ?",
                (now, now, worker_id),
            )
            # The worker is gone with its claim: hand the job to the next poller.
            db.execute(sql.REQUEUE_JOBS_OF, (worker_id,))
        return [worker_id for (worker_id,) in rows]

    def _sweep_if_due(self, db: sqlite3.Connection, now: float) -> None:
        """Sweep unless one ran in the last :data:`SWEEP_GAP_S`: the hot paths should not sweep every time."""
        if now - self._last_sweep >= SWEEP_GAP_S:
            self._sweep(db, now)

    def _live(self, db: sqlite3.Connection, worker_id: str, now: float) -> bool:
        """Whether the worker exists and has not expired, expiring it right now if it is overdue."""
        row = db.execute(sql.WORKER_LIVENESS, (worker_id,)).fetchone()
        if row is None or row[0] is not None:
            return False
        if max(row[1], self._opened_at) < now - self._options.offline_after_s:
            self._sweep(db, now)
            return False
        return True

    # --- workers ------------------------------------------------------------------------------

    def register_worker(self, request: RegisterWorker) -> WorkerRegistration:
        """Create a worker record, online as of now, under a fresh UUID."""
        worker_id = str(uuid_module.uuid4())
        now = self._clock()
        with self._write() as db:
            db.execute(
                sql.INSERT_WORKER,
                (worker_id, request.version, request.name, request.ip_address, now, now, now),
            )
            row = db.execute(sql.GET_WORKER, (worker_id,)).fetchone()
        return _worker(row)

    def ping(self, worker_id: str) -> bool:
        """Record a heartbeat (bringing an unregistered worker back); False if unknown or expired."""
        with self._write() as db:
            now = self._clock()
            self._sweep_if_due(db, now)
            if not self._live(db, worker_id, now):
                return False
            db.execute(
                "UPDATE workers SET state = 'online', last_ping_at = ?, updated_at = ? WHERE uuid = ?",
                (now, now, worker_id),
            )
            return True

    def unregister(self, worker_id: str) -> bool:
        """Mark the worker offline, keeping its record; False if unknown or expired."""
        with self._write() as db:
            now = self._clock()
            if not self._live(db, worker_id, now):
                return False
            db.execute(
                "UPDATE workers SET state = 'offline', updated_at = ? WHERE uuid = ?", (now, worker_id)
            )
            return True

    def get_worker(self, worker_id: str, find_deleted: bool = False) -> WorkerRegistration | None:
        """The worker's record; expired workers only with ``find_deleted``."""
        with self._write() as db:
            self._sweep(db, self._clock())
            row = db.execute(sql.GET_WORKER, (worker_id,)).fetchone()
        if row is None or (row[8] is not None and not find_deleted):
            return None
        return _worker(row)

    def list_workers(self, find_deleted: bool = False, online_only: bool = False) -> list[WorkerRegistration]:
        """Every worker in registration order; expired ones only with ``find_deleted``."""
        with self._write() as db:
            self._sweep(db, self._clock())
            rows = db.execute(sql.LIST_WORKERS, (int(online_only), int(find_deleted))).fetchall()
        return [_worker(row) for row in rows]

    def worker_function_blocks(self, worker_id: str) -> list[str] | None:
        """The string ids of the blocks linked to a live worker; None if it is unknown or expired."""
        with self._write() as db:
            if not self._live(db, worker_id, self._clock()):
                return None
            rows = db.execute(
                "SELECT fb_id FROM fb_workers WHERE worker_id = ? ORDER BY fb_id", (worker_id,)
            ).fetchall()
        return [fb_id for (fb_id,) in rows]

    # --- function blocks --------------------------------------------------------------------

    def register_function_block(self, request: RegisterFunctionBlock) -> RegistrationOutcome:
        """Store the block unless its package/name/version exists; link it to ``workerId`` either way."""
        fb_id = request.fb_id
        with self._write() as db:
            now = self._clock()
            if request.worker_id is not None and not self._live(db, request.worker_id, now):
                return RegistrationOutcome.UNKNOWN_WORKER
            created = _insert_function_block(db, request, now)
            if request.worker_id is not None:
                db.execute(
                    "INSERT OR IGNORE INTO fb_workers (worker_id, fb_id, linked_at) VALUES (?, ?, ?)",
                    (request.worker_id, fb_id, now),
                )
        return RegistrationOutcome.CREATED if created else RegistrationOutcome.ALREADY_REGISTERED

    # --- the queue ------------------------------------------------------------------------------

    def claim_jobs(self, poll: JobPoll) -> list[EngineJobDefinition] | None:
        """Atomically hand the oldest pending jobs of the requested, linked blocks to the worker.

        None if the worker is unknown or expired. Without ``limit`` every matching job is claimed,
        as the engine does.
        """
        wanted = {fb.fb_id for fb in poll.function_block_ids}
        with self._write() as db:
            now = self._clock()
            self._sweep_if_due(db, now)
            if not self._live(db, poll.worker_id, now):
                return None
            linked = {
                row[0]
                for row in db.execute("SELECT fb_id FROM fb_workers WHERE worker_id = ?", (poll.worker_id,))
            }
            seqs = _pick_pending(db, sorted(wanted & linked), poll.limit)
            rows = (
                db.execute(sql.claim(len(seqs)), sql.claim_args(poll.worker_id, now, seqs)).fetchall()
                if seqs
                else []
            )
        return [_job_definition(row) for row in sorted(rows)]

    def submit_result(self, submission: ResultSubmission) -> ResultOutcome:
        """Keep the first result of a job; a second one is refused."""
        body = json.dumps(submission.to_wire())
        job_id = submission.job_execution_id
        with self._lock:
            cursor = self._conn.execute(
                sql.ACCEPT_RESULT,
                (submission.status, submission.result.message, body, self._clock(), job_id),
            )
            if cursor.rowcount == 1:
                return ResultOutcome.ACCEPTED
            exists = self._conn.execute("SELECT 1 FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return ResultOutcome.ALREADY_HAS_RESULT if exists else ResultOutcome.UNKNOWN_JOB

    def add_log(self, log: JobLog) -> None:
        """Store one job log line (for any job id: log pushes are best effort on the worker's side)."""
        with self._lock:
            self._conn.execute(
                sql.INSERT_LOG,
                (log.job_id, log.workflow_id, log.function_block_id, log.log_level, log.log_entry,
                 log.timestamp, self._clock()),
            )  # fmt: skip

    def list_jobs(self, status: str | None = None, worker_id: str | None = None) -> list[JobShowResult]:
        """Jobs in queue order as ``JobShowResultDto``, filtered by status and assigned worker."""
        with self._lock:
            rows = self._conn.execute(sql.SHOW_JOBS, (status, worker_id, None)).fetchall()
        return [_show(row) for row in rows]

    def active_jobs(self) -> list[JobShowResult]:
        """Pending and polled jobs, and pushed ones finished within ``active_window_s``."""
        since = self._clock() - self._options.active_window_s
        with self._lock:
            rows = self._conn.execute(sql.SHOW_ACTIVE_JOBS, (since,)).fetchall()
        return [_show(row) for row in rows]

    # --- development views ------------------------------------------------------------------

    def add_job(self, job: NewJob) -> str | None:
        """Put a pending job at the end of the queue; its id, or None if that id is taken."""
        job_id = job.job_id or str(uuid_module.uuid4())
        context = json.dumps(job.context.model_dump(mode="json", by_alias=True))
        with self._lock:
            try:
                self._conn.execute(
                    sql.INSERT_JOB,
                    (job_id, job.function_block_id, job.type, job.run_on, job.entity_id, job.step_label,
                     json.dumps(job.parameters), context, self._clock()),
                )  # fmt: skip
            except sqlite3.IntegrityError:
                return None
        return job_id

    def get_job(self, job_id: str) -> DevJobDetail | None:
        """One job with its input, the full stored result and its log lines; None if unknown."""
        with self._lock:
            row = self._conn.execute(sql.DEV_JOB, (job_id,)).fetchone()
            logs = self._conn.execute(sql.SELECT_LOGS, (job_id,)).fetchall()
        if row is None:
            return None
        return DevJobDetail(
            **_dev_job_fields(row),
            parameters=json.loads(row[15]),
            context=json.loads(row[16]),
            result=None if row[17] is None else json.loads(row[17]),
            logs=[_log_entry(log) for log in logs],
        )

    def dev_jobs(
        self, status: str | None = None, function_block_id: str | None = None, worker_id: str | None = None
    ) -> list[DevJob]:
        """Jobs in queue order with state, worker, claims, timing and result message."""
        with self._lock:
            rows = self._conn.execute(sql.DEV_JOBS, (status, worker_id, function_block_id)).fetchall()
        return [DevJob(**_dev_job_fields(row)) for row in rows]

    def dev_workers(self) -> list[DevWorker]:
        """Every worker ever registered, expired ones included, with its blocks and claimed jobs."""
        with self._write() as db:
            now = self._clock()
            self._sweep(db, now)
            rows = db.execute(sql.DEV_WORKERS).fetchall()
        return [_dev_worker(row, now) for row in rows]

    def dev_function_blocks(self) -> list[DevFunctionBlock]:
        """Every registered function block with the workers linked to it."""
        with self._lock:
            rows = self._conn.execute(sql.DEV_FUNCTION_BLOCKS).fetchall()
        return [_dev_function_block(row) for row in rows]


# --- helpers: SQL -------------------------------------------------------------------------------


def _migrate(conn: sqlite3.Connection) -> None:
    """Create the tables, or check that an existing file has our schema version."""
    conn.executescript(sql.DDL)  # every statement is CREATE ... IF NOT EXISTS
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(sql.SCHEMA_VERSION),)
    )
    (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if int(version) != sql.SCHEMA_VERSION:
        raise StoreSchemaError(f"database schema version {version}, this engine needs {sql.SCHEMA_VERSION}")


def _insert_function_block(db: sqlite3.Connection, request: RegisterFunctionBlock, now: float) -> bool:
    cursor = db.execute(
        sql.INSERT_FUNCTION_BLOCK,
        (request.fb_id, request.package, request.name, request.major_version, request.minor_version,
         request.patch_version, request.fb_type, request.run_on, request.description,
         json.dumps(request.to_wire()), now),
    )  # fmt: skip
    return cursor.rowcount == 1


def _pick_pending(db: sqlite3.Connection, fb_ids: Sequence[str], limit: int | None) -> list[int]:
    """The queue positions of the oldest pending jobs over all ``fb_ids``: an index walk per block."""
    per_block = -1 if limit is None else limit
    candidates = [seq for fb_id in fb_ids for (seq,) in db.execute(sql.PICK_PENDING, (fb_id, per_block))]
    if limit is None:
        return sorted(candidates)
    return heapq.nsmallest(limit, candidates)


# --- helpers: rows to models --------------------------------------------------------------------


def _worker(row: Row) -> WorkerRegistration:
    uuid, version, name, ip_address, state, last_ping_at, created_at, updated_at, deleted_at = row
    return WorkerRegistration(
        uuid=uuid,
        version=version,
        name=name,
        ip_address=ip_address,
        state=state,
        last_ping_at=iso(last_ping_at),
        created_at=iso(created_at),
        updated_at=iso(updated_at),
        deleted_at=_iso_or_none(deleted_at),
    )


def _job_definition(row: Row) -> EngineJobDefinition:
    _seq, job_id, fb_id, step_label, parameters, context, job_type, run_on, entity_id = row
    return EngineJobDefinition(
        function_block_id=fb_id,
        job_id=job_id,
        step_label=step_label,
        parameters=json.loads(parameters),
        context=JobContextWire.model_validate_json(context),
        type=job_type,
        run_on=run_on,
        entity_id=entity_id,
    )


def _show(row: Row) -> JobShowResult:
    fb_id, job_id, step_label, status, job_type, result_status, worker_id, worker_name, deleted = row
    return JobShowResult(
        function_block_id=fb_id,
        job_id=job_id,
        step_label=step_label,
        status=status,
        type=job_type,
        result_status=result_status,
        worker_id=worker_id,
        worker_name=worker_name,
        worker_deleted=bool(deleted),
    )


def _dev_job_fields(row: Row) -> dict[str, Any]:
    claimed_at, finished_at = row[11], row[12]
    duration = None if claimed_at is None or finished_at is None else round(finished_at - claimed_at, 6)
    return {
        "job_id": row[0],
        "function_block_id": row[1],
        "type": row[2],
        "run_on": row[3],
        "entity_id": row[4],
        "step_label": row[5],
        "status": row[6],
        "worker_id": row[7],
        "worker_name": row[8],
        "claims": row[9],
        "created_at": iso(row[10]),
        "claimed_at": _iso_or_none(claimed_at),
        "finished_at": _iso_or_none(finished_at),
        "duration_s": duration,
        "result_status": row[13],
        "result_message": row[14],
    }


def _log_entry(row: Row) -> DevLogEntry:
    workflow_id, function_block_id, log_level, log_entry, timestamp, received_at = row
    return DevLogEntry(
        workflow_id=workflow_id,
        function_block_id=function_block_id,
        log_level=log_level,
        log_entry=log_entry,
        timestamp=timestamp,
        received_at=iso(received_at),
    )


def _dev_worker(row: Row, now: float) -> DevWorker:
    registration = _worker(row[:9])
    return DevWorker(
        uuid=registration.uuid,
        name=registration.name,
        version=registration.version,
        ip_address=registration.ip_address,
        state=registration.state,
        expired=row[8] is not None,
        last_ping_at=registration.last_ping_at,
        last_ping_age_s=round(now - row[5], 3),
        created_at=registration.created_at,
        deleted_at=registration.deleted_at,
        function_blocks=sorted(json.loads(row[9])),
        claimed_jobs=row[10],
    )


def _dev_function_block(row: Row) -> DevFunctionBlock:
    return DevFunctionBlock(
        function_block_id=row[0],
        package=row[1],
        name=row[2],
        major_version=row[3],
        minor_version=row[4],
        patch_version=row[5],
        fb_type=row[6],
        run_on=row[7],
        description=row[8],
        registered_at=iso(row[9]),
        registration=json.loads(row[10]),
        worker_ids=sorted(json.loads(row[11])),
    )
