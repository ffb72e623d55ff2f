"""Secrets out of logs and results: which values of a job are secret, and scrubbing them from text.

A block that raises ``ConnectionError(f"auth failed for {user}:{password}@{ip}")`` must not put the
password into a log line, a traceback or the failed result the engine stores. The values to hide are
collected when the job starts:

- every value of its parameters and context under a key named like a secret: a key that contains
  one of ``SECRET_KEY_PARTS`` or of the key names of ``LOG_REDACT_EXTRA_KEYS`` (``set_secret_keys``),
  whatever its case, its ``_`` and its ``-``;
- every value of a parameter-model field marked ``Sensitive`` (``Annotated[str, Sensitive]``; the
  vendor SDK's ``SENSITIVE`` is the same marker), whatever the field is called, in nested models and
  lists too: the marked fields of each model class are found once (``sensitive_fields``);
- every ``SecretStr``;

and, for the life of the process, ``BLACKBOARD_TOKEN``. Every log line, printed line and result
message is scrubbed of them. One job runs at a time, so the job's secrets are process-wide.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from pydantic import BaseModel, SecretStr

if TYPE_CHECKING:
    from neops_worker.engine.wire import JobDefinition

#: Parts of the names of keys whose values are secrets (device passwords, enable secrets, API keys,
#: tokens, SNMP communities...), found anywhere in a key whatever its case, its ``_`` and its ``-``:
#: ``enablePassword``, ``api_key``, ``snmp-community``.
SECRET_KEY_PARTS: tuple[str, ...] = (
    "pass",
    "secret",
    "token",
    "credential",
    "apikey",
    "privatekey",
    "sshkey",
    "authkey",
    "community",
)
#: What matching a key ignores besides its case: ``site_code``, ``siteCode`` and ``SITE-CODE`` are one name.
_SEPARATORS = str.maketrans("", "", "_-")


def normalized_key(key: str) -> str:
    """``key`` as secret names are matched in it: lower case, without ``_`` and ``-``."""
    return key.lower().translate(_SEPARATORS)


def key_pattern(parts: Iterable[str]) -> re.Pattern[str]:
    """A pattern that finds any of ``parts`` in a key once both are normalized (``normalized_key``)."""
    return re.compile("|".join(re.escape(normalized_key(part)) for part in parts))


REDACTED = "**********"
#: Shorter values are not scrubbed: replacing every "a" of a log line would make it unreadable.
MIN_SECRET_LENGTH = 3

_static: frozenset[str] = frozenset()
_job: frozenset[str] = frozenset()
_pattern: re.Pattern[str] | None = None
_extra_keys: tuple[str, ...] = ()
_secret_key: re.Pattern[str] = key_pattern(SECRET_KEY_PARTS)


# --- which keys are secret -------------------------------------------------------------------


def set_secret_keys(names: Iterable[str]) -> None:
    """Key names whose values are secrets too from now on (``LOG_REDACT_EXTRA_KEYS``), matched as the
    parts of ``SECRET_KEY_PARTS`` are: anywhere in a key, whatever its case, its ``_`` and its ``-``."""
    global _extra_keys, _secret_key  # noqa: PLW0603 - one setting per process, read by every scrub
    normal = (normalized_key(name.strip()) for name in names)
    _extra_keys = tuple(dict.fromkeys(name for name in normal if name))  # an empty name would match every key
    _secret_key = key_pattern(SECRET_KEY_PARTS + _extra_keys)


def secret_keys() -> tuple[str, ...]:
    """Every part of a key name that makes its value a secret (normalized): built-in ones, then extra ones."""
    return SECRET_KEY_PARTS + _extra_keys


def is_secret_key(key: str) -> bool:
    """Whether the values under ``key`` are secrets: it contains a part of ``secret_keys()``."""
    return bool(key) and _secret_key.search(normalized_key(key)) is not None


@functools.cache
def sensitive_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields of ``model`` marked ``Sensitive`` (the SDK's ``SENSITIVE`` too), found once per class."""
    # Imported here: the daemon of process mode sees only plain data and never loads the authoring API.
    from neops_worker.blocks.sensitive import is_sensitive_field

    return frozenset(name for name, field in model.model_fields.items() if is_sensitive_field(field))


