"""The vendor SDK's logger API: ``BaseLogger``, ``ContextualLogger``, ``Logger`` and ``logger_for``."""

from __future__ import annotations

from neops_worker.sdk.logger.base import BaseLogger, ContextualLogger
from neops_worker.sdk.logger.logger import Logger


def logger_for(owner: object, logger: BaseLogger | None = None, **context: object) -> BaseLogger:
    """``logger`` (default: one named after ``owner``'s module) with ``owner``'s class in its context."""
    base = logger if logger is not None else Logger(type(owner).__module__)
    if isinstance(base, ContextualLogger):
        return base.with_context(**{"class": type(owner).__name__, **context})
    return base


__all__ = ["BaseLogger", "ContextualLogger", "Logger", "logger_for"]
