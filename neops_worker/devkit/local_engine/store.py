"""The local engine's state in one SQLite file: workers, function blocks, runs, the job queue, results, logs.

sqlite3 only, no HTTP. Every write goes through one connection under one lock and, where it reads
before it writes, inside ``BEGIN IMMEDIATE``; so a claim is atomic even when several processes share
the file. WAL with ``synchronous=NORMAL`` keeps commits cheap: a killed engine loses nothing it
committed, a power loss may lose the last transactions but never corrupts the file; the right trade
for a development engine.

Worker liveness is counted from ``max(last seen, store opened)``: after an engine restart every
worker that was alive gets a full offline period to ping again, since it could not reach a dead engine.
What follows a job's end (a retry, a rollback job, the run's end state) is decided in :mod:`._runs`.
"""

from __future__ import annotations

import enum
import heapq
import json
import logging
import sqlite3
import threading
import time
import uuid as uuid_module
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from neops_worker.devkit.local_engine import _rows as rows
from neops_worker.devkit.local_engine import _runs as runs
from neops_worker.devkit.local_engine import _schema as sql
from neops_worker.devkit.local_engine._page import JobPageQuery
from neops_worker.devkit.local_engine._rows import iso
from neops_worker.devkit.local_engine.models import (
    DevFunctionBlock,
    DevJob,
    DevJobDetail,
    DevWorker,
    EngineJobDefinition,
    EngineJobPage,
    EngineJobShow,
    EngineWorker,
    NewJob,
    ResultSubmission,
)
from neops_worker.devkit.local_engine.options import EngineOptions
from neops_worker.engine.wire import (
    JobExecutionResult,
    JobLog,
    JobPoll,
    RegisterFunctionBlock,
    RegisterWorker,
)

log = logging.getLogger(__name__)

Clock = Callable[[], float]

#: Polls and pings sweep for silent workers at most this often; the background sweep does the rest.
SWEEP_GAP_S = 0.02


class ResultOutcome(enum.Enum):
    """What became of a pushed result."""

    ACCEPTED = "accepted"
    UNKNOWN_JOB = "unknown job"
    ALREADY_HAS_RESULT = "already has a result"
    #: The engine failed the job itself before the result came (stuck-job timeout).
    FAILED_BY_ENGINE = "failed by the engine"


class RegistrationOutcome(enum.Enum):
    """What became of a function-block registration."""

    CREATED = "created"
    ALREADY_REGISTERED = "already registered"
    UNKNOWN_WORKER = "unknown worker"


class StateCounts(NamedTuple):
    """How much a store holds: jobs, workers ever registered, function blocks."""

    jobs: int
    workers: int
    function_blocks: int


class StoreSchemaError(RuntimeError):
    """The database file was written by an incompatible version of the local engine."""


class LicenceLimitReached(Exception):
    """A registration would exceed a licence limit of the engine's options."""

    def __init__(self, quota: str, current: int, maximum: int) -> None:
        super().__init__(f"licence limit {quota} reached: {current} of {maximum}")
        #: ``workers`` or ``functionBlocks`` (``LicenseQuotaName``).
        self.quota = quota
        self.current = current
        self.maximum = maximum


