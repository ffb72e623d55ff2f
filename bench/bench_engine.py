"""Throughput of the local engine: poll(limit=1) + result cycles per second from bare HTTP clients.

Starts the engine as a child process (``python -m neops_worker.devkit.local_engine``, the most honest setup:
the client does not share the engine's interpreter), queues ``--jobs`` jobs through ``/_dev/jobs``,
then lets ``--concurrency`` pollers, each registered as its own worker, claim one job at a time and
push a result until the queue is empty. Prints figures; asserts nothing.

    uv run python bench/bench_engine.py --jobs 20000 --concurrency 4
    uv run python bench/bench_engine.py --client httpx

``--client raw`` (default) is a minimal keep-alive HTTP/1.1 client on asyncio streams, so the figure
is about the engine rather than the client library; ``--client httpx`` measures with httpx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from neops_worker.devkit.local_engine import EngineProcess
from neops_worker.engine.wire import (
    JobExecutionResult,
    JobPoll,
    JobResult,
    RegisterFunctionBlock,
    RegisterWorker,
    Versionable,
)

FB = Versionable(package="bench", name="noop", major_version=1, minor_version=0, patch_version=0)

#: (status, parsed JSON body or None)
Answer = tuple[int, Any]
Post = Callable[[str, dict[str, Any]], Awaitable[Answer]]


class RawClient:
    """One keep-alive HTTP/1.1 connection; POSTs JSON and reads ``Content-Length`` framed answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self._reader = reader
        self._writer = writer
        self._host = host

    @classmethod
    async def connect(cls, base_url: str) -> RawClient:
        """Open the connection."""
        parts = urlsplit(base_url)
        assert parts.hostname is not None
        assert parts.port is not None
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer, parts.netloc)

    async def post(self, path: str, body: dict[str, Any]) -> Answer:
        """POST ``body`` as JSON; the status and the decoded answer."""
        payload = json.dumps(body, separators=(",", ":")).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self._writer.write(head.encode() + payload)
        return await self._read_answer()

    async def _read_answer(self) -> Answer:
        header = await self._reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        data = await self._reader.readexactly(length) if length else b""
        return status, json.loads(data) if data else None

    async def close(self) -> None:
        """Close the connection."""
        self._writer.close()
        await self._writer.wait_closed()


