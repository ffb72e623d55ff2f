"""The engine client: one method per contract endpoint, over httpx, with no retries of its own.

Every answer is mapped once, here: any 2xx is success (the engine may answer 200 or 201, with or
without a body); 408, 429, 5xx, timeouts and connection errors raise ``EngineUnavailable``; a
licence refusal (403 ``LicenseLimitExceeded``) raises ``LicenceRefusal``; any other status raises
``EngineRejected`` carrying the engine's message, cut to a readable length. Retrying is the
caller's decision (``engine.retry``), because whether a call may be repeated depends on the
endpoint; ``gave_up`` is the error that ends a caller's retries, naming the engine's URL, what the
last attempt met and what to check. A failure without an answer says its kind in words (connection
refused, name not resolved, a timeout, TLS). Every answer that is not itself transient is noted on
``answers``: it wakes the retries waiting for the engine to come back; the first after failures is
said once ("Engine at URL answering again after N s").

The client knows which engine it speaks to (``generation``, from the version check or ``GET
/version``): every body goes through one gate (``_gated``) that leaves out the fields this engine
does not know, as REGISTER_REVERSIBLE (``reversible``) decides for the ``reversible`` flag.

What is the same for every request is made once: the absolute URLs, the headers (bearer token,
user agent), the timeouts (the poll's own, longer one: a poll that times out may have claimed a
job). Each request is built directly and sent through ``engine.exchange`` (httpx's synchronous
transport on threads of its own, or an injected async transport).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import ValidationError

from neops_worker.engine.answers import AnswerSignal
from neops_worker.engine.exchange import FollowUpAnswer, Transport, exchange_for
from neops_worker.engine.generations import EngineGeneration
from neops_worker.engine.wire import (
    CONTRACT_LIBRARY,
    CONTRACT_VERSION,
    JobPoll,
    JobResult,
    LicenseLimitExceeded,
    RegisterFunctionBlock,
    RegisterWorker,
    VersionCompatibility,
    VersionCompatibilityRequest,
    VersionResponse,
    WireModel,
    WorkerActionResult,
    WorkerRegistration,
)
from neops_worker.errors import EngineError, EngineRejected, EngineUnavailable, describe_errors

if TYPE_CHECKING:
    from neops_worker.settings import ReversibleMode

_Answer = TypeVar("_Answer", bound=WireModel)

TRANSIENT_STATUSES = frozenset({408, 429})
#: Failures that happen before a request reaches the engine: safe to repeat, even for a poll.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol)
#: How much of an engine's error message a log line carries.
MESSAGE_LIMIT = 200
#: The header a licence refusal carries besides its body (contract 4.12).
LICENCE_HEADER = "X-Neops-License-Error"
log = logging.getLogger("neops_worker.engine")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


class LicenceRefusal(EngineRejected):
    """A registration refused by the engine's licence (403 ``LicenseLimitExceeded``): never retried."""

    def __init__(
        self, operation: str, detail: str, status: int, body: str, licence: LicenseLimitExceeded | None
    ) -> None:
        super().__init__(operation, detail, status, body)
        #: The refusal as the engine explained it; None when only the header said so.
        self.licence = licence

    def describe(self, refused: Sequence[str]) -> str:
        """One line: the quota (label, current of max), the edition, what was refused, message and hint."""
        names = ", ".join(refused)
        licence = self.licence
        if licence is None:
            return f"License limit exceeded; refused: {names}; the engine says: {self.detail}"
        limit = licence.limit
        return (
            f"License limit exceeded: {limit.label or limit.name} ({limit.current:g} of {limit.max:g}), "
            f"edition {licence.edition}; refused: {names}; "
            f"the engine says: {_readable(licence.message)}; hint: {_readable(licence.hint)}"
        )


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
        poll_timeout: float | None = None,
        reversible: ReversibleMode = "auto",
        token: str | None = None,
        verify: ssl.SSLContext | bool = True,
        user_agent: str = "neops-worker",
        transport: Transport | None = None,
        answers: AnswerSignal | None = None,
        registration_concurrency: int = 16,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        #: REGISTRATION_CONCURRENCY: block registrations in flight at once, for all the daemon's slots
        #: together (each request in flight holds one of the client's threads).
        self._registrations = asyncio.Semaphore(registration_concurrency)
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
        #: The poll's own timeout (never shorter than the others'): its answer may carry a claimed job.
        self._poll_extensions = {"timeout": httpx.Timeout(max(poll_timeout or 0, timeout)).as_dict()}
        #: REGISTER_REVERSIBLE: ``auto`` (to engines that know the flag), ``always`` or ``never``.
        self.reversible = reversible
        #: The engine's version, as far as it is known: what may be sent to it.
        self.generation = EngineGeneration()
        self._urls: dict[str, httpx.URL] = {}
        self._exchange = exchange_for(self.base_url, verify, transport)
        #: When the engine last stopped answering (no answer, or 408/429/5xx); None while it answers.
        self._failing_since: float | None = None

    async def aclose(self) -> None:
        """Close the connection pool (and the threads that use it)."""
        await self._exchange.aclose()

    # --- endpoints -------------------------------------------------------------------------

    @property
    def sends_reversible(self) -> bool:
        """Whether block registrations carry ``reversible`` (REGISTER_REVERSIBLE and the engine's version)."""
        return self.reversible == "always" or (self.reversible == "auto" and self.generation.knows_reversible)

    @property
    def sends_retryable(self) -> bool:
        """Whether failed results carry ``retryable`` (engines from 0.43.0-beta.8 on)."""
        return self.generation.knows_retryable

    def encoded_size(self, body: WireModel) -> int:
        """How many bytes ``body`` takes on the wire, as this engine is sent it."""
        return len(_encode(self._gated(body)))

    def gave_up(self, failure: EngineUnavailable, seconds: float, setting: str) -> EngineUnavailable:
        """The error that ends the retries of a call after ``seconds`` (bounded by ``setting``).

        It names the engine's URL, what kind of failure the last attempt met, and what to check.
        """
        engine, waited = f"the engine at {self.base_url}", f"{seconds:g} s ({setting})"
        if not failure.request_sent:
            said = (
                f"cannot reach {engine} ({failure.reason}) for {waited}; "
                "is URL_BLACKBOARD right and the engine running?"
            )
        elif failure.status is None:
            said = (
                f"no answer from {engine} ({failure.reason}) for {waited}; is the engine running, "
                "and API_REQUEST_TIMEOUT long enough?"
            )
        else:
            said = f"{engine} still answers {failure.reason} after {waited}; is it starting up or overloaded?"
        return EngineUnavailable(
            failure.operation,
            said,
            failure.status,
            failure.body,
            request_sent=failure.request_sent,
            reason=failure.reason,
        )

    async def check_compatibility(
        self, library: str = CONTRACT_LIBRARY, version: str = CONTRACT_VERSION
    ) -> VersionCompatibility:
        """``POST /version/compatibility`` for ``library`` ``version``; notes the engine's version."""
        body = VersionCompatibilityRequest(version=version, library=library)
        response = await self._send("version check", "POST", "/version/compatibility", body)
        answer = _parse(VersionCompatibility, response, "version check")
        self.generation = EngineGeneration(answer.version)
        return answer

    async def engine_version(self) -> str:
        """``GET /version``: the engine's version, which from now on decides what it is sent."""
        response = await self._send("version", "GET", "/version")
        version = _parse(VersionResponse, response, "version").version
        self.generation = EngineGeneration(version)
        return version

    async def register_worker(self, body: RegisterWorker) -> WorkerRegistration:
        """``POST /workers/register``: a new worker record; its ``uuid`` names the worker from now on."""
        response = await self._send("worker registration", "POST", "/workers/register", body)
        return _parse(WorkerRegistration, response, "worker registration")

    async def ping(self, worker_id: str) -> bool:
        """``POST /workers/{uuid}/ping``: the heartbeat; False if answered ``{"success": false}``.

        A 404 (``EngineRejected``) means the engine expired the worker.
        """
        return _succeeded(await self._send("heartbeat", "POST", f"/workers/{worker_id}/ping"))

    async def unregister(self, worker_id: str) -> bool:
        """``POST /workers/{uuid}/unregister``; 404 (gone) counts as success; False on ``success: false``."""
        try:
            response = await self._send("unregister", "POST", f"/workers/{worker_id}/unregister")
        except EngineRejected as exc:
            if exc.status != 404:
                raise
            return True
        return _succeeded(response)

    async def register_function_block(self, body: RegisterFunctionBlock) -> bool:
        """``POST /function-blocks/register``; True if new, False if the engine already had it (409)."""
        try:
            async with self._registrations:
                await self._send(f"registration of {body.fb_id}", "POST", "/function-blocks/register", body)
        except EngineRejected as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def poll(self, body: JobPoll) -> list[Any]:
        """``POST /blackboard/job``: claims jobs. The raw entries are returned for per-job parsing.

        It waits POLL_TIMEOUT for its answer; one that timed out raises ``EngineUnavailable`` with
        ``request_sent`` and a detail that says so: the engine may have handed it a job.
        """
        request = self._request("POST", "/blackboard/job", body, self._poll_extensions)
        return _claimed(await self._exchanged("poll", request))

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
        polling = self._request("POST", "/blackboard/job", poll, self._poll_extensions)

        def follow_up(answer: httpx.Response) -> httpx.Request | None:
            delivered = 200 <= answer.status_code < 300 or answer.status_code == 409
            return polling if delivered and may_poll() else None

        operation = _result_of(body)
        push = self._request("POST", "/blackboard/job/result", body)
        try:
            answer, poll_answer = await self._exchange.send_then(push, follow_up)
        except httpx.HTTPError as exc:
            raise self._unanswered(operation, exc, push) from exc
        try:
            self._answered(operation, answer)
        except EngineRejected as exc:
            if exc.status != 409:
                raise
        return answer.status_code != 409, self._poll_outcome(poll_answer, polling)

    def _poll_outcome(self, answer: FollowUpAnswer, request: httpx.Request) -> list[Any] | EngineError | None:
        if answer is None:
            return None
        if isinstance(answer, httpx.HTTPError):
            return self._unanswered("poll", answer, request)
        try:
            return _claimed(self._answered("poll", answer))
        except EngineError as exc:
            return exc

    # --- transport ---------------------------------------------------------------------------

    async def _send(
        self, operation: str, method: str, path: str, body: WireModel | None = None
    ) -> httpx.Response:
        return await self._exchanged(operation, self._request(method, path, body))

    async def _exchanged(self, operation: str, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._exchange.send(request)
        except httpx.HTTPError as exc:
            raise self._unanswered(operation, exc, request) from exc
        return self._answered(operation, response)

    def _answered(self, operation: str, response: httpx.Response) -> httpx.Response:
        """The engine answered: wake waiting retries (unless it said it is away); raise for an error."""
        if _transient(response.status_code):
            self._note_failure()
        else:
            self.answers.note()  # the engine is there: waiting retries may go now
            self._note_answer()
        _raise_for_status(operation, response)
        return response

    def _unanswered(self, operation: str, exc: httpx.HTTPError, request: httpx.Request) -> EngineError:
        """No answer to ``request``: noted as a failure, and the error for it."""
        self._note_failure()
        return _unanswered(operation, exc, request)

    def _note_failure(self) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()

    def _note_answer(self) -> None:
        """Say once, at its first answer after failures, that the engine answers again, and after how long."""
        if self._failing_since is not None:
            took = time.monotonic() - self._failing_since
            self._failing_since = None
            log.info("Engine at %s answering again after %.1f s", self.base_url, took)

    def _gated(self, body: WireModel) -> WireModel:
        """The one gate every body passes: without the fields this engine does not know.

        The engine's generation decides, except for ``reversible`` when REGISTER_REVERSIBLE says
        ``always`` (sent to any engine) or ``never`` (sent to none).
        """
        gated = self.generation.gate(body)
        if isinstance(body, RegisterFunctionBlock) and self.reversible != "auto":
            flag = body.reversible if self.reversible == "always" else None
            gated = gated.model_copy(update={"reversible": flag})
        return gated

    def _request(
        self,
        method: str,
        path: str,
        body: WireModel | None,
        extensions: dict[str, Any] | None = None,
    ) -> httpx.Request:
        """The request, from the URL and headers made once; the body gated and encoded once.

        Built as httpx builds requests that carry their own headers (``stream=``): complete as
        given, with no per-request header normalisation and merging, which otherwise costs more
        than the rest of building the request.
        """
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self.base_url + path)
        content = b"" if body is None else _encode(self._gated(body))
        raw = self._headers if body is None else self._json_headers
        headers = httpx.Headers([*raw, (b"Content-Length", b"%d" % len(content))])
        request = httpx.Request(
            method,
            url,
            headers=headers,
            stream=httpx.ByteStream(content),
            extensions=extensions or self._extensions,
        )
        request.read()  # ``request.content`` stays readable, as for any request httpx builds
        return request


