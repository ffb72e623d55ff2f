"""Which engine the worker speaks to: its version, and the request fields only newer engines know.

Engines of the 0.42.1 contract are still in service beside those of 0.43 (contract section 10).
The engine's version comes from the compatibility answer or ``GET /version``, numbered like the
vendor's client (``0.43.0-beta.8``; a leading ``v`` and the PEP 440 form ``0.43.0b8`` are read
too). Two request fields are gated on it: ``reversible`` at block registration from
``0.43.0-beta.2`` on, and a failed result's ``retryable`` from ``0.43.0-beta.8`` on. An engine
whose version is unknown is sent neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from neops_worker.engine.wire import JobResult, RegisterFunctionBlock, WireModel

#: ``major.minor.patch`` with an optional pre-release (``-beta.8``, ``b8``, ``-rc.1``), ``v`` allowed.
_VERSION = re.compile(
    r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-.]?(alpha|a|beta|b|rc|c)\.?(\d+)?)?(?:[+-].*)?$", re.IGNORECASE
)
_STAGES = {"alpha": 0, "a": 0, "beta": 1, "b": 1, "rc": 2, "c": 2}
_RELEASE = 3
Version = tuple[int, int, int, int, int]

#: The first engine versions that know each gated field.
REVERSIBLE_SINCE: Version = (0, 43, 0, _STAGES["beta"], 2)
RETRYABLE_SINCE: Version = (0, 43, 0, _STAGES["beta"], 8)


def parse_version(text: str | None) -> Version | None:
    """``0.43.0-beta.8`` as a comparable tuple (a release after its pre-releases); None if unreadable."""
    match = _VERSION.match((text or "").strip())
    if match is None:
        return None
    major, minor, patch, stage, number = match.groups()
    rank = _RELEASE if stage is None else _STAGES[stage.lower()]
    return int(major), int(minor), int(patch or 0), rank, int(number or 0)


@dataclass(frozen=True)
class EngineGeneration:
    """What the worker knows of the engine's version, and so which gated fields it may send."""

    #: The engine's version as it said it; None while unknown.
    version: str | None = None

    @property
    def parsed(self) -> Version | None:
        """The version as a comparable tuple, None when unknown or unreadable."""
        return parse_version(self.version)

    @property
    def knows_reversible(self) -> bool:
        """The engine reads ``reversible`` at block registration (0.43.0-beta.2 and later)."""
        parsed = self.parsed
        return parsed is not None and parsed >= REVERSIBLE_SINCE

    @property
    def knows_retryable(self) -> bool:
        """The engine reads ``retryable`` on a failed result (0.43.0-beta.8 and later)."""
        parsed = self.parsed
        return parsed is not None and parsed >= RETRYABLE_SINCE

    def describe(self) -> str:
        """``0.43.0-beta.8`` or ``unknown``, for log lines."""
        return self.version or "unknown"

    def gate(self, body: WireModel) -> WireModel:
        """``body`` as this engine may be sent it: the fields it does not know left out."""
        if isinstance(body, RegisterFunctionBlock) and body.reversible is not None:
            if not self.knows_reversible:
                return body.model_copy(update={"reversible": None})
        elif isinstance(body, JobResult) and body.result.retryable is not None:
            return self._gate_retryable(body)
        return body

    def _gate_retryable(self, body: JobResult) -> JobResult:
        """``retryable`` goes only on a failure, and only to an engine that knows it."""
        if body.result.success or not self.knows_retryable:
            inner = body.result.model_copy(update={"retryable": None})
            return body.model_copy(update={"result": inner})
        return body


__all__ = ["EngineGeneration", "parse_version"]
