"""The engine client: one method per contract endpoint, over httpx, with no retries of its own.

Every answer is mapped once, here: any 2xx is success (the engine may answer 200 or 201, with or
without a body); 408, 429, 5xx, timeouts and connection errors raise ``EngineUnavailable``; any
other status raises ``EngineRejected`` carrying the engine's message. Retrying is the caller's
decision (``engine.retry``), because whether a call may be repeated depends on the endpoint.
Every answer that is not itself transient is noted on ``answers``: it wakes the retries waiting
for the engine to come back.

What is the same for every request is made once: the absolute URLs, the headers (bearer token,
user agent), the timeout. Each request is built directly and sent through ``engine.exchange``
(httpx's synchronous transport on threads of its own, or an injected async transport).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from neops_worker.engine.answers import AnswerSignal
from neops_worker.engine.exchange import FollowUpAnswer, Transport, exchange_for
from neops_worker.engine.wire import (
    CONTRACT_LIBRARY,
    CONTRACT_VERSION,
    JobPoll,
    JobResult,
    RegisterFunctionBlock,
    RegisterWorker,
    VersionCompatibility,
    VersionCompatibilityRequest,
    WireModel,
    WorkerRegistration,
)
from neops_worker.errors import EngineError, EngineRejected, EngineUnavailable, describe_errors

_Answer = TypeVar("_Answer", bound=WireModel)

TRANSIENT_STATUSES = frozenset({408, 429})
#: Failures that happen before a request reaches the engine: safe to repeat, even for a poll.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol)


def tls_verify(ca_bundle: Path | None) -> ssl.SSLContext | bool:
    """Certificate verification: the system store by default, or a private CA bundle."""
    if ca_bundle is None:
        return True
    return ssl.create_default_context(cafile=str(ca_bundle))


class EngineClient:
    """Speaks the worker-facing contract of the blackboard API."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        token: str | None = None,
        verify: ssl.SSLContext | bool = True,
        user_agent: str = "neops-worker",
        transport: Transport | None = None,
        answers: AnswerSignal | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        #: Noted on every answer of the engine that is not a transient failure (``engine.retry`` wakes on it).
        self.answers = answers or AnswerSignal()
        headers = {"Host": httpx.URL(self.base_url).netloc.decode("ascii")}
        headers |= {"Accept": "application/json", "User-Agent": user_agent}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        #: Every header but the body's length, as httpx would send them (``Host`` first).
        self._headers = httpx.Headers(headers).raw
        self._json_headers = httpx.Headers({**headers, "Content-Type": "application/json"}).raw
        self._extensions = {"timeout": httpx.Timeout(timeout).as_dict()}
        self._urls: dict[str, httpx.URL] = {}
        self._exchange = exchange_for(self.base_url, verify, transport)

    async def aclose(self) -> None:
        """Close the connection pool (and the threads that use it)."""
        await self._exchange.aclose()

    # --- endpoints -------------------------------------------------------------------------

    async def check_compatibility(self) -> VersionCompatibility:
        """``POST /version/compatibility`` for the contract this worker implements."""
        body = VersionCompatibilityRequest(version=CONTRACT_VERSION, library=CONTRACT_LIBRARY)
        response = await self._send("version check", "POST", "/version/compatibility", body)
        return _parse(VersionCompatibility, response, "version check")

    async def register_worker(self, body: RegisterWorker) -> WorkerRegistration:
        """``POST /workers/register``: a new worker record; its ``uuid`` names the worker from now on."""
        response = await self._send("worker registration", "POST", "/workers/register", body)
        return _parse(WorkerRegistration, response, "worker registration")

    async def ping(self, worker_id: str) -> None:
        """``POST /workers/{uuid}/ping``: the heartbeat. A 404 (``EngineRejected``) means expired."""
        await self._send("heartbeat", "POST", f"/workers/{worker_id}/ping")

    async def unregister(self, worker_id: str) -> None:
        """``POST /workers/{uuid}/unregister``; 404 (already gone) counts as success."""
        try:
            await self._send("unregister", "POST", f"/workers/{worker_id}/unregister")
        except EngineRejected as exc:
            if exc.status != 404:
                raise

    async def register_function_block(self, body: RegisterFunctionBlock) -> bool:
        """``POST /function-blocks/register``; True if new, False if the engine already had it (409)."""
        try:
            await self._send(f"registration of {body.fb_id}", "POST", "/function-blocks/register", body)
        except EngineRejected as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def poll(self, body: JobPoll) -> list[Any]:
        """``POST /blackboard/job``: claims jobs. The raw entries are returned for per-job parsing."""
        return _claimed(await self._send("poll", "POST", "/blackboard/job", body))

    async def push_result(self, body: JobResult) -> bool:
        """``POST /blackboard/job/result``; True if accepted, False if the engine already had one (409)."""
        try:
            await self._send(_result_of(body), "POST", "/blackboard/job/result", body)
        except EngineRejected as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def push_result_then_poll(
        self, body: JobResult, poll: JobPoll, may_poll: Callable[[], bool]
    ) -> tuple[bool, list[Any] | EngineError | None]:
        """The result push and, right behind it, the next poll: one hand-over to the engine's thread.

        The poll goes out only once the push is answered 2xx or 409 and ``may_poll()`` (called on
        that thread, just before) still says so. The push's outcome is ``push_result``'s, raised
        alike; the poll's is the claimed entries, its failure (returned, never raised: the push
        must not be repeated for it), or None when it was not sent.
        """
        polling = self._request("POST", "/blackboard/job", poll)

        def follow_up(answer: httpx.Response) -> httpx.Request | None:
            delivered = 200 <= answer.status_code < 300 or answer.status_code == 409
            return polling if delivered and may_poll() else None

        operation = _result_of(body)
        push = self._request("POST", "/blackboard/job/result", body)
        try:
            answer, poll_answer = await self._exchange.send_then(push, follow_up)
        except httpx.HTTPError as exc:
            raise _unanswered(operation, exc) from exc
        try:
            self._answered(operation, answer)
        except EngineRejected as exc:
            if exc.status != 409:
                raise
        return answer.status_code != 409, self._poll_outcome(poll_answer)

    def _poll_outcome(self, answer: FollowUpAnswer) -> list[Any] | EngineError | None:
        if answer is None:
            return None
        if isinstance(answer, httpx.HTTPError):
            return _unanswered("poll", answer)
        try:
            return _claimed(self._answered("poll", answer))
        except EngineError as exc:
            return exc

    # --- transport ---------------------------------------------------------------------------

    async def _send(
        self, operation: str, method: str, path: str, body: WireModel | None = None
    ) -> httpx.Response:
        try:
            response = await self._exchange.send(self._request(method, path, body))
        except httpx.HTTPError as exc:
            raise _unanswered(operation, exc) from exc
        return self._answered(operation, response)

    def _answered(self, operation: str, response: httpx.Response) -> httpx.Response:
        """The engine answered: wake waiting retries (unless it said it is away); raise for an error."""
        if not _transient(response.status_code):
            self.answers.note()  # the engine is there: waiting retries may go now
        _raise_for_status(operation, response)
        return response

    def _request(self, method: str, path: str, body: WireModel | None) -> httpx.Request:
        """The request, from the URL and headers made once; the body encoded once.

        Built as httpx builds requests that carry their own headers (``stream=``): complete as
        given, with no per-request header normalisation and merging, which otherwise costs more
        than the rest of building the request.
        """
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self.base_url + path)
        content = b"" if body is None else _encode(body)
        raw = self._headers if body is None else self._json_headers
        headers = httpx.Headers([*raw, (b"Content-Length", b"%d" % len(content))])
        request = httpx.Request(
            method, url, headers=headers, stream=httpx.ByteStream(content), extensions=self._extensions
        )
        request.read()  # ``request.content`` stays readable, as for any request httpx builds
        return request


