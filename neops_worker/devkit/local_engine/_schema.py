"""The local engine's SQLite schema and the statements on its hot paths."""

from __future__ import annotations

import json

#: Bumped when a table changes incompatibly; a file with another version is refused, not migrated.
SCHEMA_VERSION = 1

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
    last_ping_at REAL NOT NULL,   -- epoch seconds, like every *_at column
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL,
    deleted_at   REAL             -- set when the worker expired; its pings then get 404
);
CREATE INDEX IF NOT EXISTS workers_alive ON workers (last_ping_at) WHERE deleted_at IS NULL;
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
    registration  TEXT NOT NULL,      -- the first RegisterFunctionBlockDto, as JSON
    registered_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fb_workers (
    worker_id TEXT NOT NULL,
    fb_id     TEXT NOT NULL,
    linked_at REAL NOT NULL,
    PRIMARY KEY (worker_id, fb_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,   -- queue order
    job_id         TEXT NOT NULL UNIQUE,
    fb_id          TEXT NOT NULL,
    type           TEXT NOT NULL,
    run_on         TEXT NOT NULL,
    entity_id      INTEGER,
    step_label     TEXT,
    parameters     TEXT NOT NULL,
    context        TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'pending',      -- pending | polled | pushed
    worker_id      TEXT,
    claims         INTEGER NOT NULL DEFAULT 0,
    created_at     REAL NOT NULL,
    claimed_at     REAL,
    finished_at    REAL,
    result_status  TEXT,
    result_message TEXT,
    result         TEXT                                  -- the accepted JobResultDto, as JSON
);
-- The only index on jobs: each one more costs page writes on every claim and result, and the
-- listings and the re-queue of an expired worker's jobs are rare enough to scan.
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
INSERT INTO workers (uuid, version, name, ip_address, state, last_ping_at, created_at, updated_at, deleted_at)
VALUES (?, ?, ?, ?, 'online', ?, ?, ?, NULL)
"""

#: Worker rows in WorkerRegistrationResponseDto order; filter with ``uuid = ?`` or :data:`LIST_WORKERS`.
SELECT_WORKERS = """
SELECT uuid, version, name, ip_address, state, last_ping_at, created_at, updated_at, deleted_at FROM workers
"""

GET_WORKER = SELECT_WORKERS + " WHERE uuid = ?"

WORKER_LIVENESS = "SELECT deleted_at, last_ping_at FROM workers WHERE uuid = ?"

#: Parameters: online only (0/1), deleted too (0/1).
LIST_WORKERS = (
    SELECT_WORKERS
    + " WHERE (?1 = 0 OR state = 'online') AND (?2 = 1 OR deleted_at IS NULL) ORDER BY created_at"
)

REQUEUE_JOBS_OF = (
    "UPDATE jobs SET status = 'pending', worker_id = NULL WHERE worker_id = ? AND status = 'polled'"
)

INSERT_FUNCTION_BLOCK = """
INSERT OR IGNORE INTO function_blocks (fb_id, package, name, major_version, minor_version, patch_version,
                                       fb_type, run_on, description, registration, registered_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

INSERT_JOB = """
INSERT INTO jobs (job_id, fb_id, type, run_on, entity_id, step_label, parameters, context, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

INSERT_LOG = """
INSERT INTO job_logs (job_id, workflow_id, function_block_id, log_level, log_entry, timestamp, received_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""

SELECT_LOGS = """
SELECT workflow_id, function_block_id, log_level, log_entry, timestamp, received_at
FROM job_logs WHERE job_id = ? ORDER BY id
"""

#: Parameters: status, worker id, function-block id; each None for "any".
JOB_FILTER = """
WHERE (?1 IS NULL OR j.status = ?1) AND (?2 IS NULL OR j.worker_id = ?2) AND (?3 IS NULL OR j.fb_id = ?3)
"""

PICK_PENDING = "SELECT seq FROM jobs WHERE status = 'pending' AND fb_id = ? ORDER BY seq LIMIT ?"

_CLAIM = """
UPDATE jobs SET status = 'polled', worker_id = ?, claims = claims + 1, claimed_at = ?
WHERE seq IN ({marks}) AND status = 'pending'
RETURNING seq, job_id, fb_id, step_label, parameters, context, type, run_on, entity_id
"""


#: Up to this many jobs a claim binds one ``?`` per job (cheaper); beyond, one JSON array (no variable limit).
MAX_CLAIM_MARKS = 64


def claim(count: int) -> str:
    """The statement claiming ``count`` jobs by queue position (parameters: :func:`claim_args`)."""
    if count > MAX_CLAIM_MARKS:
        return _CLAIM.format(marks="SELECT value FROM json_each(?)")
    return _CLAIM.format(marks=", ".join("?" * count))


def claim_args(worker_id: str, now: float, seqs: list[int]) -> tuple[object, ...]:
    """The parameters of :func:`claim` for these queue positions."""
    if len(seqs) > MAX_CLAIM_MARKS:
        return (worker_id, now, json.dumps(seqs))
    return (worker_id, now, *seqs)


ACCEPT_RESULT = """
UPDATE jobs SET status = 'pushed', result_status = ?, result_message = ?, result = ?, finished_at = ?
WHERE job_id = ? AND status != 'pushed'
"""

#: JobShowResultDto columns; the worker join gives name and whether it was deleted.
SHOW_JOBS_FROM = """
SELECT j.fb_id, j.job_id, j.step_label, j.status, j.type, j.result_status, j.worker_id, w.name,
       w.deleted_at IS NOT NULL
FROM jobs j LEFT JOIN workers w ON w.uuid = j.worker_id
"""

SHOW_JOBS = SHOW_JOBS_FROM + JOB_FILTER + " ORDER BY j.seq"

#: Parameter: pushed jobs finished at or after this time count as active.
SHOW_ACTIVE_JOBS = SHOW_JOBS_FROM + "WHERE j.status != 'pushed' OR j.finished_at >= ? ORDER BY j.seq"

DEV_JOBS_FROM = """
SELECT j.job_id, j.fb_id, j.type, j.run_on, j.entity_id, j.step_label, j.status, j.worker_id, w.name,
       j.claims, j.created_at, j.claimed_at, j.finished_at, j.result_status, j.result_message,
       j.parameters, j.context, j.result
FROM jobs j LEFT JOIN workers w ON w.uuid = j.worker_id
"""

DEV_JOBS = DEV_JOBS_FROM + JOB_FILTER + " ORDER BY j.seq"

DEV_JOB = DEV_JOBS_FROM + "WHERE j.job_id = ?"

DEV_WORKERS = """
SELECT uuid, version, name, ip_address, state, last_ping_at, created_at, updated_at, deleted_at,
       (SELECT json_group_array(fb_id) FROM fb_workers f WHERE f.worker_id = w.uuid),
       (SELECT count(*) FROM jobs j WHERE j.worker_id = w.uuid AND j.status = 'polled')
FROM workers w ORDER BY created_at
"""

DEV_FUNCTION_BLOCKS = """
SELECT fb_id, package, name, major_version, minor_version, patch_version, fb_type, run_on, description,
       registered_at, registration,
       (SELECT json_group_array(worker_id) FROM fb_workers f WHERE f.fb_id = b.fb_id)
FROM function_blocks b ORDER BY fb_id
"""
