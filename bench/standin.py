"""A slower engine stand-in: a stdlib ``ThreadingHTTPServer`` answering the worker-facing contract.

It answers the version check, worker register/ping/unregister, block registration, the poll (from a
queue filled beforehand through ``POST /_bench/jobs``) and the result push, and records the time
(``time.time()``) of every contract request. It keeps no other state and checks nothing: it stands
for an engine other than the local one (threads instead of an event loop, no database, a server that
is not tuned to this client), so that a figure does not depend on one engine's strengths. It runs in
a process of its own, so it never shares an interpreter with what it measures.

    uv run python -m bench.standin --port 3031      # serve until interrupted

``GET /_bench/records`` returns ``[[time, kind, jobId, status], ...]``; ``GET /_bench/count?kind=result``
how many requests of one kind arrived.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
NOW = "2026-01-01T00:00:00.000Z"
VERSION_OK = {
    "compatible": True,
    "deprecated": False,
    "version": "stand-in",
    "checkedLibrary": "neops_workflow_engine_client",
    "checkedVersion": "0.42.1",
}
#: (status, body) of an answer; a body of None is sent empty.
Reply = tuple[int, Any]


@dataclass(frozen=True)
class Record:
    """One contract request: when it arrived, its kind, and the job and result status it carried."""

    at: float
    kind: str
    job_id: str | None = None
    status: str | None = None


class StandInState:
    """The queue of jobs and the record of requests, shared by the server's threads."""

    def __init__(self) -> None:
        self.jobs: deque[dict[str, Any]] = deque()
        self.records: list[Record] = []
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def record(self, kind: str, job_id: str | None = None, status: str | None = None) -> None:
        """Note one request."""
        with self._lock:
            self.records.append(Record(time.time(), kind, job_id, status))
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def queue(self, fb_id: str, count: int) -> list[str]:
        """Append ``count`` jobs of ``fb_id`` (no parameters, a global run); their ids."""
        ids = [str(uuid.uuid4()) for _ in range(count)]
        with self._lock:
            self.jobs.extend(_job(fb_id, job_id) for job_id in ids)
        return ids

    def claim(self, limit: int) -> list[dict[str, Any]]:
        """Take up to ``limit`` jobs off the queue."""
        with self._lock:
            return [self.jobs.popleft() for _ in range(min(limit, len(self.jobs)))]


def _job(fb_id: str, job_id: str) -> dict[str, Any]:
    context: dict[str, list[Any]] = {"devices": [], "deviceGroups": [], "interfaces": []}
    return {
        "functionBlockId": fb_id,
        "jobId": job_id,
        "parameters": {},
        "context": context,
        "type": "execute",
        "runOn": "global",
        "entityId": None,
    }


def contract_reply(state: StandInState, path: str, body: Any) -> Reply:
    """The answer to one POST of the worker-facing contract (404 for anything else)."""
    if path == "/blackboard/job":
        jobs = state.claim(int(body.get("limit") or 1_000_000))
        for job in jobs:
            state.record("claim", job["jobId"])
        if not jobs:
            state.record("poll")
        return 201, jobs
    if path == "/blackboard/job/result":
        state.record("result", body.get("jobExecutionId"), body.get("status"))
        return 201, None
    kind = _kind(path)
    if kind is None:
        return 404, {"statusCode": 404, "message": f"{path} is not part of the stand-in"}
    state.record(kind)
    return _FIXED.get(kind, (201, None)) if kind != "register" else (201, _registration(body))


def _kind(path: str) -> str | None:
    if path.startswith("/workers/"):
        kind = path.rsplit("/", 1)[-1]
        return kind if kind in ("register", "ping", "unregister") else None
    return {
        "/function-blocks/register": "block",
        "/version/compatibility": "version",
        "/blackboard/job/log": "log",
    }.get(path)


_FIXED: dict[str, Reply] = {"ping": (200, None), "unregister": (200, None), "version": (201, VERSION_OK)}


def _registration(body: Any) -> dict[str, Any]:
    answer = {"uuid": str(uuid.uuid4()), "version": str(body.get("version", "")), "state": "online"}
    return answer | {"lastPingAt": NOW, "createdAt": NOW, "updatedAt": NOW, "deletedAt": None}


def bench_reply(state: StandInState, method: str, url: str, body: Any) -> Reply:
    """The stand-in's own endpoints: queue jobs, read the records, the engine's version and health."""
    parts = urlsplit(url)
    if method == "POST" and parts.path == "/_bench/jobs":
        return 201, state.queue(str(body["functionBlockId"]), int(body["count"]))
    if parts.path == "/_bench/records":
        with contextlib.suppress(RuntimeError):
            return 200, [[r.at, r.kind, r.job_id, r.status] for r in list(state.records)]
    if parts.path == "/_bench/count":
        kind = parse_qs(parts.query).get("kind", [""])[0]
        return 200, {"count": state.counts.get(kind, 0)}
    if parts.path == "/version":
        return 200, {"version": "stand-in"}
    if parts.path == "/health":
        return 200, {"healthy": True}
    return 404, {"statusCode": 404, "message": f"{parts.path} is not part of the stand-in"}


class Handler(BaseHTTPRequestHandler):
    """One keep-alive connection; every answer carries a ``Content-Length``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: do not hold the second
    server: StandInServer

    def do_POST(self) -> None:
        """A contract call, or ``/_bench/jobs``."""
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        state = self.server.state
        if self.path.startswith("/_bench/"):
            self._send(*bench_reply(state, "POST", self.path, body))
        else:
            self._send(*contract_reply(state, self.path, body))

    def do_GET(self) -> None:
        """The stand-in's records, the engine version, health."""
        self._send(*bench_reply(self.server.state, "GET", self.path, None))

    def _send(self, status: int, payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        if data:
            self.send_header("Content-Type", "application/json")
        self.end_headers()
        if data:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a log line per request would be most of the stand-in's work."""


class StandInServer(ThreadingHTTPServer):
    """The threaded server with its shared state."""

    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.state = StandInState()


class StandIn:
    """The stand-in as a child process (``python -m bench.standin``), queued and read over HTTP."""

    def __init__(self) -> None:
        import httpx  # here, so that the server process itself runs on the standard library only

        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.standin", "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().split()[-1]
        self._http = httpx.Client(base_url=self.url, timeout=60)

    def queue(self, fb_id: str, count: int) -> list[str]:
        """Queue ``count`` jobs of ``fb_id``; their ids in queue order."""
        ids: list[str] = self._http.post(
            "/_bench/jobs", json={"functionBlockId": fb_id, "count": count}
        ).json()
        return ids

    def count(self, kind: str) -> int:
        """How many requests of ``kind`` (``claim``, ``result``, ``block``...) arrived so far."""
        return int(self._http.get("/_bench/count", params={"kind": kind}).json()["count"])

    def records(self) -> list[Record]:
        """Every contract request so far, in arrival order."""
        return [Record(*row) for row in self._http.get("/_bench/records").json()]

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._http.close()
        self.process.terminate()
        self.process.wait(10)


def main() -> None:
    """Serve on 127.0.0.1 until interrupted; the first line printed is the URL."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args()
    server = StandInServer(args.port)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
