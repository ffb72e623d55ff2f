"""A small in-memory blackboard for the operations tests: enough contract for a worker's whole life.

One request handler (``FakeEngine.handle``) behind two front ends: an ``httpx.MockTransport`` to
inject into ``EngineClient(transport=...)``, and a real HTTP(S) server in a thread (``serve``), for
the TLS tests and for worker subprocesses. It says it is an engine of the current contract unless
told another ``version``, and can refuse registrations past a licence's quota (``worker_limit``,
``block_limit``) as a 0.43 engine does.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from neops_worker.engine.wire import CONTRACT_VERSION

#: The header a licence refusal carries besides its body.
LICENCE_HEADER = "X-Neops-License-Error"


@dataclass
class FakeEngine:
    """Registers workers and blocks, hands out queued jobs one poll at a time, keeps the results."""

    queue: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    workers: dict[str, bool] = field(default_factory=dict)
    blocks: list[str] = field(default_factory=list)
    #: Every block id registered so far (what ``block_limit`` counts).
    block_ids: set[str] = field(default_factory=set)
    authorization: list[str | None] = field(default_factory=list)
    pings: int = 0
    #: Status answered to pings and polls; set to 503 to make them fail.
    ping_status: int = 200
    poll_status: int = 200
    result_status: int = 200
    #: The engine's version, in the version check's answer and ``GET /version``.
    version: str = CONTRACT_VERSION
    compatible: bool = True
    deprecated: bool = False
    #: Ping and unregister answers: None an empty body (0.42.1), else ``{"success": ping_success}``.
    ping_success: bool | None = None
    #: Licence quotas: registrations past them are refused (403 ``LicenseLimitExceeded``).
    worker_limit: int | None = None
    block_limit: int | None = None
    #: Blocks registered before this worker started (by an earlier run): answered 409.
    known_before: frozenset[str] = frozenset()
    #: While set to an unset event, worker registration waits (through ``transport`` only).
    registration_gate: asyncio.Event | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_job(self, function_block_id: str, parameters: dict[str, Any], job_type: str = "execute") -> str:
        """Queue a job; returns its id."""
        job_id = f"job-{uuid.uuid4().hex[:8]}"
        job = {"jobId": job_id, "functionBlockId": function_block_id, "type": job_type}
        with self.lock:
            self.queue.append({**job, "parameters": parameters, "runOn": "global"})
        return job_id

    def handle(self, method: str, path: str, authorization: str | None, body: bytes) -> tuple[int, Any]:
        """Answer one request: status and JSON payload (None for an empty body)."""
        payload = json.loads(body) if body else None
        with self.lock:
            self.authorization.append(authorization)
            return self._route(method, path.rstrip("/"), payload)

    def _route(self, method: str, path: str, payload: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if (method, path) == ("GET", "/version"):
            return 200, {"version": self.version}
        if method != "POST":
            return 405, {"message": "POST only"}
        if path == "/version/compatibility":
            return 201, self._compatibility(payload)
        if path == "/workers/register":
            return self._register(payload)
        if len(parts) == 3 and parts[0] == "workers":
            return self._worker_call(parts[1], parts[2])
        if path == "/function-blocks/register":
            return self._register_block(payload)
        if path == "/blackboard/job":
            return self._poll(payload)
        if path == "/blackboard/job/result":
            return self._result(payload)
        return 404, {"message": f"no route {path}"}

    def _compatibility(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "compatible": self.compatible,
            "deprecated": self.deprecated,
            "version": self.version,
            "checkedLibrary": payload["library"],
            "checkedVersion": payload["version"],
        }

    def _register(self, payload: dict[str, Any]) -> tuple[int, Any]:
        online = sum(self.workers.values())
        if self.worker_limit is not None and online >= self.worker_limit:
            return 403, licence_refusal("workers", "Workers", online, self.worker_limit)
        worker_id = str(uuid.uuid4())
        self.workers[worker_id] = True
        now = "2025-01-01T00:00:00.000Z"
        return 201, {
            "uuid": worker_id,
            "version": payload["version"],
            "name": payload.get("name"),
            "state": "online",
            "lastPingAt": now,
            "createdAt": now,
            "updatedAt": now,
        }

    def _register_block(self, payload: dict[str, Any]) -> tuple[int, Any]:
        version = ".".join(str(payload[f"{part}Version"]) for part in ("major", "minor", "patch"))
        fb_id = f"{payload['package']}/{payload['name']}:{version}"
        if fb_id in self.known_before:
            return 409, {"statusCode": 409, "message": f"{fb_id} is already registered"}
        known = len(self.block_ids)
        if self.block_limit is not None and fb_id not in self.block_ids and known >= self.block_limit:
            return 403, licence_refusal("functionBlocks", "function blocks", known, self.block_limit)
        self.block_ids.add(fb_id)
        self.blocks.append(payload["name"])
        return 201, None

    def _worker_call(self, worker_id: str, action: str) -> tuple[int, Any]:
        if not self.workers.get(worker_id):
            return 404, {"message": "worker not found"}
        answer = None if self.ping_success is None else {"success": self.ping_success}
        if action == "ping":
            self.pings += 1
            return self.ping_status, answer if self.ping_status < 300 else {"message": "down"}
        self.workers[worker_id] = False
        return 201, answer

    def _poll(self, payload: dict[str, Any]) -> tuple[int, Any]:
        if self.poll_status >= 300:
            return self.poll_status, {"message": "down"}
        limit = payload.get("limit") or len(self.queue)
        taken, self.queue = self.queue[:limit], self.queue[limit:]
        return 201, taken

    def _result(self, payload: dict[str, Any]) -> tuple[int, Any]:
        if self.result_status >= 300:
            return self.result_status, {"message": "rejected"}
        self.results[payload["jobExecutionId"]] = payload
        return 201, None

    def transport(self) -> httpx.MockTransport:
        """The engine as an httpx transport, for ``EngineClient(transport=...)``."""

        async def answer(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/workers/register" and self.registration_gate is not None:
                await self.registration_gate.wait()
            status, payload = self.handle(
                request.method, request.url.path, request.headers.get("authorization"), request.content
            )
            if payload is None:
                return httpx.Response(status)
            return httpx.Response(status, json=payload, headers=_headers(payload))

        return httpx.MockTransport(answer)

    @contextlib.contextmanager
    def serve(self, tls: ssl.SSLContext | None = None) -> Iterator[str]:
        """Serve the engine over real HTTP (or HTTPS with ``tls``) on 127.0.0.1; yields the base URL."""
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        scheme = "https" if tls else "http"
        try:
            yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


def licence_refusal(name: str, label: str, current: int, maximum: int) -> dict[str, Any]:
    """A ``LicenseLimitExceededDto`` body as a 0.43 engine sends it with a 403."""
    return {
        "statusCode": 403,
        "error": "LicenseLimitExceeded",
        "message": f"The licence allows {maximum} {label}",
        "limit": {"name": name, "label": label, "max": maximum, "current": current},
        "hint": f"Remove {label} or use a licence with a higher cap",
        "edition": "developer-preview",
    }


def _headers(payload: Any) -> dict[str, str]:
    """A licence refusal's header (contract 4.12), for the answers that carry one."""
    refused = isinstance(payload, dict) and payload.get("error") == "LicenseLimitExceeded"
    return {LICENCE_HEADER: "limit-exceeded"} if refused else {}


def _handler_for(engine: FakeEngine) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self._answer("POST")

        def do_GET(self) -> None:
            self._answer("GET")

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload = engine.handle(method, self.path, self.headers.get("Authorization"), body)
            data = json.dumps(payload).encode() if payload is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in _headers(payload).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read the worker's log, not the engine's."""

    return Handler
