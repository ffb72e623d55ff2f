"""The local engine's HTTP app: the worker-facing blackboard contract, plus ``/_dev/`` routes.

HTTP only; state lives in :class:`~neops_worker.devkit.local_engine.store.EngineStore`. Paths, camelCase JSON
bodies and status codes follow the contract (BLACKBOARD.md) of the generation the options name: 0.43.0b8
(``{"success": true}`` ping answers, worker records with ``deletedAt: null``, the longer job listings),
or 0.42.1 (empty ping answers, the shorter shapes, and a 400 for the request fields 0.42.1 does not
know, so that a worker leaking them is caught). This is a development stand-in, **not the production
engine**: it runs no workflows, it only queues jobs that someone adds through ``/_dev/jobs``.

:func:`create_app` returns a plain ASGI app, so fault injection can wrap it in middleware.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from neops_worker.devkit.local_engine._http import (
    ApiError,
    api_error_handler,
    empty_response,
    http_error_handler,
    json_response,
    parse_body,
    query_choice,
    query_flag,
    server_error_handler,
)
from neops_worker.devkit.local_engine._page import parse_query as parse_page_query
from neops_worker.devkit.local_engine.dev import dev_routes
from neops_worker.devkit.local_engine.licence import licence_refusal
from neops_worker.devkit.local_engine.models import (
    JOB_STATUSES,
    EngineJobShow,
    LogSubmission,
    ResultSubmission,
)
from neops_worker.devkit.local_engine.options import SMALL_BODY_LIMIT
from neops_worker.devkit.local_engine.store import (
    EngineStore,
    LicenceLimitReached,
    RegistrationOutcome,
    ResultOutcome,
)
from neops_worker.engine.wire import (
    CONTRACT_LIBRARY,
    HealthResponse,
    JobPoll,
    RegisterFunctionBlock,
    RegisterWorker,
    VersionCompatibility,
    VersionCompatibilityRequest,
    VersionResponse,
)

log = logging.getLogger(__name__)


class ContractApi:
    """The endpoints of the contract, bound to one store."""

    def __init__(self, store: EngineStore) -> None:
        self._store = store
        self._options = store.options
        self._current = store.options.current

    def routes(self) -> list[BaseRoute]:
        """Every contract route; the poll and result paths first, since they carry the load."""
        return [
            Route("/blackboard/job", self.poll, methods=["POST"]),
            Route("/blackboard/job/result", self.push_result, methods=["POST"]),
            Route("/workers/{uuid}/ping", self.ping, methods=["POST"]),
            Route("/blackboard/job/log", self.push_log, methods=["POST"]),
            Route("/blackboard/jobs", self.jobs, methods=["GET"]),
            Route("/blackboard/jobs/active", self.active_jobs, methods=["GET"]),
            Route("/blackboard/jobs/page", self.jobs_page, methods=["GET"]),
            Route("/workers/register", self.register_worker, methods=["POST"]),
            Route("/workers", self.workers, methods=["GET"]),
            Route("/workers/online", self.online_workers, methods=["GET"]),
            Route("/workers/{uuid}", self.worker, methods=["GET"]),
            Route("/workers/{uuid}/unregister", self.unregister, methods=["POST"]),
            Route("/workers/{uuid}/jobs", self.worker_jobs, methods=["GET"]),
            Route("/workers/{uuid}/function-blocks", self.worker_function_blocks, methods=["GET"]),
            Route("/function-blocks/register", self.register_function_block, methods=["POST"]),
            Route("/version", self.version, methods=["GET"]),
            Route("/version/compatibility", self.compatibility, methods=["POST"]),
            Route("/health", self.health, methods=["GET"]),
        ]

    # --- workers --------------------------------------------------------------------------------

    async def register_worker(self, request: Request) -> Response:
        """``POST /workers/register``: 201 and the new record; 403 over the licence's worker limit."""
        body = await parse_body(request, RegisterWorker, SMALL_BODY_LIMIT)
        try:
            registered = self._store.register_worker(body)
        except LicenceLimitReached as exc:
            raise licence_refusal(exc) from None
        return json_response(registered.for_contract(self._current), 201)

    async def ping(self, request: Request) -> Response:
        """``POST /workers/{uuid}/ping``: 200, or 404 once the worker is unknown or expired."""
        if not self._store.ping(request.path_params["uuid"]):
            raise _worker_not_found(request)
        return self._action_done()

    async def unregister(self, request: Request) -> Response:
        """``POST /workers/{uuid}/unregister``: 200 and the worker is offline (a ping revives it)."""
        if not self._store.unregister(request.path_params["uuid"]):
            raise _worker_not_found(request)
        return self._action_done()

    def _action_done(self) -> Response:
        """A ping's or unregistration's answer: ``{"success": true}`` from 0.43, an empty body before."""
        return json_response({"success": True}) if self._current else empty_response(200)

    async def workers(self, request: Request) -> Response:
        """``GET /workers?findDeleted=``: every worker record."""
        found = self._store.list_workers(find_deleted=query_flag(request, "findDeleted"))
        return json_response([worker.for_contract(self._current) for worker in found])

    async def online_workers(self, _request: Request) -> Response:
        """``GET /workers/online``: the workers whose state is online."""
        found = self._store.list_workers(online_only=True)
        return json_response([worker.for_contract(self._current) for worker in found])

    async def worker(self, request: Request) -> Response:
        """``GET /workers/{uuid}?findDeleted=``: one record, 404 if unknown (or expired without the flag)."""
        found = self._store.get_worker(request.path_params["uuid"], query_flag(request, "findDeleted"))
        if found is None:
            raise _worker_not_found(request)
        return json_response(found.for_contract(self._current))

    async def worker_jobs(self, request: Request) -> Response:
        """``GET /workers/{uuid}/jobs?status=``: the jobs assigned to the worker."""
        status = query_choice(request, "status", JOB_STATUSES)
        worker_id = request.path_params["uuid"]
        if self._store.get_worker(worker_id, find_deleted=True) is None:
            raise _worker_not_found(request)
        return self._job_list(self._store.list_jobs(status=status, worker_id=worker_id))

    def _job_list(self, jobs: list[EngineJobShow]) -> Response:
        return json_response([job.for_contract(self._current) for job in jobs])

    async def worker_function_blocks(self, request: Request) -> Response:
        """``GET /workers/{uuid}/function-blocks``: the string ids of the worker's blocks."""
        blocks = self._store.worker_function_blocks(request.path_params["uuid"])
        if blocks is None:
            raise _worker_not_found(request)
        return json_response(blocks)

    # --- function blocks and jobs ---------------------------------------------------------

    async def register_function_block(self, request: Request) -> Response:
        """``POST /function-blocks/register``: 201; 409 if the version exists (linked anyway); 404; 403."""
        body = await parse_body(request, RegisterFunctionBlock, SMALL_BODY_LIMIT)
        if not self._current and "reversible" in body.model_fields_set:
            raise _unknown_to_0_42_1("reversible")
        try:
            outcome = self._store.register_function_block(body)
        except LicenceLimitReached as exc:
            raise licence_refusal(exc, body.fb_id) from None
        if outcome is RegistrationOutcome.UNKNOWN_WORKER:
            raise ApiError(404, f"Worker with UUID {body.worker_id} not found")
        if outcome is RegistrationOutcome.ALREADY_REGISTERED:
            raise ApiError(409, f"Function block {body.fb_id} is already registered")
        return empty_response(201)

    async def poll(self, request: Request) -> Response:
        """``POST /blackboard/job``: 201 and the claimed jobs (``[]`` if none); 404 for an unknown worker."""
        body = await parse_body(request, JobPoll, SMALL_BODY_LIMIT)
        jobs = self._store.claim_jobs(body)
        if jobs is None:
            raise ApiError(404, f"Worker with UUID {body.worker_id} not found")
        return json_response([job.to_wire() for job in jobs], 201)

    async def push_result(self, request: Request) -> Response:
        """``POST /blackboard/job/result``: 201; 409 if the job has a result; 404 if it is unknown."""
        body = await parse_body(request, ResultSubmission, self._options.max_body_size)
        if not self._current and "retryable" in body.result.model_fields_set:
            raise _unknown_to_0_42_1("result.retryable")
        outcome = self._store.submit_result(body)
        if outcome is ResultOutcome.UNKNOWN_JOB:
            raise ApiError(404, f"Job {body.job_execution_id} not found")
        if outcome is ResultOutcome.ALREADY_HAS_RESULT:
            raise ApiError(409, f"Job {body.job_execution_id} already has a result")
        if outcome is ResultOutcome.FAILED_BY_ENGINE:
            raise ApiError(
                409,
                f"Job {body.job_execution_id} already has a result: the engine failed it after the "
                f"stuck-job timeout ({self._options.stuck_job_timeout_s:g} s)",
            )
        return empty_response(201)

    async def push_log(self, request: Request) -> Response:
        """``POST /blackboard/job/log``: 201, the line is stored."""
        self._store.add_log(await parse_body(request, LogSubmission, self._options.max_body_size))
        return empty_response(201)

    async def jobs(self, request: Request) -> Response:
        """``GET /blackboard/jobs?status=``: every job."""
        return self._job_list(self._store.list_jobs(status=query_choice(request, "status", JOB_STATUSES)))

    async def active_jobs(self, _request: Request) -> Response:
        """``GET /blackboard/jobs/active``: pending, polled and recently pushed jobs."""
        return self._job_list(self._store.active_jobs())

    async def jobs_page(self, request: Request) -> Response:
        """``GET /blackboard/jobs/page`` (0.43.0b8): a page of jobs and the next page's cursor; 400."""
        if not self._current:
            raise HTTPException(404)  # new in 0.43.0b8: a 0.42.1 engine has no such route
        params = request.query_params
        try:
            query = parse_page_query(params.getlist, params.get)
        except ValueError as exc:
            raise ApiError(400, [str(exc)]) from None
        return json_response(self._store.job_page(query).to_wire())

    # --- version and health ---------------------------------------------------------------

    async def version(self, _request: Request) -> Response:
        """``GET /version``: the contract's version with a ``-local`` suffix, unless configured."""
        return json_response(VersionResponse(version=self._options.version).to_wire())

    async def compatibility(self, request: Request) -> Response:
        """``POST /version/compatibility``: compatible for the contract library unless configured."""
        body = await parse_body(request, VersionCompatibilityRequest, SMALL_BODY_LIMIT)
        answer = VersionCompatibility(
            compatible=self._options.compatible and body.library == CONTRACT_LIBRARY,
            deprecated=self._options.deprecated,
            version=self._options.version,
            checked_library=body.library,
            checked_version=body.version,
        )
        return json_response(answer.to_wire(), 201)

    async def health(self, _request: Request) -> Response:
        """``GET /health``."""
        return json_response(HealthResponse(healthy=True).to_wire())


def _worker_not_found(request: Request) -> ApiError:
    return ApiError(404, f"Worker with UUID {request.path_params['uuid']} not found")


def _unknown_to_0_42_1(field: str) -> ApiError:
    """A 0.42.1 engine's answer to a field only 0.43 knows, named as the engine's validation names it."""
    name = field.rsplit(".", 1)[-1]
    return ApiError(400, [f"{field}: property {name} should not exist (this engine speaks contract 0.42.1)"])


async def sweep_forever(store: EngineStore, interval_s: float) -> None:
    """Expire silent workers and fail stuck jobs every ``interval_s``; polls and pings sweep workers too."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            store.sweep()
        except Exception:  # a locked file or a bug must not stop the sweeping
            log.exception("engine sweep failed; trying again in %g s", interval_s)


def create_app(store: EngineStore) -> Starlette:
    """The local engine's ASGI app over ``store``, with the background sweep in its lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(sweep_forever(store, store.options.effective_sweep_interval_s))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    return Starlette(
        routes=[*ContractApi(store).routes(), *dev_routes(store)],
        exception_handlers={
            ApiError: api_error_handler,
            HTTPException: http_error_handler,
            Exception: server_error_handler,
        },
        lifespan=lifespan,
    )
