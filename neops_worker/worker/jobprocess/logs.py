"""Log records across the pipe: forwarded by a job process, replayed by the daemon with the job fields."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from neops_worker.observability import scrub_record
from neops_worker.worker.jobprocess.frames import Message

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class ForwardingHandler(logging.Handler):
    """Sends every record as a ``log`` message; secrets scrubbed before they leave the process."""

    def __init__(self, send: Callable[[Message], None]) -> None:
        super().__init__()
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        """Forward ``record``; a closed channel drops it (the daemon is gone or replacing us)."""
        try:
            scrub_record(record)
            self._send(to_message(record))
        except OSError:
            pass
        except Exception:
            self.handleError(record)


def to_message(record: logging.LogRecord) -> Message:
    """A record as plain data: logger, level, time, rendered message, traceback, extra fields."""
    extra = {
        k: v if isinstance(v, str | int | float | bool) or v is None else repr(v)
        for k, v in record.__dict__.items()
        if k not in _RECORD_ATTRS and not k.startswith("_")
    }
    return {
        "t": "log",
        "name": record.name,
        "level": record.levelno,
        "msg": record.getMessage(),
        "created": record.created,
        "exc": record.exc_text or None,
        "extra": extra,
    }


def install_forwarding(send: Callable[[Message], None], level: str) -> None:
    """Make ``send`` the only destination of this process's log records."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(ForwardingHandler(send))
    root.setLevel(level)


def replay(message: Message, fields: Mapping[str, str]) -> None:
    """Log a forwarded record in the daemon, as if it had been logged here, with ``fields`` added."""
    attrs: dict[str, Any] = {
        **{k: v for k, v in dict(message.get("extra") or {}).items() if k not in _RECORD_ATTRS},
        **fields,
        "name": str(message.get("name") or "root"),
        "levelno": int(message.get("level") or logging.INFO),
        "msg": str(message.get("msg", "")),
        "args": None,
        "created": float(message.get("created") or 0) or None,
        "exc_text": message.get("exc"),
    }
    attrs["levelname"] = logging.getLevelName(attrs["levelno"])
    if attrs["created"] is None:
        del attrs["created"]
    record = logging.makeLogRecord(attrs)
    logging.getLogger(record.name).handle(record)
