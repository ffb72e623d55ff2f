"""A local engine that can be told to misbehave: an ASGI fault layer and a TCP fault proxy.

``FaultLayer`` wraps the engine's ASGI app; it is the one recording and fault-injecting wrapper of the
tests (the integration suite's ``Recorder`` is this layer with faults given by method and path). Every
request is recorded with the status the client got. A *plan* looks at each request of the worker-facing
contract and returns what to do: nothing (the engine answers), an ``Answer`` given *instead of* the
engine (the engine never sees the request, so nothing is claimed or stored), a ``Delay`` before or
after the engine, or a ``Rewrite`` of the request or of the engine's answer. ``engine_behind`` starts
a local engine behind a new layer.

``FaultProxy`` sits in front of an engine on loopback for what ASGI cannot do: reset a connection in the
middle of a request (before the engine saw it), drop an answer after the engine handled the request,
or refuse every connection for a while (``down()`` / ``up()``) while the engine keeps its state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from neops_worker.devkit.local_engine import EngineOptions, LocalEngine

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Any]
Message = dict[str, Any]

#: The worker-facing contract paths; other requests (the tests' ``/_dev/``) are recorded, never faulted.
CONTRACT_PREFIXES = ("/workers", "/function-blocks", "/blackboard", "/version", "/health")


# --- the ASGI fault layer -------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """A request as a fault plan sees it; ``seq`` counts requests of the same kind, from 1."""

    method: str
    path: str
    body: bytes
    seq: int

    @property
    def kind(self) -> str:
        """``poll``, ``result``, ``ping``, ``register``, ``unregister``, ``block``, ``version`` or ``dev``."""
        return endpoint_kind(self.path)

    def json(self) -> Any:
        """The request body as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class Answer:
    """Answer *instead of* the engine: it never sees the request. ``body`` bytes go out as they are."""

    status: int
    body: Any = None
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        """The body on the wire."""
        if isinstance(self.body, bytes):
            return self.body
        return b"" if self.body is None else json.dumps(self.body).encode()


@dataclass(frozen=True)
class Delay:
    """Hold the request ``seconds``: before the engine (which then skips it if the client hung up
    meanwhile, as a request dropped from a busy engine's queue) or after it (the engine has acted)."""

    seconds: float
    after_engine: bool = False


@dataclass(frozen=True)
class Rewrite:
    """Pass the request on, changing its body and/or the engine's answer (status, body)."""

    request: Callable[[bytes], bytes] | None = None
    answer: Callable[[int, bytes], tuple[int, bytes]] | None = None


Action = Answer | Delay | Rewrite
Plan = Callable[[Call], Action | None]