def _unanswered(operation: str, exc: httpx.HTTPError, request: httpx.Request) -> EngineError:
    """The error for ``request``, which got no answer: its kind in words (``reason``)."""
    reason = _failure_words(exc, request)
    detail = f"{type(exc).__name__}: {reason}"
    if isinstance(exc, _NOT_SENT):
        if _certificate_refused(exc):
            # A certificate that does not verify is configuration, not an outage: do not retry.
            origin = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
            return EngineRejected(
                operation,
                f"{detail}, at {origin}; set BLACKBOARD_CA_BUNDLE to the CA bundle (PEM) that signed the "
                "engine's certificate, or check URL_BLACKBOARD",
            )
        return EngineUnavailable(operation, detail, request_sent=False, reason=reason)
    return EngineUnavailable(
        operation, detail, reason=reason, timed_out=isinstance(exc, httpx.TimeoutException)
    )


def _succeeded(response: httpx.Response) -> bool:
    """A ping's or unregistration's answer: False only for ``{"success": false}`` (0.42.1: empty)."""
    if not response.content.strip():
        return True
    try:
        return WorkerActionResult.model_validate_json(response.content).success is not False
    except ValidationError:
        return True  # a 2xx of another shape: accepted, as an empty one is


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
    if status == 403 and _refused_by_licence(response):
        raise LicenceRefusal(operation, detail, status, text, _licence(response))
    raise EngineRejected(operation, detail, status, text)


