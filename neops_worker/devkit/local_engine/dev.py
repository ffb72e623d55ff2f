"""Development-only routes under ``/_dev/``: put jobs on the blackboard and look inside the engine.

None of this is part of the engine contract. Shapes (camelCase JSON):

- ``POST /_dev/jobs``
  ``{functionBlockId, parameters?, context?, type?, runOn?, entityId?, stepLabel?, jobId?}``
  → 201 ``{"jobId"}``; 409 if ``jobId`` is taken.
- ``GET /_dev/jobs?status=&functionBlockId=&workerId=&runId=`` → 200 list of job rows (:class:`DevJob`),
  each with its run and run state, attempt, and the jobs it retries or rolls back.
- ``GET /_dev/jobs/{jobId}`` → 200 the row plus ``parameters``, ``context``, the full stored ``result``
  and ``logs`` (:class:`DevJobDetail`); 404 if unknown.
- ``POST /_dev/jobs/{jobId}/rollback`` → 201 ``{"jobId"}``: a rollback job with a new id and the failed
  execute job's parameters and context, as the engine's remediation endpoint creates one (0.43 only,
  reversible blocks only, as often as asked); 400, 404 or 409 saying why not.
- ``GET /_dev/workers`` → 200 list of workers with state, last ping and blocks (:class:`DevWorker`).
- ``GET /_dev/function-blocks`` → 200 list of registered blocks (:class:`DevFunctionBlock`).
- ``POST /_dev/sweep`` → 200 ``{"expired": [uuid, ...]}``: run the sweep now (silent workers expire,
  stuck jobs are failed).

Bodies take the large limit of result pushes (``--max-body-size``), not the 100 kB of the contract's other
routes: ``/_dev/jobs`` stands in for the engine creating a job, which no HTTP limit applies to.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from neops_worker.devkit.local_engine._http import ApiError, json_response, parse_body, query_choice
from neops_worker.devkit.local_engine.models import (
    JOB_STATUSES,
    STEP_LABEL_PATTERN_0_43,
    NewJob,
    NewJobCreated,
)
from neops_worker.devkit.local_engine.store import EngineStore, RemediationRefused
from neops_worker.engine.wire import canonical_fb_id

#: Every development route lives under this prefix, apart from the contract's paths.
DEV_PREFIX = "/_dev"


class DevApi:
    """The development endpoints, bound to one store."""

    def __init__(self, store: EngineStore) -> None:
        self._store = store

    def routes(self) -> list[BaseRoute]:
        """Every development route, under :data:`DEV_PREFIX`."""
        return [
            Route(f"{DEV_PREFIX}/jobs", self.add_job, methods=["POST"]),
            Route(f"{DEV_PREFIX}/jobs", self.jobs, methods=["GET"]),
            Route(f"{DEV_PREFIX}/jobs/{{job_id}}", self.job, methods=["GET"]),
            Route(f"{DEV_PREFIX}/jobs/{{job_id}}/rollback", self.rollback, methods=["POST"]),
            Route(f"{DEV_PREFIX}/workers", self.workers, methods=["GET"]),
            Route(f"{DEV_PREFIX}/function-blocks", self.function_blocks, methods=["GET"]),
            Route(f"{DEV_PREFIX}/sweep", self.sweep, methods=["POST"]),
        ]

    async def add_job(self, request: Request) -> Response:
        """Queue a job; 201 ``{"jobId"}``, 409 if the given ``jobId`` exists."""
        job = await parse_body(request, NewJob, self._store.options.max_body_size)
        if (
            self._store.options.current
            and job.step_label
            and not STEP_LABEL_PATTERN_0_43.match(job.step_label)
        ):
            raise ApiError(400, ["stepLabel: must start with a letter or _ (contract 0.43)"])
        job_id = self._store.add_job(job)
        if job_id is None:
            raise ApiError(409, f"Job {job.job_id} already exists")
        return json_response(NewJobCreated(job_id=job_id).to_wire(), 201)

    async def jobs(self, request: Request) -> Response:
        """List jobs, optionally filtered by ``status``, ``functionBlockId`` and ``workerId``."""
        rows = self._store.dev_jobs(
            status=query_choice(request, "status", JOB_STATUSES),
            function_block_id=_fb_filter(request),
            worker_id=request.query_params.get("workerId"),
            run_id=request.query_params.get("runId"),
        )
        return json_response([row.to_wire() for row in rows])

    async def job(self, request: Request) -> Response:
        """One job with input, stored result and logs; 404 if unknown."""
        job = self._store.get_job(request.path_params["job_id"])
        if job is None:
            raise ApiError(404, f"Job {request.path_params['job_id']} not found")
        return json_response(job.to_wire())

    async def rollback(self, request: Request) -> Response:
        """A rollback job for a failed execute job, as the remediation makes one; 201 ``{"jobId"}``."""
        try:
            rollback_id = self._store.add_rollback(request.path_params["job_id"])
        except RemediationRefused as exc:
            raise ApiError(exc.status, exc.message) from None
        return json_response(NewJobCreated(job_id=rollback_id).to_wire(), 201)

    async def workers(self, _request: Request) -> Response:
        """Every worker ever registered, with state and last ping."""
        return json_response([worker.to_wire() for worker in self._store.dev_workers()])

    async def function_blocks(self, _request: Request) -> Response:
        """Every registered function block and its workers."""
        return json_response([block.to_wire() for block in self._store.dev_function_blocks()])

    async def sweep(self, _request: Request) -> Response:
        """Expire silent workers and fail stuck jobs now instead of at the next background sweep."""
        return json_response({"expired": self._store.sweep(force=True)})


def _fb_filter(request: Request) -> str | None:
    value = request.query_params.get("functionBlockId")
    if value is None:
        return None
    try:
        return canonical_fb_id(value)
    except ValueError as exc:
        raise ApiError(400, [f"functionBlockId {exc}"]) from None


def dev_routes(store: EngineStore) -> list[BaseRoute]:
    """The ``/_dev/`` routes over ``store``."""
    return DevApi(store).routes()