@dataclass
class Exchange:
    """One request and what the client was answered (``status`` None: no answer was sent)."""

    method: str
    path: str
    body: bytes
    fault: str | None
    status: int | None = None
    at: float = field(default_factory=time.monotonic)

    @property
    def kind(self) -> str:
        """See :attr:`Call.kind`."""
        return endpoint_kind(self.path)

    def json(self) -> Any:
        """The request body as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None


def endpoint_kind(path: str) -> str:
    """A short name for the endpoint of ``path``."""
    if path == "/blackboard/job":
        return "poll"
    if path == "/blackboard/job/result":
        return "result"
    if path.startswith("/workers/"):
        return path.rsplit("/", 1)[-1] if path.endswith(("/ping", "/unregister", "/register")) else "worker"
    if path == "/function-blocks/register":
        return "block"
    if path.startswith("/version"):
        return "version"
    return "dev" if path.startswith("/_dev") else "other"


class FaultLayer:
    """ASGI middleware before the local engine: records every exchange, applies ``plan`` to the contract's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.plan: Plan | None = None
        self.exchanges: list[Exchange] = []
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: Message, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        """Record the request, then let the plan decide who answers and how."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        call = self._call(scope["method"], scope["path"], body)
        action = self._action(call)
        exchange = Exchange(call.method, call.path, body, type(action).__name__ if action else None)
        with self._lock:
            self.exchanges.append(exchange)
        recording = _recording_send(send, exchange)
        if isinstance(action, Answer):
            await _send_answer(recording, action.status, action.encoded(), action.content_type)
        elif isinstance(action, Delay) and not action.after_engine:
            if await _client_gone_within(receive, action.seconds):
                exchange.fault = "Delay: client gone, not passed on"
                return
            await self.app(scope, _replay(body, receive), recording)
        elif isinstance(action, Delay | Rewrite):
            await self._around_engine(scope, body, receive, recording, action)
        else:
            await self.app(scope, _replay(body, receive), recording)

    async def _around_engine(
        self, scope: Message, body: bytes, receive: Any, send: Any, action: Delay | Rewrite
    ) -> None:
        if isinstance(action, Rewrite) and action.request is not None:
            body = action.request(body)
        status, headers, answer = await _engine_answer(self.app, scope, _replay(body, receive))
        if isinstance(action, Delay):
            await asyncio.sleep(action.seconds)
        elif action.answer is not None:
            status, answer = action.answer(status, answer)
        content_type = dict(headers).get(b"content-type", b"application/json").decode()
        await _send_answer(send, status, answer, content_type)

    def _action(self, call: Call) -> Action | None:
        plan = self.plan
        return plan(call) if plan is not None and call.path.startswith(CONTRACT_PREFIXES) else None

    def _call(self, method: str, path: str, body: bytes) -> Call:
        kind = endpoint_kind(path)
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            return Call(method, path, body, self._counts[kind])

    def recorded(self) -> list[Exchange]:
        """Every exchange so far, in arrival order."""
        with self._lock:
            return list(self.exchanges)

    def of_kind(self, kind: str) -> list[Exchange]:
        """The recorded exchanges of one endpoint kind, in arrival order."""
        return [exchange for exchange in self.recorded() if exchange.kind == kind]

    def matching(self, method: str, prefix: str) -> list[Exchange]:
        """The recorded exchanges of ``method`` whose path starts with ``prefix``, in arrival order."""
        return [e for e in self.recorded() if e.method == method and e.path.startswith(prefix)]

    def accepted_results(self) -> dict[str, int]:
        """Job id -> how many of its result pushes were answered 2xx (the engine took the result)."""
        counts: dict[str, int] = {}
        for exchange in self.of_kind("result"):
            if exchange.status is not None and 200 <= exchange.status < 300:
                job_id = exchange.json()["jobExecutionId"]
                counts[job_id] = counts.get(job_id, 0) + 1
        return counts


Layer = TypeVar("Layer", bound=FaultLayer)


@contextlib.contextmanager
def engine_behind(
    layer: Callable[[ASGIApp], Layer], options: EngineOptions
) -> Iterator[tuple[LocalEngine, Layer]]:
    """A local engine (in memory, on a free loopback port) whose app is wrapped in ``layer``; both."""
    layers: list[Layer] = []

    def wrap(app: Any) -> Any:  # the engine's app, typed by starlette; the layer is one too
        layers.append(layer(app))
        return layers[-1]

    with LocalEngine(":memory:", options=options, wrap_app=wrap) as running:
        yield running, layers[0]


async def _read_body(receive: Callable[[], Awaitable[Any]]) -> bytes:
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


def _replay(body: bytes, receive: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    """A ``receive`` that hands out the already-read ``body`` once, then defers to the real one."""
    replayed = False

    async def replay() -> Any:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _recording_send(send: Callable[[Any], Awaitable[None]], exchange: Exchange) -> Any:
    async def recording(message: Message) -> None:
        if message["type"] == "http.response.start":
            exchange.status = message["status"]
        await send(message)

    return recording


async def _client_gone_within(receive: Callable[[], Awaitable[Any]], seconds: float) -> bool:
    """Wait ``seconds``; True as soon as the client disconnects (the server then reports it)."""
    try:
        message = await asyncio.wait_for(receive(), seconds)
    except TimeoutError:
        return False
    return bool(message["type"] == "http.disconnect")


async def _engine_answer(
    app: ASGIApp, scope: Message, receive: Callable[[], Awaitable[Any]]
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run the engine and collect its whole answer instead of sending it."""
    start: Message = {}
    chunks: list[bytes] = []

    async def collect(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, collect)
    return int(start["status"]), list(start.get("headers", [])), b"".join(chunks)


