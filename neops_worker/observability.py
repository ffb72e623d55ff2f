"""Logging: rich on a terminal, plain lines otherwise, or JSON lines; job context; secret redaction.

Every log line carries the worker's identity (``worker_id``, ``worker_name``; ``slot`` in a daemon
of several slots), and every line written while a job is in hand also its ``job_id``,
``function_block`` and ``job_type``, so no call site has to repeat them. The identity belongs to a
slot: a ContextVar holds the slot's ``Identity``, a mutable holder, so that an id set inside one of
the slot's tasks (registration, re-registration) shows on the lines of all its tasks, each of which
copied the ContextVar as it was created. A single-slot worker uses the process's own holder, which
also names the lines of threads. The job's fields are a ContextVar too, because they belong to the
task (and the block's thread) that runs the job.

JSON lines always hold ``timestamp``, ``level``, ``logger``, ``message``, ``worker_id`` and
``worker_name`` (``null`` until known); the documented field list is in ``docs/operations.md``.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from neops_worker.scrub import current_secrets, redact, scrub

#: Fields of a log line that identify the worker (per slot) and the job in hand (per task).
_NO_FIELDS: Mapping[str, str] = types.MappingProxyType({})
#: Keys every JSON line carries, ``null`` while unknown.
IDENTITY_FIELDS = ("worker_id", "worker_name")


@dataclass
class Identity:
    """One slot's identity on its log lines: the slot's number (None: the only one), id and name."""

    slot: int | None = None
    fields: Mapping[str, str] = field(default_factory=lambda: _NO_FIELDS)


#: The process's own identity: a single-slot worker's, and that of lines outside any slot.
_PROCESS_IDENTITY = Identity()
_identity: contextvars.ContextVar[Identity] = contextvars.ContextVar(
    "neops_worker_identity", default=_PROCESS_IDENTITY
)
_job_fields: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "neops_job", default=_NO_FIELDS
)


#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}
#: The worker's and the job's own fields: never secret, whatever LOG_REDACT_EXTRA_KEYS names.
_OWN_FIELDS = frozenset({*IDENTITY_FIELDS, "slot", "job_id", "function_block", "job_type"})


def set_worker_identity(worker_id: str | None, worker_name: str | None) -> None:
    """Name the slot in every later log line of its tasks (at start, registration, re-registration)."""
    identity = _identity.get()
    fields = {
        name: value for name, value in zip(IDENTITY_FIELDS, (worker_id, worker_name), strict=True) if value
    }
    if identity.slot is not None:
        fields["slot"] = str(identity.slot)
    identity.fields = types.MappingProxyType(fields)


def worker_identity() -> tuple[str | None, str | None]:
    """The slot's worker id and name as its log lines carry them (set at every registration)."""
    fields = _identity.get().fields
    return fields.get("worker_id"), fields.get("worker_name")


def current_slot() -> int | None:
    """The number of the slot whose task this is (None: a single-slot worker, or outside any slot)."""
    return _identity.get().slot


def slot_context(slot: int, worker_name: str | None) -> contextvars.Context:
    """A context for slot ``slot``'s tasks: their log lines carry ``slot`` and the slot's own identity."""
    context = contextvars.copy_context()
    identity = Identity(slot)
    context.run(_identity.set, identity)
    context.run(set_worker_identity, None, worker_name)
    return context


@contextlib.contextmanager
def job_log_context(job_id: str, function_block: str, job_type: str) -> Iterator[None]:
    """Within the block, every log line names the job, its function block and its type."""
    token = _job_fields.set({"job_id": job_id, "function_block": function_block, "job_type": job_type})
    try:
        yield
    finally:
        _job_fields.reset(token)


#: Tracing on, ``neops_worker.tracing`` installs here what gives a record its ``trace_id`` and
#: ``span_id`` (hex): the current span's, else those of the job the record names. None: tracing off.
trace_fields: Callable[[logging.LogRecord], Mapping[str, str]] | None = None


class _ContextFilter(logging.Filter):
    """Adds the worker and job fields to every record; redacts secrets in ``extra`` fields and text."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in {**_identity.get().fields, **_job_fields.get()}.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        for name, value in (trace_fields(record) if trace_fields is not None else {}).items():
            if not hasattr(record, name):  # a job process's record carries its own
                setattr(record, name, value)
        if current_secrets():
            scrub_record(record)
        else:
            redact_extras(record)
        return True


def redact_extras(record: logging.LogRecord) -> None:
    """Mask the ``extra`` fields of ``record`` under secret keys, and the secrets in the others."""
    for name in list(record.__dict__):
        if name not in _RECORD_ATTRS and name not in _OWN_FIELDS:
            setattr(record, name, redact(record.__dict__[name], name))


def scrub_record(record: logging.LogRecord) -> None:
    """Take the secrets out of ``record``: its ``extra`` fields, its message and its traceback."""
    redact_extras(record)
    record.msg, record.args = scrub(record.getMessage()), None
    if record.exc_info:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
    if record.exc_text:
        record.exc_text = scrub(record.exc_text)


def exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    """The record's traceback, from its ``exc_info`` or its already rendered ``exc_text``."""
    if record.exc_info:
        return formatter.formatException(record.exc_info)
    return record.exc_text or ""


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRS and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, then worker/job fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a single JSON line."""
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(dict.fromkeys(IDENTITY_FIELDS))
        line.update(_extras(record))
        if record.exc_info or record.exc_text:
            line["exception"] = exception_text(self, record)
        return json.dumps(line, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """A plain line: time, level, logger, message, then ``key=value`` context (no colours)."""

    def __init__(self, with_time: bool = True) -> None:
        super().__init__()
        self.with_time = with_time

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one readable line (plus a traceback, if any)."""
        context = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        head = record.getMessage() + (f"  [{context}]" if context else "")
        if self.with_time:
            stamp = datetime.fromtimestamp(record.created).isoformat(sep=" ", timespec="milliseconds")
            head = f"{stamp} {record.levelname:<8} {record.name}: {head}"
        if record.exc_info or record.exc_text:
            head += "\n" + exception_text(self, record)
        return head


def setup_logging(level: str = "INFO", log_format: str = "console", worker_name: str | None = None) -> None:
    """Configure the root logger once: JSON lines, rich on a terminal, or plain lines."""
    set_worker_identity(None, worker_name)
    handler: logging.Handler
    if log_format == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    elif sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=True, log_time_format="%H:%M:%S")
        handler.setFormatter(ConsoleFormatter(with_time=False))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(ConsoleFormatter())
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # A library's warning (a deprecation met at import, say) becomes a log line of the chosen format,
    # not a bare line on stderr that breaks a JSON log's one-object-per-line promise.
    logging.captureWarnings(True)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
