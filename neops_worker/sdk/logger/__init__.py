"""The vendor SDK's logger API: ``BaseLogger``, ``ContextualLogger``, ``Logger`` and ``logger_for``."""

from __future__ import annotations

from neops_worker.sdk.logger.base import BaseLogger, ContextualLogger
from neops_worker.sdk.logger.logger import Logger


class _Forwarding(ContextualLogger):
    """A logger without context of its own, given one: the context follows each message."""

    def __init__(self, target: BaseLogger, context: dict[str, object]) -> None:
        self._target = target
        self._context = context

    def with_context(self, **context: object) -> ContextualLogger:
        """A new logger whose lines also carry ``context``."""
        return _Forwarding(self._target, {**self._context, **context})

    def get_context(self) -> dict[str, object]:
        """The context this logger adds to its lines."""
        return dict(self._context)

    def _text(self, msg: object) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in sorted(self._context.items()))
        return f"{msg} | {fields}" if fields else str(msg)

    def debug(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at DEBUG."""
        self._target.debug(self._text(msg), *args, **kwargs)

    def info(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at INFO."""
        self._target.info(self._text(msg), *args, **kwargs)

    def warning(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at WARNING."""
        self._target.warning(self._text(msg), *args, **kwargs)

    def error(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at ERROR."""
        self._target.error(self._text(msg), *args, **kwargs)

    def critical(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at CRITICAL."""
        self._target.critical(self._text(msg), *args, **kwargs)

    def exception(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at ERROR with the exception being handled."""
        self._target.exception(self._text(msg), *args, **kwargs)


def logger_for(owner: object, logger: BaseLogger | None = None, **context: object) -> ContextualLogger:
    """``logger`` (default: one named after ``owner``'s module) with ``owner``'s class in its context."""
    base = logger if logger is not None else Logger(type(owner).__module__)
    added = {"class": type(owner).__name__, **context}
    if isinstance(base, ContextualLogger):
        return base.with_context(**added)
    return _Forwarding(base, added)


__all__ = ["BaseLogger", "ContextualLogger", "Logger", "logger_for"]