def _refused_by_licence(response: httpx.Response) -> bool:
    """A licence refusal says so in its header or its ``error``; any other 403 is a token problem."""
    if LICENCE_HEADER in response.headers:
        return True
    try:
        payload = response.json()
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("error") == "LicenseLimitExceeded"


def _licence(response: httpx.Response) -> LicenseLimitExceeded | None:
    """The refusal's ``LicenseLimitExceededDto``; None when the body is of another shape."""
    try:
        return LicenseLimitExceeded.model_validate_json(response.content)
    except ValidationError:
        return None


def _transient(status: int) -> bool:
    """An answer that says the engine is away for now (408, 429, 5xx): worth retrying, later."""
    return status in TRANSIENT_STATUSES or status >= 500


def engine_message(text: str) -> str:
    """What an engine error body says, on one line of at most ``MESSAGE_LIMIT`` characters.

    The ``message`` of a JSON body (a string or a list of strings); of an HTML page, its title
    (else its first line with text); of any other text, its first ``MESSAGE_LIMIT`` characters.
    """
    try:
        payload = json.loads(text)
    except ValueError:
        return _readable(_page_title(text) if "<" in text else text)
    if isinstance(payload, dict):
        message = payload.get("message", payload.get("error", ""))
        if isinstance(message, list):
            return _readable("; ".join(str(part) for part in message))
        if message:
            return _readable(str(message))
    return _readable(text)