# --- the secret values of a job ----------------------------------------------------------------


def secret_values(value: Any, key: str = "") -> set[str]:
    """Every secret string inside ``value``: under secret keys, in marked fields, and ``SecretStr`` values."""
    return {v for v in _secrets_in(value, key) if len(v) >= MIN_SECRET_LENGTH}


def _secrets_in(value: Any, key: str) -> set[str]:
    if isinstance(value, SecretStr):
        return {value.get_secret_value()}
    if isinstance(value, BaseModel):
        marked = sensitive_fields(type(value))
        return _union(
            _scalars(item) if name in marked else _secrets_in(item, name)
            for name, item in _fields(value).items()
        )
    if isinstance(value, Mapping):
        return _union(_secrets_in(item, str(name)) for name, item in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return _union(_secrets_in(item, key) for item in value)
    return _scalars(value) if is_secret_key(key) else set()


def _scalars(value: Any) -> set[str]:
    """Every string and integer inside ``value`` (the whole of a marked field is secret)."""
    if isinstance(value, SecretStr):
        return {value.get_secret_value()}
    if isinstance(value, str | int) and not isinstance(value, bool):
        return {str(value)}
    if isinstance(value, BaseModel):
        value = _fields(value)
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return _union(_scalars(item) for item in value)
    return set()


def _fields(model: BaseModel) -> dict[str, Any]:
    return {name: getattr(model, name, None) for name in type(model).model_fields}


def _union(sets: Iterable[set[str]]) -> set[str]:
    found: set[str] = set()
    for each in sets:
        found |= each
    return found


def job_secret_values(job: JobDefinition) -> set[str]:
    """The secrets a claimed job carries: in its parameters and in its context (extra fields too)."""
    return secret_values(job.parameters) | secret_values(job.context.model_dump())


# --- the secrets in force ----------------------------------------------------------------------


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


def _compile() -> None:
    global _pattern  # noqa: PLW0603 - rebuilt only when the secrets change
    values = sorted(current_secrets(), key=len, reverse=True)
    _pattern = re.compile("|".join(re.escape(v) for v in values)) if values else None


# --- scrubbing -----------------------------------------------------------------------------------


def scrub(text: str) -> str:
    """``text`` with every current secret replaced by asterisks."""
    if _pattern is None or not text:
        return text
    return _pattern.sub(REDACTED, text)


def scrub_data(value: Any) -> Any:
    """A JSON-like ``value`` (a result's data) with every current secret scrubbed from its strings."""
    if _pattern is None:
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {name: scrub_data(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_data(item) for item in value]
    return value


def redact(
    value: Any, key: str = "", *, secret_key: Callable[[str], bool] = is_secret_key, mask: str = REDACTED
) -> Any:
    """A copy of ``value`` fit for a log line: what is secret masked, the rest as plain data.

    Masked: values (but ``None``) under secret keys, marked model fields, ``SecretStr`` values; the
    current secrets are scrubbed from every other string. Models become dicts of their fields.
    """
    again = functools.partial(redact, secret_key=secret_key, mask=mask)
    if isinstance(value, SecretStr) or (value is not None and key and secret_key(key)):
        return mask
    if isinstance(value, BaseModel):
        marked = sensitive_fields(type(value))
        return {
            name: mask if name in marked and item is not None else again(item, name)
            for name, item in _fields(value).items()
        }
    if isinstance(value, Mapping):
        return {name: again(item, str(name)) for name, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [again(item) for item in value]
    return scrub(value) if isinstance(value, str) else value


class ScrubbedStream:
    """A text stream that writes what it is given without the current secrets (what blocks print)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        with contextlib.suppress(Exception):
            stream.reconfigure(line_buffering=True)  # type: ignore[attr-defined]

    def write(self, text: str) -> int:
        """Write ``text`` without the secrets."""
        self._stream.write(scrub(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def scrub_standard_streams() -> None:
    """From now on what this process prints (``sys.stdout``, ``sys.stderr``) is scrubbed as it is written."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, ScrubbedStream):
            setattr(sys, name, ScrubbedStream(stream))
