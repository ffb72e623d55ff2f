"""Rows of the local engine's SQLite file as models: timestamps as the engine writes them, flags as bools."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from neops_worker.devkit.local_engine._page import cursor_of
from neops_worker.devkit.local_engine.models import (
    DevFunctionBlock,
    DevJob,
    DevJobDetail,
    DevLogEntry,
    DevWorker,
    EngineJobDefinition,
    EngineJobPage,
    EngineJobShow,
    EngineWorker,
)
from neops_worker.engine.wire import JobContextWire

Row = dict[str, Any]


def iso(epoch: float) -> str:
    """Epoch seconds as the engine writes timestamps: ISO 8601, milliseconds, ``Z``."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_or_none(epoch: float | None) -> str | None:
    """:func:`iso`, or None for a time that has not come."""
    return None if epoch is None else iso(epoch)


def named(cursor: sqlite3.Cursor) -> list[Row]:
    """Every row of ``cursor`` as a dict keyed by column name (the statements name them after fields)."""
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _times(row: Row, keys: Iterable[str]) -> Row:
    """``row`` with the epoch seconds under ``keys`` as ISO timestamps."""
    return {**row, **{key: iso_or_none(row[key]) for key in keys}}


def worker(row: Row) -> EngineWorker:
    """A worker record from a ``SELECT_WORKERS`` row."""
    return EngineWorker(
        **_times(row, ("last_ping_at", "last_seen_at", "created_at", "updated_at", "deleted_at"))
    )


def job_definition(row: tuple[Any, ...]) -> EngineJobDefinition:
    """A claimed job from a row returned by the claim."""
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


def job_show(row: Row) -> EngineJobShow:
    """A listing element from a ``SHOW_JOBS`` row."""
    times = ("created_at", "updated_at", "started_at", "finished_at")
    return EngineJobShow(**{**_times(row, times), "worker_deleted": bool(row["worker_deleted"])})


def job_page(found: list[Row], limit: int, total: int) -> EngineJobPage:
    """A page from the rows of ``JobPageQuery.items_statement`` (one more than ``limit`` if more follow)."""
    shown = found[:limit]
    more = len(found) > limit and shown
    return EngineJobPage(
        items=[job_show({k: v for k, v in row.items() if k != "seq"}) for row in shown],
        next_cursor=cursor_of(shown[-1]["seq"]) if more else None,
        total=total,
    )


def dev_job_fields(row: Row, now: float) -> Row:
    """The :class:`DevJob` fields of a ``DEV_JOBS`` row: timestamps, run time and ages, flags as booleans."""
    claimed_at, finished_at = row["claimed_at"], row["finished_at"]
    duration = None if claimed_at is None or finished_at is None else round(finished_at - claimed_at, 6)
    retryable = row["retryable"]
    fields = {name: row[name] for name in DevJob.model_fields if name in row}
    return {
        **_times(fields, ("created_at", "updated_at", "claimed_at", "finished_at")),
        "duration_s": duration,
        "created_age_s": round(now - row["created_at"], 3),
        "finished_age_s": None if finished_at is None else round(now - finished_at, 3),
        "retryable": None if retryable is None else bool(retryable),
        "failed_by_engine": bool(row["failed_by_engine"]),
    }


def dev_job(row: Row, now: float) -> DevJob:
    """A ``GET /_dev/jobs`` row, its ages counted to ``now``."""
    return DevJob(**dev_job_fields(row, now))


def dev_job_detail(row: Row, logs: list[Row], now: float) -> DevJobDetail:
    """A ``GET /_dev/jobs/{jobId}`` answer: the row, its input, the stored result and the log lines."""
    return DevJobDetail(
        **dev_job_fields(row, now),
        parameters=json.loads(row["parameters"]),
        context=json.loads(row["context"]),
        result=None if row["result"] is None else json.loads(row["result"]),
        logs=[DevLogEntry(**_times(log, ("received_at",))) for log in logs],
    )


def dev_worker(row: Row, now: float) -> DevWorker:
    """A ``GET /_dev/workers`` row."""
    record = worker({name: row[name] for name in row if name not in ("function_blocks", "claimed_jobs")})
    return DevWorker(
        uuid=record.uuid,
        name=record.name,
        version=record.version,
        ip_address=record.ip_address,
        state=record.state,
        expired=row["deleted_at"] is not None,
        last_ping_at=record.last_ping_at,
        last_seen_at=iso(row["last_seen_at"]),
        last_seen_age_s=round(now - row["last_seen_at"], 3),
        created_at=record.created_at,
        deleted_at=record.deleted_at,
        function_blocks=sorted(json.loads(row["function_blocks"])),
        claimed_jobs=row["claimed_jobs"],
    )


def dev_function_block(row: Row) -> DevFunctionBlock:
    """A ``GET /_dev/function-blocks`` row."""
    flags = {name: bool(row[name]) for name in ("is_pure", "is_idempotent", "reversible")}
    listed = {
        "registration": json.loads(row["registration"]),
        "worker_ids": sorted(json.loads(row["worker_ids"])),
    }
    return DevFunctionBlock(**{**_times(row, ("registered_at",)), **flags, **listed})
