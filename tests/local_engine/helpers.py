"""Helpers for the local engine's tests: a client that checks every answer against the contract.

Every response a test receives through :class:`Api` is checked against the schema set of the engine's
generation (``tests/schemas/`` for 0.43.0b8, ``tests/schemas/0.42.1/``): a 2xx body of a contract
endpoint against its JSON Schema (and without ``null`` where the contract wants the field left out), a
body-less endpoint for an empty body, a licence refusal against ``LicenseLimitExceededDto``, and every
other 4xx for the NestJS error shape.
"""

from __future__ import annotations

import functools
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from neops_worker.engine.wire import (
    JobExecutionResult,
    JobPoll,
    JobResult,
    RegisterFunctionBlock,
    RegisterWorker,
    Versionable,
)
from tests.contract import CURRENT, PREVIOUS, assert_valid
from tests.integration.commands import clean_environment
from tests.integration.support import WORKER_COMMAND

FB_A = Versionable(package="fb.test", name="alpha", major_version=1, minor_version=2, patch_version=0)
FB_B = Versionable(package="fb.test", name="beta", major_version=2, minor_version=0, patch_version=1)

#: (method, path pattern, schema, whether the body is an array of it); the first match wins.
SCHEMA_ROUTES: list[tuple[str, re.Pattern[str], str, bool]] = [
    ("POST", re.compile(r"/workers/register"), "WorkerRegistrationResponseDto", False),
    ("GET", re.compile(r"/workers(/online)?"), "WorkerRegistrationResponseDto", True),
    ("GET", re.compile(r"/workers/[^/]+/jobs"), "JobShowResultDto", True),
    ("GET", re.compile(r"/workers/[^/]+"), "WorkerRegistrationResponseDto", False),
    ("GET", re.compile(r"/blackboard/jobs/page"), "JobPageDto", False),
    ("GET", re.compile(r"/blackboard/jobs(/active)?"), "JobShowResultDto", True),
    ("POST", re.compile(r"/blackboard/job"), "JobDefinitionDto", True),
    ("POST", re.compile(r"/version/compatibility"), "VersionCompatibilityResponseDto", False),
    ("GET", re.compile(r"/version"), "VersionResponseDto", False),
    ("GET", re.compile(r"/health"), "HealthResponse", False),
]
#: Contract endpoints that answer without a body.
EMPTY_ROUTES = [
    re.compile(p) for p in (r"/function-blocks/register", r"/blackboard/job/result", r"/blackboard/job/log")
]
#: Ping and unregister answer ``{"success": bool}`` from 0.43 on, an empty body in 0.42.1.
SUCCESS_ROUTE = re.compile(r"/workers/[^/]+/(ping|unregister)")
#: Fields each contract lets the engine send as ``null`` (parameters and context are free-form payloads).
NULLABLE_RECEIVED = {
    CURRENT: frozenset(
        {
            "entityId",
            "deletedAt",
            "workerId",
            "workerName",
            "startedAt",
            "finishedAt",
            "resultMessage",
            "nextCursor",
        }
    ),
    PREVIOUS: frozenset({"entityId", "deletedAt", "workerId", "workerName"}),
}
FREE_FORM = frozenset({"parameters", "context"})


def unexpected_nulls(body: Any, path: str = "", generation: str = CURRENT) -> list[str]:
    """Paths of ``null`` in an engine answer outside the nullable fields of ``generation``."""
    if isinstance(body, list):
        return [
            found
            for i, item in enumerate(body)
            for found in unexpected_nulls(item, f"{path}/{i}", generation)
        ]
    if not isinstance(body, dict):
        return []
    found: list[str] = []
    for key, value in body.items():
        if value is None and key not in NULLABLE_RECEIVED[generation]:
            found.append(f"{path}/{key}")
        elif key not in FREE_FORM:
            found.extend(unexpected_nulls(value, f"{path}/{key}", generation))
    return found


def check_response(response: httpx.Response, generation: str = CURRENT) -> None:
    """Check one answer of the engine against the contract of ``generation`` (an httpx response hook)."""
    response.read()
    method, path = response.request.method, response.request.url.path
    if 400 <= response.status_code < 500:
        check_error_shape(response)
    elif response.is_success and not path.startswith("/_dev/"):
        check_success_body(method, path, response, generation)


def check_error_shape(response: httpx.Response) -> None:
    """A 4xx carries ``{"statusCode", "message", "error"}`` as NestJS writes it; a licence refusal its DTO."""
    body = response.json()
    assert body["statusCode"] == response.status_code
    assert isinstance(body["message"], str | list)
    assert isinstance(body["error"], str)
    if body["error"] == "LicenseLimitExceeded":
        assert_valid("LicenseLimitExceededDto", body, CURRENT)  # 0.42.1 typed no licence refusal
        assert response.headers["X-Neops-License-Error"] == "limit-exceeded"


def check_success_body(method: str, path: str, response: httpx.Response, generation: str = CURRENT) -> None:
    """A 2xx body of a contract endpoint matches its schema, or is empty where the contract has none."""
    if method == "POST" and any(p.fullmatch(path) for p in EMPTY_ROUTES):
        assert response.content == b"", f"{path} should answer without a body"
        return
    if method == "POST" and SUCCESS_ROUTE.fullmatch(path):
        check_action_answer(response, generation)
        return
    if method == "GET" and path.endswith("/function-blocks"):
        assert all(isinstance(item, str) for item in response.json())
        return
    dto, is_array = next((dto, arr) for m, p, dto, arr in SCHEMA_ROUTES if m == method and p.fullmatch(path))
    body = response.json()
    for item in body if is_array else [body]:
        assert_valid(dto, item, generation)
    nulls = unexpected_nulls(body, generation=generation)
    assert not nulls, f"{path} sends null for optional fields: {nulls}"


