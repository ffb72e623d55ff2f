"""The local engine's SQLite schema and the statements on its hot paths.

Statements whose rows become models name their columns after the model's fields (``AS``), so rows
are read by name (``store._named``), not by position.
"""

from __future__ import annotations

import json

#: Bumped when a table changes incompatibly; a file with another version is refused, not migrated.
#: 2: runs, retries, rollback jobs, block flags, a worker's last_seen_at.
SCHEMA_VERSION = 2

DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS workers (
    uuid         TEXT PRIMARY KEY,
    version      TEXT NOT NULL,
    name         TEXT,
    ip_address   TEXT,
    state        TEXT NOT NULL,   -- online | unreachable | offline
    last_ping_at REAL NOT NULL,   -- epoch seconds, like every *_at column; 0 once unregistered (0.43)
    last_seen_at REAL NOT NULL,   -- the last ping or the unregistration: liveness counts from here
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL,
    deleted_at   REAL             -- set when the worker expired; its pings then get 404
);
CREATE INDEX IF NOT EXISTS workers_alive ON workers (last_seen_at) WHERE deleted_at IS NULL;
CREATE TABLE IF NOT EXISTS function_blocks (
    fb_id         TEXT PRIMARY KEY,   -- package/name:major.minor.patch
    package       TEXT NOT NULL,
    name          TEXT NOT NULL,
    major_version INTEGER NOT NULL,
    minor_version INTEGER NOT NULL,
    patch_version INTEGER NOT NULL,
    fb_type       TEXT NOT NULL,
    run_on        TEXT,
    description   TEXT NOT NULL,
    is_pure       INTEGER NOT NULL,   -- the flags of the first registration, which decide retries
    is_idempotent INTEGER NOT NULL,   -- and rollback of the block's failed jobs
    reversible    INTEGER NOT NULL,
    registration  TEXT NOT NULL,      -- the first RegisterFunctionBlockDto, as JSON
    registered_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fb_workers (
    worker_id TEXT NOT NULL,
    fb_id     TEXT NOT NULL,
    linked_at REAL NOT NULL,
    PRIMARY KEY (worker_id, fb_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    run_id     TEXT PRIMARY KEY,   -- the workflowExecutionId of its jobs; one per submitted job
    state      TEXT NOT NULL,      -- RUNNING | ROLLBACK | COMPLETED | FAILED | FAILED_SAFE | FAILED_UNSAFE
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,   -- queue order
    job_id           TEXT NOT NULL UNIQUE,
    fb_id            TEXT NOT NULL,
    type             TEXT NOT NULL,
    run_on           TEXT NOT NULL,
    entity_id        INTEGER,
    step_label       TEXT,
    parameters       TEXT NOT NULL,
    context          TEXT NOT NULL,
    run_id           TEXT NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 1,          -- 2 and up: a retry
    retry_of         TEXT,                                -- the failed job this retry replaces
    retried_by       TEXT,                                -- the retry that replaced this failed job
    rollback_of      TEXT,                                -- the failed execute job a rollback job undoes
    status           TEXT NOT NULL DEFAULT 'pending',     -- pending | polled | pushed
    worker_id        TEXT,
    claims           INTEGER NOT NULL DEFAULT 0,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    claimed_at       REAL,
    finished_at      REAL,
    result_status    TEXT,
    result_message   TEXT,
    retryable        INTEGER,                             -- the result's retryable, when it said
    failed_by_engine INTEGER NOT NULL DEFAULT 0,          -- 1: the engine failed it (stuck job)
    result           TEXT                                 -- the accepted JobResultDto, as JSON
);
-- The only index on jobs: each one more costs page writes on every claim and result, and the
-- listings, the re-queue of an expired worker's jobs and the stuck-job check are rare enough to scan.
CREATE INDEX IF NOT EXISTS jobs_pending ON jobs (fb_id, seq) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS job_logs (
    id                INTEGER PRIMARY KEY,
    job_id            TEXT NOT NULL,
    workflow_id       TEXT NOT NULL,
    function_block_id TEXT NOT NULL,
    log_level         TEXT NOT NULL,
    log_entry         TEXT NOT NULL,
    timestamp         TEXT NOT NULL,
    received_at       REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS job_logs_job ON job_logs (job_id, id);
"""

INSERT_WORKER = """
INSERT INTO workers (uuid, version, name, ip_address, state, last_ping_at, last_seen_at, created_at,
                     updated_at, deleted_at)
VALUES (:p1, :p2, :p3, :p4, 'online', :p5, :p5, :p5, :p5, NULL)
"""

#: Worker rows named as ``WorkerRegistrationResponseDto``; filter with ``uuid = ?`` or :data:`LIST_WORKERS`.
SELECT_WORKERS = """
SELECT uuid, version, name, ip_address, state, last_ping_at, last_seen_at, created_at, updated_at, deleted_at
FROM workers
"""

GET_WORKER = SELECT_WORKERS + " WHERE uuid = ?"

WORKER_LIVENESS = "SELECT deleted_at, last_seen_at FROM workers WHERE uuid = ?"

#: Parameters: online only (0/1), deleted too (0/1).
LIST_WORKERS = (
    SELECT_WORKERS
    + " WHERE (:p1 = 0 OR state = 'online') AND (:p2 = 1 OR deleted_at IS NULL) ORDER BY created_at"
)

#: Parameters: now, worker id. A 0.43 engine (True) writes the epoch into ``last_ping_at``.
UNREGISTER = {
    True: "UPDATE workers SET state = 'offline', last_ping_at = 0, last_seen_at = :p1, updated_at = :p1 "
    "WHERE uuid = :p2",
    False: "UPDATE workers SET state = 'offline', last_seen_at = :p1, updated_at = :p1 WHERE uuid = :p2",
}

#: Parameters: now, worker id.
REQUEUE_JOBS_OF = """
UPDATE jobs SET status = 'pending', worker_id = NULL, updated_at = ? WHERE worker_id = ? AND status = 'polled'
"""

INSERT_FUNCTION_BLOCK = """
INSERT OR IGNORE INTO function_blocks (fb_id, package, name, major_version, minor_version, patch_version,
                                       fb_type, run_on, description, is_pure, is_idempotent, reversible,
                                       registration, registered_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

BLOCK_REGISTRATION = "SELECT registration FROM function_blocks WHERE fb_id = ?"

BLOCK_FLAGS = "SELECT is_pure, is_idempotent, reversible FROM function_blocks WHERE fb_id = ?"

INSERT_RUN = "INSERT INTO runs (run_id, state, created_at, updated_at) VALUES (:p1, 'RUNNING', :p2, :p2)"

#: Parameters: state, now, run id.
SET_RUN_STATE = "UPDATE runs SET state = ?, updated_at = ? WHERE run_id = ?"

INSERT_JOB = """
INSERT INTO jobs (job_id, fb_id, type, run_on, entity_id, step_label, parameters, context, run_id,
                  created_at, updated_at)
VALUES (:p1, :p2, :p3, :p4, :p5, :p6, :p7, :p8, :p9, :p10, :p10)
"""

#: A new job from an earlier one's input (a retry or a rollback job), in the same run. Parameters: new
#: job id, type, attempt, retry_of, rollback_of, now, the earlier job's id.
COPY_JOB = """
INSERT INTO jobs (job_id, fb_id, type, run_on, entity_id, step_label, parameters, context, run_id, attempt,
                  retry_of, rollback_of, created_at, updated_at)
SELECT :p1, fb_id, :p2, run_on, entity_id, step_label, parameters, context, run_id, :p3, :p4, :p5, :p6, :p6
FROM jobs WHERE job_id = :p7
"""

INSERT_LOG = """
INSERT INTO job_logs (job_id, workflow_id, function_block_id, log_level, log_entry, timestamp, received_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""

SELECT_LOGS = """
SELECT workflow_id, function_block_id, log_level, log_entry, timestamp, received_at
FROM job_logs WHERE job_id = ? ORDER BY id
"""

#: Parameters: status, worker id, function-block id, run id; each None for "any".
JOB_FILTER = """
WHERE (:p1 IS NULL OR j.status = :p1) AND (:p2 IS NULL OR j.worker_id = :p2)
  AND (:p3 IS NULL OR j.fb_id = :p3) AND (:p4 IS NULL OR j.run_id = :p4)
"""

PICK_PENDING = "SELECT seq FROM jobs WHERE status = 'pending' AND fb_id = ? ORDER BY seq LIMIT ?"

_CLAIM = """
UPDATE jobs SET status = 'polled', worker_id = ?, claims = claims + 1, claimed_at = ?, updated_at = ?
WHERE seq IN ({marks}) AND status = 'pending'
RETURNING seq, job_id, fb_id, step_label, parameters, context, type, run_on, entity_id
"""


#: Up to this many jobs a claim binds one ``?`` per job (cheaper); beyond, one JSON array (no variable limit).
MAX_CLAIM_MARKS = 64


def numbered(*values: object) -> dict[str, object]:
    """The parameters of a statement written with ``:p1``, ``:p2``... (a value used twice is named twice).

    Not ``?1``: Python 3.12.0-3.12.1's sqlite3 warns (DeprecationWarning) when a sequence fills them.
    """
    return {f"p{index}": value for index, value in enumerate(values, 1)}


def claim(count: int) -> str:
    """The statement claiming ``count`` jobs by queue position (parameters: :func:`claim_args`)."""
    if count > MAX_CLAIM_MARKS:
        return _CLAIM.format(marks="SELECT value FROM json_each(?)")
    return _CLAIM.format(marks=", ".join("?" * count))


def claim_args(worker_id: str, now: float, seqs: list[int]) -> tuple[object, ...]:
    """The parameters of :func:`claim` for these queue positions."""
    if len(seqs) > MAX_CLAIM_MARKS:
        return (worker_id, now, now, json.dumps(seqs))
    return (worker_id, now, now, *seqs)


#: Parameters: result status, message, retryable (NULL/0/1), stored body, now, by the engine (0/1), job id.
ACCEPT_RESULT = """
UPDATE jobs SET status = 'pushed', result_status = :p1, result_message = :p2, retryable = :p3, result = :p4,
                finished_at = :p5, updated_at = :p5, failed_by_engine = :p6
WHERE job_id = :p7 AND status != 'pushed'
RETURNING job_id, type, fb_id, run_id, attempt, rollback_of
"""

#: Why a result was refused: the job's state, and whether the engine failed it itself.
RESULT_REFUSAL = "SELECT failed_by_engine, result_message FROM jobs WHERE job_id = ?"

#: Parameter: claimed before this time. The stuck-job check scans (see the note on jobs' indexes).
STUCK_JOBS = "SELECT job_id, worker_id, claimed_at FROM jobs WHERE status = 'polled' AND claimed_at < ?"

#: ``JobShowResultDto`` columns; the worker join gives name and whether it was deleted.
SHOW_JOBS_FROM = """
SELECT j.fb_id AS function_block_id, j.job_id, j.step_label, j.status, j.type, j.result_status, j.worker_id,
       w.name AS worker_name, w.deleted_at IS NOT NULL AS worker_deleted,
       j.run_id AS workflow_execution_id, j.entity_id, j.created_at, j.updated_at, j.claimed_at AS started_at,
       j.finished_at, j.attempt - 1 AS retry_count, substr(j.result_message, 1, 1000) AS result_message
FROM jobs j LEFT JOIN workers w ON w.uuid = j.worker_id
"""

SHOW_JOBS = SHOW_JOBS_FROM + JOB_FILTER + " ORDER BY j.seq"

#: ``SHOW_JOBS_FROM`` with each job's queue position first, for the page route's cursor (``_page``).
SHOW_JOBS_PAGE_FROM = "SELECT j.seq," + SHOW_JOBS_FROM.removeprefix("\nSELECT")

#: The jobs the page route's filters match, across pages; the ``WHERE`` clause follows.
COUNT_JOBS = "SELECT count(*) FROM jobs j WHERE "

#: Parameter: pushed jobs finished at or after this time count as active.
SHOW_ACTIVE_JOBS = SHOW_JOBS_FROM + "WHERE j.status != 'pushed' OR j.finished_at >= ? ORDER BY j.seq"

#: ``DevJob`` columns; ``DEV_JOB`` adds the input and the stored result.
DEV_JOB_COLUMNS = """
SELECT j.job_id, j.fb_id AS function_block_id, j.type, j.run_on, j.entity_id, j.step_label, j.status,
       j.worker_id, w.name AS worker_name, j.claims, j.created_at, j.updated_at, j.claimed_at,
       j.finished_at, j.result_status, j.result_message, j.retryable, j.failed_by_engine, j.run_id,
       r.state AS run_state, j.attempt, j.retry_of, j.retried_by, j.rollback_of
"""

DEV_JOBS_FROM = """
FROM jobs j LEFT JOIN workers w ON w.uuid = j.worker_id JOIN runs r ON r.run_id = j.run_id
"""

DEV_JOBS = DEV_JOB_COLUMNS + DEV_JOBS_FROM + JOB_FILTER + " ORDER BY j.seq"

DEV_JOB = DEV_JOB_COLUMNS + ", j.parameters, j.context, j.result" + DEV_JOBS_FROM + "WHERE j.job_id = ?"

DEV_WORKERS = """
SELECT uuid, version, name, ip_address, state, last_ping_at, last_seen_at, created_at, updated_at, deleted_at,
       (SELECT json_group_array(fb_id) FROM fb_workers f WHERE f.worker_id = w.uuid) AS function_blocks,
       (SELECT count(*) FROM jobs j WHERE j.worker_id = w.uuid AND j.status = 'polled') AS claimed_jobs
FROM workers w ORDER BY created_at
"""

DEV_FUNCTION_BLOCKS = """
SELECT fb_id AS function_block_id, package, name, major_version, minor_version, patch_version, fb_type,
       run_on, description, is_pure, is_idempotent, reversible, registered_at, registration,
       (SELECT json_group_array(worker_id) FROM fb_workers f WHERE f.fb_id = b.fb_id) AS worker_ids
FROM function_blocks b ORDER BY fb_id
"""

#: Licence counts: live workers, and blocks by package and name (a new version takes no new slot).
COUNT_WORKERS = "SELECT count(*) FROM workers WHERE deleted_at IS NULL"
COUNT_BLOCKS = "SELECT count(*) FROM (SELECT DISTINCT package, name FROM function_blocks)"
BLOCK_NAME_KNOWN = "SELECT 1 FROM function_blocks WHERE package = ? AND name = ? LIMIT 1"

#: What a database file already holds, for the engine's start line: jobs, workers ever seen, blocks.
COUNT_STATE = """
SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM workers), (SELECT count(*) FROM function_blocks)
"""