async def _send_answer(send: Any, status: int, body: bytes, content_type: str) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", content_type.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --- the TCP fault proxy ------------------------------------------------------------------------

#: ``forward``; ``reset``: RST once the request head is read, before its body (the engine never sees
#: it); ``drop``: pass the request on, read the engine's answer, then RST instead of answering;
#: ``drop-claim``: like ``drop``, but only when the answer hands out a job (a non-empty JSON array).
ProxyAction = Literal["forward", "reset", "drop", "drop-claim"]
ProxyPlan = Callable[[Call], ProxyAction]


@dataclass
class ProxyRecord:
    """One request through the proxy and what the proxy did with it."""

    call: Call
    action: str
    answer: bytes = b""


class FaultProxy:
    """An HTTP/1.1-aware TCP proxy on 127.0.0.1 in front of ``upstream``, run in a thread of its own.

    It frames requests and answers by ``Content-Length`` only, which is all the local engine and httpx
    use. ``down()`` stops listening and resets every open connection; ``up()`` listens again on the
    same port.
    """

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname is not None
        assert parts.port is not None
        self._upstream = (parts.hostname, parts.port)
        self.plan: ProxyPlan | None = None
        self.records: list[ProxyRecord] = []
        self._port = 0
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """The proxy's base URL, to give the worker."""
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> FaultProxy:
        """Start the thread and listen."""
        self._thread.start()
        self.up()
        return self

    def up(self) -> None:
        """Listen (again, on the same port once one was picked)."""
        self._run(self._listen())

    def down(self) -> None:
        """Refuse new connections and reset the open ones: the engine is unreachable."""
        self._run(self._close())

    def stop(self) -> None:
        """Close everything and end the thread."""
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def actions(self, action: str) -> list[ProxyRecord]:
        """The records of requests the proxy treated with ``action``."""
        with self._lock:
            return [record for record in self.records if record.action == action]

    def _run(self, coroutine: Awaitable[None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self._port, reuse_address=True)
        self._port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._clients):
            _reset(writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                call = self._call(head)
                action = self.plan(call) if self.plan else "forward"
                if action == "reset":
                    self._record(call, action)
                    _reset(writer)
                    return
                body = await reader.readexactly(_content_length(head))
                upstream = upstream or await asyncio.open_connection(*self._upstream)
                answer = await _exchange(upstream, head + body)
                if action == "drop-claim":
                    action = "drop" if _hands_out_jobs(answer) else "forward"
                self._record(Call(call.method, call.path, body, call.seq), action, answer)
                if action == "drop":
                    _reset(writer)
                    return
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            _reset(writer)
        finally:
            self._clients.discard(writer)
            if upstream is not None:
                upstream[1].close()
            writer.close()

    def _call(self, head: bytes) -> Call:
        method, path = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]
        kind = endpoint_kind(path)
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            return Call(method, path, b"", self._counts[kind])

    def _record(self, call: Call, action: str, answer: bytes = b"") -> None:
        with self._lock:
            self.records.append(ProxyRecord(call, action, answer))


async def _exchange(upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes) -> bytes:
    reader, writer = upstream
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        raise NotImplementedError("the fault proxy frames answers by Content-Length only")
    return head + await reader.readexactly(_content_length(head))


def _hands_out_jobs(answer: bytes) -> bool:
    body = answer.split(b"\r\n\r\n", 1)[1]
    return body.lstrip().startswith(b"[{")


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed peer or a middlebox would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def free_port() -> int:
    """A port nothing listens on right now (for an engine that is to appear later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