def check_action_answer(response: httpx.Response, generation: str) -> None:
    """Ping and unregister: ``{"success": true}`` (``WorkerActionResultDto``) from 0.43, no body before."""
    if generation == PREVIOUS:
        assert response.content == b"", "a 0.42.1 engine answers ping and unregister without a body"
        return
    assert_valid("WorkerActionResultDto", response.json(), generation)
    assert response.json() == {"success": True}


@dataclass
class Api:
    """The engine's HTTP API, every answer checked by :func:`check_response`."""

    http: httpx.Client

    @classmethod
    def connect(cls, url: str, generation: str = CURRENT) -> Api:
        """A client for the engine at ``url``, checking its answers against the contract of ``generation``."""
        hook = functools.partial(check_response, generation=generation)
        return cls(httpx.Client(base_url=url, timeout=10.0, event_hooks={"response": [hook]}))

    def register_worker(self, name: str = "worker-1") -> str:
        """Register a worker; its UUID."""
        response = self.http.post(
            "/workers/register", json=RegisterWorker(version="1.0.0", name=name).to_wire()
        )
        assert response.status_code == 201, response.text
        return str(response.json()["uuid"])

    def register_fb(self, worker_id: str | None, fb: Versionable = FB_A, **flags: bool) -> httpx.Response:
        """Register ``fb`` for the worker (``is_pure=True``...: its flags); the raw answer (201, 409, 404)."""
        body = RegisterFunctionBlock(
            **fb.model_dump(),
            worker_id=worker_id,
            description="test block",
            run_on="device",
            fb_type="facts",
            parameter_json_schema={"type": "object"},
            result_data_json_schema={"type": "object"},
            **flags,
        )
        return self.http.post("/function-blocks/register", json=body.to_wire())

    def worker_with(self, *fbs: Versionable, name: str = "worker-1", **flags: bool) -> str:
        """A registered worker serving ``fbs``, each registered with ``flags``."""
        worker_id = self.register_worker(name)
        for fb in fbs:
            assert self.register_fb(worker_id, fb, **flags).status_code in (201, 409)
        return worker_id

    def add_job(self, fb: Versionable = FB_A, **fields: Any) -> str:
        """Queue a job through ``/_dev/jobs``; its id."""
        response = self.http.post("/_dev/jobs", json={"functionBlockId": fb.fb_id, **fields})
        assert response.status_code == 201, response.text
        return str(response.json()["jobId"])

    def poll_raw(
        self, worker_id: str, fbs: Iterable[Versionable] = (FB_A,), limit: int | None = None
    ) -> httpx.Response:
        """``POST /blackboard/job``; the raw answer."""
        body = JobPoll(function_block_ids=list(fbs), limit=limit, worker_id=worker_id)
        return self.http.post("/blackboard/job", json=body.to_wire())

    def poll(
        self, worker_id: str, fbs: Iterable[Versionable] = (FB_A,), limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Claim jobs; the job definitions."""
        response = self.poll_raw(worker_id, fbs, limit)
        assert response.status_code == 201, response.text
        jobs: list[dict[str, Any]] = response.json()
        return jobs

    def push_result(
        self, job_id: str, success: bool = True, message: str = "done", retryable: bool | None = None
    ) -> httpx.Response:
        """``POST /blackboard/job/result``; the raw answer."""
        result = JobResult(
            job_execution_id=job_id,
            status="success" if success else "failed",
            result=JobExecutionResult(
                success=success, message=message, data={"answer": 42}, retryable=retryable
            ),
        )
        return self.http.post("/blackboard/job/result", json=result.to_wire())

    def run_once(self, worker_id: str, success: bool, fb: Versionable = FB_A, **result: Any) -> str:
        """Claim the one pending job of ``fb`` and push its result; its id."""
        [job] = self.poll(worker_id, [fb])
        assert self.push_result(job["jobId"], success, **result).status_code == 201
        return str(job["jobId"])

    def run_jobs(self, job_id: str) -> list[dict[str, Any]]:
        """The development rows of every job in ``job_id``'s run, in queue order."""
        return self.dev_jobs(runId=self.dev_job(job_id)["runId"])

    def dev_job(self, job_id: str) -> dict[str, Any]:
        """``GET /_dev/jobs/{jobId}``."""
        response = self.http.get(f"/_dev/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job

    def dev_jobs(self, **query: str) -> list[dict[str, Any]]:
        """``GET /_dev/jobs`` with filters."""
        response = self.http.get("/_dev/jobs", params=query)
        assert response.status_code == 200, response.text
        jobs: list[dict[str, Any]] = response.json()
        return jobs

    def worker_state(self, worker_id: str) -> str:
        """The worker's ``state`` from ``GET /workers/{uuid}?findDeleted=true``."""
        response = self.http.get(f"/workers/{worker_id}", params={"findDeleted": "true"})
        assert response.status_code == 200, response.text
        return str(response.json()["state"])


class FakeClock:
    """A clock the test moves by hand, so heartbeat thresholds are crossed exactly when the test says."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        """The current fake time in epoch seconds."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def run_command(*args: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """The real ``neops_worker ARGS`` in a child process, run to its end in ``cwd`` without the user's
    settings (plus ``settings``), its tables wide enough that no cell is folded."""
    env = clean_environment(**settings)
    env["COLUMNS"] = "250"
    return subprocess.run(
        [*WORKER_COMMAND, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