class RemediationRefused(Exception):
    """A rollback of a job was asked for and cannot be made; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def connect(db_path: str | Path) -> sqlite3.Connection:
    """Open (creating if needed) the database with WAL, ``synchronous=NORMAL`` and explicit transactions."""
    if str(db_path) != ":memory:":
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class EngineStore:
    """Workers, function blocks, runs, jobs and results of the local engine; thread-safe, one connection."""

    def __init__(self, conn: sqlite3.Connection, options: EngineOptions, clock: Clock = time.time) -> None:
        self._conn = conn
        self._options = options
        self._clock = clock
        self._lock = threading.Lock()
        self._opened_at = clock()
        self._last_sweep = float("-inf")
        self._last_stuck_check = float("-inf")

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

    def counts(self) -> StateCounts:
        """How many jobs, workers and function blocks the store holds (earlier runs' included)."""
        with self._lock:
            return StateCounts(*self._conn.execute(sql.COUNT_STATE).fetchone())

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

    # --- the sweep: silent workers, stuck jobs --------------------------------------------------

    def sweep(self, force: bool = False) -> list[str]:
        """Expire silent workers (re-queuing their jobs) and fail stuck jobs; the expired workers' ids.

        Stuck jobs are looked for every ``stuck_check_interval_s``, or now with ``force``.
        """
        with self._write() as db:
            now = self._clock()
            expired = self._sweep(db, now)
            if self._options.stuck_job_timeout_s and (
                force or now - self._last_stuck_check >= self._options.stuck_check_interval_s
            ):
                self._last_stuck_check = now
                self._fail_stuck_jobs(db, now)
            return expired

    def _sweep(self, db: sqlite3.Connection, now: float) -> list[str]:
        self._last_sweep = now
        expired = self._expire(db, now)
        cutoff = now - self._options.unreachable_after_s
        if self._opened_at < cutoff:
            db.execute(
                "UPDATE workers SET state = 'unreachable', updated_at = ? "
                "WHERE state = 'online' AND deleted_at IS NULL AND last_seen_at < ?",
                (now, cutoff),
            )
        return expired

    def _expire(self, db: sqlite3.Connection, now: float) -> list[str]:
        cutoff = now - self._options.offline_after_s
        if self._opened_at >= cutoff:
            return []
        found = db.execute(
            "SELECT uuid FROM workers WHERE deleted_at IS NULL AND last_seen_at < ?", (cutoff,)
        ).fetchall()
        for (worker_id,) in found:
            db.execute(
                "UPDATE workers SET state = 'offline', deleted_at = ?, updated_at = ? WHERE uuid = ?",
                (now, now, worker_id),
            )
            # The worker is gone with its claim: hand the job to the next poller.
            db.execute(sql.REQUEUE_JOBS_OF, (now, worker_id))
        return [worker_id for (worker_id,) in found]

    def _fail_stuck_jobs(self, db: sqlite3.Connection, now: float) -> None:
        """Fail every job claimed longer than the stuck-job timeout ago, as the engine's cleanup does."""
        timeout = self._options.stuck_job_timeout_s
        for job_id, worker_id, claimed_at in db.execute(sql.STUCK_JOBS, (now - timeout,)).fetchall():
            message = (
                f"Failed by the engine: claimed by worker {worker_id} at {iso(claimed_at)} and no result "
                f"within the stuck-job timeout of {timeout:g} s"
            )
            result = JobExecutionResult(success=False, message=message)
            stuck = ResultSubmission(job_execution_id=job_id, status="failed", result=result)
            self._accept(db, stuck, now, by_engine=True)
            log.warning("Job %s: %s; a result pushed later gets 409", job_id, message)

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

    def register_worker(self, request: RegisterWorker) -> EngineWorker:
        """Create a worker record, online as of now, under a fresh UUID; LicenceLimitReached if full."""
        worker_id = str(uuid_module.uuid4())
        now = self._clock()
        with self._write() as db:
            if self._options.max_workers is not None:
                self._sweep(db, now)  # an expired worker no longer takes a slot
                _check_quota(db, "workers", sql.COUNT_WORKERS, self._options.max_workers)
            db.execute(
                sql.INSERT_WORKER,
                sql.numbered(worker_id, request.version, request.name, request.ip_address, now),
            )
            [row] = rows.named(db.execute(sql.GET_WORKER, (worker_id,)))
        return rows.worker(row)

    def ping(self, worker_id: str) -> bool:
        """Record a heartbeat (bringing an unregistered worker back); False if unknown or expired."""
        with self._write() as db:
            now = self._clock()
            self._sweep_if_due(db, now)
            if not self._live(db, worker_id, now):
                return False
            db.execute(
                "UPDATE workers SET state = 'online', last_ping_at = :p1, last_seen_at = :p1, "
                "updated_at = :p1 WHERE uuid = :p2",
                sql.numbered(now, worker_id),
            )
            return True

    def unregister(self, worker_id: str) -> bool:
        """Mark the worker offline, keeping its record; False if unknown or expired.

        A 0.43 engine writes the epoch into ``lastPingAt`` (``lastSeenAt`` keeps the time); liveness
        counts from the unregistration either way.
        """
        with self._write() as db:
            now = self._clock()
            if not self._live(db, worker_id, now):
                return False
            db.execute(sql.UNREGISTER[self._options.current], sql.numbered(now, worker_id))
            return True

    def get_worker(self, worker_id: str, find_deleted: bool = False) -> EngineWorker | None:
        """The worker's record; expired workers only with ``find_deleted``."""
        with self._write() as db:
            self._sweep(db, self._clock())
            found = rows.named(db.execute(sql.GET_WORKER, (worker_id,)))
        if not found or (found[0]["deleted_at"] is not None and not find_deleted):
            return None
        return rows.worker(found[0])

    def list_workers(self, find_deleted: bool = False, online_only: bool = False) -> list[EngineWorker]:
        """Every worker in registration order; expired ones only with ``find_deleted``."""
        with self._write() as db:
            self._sweep(db, self._clock())
            found = rows.named(
                db.execute(sql.LIST_WORKERS, sql.numbered(int(online_only), int(find_deleted)))
            )
        return [rows.worker(row) for row in found]

    def worker_function_blocks(self, worker_id: str) -> list[str] | None:
        """The string ids of the blocks linked to a live worker; None if it is unknown or expired."""
        with self._write() as db:
            if not self._live(db, worker_id, self._clock()):
                return None
            linked = db.execute(
                "SELECT fb_id FROM fb_workers WHERE worker_id = ? ORDER BY fb_id", (worker_id,)
            ).fetchall()
        return [fb_id for (fb_id,) in linked]

    # --- function blocks --------------------------------------------------------------------

    def register_function_block(self, request: RegisterFunctionBlock) -> RegistrationOutcome:
        """Store the block unless its package/name/version exists; link it to ``workerId`` either way.

        A block whose package and name are new takes a licence slot: LicenceLimitReached when none is left.
        """
        with self._write() as db:
            now = self._clock()
            if request.worker_id is not None and not self._live(db, request.worker_id, now):
                return RegistrationOutcome.UNKNOWN_WORKER
            if db.execute(sql.BLOCK_NAME_KNOWN, (request.package, request.name)).fetchone() is None:
                _check_quota(db, "functionBlocks", sql.COUNT_BLOCKS, self._options.max_function_blocks)
            created = _insert_function_block(db, request, now)
            changed = [] if created else _changed_schemas(db, request)
            if request.worker_id is not None:
                db.execute(
                    "INSERT OR IGNORE INTO fb_workers (worker_id, fb_id, linked_at) VALUES (?, ?, ?)",
                    (request.worker_id, request.fb_id, now),
                )
        if changed:
            log.warning(
                "Function block %s registered again (worker %s) with another %s than its first registration: "
                "the engine keeps the first one; give the block a new version to register the change",
                request.fb_id, request.worker_id, " and ".join(changed),
            )  # fmt: skip
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
            claimed = (
                db.execute(sql.claim(len(seqs)), sql.claim_args(poll.worker_id, now, seqs)).fetchall()
                if seqs
                else []
            )
        return [rows.job_definition(row) for row in sorted(claimed)]

    def submit_result(self, submission: ResultSubmission) -> ResultOutcome:
        """Keep the first result of a job (and retry, roll back or end its run); a second one is refused."""
        with self._write() as db:
            if self._accept(db, submission, self._clock(), by_engine=False):
                return ResultOutcome.ACCEPTED
            found = db.execute(sql.RESULT_REFUSAL, (submission.job_execution_id,)).fetchone()
        if found is None:
            return ResultOutcome.UNKNOWN_JOB
        return ResultOutcome.FAILED_BY_ENGINE if found[0] else ResultOutcome.ALREADY_HAS_RESULT

    def _accept(
        self, db: sqlite3.Connection, submission: ResultSubmission, now: float, by_engine: bool
    ) -> bool:
        """Store the result unless the job has one, then settle its run; whether it was stored."""
        retryable = submission.result.retryable
        accepted = db.execute(
            sql.ACCEPT_RESULT,
            sql.numbered(
                submission.status, submission.result.message, None if retryable is None else int(retryable),
                json.dumps(submission.to_wire()), now, int(by_engine), submission.job_execution_id,
            ),
        ).fetchone()  # fmt: skip
        if accepted is None:
            return False
        job_id, job_type, fb_id, run_id, attempt, rollback_of = accepted
        succeeded = submission.status in ("success", "success-ack")
        ended = runs.EndedJob(job_id, job_type, fb_id, run_id, attempt, rollback_of, succeeded, retryable)
        runs.settle(db, ended, self._options, now)
        return True

    def add_log(self, log_line: JobLog) -> None:
        """Store one job log line (for any job id: log pushes are best effort on the worker's side)."""
        with self._lock:
            self._conn.execute(
                sql.INSERT_LOG,
                (log_line.job_id, log_line.workflow_id, log_line.function_block_id, log_line.log_level,
                 log_line.log_entry, log_line.timestamp, self._clock()),
            )  # fmt: skip

    def list_jobs(self, status: str | None = None, worker_id: str | None = None) -> list[EngineJobShow]:
        """Jobs in queue order as ``JobShowResultDto``, filtered by status and assigned worker."""
        with self._lock:
            found = rows.named(self._conn.execute(sql.SHOW_JOBS, sql.numbered(status, worker_id, None, None)))
        return [rows.job_show(row) for row in found]

    def job_page(self, query: JobPageQuery) -> EngineJobPage:
        """A page of ``GET /blackboard/jobs/page``: its jobs, the next page's cursor, the matching total."""
        statement, values = query.items_statement(sql.SHOW_JOBS_PAGE_FROM)
        where, counted = query.where()
        with self._lock:
            found = rows.named(self._conn.execute(statement, values))
            (total,) = self._conn.execute(sql.COUNT_JOBS + where, counted).fetchone()
        return rows.job_page(found, query.limit, total)

    def active_jobs(self) -> list[EngineJobShow]:
        """Pending and polled jobs, and pushed ones finished within ``active_window_s``."""
        since = self._clock() - self._options.active_window_s
        with self._lock:
            found = rows.named(self._conn.execute(sql.SHOW_ACTIVE_JOBS, (since,)))
        return [rows.job_show(row) for row in found]

    # --- development views and actions --------------------------------------------------------

    def add_job(self, job: NewJob) -> str | None:
        """Queue a pending job, a run of its own, at the end; its id, or None if that id is taken."""
        job_id = job.job_id or str(uuid_module.uuid4())
        run_id = str(uuid_module.uuid4())
        context = json.dumps(job.context.model_dump(mode="json", by_alias=True))
        with self._write() as db:
            now = self._clock()
            try:
                db.execute(
                    sql.INSERT_JOB,
                    sql.numbered(job_id, job.function_block_id, job.type, job.run_on, job.entity_id,
                                 job.step_label, json.dumps(job.parameters), context, run_id, now),
                )  # fmt: skip
            except sqlite3.IntegrityError:
                return None
            db.execute(sql.INSERT_RUN, sql.numbered(run_id, now))
        return job_id

    def add_rollback(self, job_id: str) -> str:
        """A rollback job undoing the failed execute job ``job_id`` (remediation); its new id.

        As the engine's remediation endpoint: only for a reversible block, as often as asked, with the
        failed job's parameters and context. RemediationRefused says why not.
        """
        with self._write() as db:
            found = rows.named(db.execute(sql.DEV_JOB, (job_id,)))
            if not found:
                raise RemediationRefused(404, f"Job {job_id} not found")
            now = self._clock()
            job = rows.dev_job(found[0], now)
            _check_rollback(job, runs.block_flags(db, job.function_block_id), self._options.current)
            rollback_id = runs.add_follow_up(db, job_id, "rollback", now, rollback_of=job_id)
            db.execute(sql.SET_RUN_STATE, ("ROLLBACK", now, job.run_id))
        log.info("Rollback job %s created on request, undoing failed job %s", rollback_id, job_id)
        return rollback_id

    def get_job(self, job_id: str) -> DevJobDetail | None:
        """One job with its input, the full stored result and its log lines; None if unknown."""
        with self._lock:
            found = rows.named(self._conn.execute(sql.DEV_JOB, (job_id,)))
            logs = rows.named(self._conn.execute(sql.SELECT_LOGS, (job_id,)))
        return rows.dev_job_detail(found[0], logs, self._clock()) if found else None

    def dev_jobs(
        self,
        status: str | None = None,
        function_block_id: str | None = None,
        worker_id: str | None = None,
        run_id: str | None = None,
    ) -> list[DevJob]:
        """Jobs in queue order with state, worker, claims, timing, result message and run."""
        with self._lock:
            found = rows.named(
                self._conn.execute(sql.DEV_JOBS, sql.numbered(status, worker_id, function_block_id, run_id))
            )
        now = self._clock()
        return [rows.dev_job(row, now) for row in found]

    def dev_workers(self) -> list[DevWorker]:
        """Every worker ever registered, expired ones included, with its blocks and claimed jobs."""
        with self._write() as db:
            now = self._clock()
            self._sweep(db, now)
            found = rows.named(db.execute(sql.DEV_WORKERS))
        return [rows.dev_worker(row, now) for row in found]

    def dev_function_blocks(self) -> list[DevFunctionBlock]:
        """Every registered function block with its flags and the workers linked to it."""
        with self._lock:
            found = rows.named(self._conn.execute(sql.DEV_FUNCTION_BLOCKS))
        return [rows.dev_function_block(row) for row in found]


# --- helpers ------------------------------------------------------------------------------------


def _migrate(conn: sqlite3.Connection) -> None:
    """Create the tables, or check that an existing file has our schema version."""
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(sql.SCHEMA_VERSION),)
    )
    (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if int(version) != sql.SCHEMA_VERSION:
        raise StoreSchemaError(
            f"database schema version {version}, this engine needs {sql.SCHEMA_VERSION}: "
            "use another --db file, or delete this one (its state is lost)"
        )
    conn.executescript(sql.DDL)  # every statement is CREATE ... IF NOT EXISTS


def _check_quota(db: sqlite3.Connection, quota: str, count: str, maximum: int | None) -> None:
    """Raise LicenceLimitReached when ``count`` is already at ``maximum`` (None: no limit)."""
    if maximum is None:
        return
    (current,) = db.execute(count).fetchone()
    if current >= maximum:
        raise LicenceLimitReached(quota, current, maximum)


def _check_rollback(job: DevJob, flags: runs.BlockFlags, current: bool) -> None:
    """RemediationRefused unless ``job`` is a failed execute job of a reversible block on a 0.43 engine."""
    if not current:
        raise RemediationRefused(400, "This engine speaks contract 0.42.1, which has no remediation rollback")
    if job.type != "execute":
        raise RemediationRefused(
            400, f"Job {job.job_id} is a {job.type} job: only execute jobs are rolled back"
        )
    if job.result_status not in ("failed", "failed-ack"):
        state = job.result_status or job.status
        raise RemediationRefused(409, f"Job {job.job_id} has not failed ({state}): nothing to roll back")
    if not flags.reversible:
        raise RemediationRefused(
            400,
            f"Function block {job.function_block_id} is not registered reversible: the engine rolls back "
            "only reversible blocks",
        )


def _insert_function_block(db: sqlite3.Connection, request: RegisterFunctionBlock, now: float) -> bool:
    cursor = db.execute(
        sql.INSERT_FUNCTION_BLOCK,
        (request.fb_id, request.package, request.name, request.major_version, request.minor_version,
         request.patch_version, request.fb_type, request.run_on, request.description, bool(request.is_pure),
         bool(request.is_idempotent), bool(request.reversible), json.dumps(request.to_wire()), now),
    )  # fmt: skip
    return cursor.rowcount == 1


def _changed_schemas(db: sqlite3.Connection, request: RegisterFunctionBlock) -> list[str]:
    """Which JSON Schemas of ``request`` differ from the stored first registration of the same block."""
    (stored,) = db.execute(sql.BLOCK_REGISTRATION, (request.fb_id,)).fetchone()
    first, again = json.loads(stored), request.to_wire()
    names = ("parameterJsonSchema", "resultDataJsonSchema")
    return [name for name in names if first.get(name) != again.get(name)]


def _pick_pending(db: sqlite3.Connection, fb_ids: Sequence[str], limit: int | None) -> list[int]:
    """The queue positions of the oldest pending jobs over all ``fb_ids``: an index walk per block."""
    per_block = -1 if limit is None else limit
    candidates = [seq for fb_id in fb_ids for (seq,) in db.execute(sql.PICK_PENDING, (fb_id, per_block))]
    if limit is None:
        return sorted(candidates)
    return heapq.nsmallest(limit, candidates)
