"""Logging: rich on a terminal, plain lines otherwise, or JSON lines; job context; secret redaction.

Every log line written while a job is in hand carries the job id, the function block id and the
worker id, taken from a ContextVar (``job_log_context``), so no call site has to repeat them.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import types
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

#: Fields of a log line that identify the worker and the job in hand.
_NO_FIELDS: Mapping[str, str] = types.MappingProxyType({})
_worker_fields: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "neops_worker", default=_NO_FIELDS
)
_job_fields: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "neops_job", default=_NO_FIELDS
)

SECRET_NAME = re.compile(r"(password|passwd|secret|token|credential|api_?key)", re.IGNORECASE)
REDACTED = "**********"

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


def set_worker_identity(worker_id: str | None, worker_name: str | None) -> None:
    """Name the worker in every later log line (called at registration and re-registration)."""
    fields = {}
    if worker_id:
        fields["worker_id"] = worker_id
    if worker_name:
        fields["worker_name"] = worker_name
    _worker_fields.set(fields)


@contextlib.contextmanager
def job_log_context(job_id: str, function_block: str, job_type: str) -> Iterator[None]:
    """Within the block, every log line names the job, its function block and its type."""
    token = _job_fields.set({"job_id": job_id, "function_block": function_block, "job_type": job_type})
    try:
        yield
    finally:
        _job_fields.reset(token)


def redact(value: Any, key: str = "") -> Any:
    """A copy of ``value`` with secrets replaced: SecretStr values and fields named like a secret."""
    if isinstance(value, SecretStr):
        return REDACTED
    if key and SECRET_NAME.search(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


class _ContextFilter(logging.Filter):
    """Adds the worker and job fields to every record, and redacts secrets in ``extra`` fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in {**_worker_fields.get(), **_job_fields.get()}.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        for name in list(record.__dict__):
            if name not in _RECORD_ATTRS:
                setattr(record, name, redact(record.__dict__[name], name))
        return True


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
        line.update(_extras(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
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
        if record.exc_info:
            head += "\n" + self.formatException(record.exc_info)
        return head


def setup_logging(level: str = "INFO", log_format: str = "console") -> None:
    """Configure the root logger once: JSON lines, rich on a terminal, or plain lines."""
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
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
