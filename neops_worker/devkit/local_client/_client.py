"""The one home of httpx for the operator commands: a small client of the local engine's ``/_dev/`` routes.

Bodies are the local engine's own models (:mod:`neops_worker.devkit.local_engine.models`), so nothing here
writes JSON by hand. Failures use the worker's exception tree: :class:`EngineUnavailable` when the
engine cannot be reached or answers 5xx, :class:`EngineRejected` (with status and body) for a 4xx.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from neops_worker.devkit.local_engine.models import (
    DevFunctionBlock,
    DevJob,
    DevJobDetail,
    DevWorker,
    NewJob,
    NewJobCreated,
)
from neops_worker.engine.client import engine_message
from neops_worker.errors import EngineRejected, EngineUnavailable

T = TypeVar("T")

#: Seconds each request may take; the dev routes answer in milliseconds on a healthy engine.
REQUEST_TIMEOUT_S = 10.0

_JOBS = TypeAdapter(list[DevJob])
_WORKERS = TypeAdapter(list[DevWorker])
_BLOCKS = TypeAdapter(list[DevFunctionBlock])


class DevClient:
    """Synchronous client of the local engine's development endpoints (not part of the contract)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = REQUEST_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, transport=transport)

    def add_job(self, job: NewJob) -> str:
        """Queue a job (``POST /_dev/jobs``); its id."""
        answer = self._call("Job submission", "POST", "/_dev/jobs", json=job.to_wire())
        return _parse(NewJobCreated.model_validate, answer, "Job submission").job_id

    def rollback(self, job_id: str) -> str:
        """Have the engine roll back a failed job (``POST /_dev/jobs/{jobId}/rollback``); the new job's id."""
        answer = self._call(f"Rollback of job {job_id}", "POST", f"/_dev/jobs/{job_id}/rollback")
        return _parse(NewJobCreated.model_validate, answer, f"Rollback of job {job_id}").job_id

    def jobs(self, status: str | None = None, run_id: str | None = None) -> list[DevJob]:
        """Every job in queue order (``GET /_dev/jobs``), optionally only those in ``status`` or one run."""
        params = {name: value for name, value in (("status", status), ("runId", run_id)) if value}
        answer = self._call("Job listing", "GET", "/_dev/jobs", params=params or None)
        return _parse(_JOBS.validate_python, answer, "Job listing")

    def job(self, job_id: str) -> DevJobDetail:
        """One job with its input, stored result and logs; EngineRejected (404) if unknown."""
        answer = self._call(f"Job {job_id}", "GET", f"/_dev/jobs/{job_id}")
        return _parse(DevJobDetail.model_validate, answer, f"Job {job_id}")

    def workers(self) -> list[DevWorker]:
        """Every worker the engine has seen, with state and last ping."""
        answer = self._call("Worker listing", "GET", "/_dev/workers")
        return _parse(_WORKERS.validate_python, answer, "Worker listing")

    def function_blocks(self) -> list[DevFunctionBlock]:
        """Every registered function block."""
        answer = self._call("Function block listing", "GET", "/_dev/function-blocks")
        return _parse(_BLOCKS.validate_python, answer, "Function block listing")

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> DevClient:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()

    def _call(self, operation: str, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            detail = f"cannot reach the engine at {self.base_url} ({_describe(exc)})"
            raise EngineUnavailable(operation, detail, request_sent=False) from None
        if response.status_code >= 400:
            raise _status_error(operation, response)
        try:
            return response.json()
        except ValueError:
            raise EngineUnavailable(operation, f"the answer from {self.base_url} is not JSON") from None


def _status_error(operation: str, response: httpx.Response) -> EngineRejected | EngineUnavailable:
    text = response.text[:2000]
    detail = f"HTTP {response.status_code}: {engine_message(text) or response.reason_phrase}"
    if response.status_code >= 500:
        return EngineUnavailable(operation, detail, response.status_code, text)
    return EngineRejected(operation, detail, response.status_code, text)


def _parse(parse: Callable[[Any], T], answer: Any, operation: str = "Answer") -> T:
    """Validate an answer; a shape we do not know means this is not (this version of) the local engine."""
    try:
        return parse(answer)
    except ValidationError as exc:
        detail = f"unexpected answer ({exc.error_count()} problem(s)); is this the local engine?"
        raise EngineRejected(operation, detail, 200, str(answer)[:2000]) from None


def _describe(exc: httpx.HTTPError) -> str:
    """A short reason: 'connection refused', 'timed out', else the exception's own words."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError) and "refused" in text.lower():
        return "connection refused"
    return text


__all__ = ["REQUEST_TIMEOUT_S", "DevClient"]
