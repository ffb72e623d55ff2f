"""Secrets out of logs and results: which values of a job are secret, and scrubbing them from text.

A block that raises ``ConnectionError(f"auth failed for {user}:{password}@{ip}")`` must not put the
password into a log line, a traceback or the failed result the engine stores. The values to hide are
collected when the job starts (every field of its parameters and context named like a secret, every
``SecretStr``) and, for the life of the process, ``BLACKBOARD_TOKEN``; every log line and result
message is scrubbed of them. One job runs at a time, so the job's secrets are process-wide.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretStr

if TYPE_CHECKING:
    from neops_worker.engine.wire import JobDefinition

#: Names of fields whose values are secrets (device passwords, enable secrets, API keys, tokens...).
SECRET_NAME = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|credential|api_?key|private_?key|ssh_?key|auth_?key|community)",
    re.IGNORECASE,
)
REDACTED = "**********"
#: Shorter values are not scrubbed: replacing every "a" of a log line would make it unreadable.
MIN_SECRET_LENGTH = 3

_static: frozenset[str] = frozenset()
_job: frozenset[str] = frozenset()
_pattern: re.Pattern[str] | None = None


def secret_values(value: Any, key: str = "") -> set[str]:
    """Every secret string inside ``value``: values under secret-like keys, and ``SecretStr`` values."""
    found: set[str] = set()
    if isinstance(value, SecretStr):
        found.add(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found |= secret_values(getattr(value, name, None), name)
    elif isinstance(value, Mapping):
        for name, item in value.items():
            found |= secret_values(item, str(name))
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            found |= secret_values(item, key)
    elif isinstance(value, str | int) and key and SECRET_NAME.search(key) and not isinstance(value, bool):
        found.add(str(value))
    return {v for v in found if len(v) >= MIN_SECRET_LENGTH}


def job_secret_values(job: JobDefinition) -> set[str]:
    """The secrets a claimed job carries: in its parameters and in its context (extra fields too)."""
    return secret_values(job.parameters) | secret_values(job.context.model_dump())


def set_static_secrets(values: Iterable[str | None]) -> None:
    """Secrets of the process itself (``BLACKBOARD_TOKEN``), hidden in every line from now on."""
    global _static  # noqa: PLW0603 - one set per process, read by the log filter
    _static = frozenset(v for v in values if v and len(v) >= MIN_SECRET_LENGTH)
    _compile()


def add_job_secrets(values: Iterable[str]) -> None:
    """Hide ``values`` too until the job in hand ends."""
    global _job  # noqa: PLW0603 - one job at a time per process
    _job = _job | frozenset(v for v in values if len(v) >= MIN_SECRET_LENGTH)
    _compile()


@contextlib.contextmanager
def job_secrets(values: Iterable[str]) -> Iterator[None]:
    """While the job runs, its secrets are scrubbed from every log line and message."""
    global _job  # noqa: PLW0603 - one job at a time per process
    previous = _job
    add_job_secrets(values)
    try:
        yield
    finally:
        _job = previous
        _compile()


def current_secrets() -> frozenset[str]:
    """The values hidden right now (the process's and the job's)."""
    return _static | _job


def scrub(text: str) -> str:
    """``text`` with every current secret replaced by asterisks."""
    if _pattern is None or not text:
        return text
    return _pattern.sub(REDACTED, text)


def _compile() -> None:
    global _pattern  # noqa: PLW0603 - rebuilt only when the secrets change
    values = sorted(current_secrets(), key=len, reverse=True)
    _pattern = re.compile("|".join(re.escape(v) for v in values)) if values else None