class HttpxClient:
    """The same interface over ``httpx.AsyncClient``."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    @classmethod
    async def connect(cls, base_url: str) -> HttpxClient:
        """Create the client (connections are opened on demand)."""
        return cls(httpx.AsyncClient(base_url=base_url, timeout=30.0))

    async def post(self, path: str, body: dict[str, Any]) -> Answer:
        """POST ``body`` as JSON; the status and the decoded answer."""
        response = await self._client.post(path, json=body)
        return response.status_code, response.json() if response.content else None

    async def close(self) -> None:
        """Close the client."""
        await self._client.aclose()


Client = RawClient | HttpxClient


@dataclass
class Figures:
    """What one run measured."""

    cycles: int
    elapsed_s: float
    empty_polls: int

    @property
    def rate(self) -> float:
        """Cycles per second."""
        return self.cycles / self.elapsed_s if self.elapsed_s else 0.0


async def connect(kind: str, url: str) -> Client:
    """A client of the requested kind."""
    return await (RawClient.connect(url) if kind == "raw" else HttpxClient.connect(url))


async def register(client: Client, name: str) -> str:
    """Register a worker and link the bench block to it; the worker id."""
    status, body = await client.post(
        "/workers/register", RegisterWorker(version="bench", name=name).to_wire()
    )
    assert status == 201, (status, body)
    worker_id = str(body["uuid"])
    block = RegisterFunctionBlock(
        **FB.model_dump(),
        worker_id=worker_id,
        description="does nothing, for the engine benchmark",
        fb_type="none",
        parameter_json_schema={"type": "object"},
        result_data_json_schema={"type": "object"},
    )
    status, _ = await client.post("/function-blocks/register", block.to_wire())
    assert status in (201, 409), status
    return worker_id


async def add_jobs(kind: str, url: str, count: int, concurrency: int) -> None:
    """Queue ``count`` jobs through the development endpoint, over ``concurrency`` connections."""

    async def add(share: int) -> None:
        client = await connect(kind, url)
        for _ in range(share):
            status, _ = await client.post("/_dev/jobs", {"functionBlockId": FB.fb_id, "parameters": {"n": 1}})
            assert status == 201
        await client.close()

    shares = [count // concurrency + (1 if i < count % concurrency else 0) for i in range(concurrency)]
    await asyncio.gather(*(add(share) for share in shares))


async def poller(client: Client, worker_id: str, counts: list[int]) -> None:
    """Poll one job at a time and push a result until the queue is empty."""
    poll = JobPoll(function_block_ids=[FB], limit=1, worker_id=worker_id).to_wire()
    while True:
        status, jobs = await client.post("/blackboard/job", poll)
        assert status == 201, (status, jobs)
        if not jobs:
            counts[1] += 1
            return
        result = JobResult(
            job_execution_id=jobs[0]["jobId"],
            status="success",
            result=JobExecutionResult(success=True, message="done", data={"n": 1}),
        )
        status, _ = await client.post("/blackboard/job/result", result.to_wire())
        assert status == 201, status
        counts[0] += 1


async def run(kind: str, url: str, jobs: int, concurrency: int) -> Figures:
    """Queue the jobs, then time the pollers draining them."""
    clients = [await connect(kind, url) for _ in range(concurrency)]
    workers = [await register(client, f"bench-{i}") for i, client in enumerate(clients)]
    await add_jobs(kind, url, jobs, concurrency)
    counts = [0, 0]
    started = time.perf_counter()
    await asyncio.gather(
        *(poller(client, worker, counts) for client, worker in zip(clients, workers, strict=True))
    )
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.close()
    return Figures(cycles=counts[0], elapsed_s=elapsed, empty_polls=counts[1])


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--jobs", type=int, default=20000, help="jobs to queue and drain (default: %(default)s)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, help="concurrent pollers (default: %(default)s)"
    )
    parser.add_argument(
        "--client", choices=["raw", "httpx"], default="raw", help="HTTP client (default: raw)"
    )
    parser.add_argument("--url", help="use an engine already running at this URL instead of starting one")
    parser.add_argument("--db", help="SQLite file for the engine started here (default: a temporary file)")
    return parser.parse_args()


def event_loop_runner() -> Callable[[Awaitable[Figures]], Figures]:
    """``uvloop.run`` when uvloop is installed (as it is with the engine group), else ``asyncio.run``."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run  # type: ignore[return-value]
    return uvloop.run  # type: ignore[return-value]


def report(args: argparse.Namespace, figures: Figures) -> None:
    """Print the figures."""
    print(f"client={args.client} concurrency={args.concurrency} jobs={args.jobs}")
    print(f"cycles={figures.cycles} elapsed={figures.elapsed_s:.3f}s empty_polls={figures.empty_polls}")
    print(f"poll+result cycles/s: {figures.rate:,.0f}")
    print(f"requests/s: {2 * figures.rate + figures.empty_polls / figures.elapsed_s:,.0f}")


def main() -> None:
    """Start an engine (unless ``--url``), run the benchmark, print the figures."""
    args = parse_args()
    runner = event_loop_runner()
    if args.url:
        report(args, runner(run(args.client, args.url, args.jobs, args.concurrency)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        db = args.db or str(Path(tmp) / "engine.sqlite3")
        with EngineProcess(db) as engine:
            print(f"engine pid={engine.pid} url={engine.url} db={db}")
            report(args, runner(run(args.client, engine.url, args.jobs, args.concurrency)))


if __name__ == "__main__":
    main()
