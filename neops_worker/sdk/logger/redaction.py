"""The vendor SDK's ``neops_worker_sdk.logger.redaction``: the ``SENSITIVE`` marker and its redactor.

``SENSITIVE`` is an instance of this worker's own marker (``neops_worker.Sensitive``): a field
marked with it is hidden, whatever it is called, from every log line, printed line and result
message of the job, with no call in the block. ``LOG_REDACT_EXTRA_KEYS`` is the worker's setting
of that name: comma-separated key names, each found anywhere in a key whatever its case, as in the
SDK, and here whatever its ``_`` and ``-`` too (``site_code`` also finds ``siteCode``). The worker
reads it at start with its other settings: from the environment, ``.env`` or
``run --log-redact-extra-keys``.

``Redactor`` and ``default_redactor`` are for a block that renders data for a log line itself:
``Redactor.dump`` gives a model, dict or list as plain data with what is secret replaced by the
placeholder. Where the SDK's key parts are ``password``, ``secret``, ``token``, ``passphrase`` and
``api_key``, this worker's are its own (``DEFAULT_KEY_PARTS``, which find those and more), and
``default_redactor`` adds the worker's ``LOG_REDACT_EXTRA_KEYS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from neops_worker.blocks.sensitive import Sensitive
from neops_worker.scrub import SECRET_KEY_PARTS, normalized_key, redact, secret_keys

#: The marker of a field whose value must never be logged: ``password: Annotated[str, SENSITIVE]``.
SENSITIVE: Final = Sensitive()

#: Parts of key names whose values are secrets, found anywhere in a key whatever its case, ``_`` and ``-``.
DEFAULT_KEY_PARTS: tuple[str, ...] = SECRET_KEY_PARTS

#: The setting that adds key names (comma-separated) to ``DEFAULT_KEY_PARTS``.
REDACT_EXTRA_KEYS_ENV = "LOG_REDACT_EXTRA_KEYS"


@dataclass(frozen=True)
class Redactor:
    """Turns a model, dict or list into plain data for a log line, with what is secret replaced.

    Replaced (but ``None``, so the shape stays readable): fields and dict values whose key contains
    one of ``key_parts`` (whatever its case, ``_`` and ``-``), fields marked ``SENSITIVE``,
    ``SecretStr`` values.
    """

    key_parts: tuple[str, ...] = DEFAULT_KEY_PARTS
    placeholder: str = "***"

    def is_sensitive_key(self, key: str) -> bool:
        """Whether the values under ``key`` are secrets: it contains one of ``key_parts``."""
        normal = normalized_key(key)
        return any(normalized_key(part) in normal for part in self.key_parts)

    def dump(self, value: Any) -> Any:
        """``value`` as plain data (models as dicts, tuples and sets as lists), secrets replaced."""
        return redact(value, secret_key=self.is_sensitive_key, mask=self.placeholder)


def default_redactor() -> Redactor:
    """The worker's redactor: ``DEFAULT_KEY_PARTS`` and the key names of ``LOG_REDACT_EXTRA_KEYS``."""
    return Redactor(key_parts=secret_keys())


__all__ = [
    "DEFAULT_KEY_PARTS",
    "REDACT_EXTRA_KEYS_ENV",
    "SENSITIVE",
    "Redactor",
    "Sensitive",
    "default_redactor",
]