def _unanswered(operation: str, exc: httpx.HTTPError) -> EngineError:
    """The error for a request that got no answer."""
    if isinstance(exc, _NOT_SENT):
        if _certificate_refused(exc):
            # A certificate that does not verify is configuration, not an outage: do not retry.
            return EngineRejected(operation, _describe(exc))
        return EngineUnavailable(operation, _describe(exc), request_sent=False)
    return EngineUnavailable(operation, _describe(exc))


def _claimed(response: httpx.Response) -> list[Any]:
    """The entries of a poll's answer (an empty body: none)."""
    payload = _json(response, "poll") if response.content.strip() else []
    if not isinstance(payload, list):
        raise EngineRejected(
            "poll", f"expected a JSON array, got {type(payload).__name__}", response.status_code
        )
    return payload


def _result_of(body: JobResult) -> str:
    return f"result of job {body.job_execution_id}"


def _raise_for_status(operation: str, response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    text = response.text[:2000]
    detail = f"HTTP {status}: {engine_message(text) or response.reason_phrase}"
    if _transient(status):
        raise EngineUnavailable(operation, detail, status, text, retry_after=_retry_after(response))
    raise EngineRejected(operation, detail, status, text)


def _transient(status: int) -> bool:
    """An answer that says the engine is away for now (408, 429, 5xx): worth retrying, later."""
    return status in TRANSIENT_STATUSES or status >= 500


def engine_message(text: str) -> str:
    """The ``message`` of an engine error body (a string or a list of strings), else the raw text."""
    try:
        payload = json.loads(text)
    except ValueError:
        return text.strip()[:500]
    if isinstance(payload, dict):
        message = payload.get("message", payload.get("error", ""))
        if isinstance(message, list):
            return "; ".join(str(part) for part in message)
        return str(message) if message else text.strip()[:500]
    return text.strip()[:500]


def _retry_after(response: httpx.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if header is not None:
        try:
            return max(0.0, float(header))
        except ValueError:
            return None
    try:
        payload = response.json()
    except ValueError:
        return None
    value = payload.get("retryAfterSeconds") if isinstance(payload, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _encode(body: WireModel) -> bytes:
    """The JSON body, as httpx would write it, but never failing on text that came from the engine.

    A lone surrogate (``"\\ud800"``) is legal in the engine's JSON but cannot be encoded as UTF-8, so
    httpx would raise and the job's result would never be sent; it is replaced by U+FFFD instead.
    """
    text = json.dumps(body.to_wire(), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def _parse(model: type[_Answer], response: httpx.Response, operation: str) -> _Answer:
    """The answer as ``model``; an answer of another shape is a permanent error naming the fields."""
    try:
        return model.model_validate(_json(response, operation))
    except ValidationError as exc:
        problems = describe_errors(exc)
        raise EngineRejected(
            operation, f"unexpected answer: {problems}", response.status_code, response.text[:2000]
        ) from None


def _json(response: httpx.Response, operation: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        snippet = response.text[:200]
        raise EngineRejected(operation, f"answer is not JSON: {snippet!r}", response.status_code) from exc


def _certificate_refused(exc: BaseException) -> bool:
    """Whether a connect failure is a TLS certificate that did not verify (anywhere in its chain)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


__all__ = ["EngineClient", "EngineError", "engine_message", "tls_verify"]
