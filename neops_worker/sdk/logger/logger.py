"""``Logger``: the vendor SDK's contextual logger, writing through the standard ``logging`` tree.

Its lines are the worker's log lines: the worker's format (console or JSON lines), the job's ids,
secret redaction. The context of ``with_context`` becomes fields of each line (``key=value`` on
the console, keys of the JSON object). As with the SDK's logger, arguments fill ``{}``
placeholders (``logger.info("{} interfaces", count)``); f-strings need none.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from neops_worker.sdk.logger.base import ContextualLogger

#: Keyword arguments that mean what they mean to ``logging``, not placeholders of the message.
_LOGGING_KWARGS = ("exc_info", "stack_info", "stacklevel", "extra")
#: Attributes every LogRecord has: context under these names is renamed, not dropped.
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class Logger(ContextualLogger):
    """A contextual logger over ``logging.getLogger(name)``."""

    def __init__(self, name: str = "neops_worker.sdk", context: Mapping[str, object] | None = None) -> None:
        self._logger = logging.getLogger(name)
        self._context: dict[str, object] = dict(context or {})

    def with_context(self, **context: object) -> Logger:
        """A new logger whose lines also carry ``context`` (later keys win)."""
        return Logger(self._logger.name, {**self._context, **context})

    def get_context(self) -> dict[str, object]:
        """The context this logger adds to its lines."""
        return dict(self._context)

    def debug(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at DEBUG."""
        self._log(logging.DEBUG, msg, args, kwargs)

    def info(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at INFO."""
        self._log(logging.INFO, msg, args, kwargs)

    def warning(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at WARNING."""
        self._log(logging.WARNING, msg, args, kwargs)

    def error(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at ERROR."""
        self._log(logging.ERROR, msg, args, kwargs)

    def critical(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at CRITICAL."""
        self._log(logging.CRITICAL, msg, args, kwargs)

    def exception(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at ERROR with the exception being handled."""
        kwargs.setdefault("exc_info", True)
        self._log(logging.ERROR, msg, args, kwargs)

    def _log(self, level: int, msg: object, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
        if not self._logger.isEnabledFor(level):
            return
        options: dict[str, Any] = {key: kwargs.pop(key) for key in _LOGGING_KWARGS if key in kwargs}
        extra = {**self._fields(), **dict(options.pop("extra", None) or {})}
        options["stacklevel"] = int(options.get("stacklevel", 1)) + 2
        self._logger.log(level, _formatted(msg, args, kwargs), extra=extra, **options)

    def _fields(self) -> dict[str, object]:
        return {(f"context_{k}" if k in _RECORD_ATTRS else k): v for k, v in self._context.items()}


def _formatted(msg: object, args: tuple[object, ...], kwargs: dict[str, object]) -> str:
    """``msg`` with ``{}`` placeholders filled, as the SDK's logger does; unchanged if they do not fit."""
    text = str(msg)
    if not args and not kwargs:
        return text
    try:
        return text.format(*args, **kwargs)
    except (IndexError, KeyError, ValueError):
        return " ".join([text, *map(str, args)])


__all__ = ["Logger"]
