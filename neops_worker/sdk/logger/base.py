"""The logger contracts of the vendor SDK: the six logging methods, and ``with_context``."""

from __future__ import annotations

from abc import ABC, abstractmethod


class BaseLogger(ABC):
    """The logging methods a block's ``self.logger`` has (those of a standard ``logging.Logger``)."""

    @abstractmethod
    def debug(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at DEBUG."""

    @abstractmethod
    def info(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at INFO."""

    @abstractmethod
    def warning(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at WARNING."""

    @abstractmethod
    def error(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at ERROR."""

    @abstractmethod
    def critical(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at CRITICAL."""

    @abstractmethod
    def exception(self, msg: object, *args: object, **kwargs: object) -> None:
        """Log at ERROR with the exception being handled."""


class ContextualLogger(BaseLogger, ABC):
    """A logger that carries key/value context into every line it writes."""

    @abstractmethod
    def with_context(self, **context: object) -> ContextualLogger:
        """A new logger whose lines also carry ``context``."""

    @abstractmethod
    def get_context(self) -> dict[str, object]:
        """The context this logger adds to its lines."""


__all__ = ["BaseLogger", "ContextualLogger"]