def _page_title(text: str) -> str:
    """An HTML page's title, else its first line with text; other text as it is."""
    match = _TITLE.search(text)
    if match and match.group(1).strip():
        return html.unescape(_TAG.sub("", match.group(1)))
    if not re.search(r"<(!doctype|html|head|body)\b", text, re.IGNORECASE):
        return text
    lines = (html.unescape(_TAG.sub(" ", line)).strip() for line in _TAG.sub("\n", text).splitlines())
    return next((line for line in lines if line), "")


def _readable(text: str) -> str:
    """``text`` on one line (whitespace collapsed), cut to ``MESSAGE_LIMIT`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 1].rstrip() + "…"


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
        snippet = response.text[:MESSAGE_LIMIT]
        raise EngineRejected(operation, f"answer is not JSON: {snippet!r}", response.status_code) from exc


_Cause = TypeVar("_Cause", bound=BaseException)


def _in_chain(exc: BaseException, kind: type[_Cause]) -> _Cause | None:
    """The first exception of ``kind`` in ``exc``'s chain of causes (``exc`` included), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _certificate_refused(exc: BaseException) -> bool:
    """Whether a connect failure is a TLS certificate that did not verify (anywhere in its chain)."""
    return _in_chain(exc, ssl.SSLCertVerificationError) is not None or "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _failure_words(exc: httpx.HTTPError, request: httpx.Request) -> str:
    """What kind of failure, in words: ``connection refused``, ``name not resolved: ...``, a timeout."""
    limits = request.extensions.get("timeout", {})
    if isinstance(exc, httpx.ConnectTimeout) and limits.get("connect") is not None:
        return f"connection timed out after {limits['connect']:g} s"
    if isinstance(exc, httpx.TimeoutException) and limits.get("read") is not None:
        return f"timed out, no answer within {limits['read']:g} s"
    text = str(exc) or type(exc).__name__
    return _connect_failure(exc, text) if isinstance(exc, httpx.ConnectError) else text


def _connect_failure(exc: httpx.ConnectError, text: str) -> str:
    """Why a connection failed: the name, the port, or TLS (the system's own text beside it)."""
    if (resolving := _in_chain(exc, socket.gaierror)) is not None:
        return f"name not resolved: {resolving.strerror or text}"
    if _in_chain(exc, ConnectionRefusedError) is not None:
        return "connection refused"
    if _certificate_refused(exc):
        return f"TLS certificate not verified: {text}"
    if _in_chain(exc, ssl.SSLError) is not None:
        return f"TLS failure: {text}"
    return text


__all__ = ["EngineClient", "EngineError", "LicenceRefusal", "engine_message", "tls_verify"]
