"""Request parsing, error bodies and JSON responses shared by the contract and the development routes.

Errors have the engine's (NestJS) shape, ``{"statusCode": 400, "message": [...], "error": "Bad Request"}``:
``message`` is a list naming each invalid field for validation errors, a string otherwise. A body over
its route's limit is refused with 413 before it is read when its ``Content-Length`` says so, else as
soon as the bytes read pass the limit; the server discards the rest unread.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from neops_worker.devkit.local_engine.options import format_size
from neops_worker.errors import validation_problems

Model = TypeVar("Model", bound=BaseModel)

JSON_MEDIA_TYPE = "application/json"


class ApiError(Exception):
    """An answer other than success: status code and NestJS-style message, or a body of its own."""

    def __init__(
        self,
        status: int,
        message: str | list[str],
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body
        self.headers = headers


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON response; the body is serialised by pydantic-core, which is fast and compact."""
    return Response(to_json(body), status_code=status, media_type=JSON_MEDIA_TYPE)


def empty_response(status: int) -> Response:
    """A response without a body, as the contract has for FB registration, results and logs."""
    return Response(status_code=status)


def error_body(status: int, message: str | list[str]) -> dict[str, Any]:
    """``{"statusCode", "message", "error"}`` as NestJS writes it."""
    return {"statusCode": status, "message": message, "error": HTTPStatus(status).phrase}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or 413 when it is over ``limit`` bytes (by ``Content-Length``, else as it comes)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(request, f"{int(declared)} bytes", limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(request, f"more than {limit} bytes", limit)
    return bytes(body)


def _too_large(request: Request, size: str, limit: int) -> ApiError:
    return ApiError(
        413, f"request entity too large: {size}, the limit of {request.url.path} is {format_size(limit)}"
    )


async def parse_body(request: Request, model: type[Model], limit: int) -> Model:
    """Validate the JSON body against ``model``: camelCase names only, no type coercion; 400 otherwise.

    Strictness is on purpose: the local engine should catch a worker that sends ``"1"`` for a number or
    a snake_case field name, which the production engine would not accept either. A body over ``limit``
    bytes is refused with 413.
    """
    raw = await read_body(request, limit)
    try:
        return model.model_validate_json(raw or b"{}", strict=True, by_name=False)
    except ValidationError as exc:
        raise ApiError(400, _messages(exc)) from None


def _messages(exc: ValidationError) -> str | list[str]:
    """One message per field, its path in camelCase (``functionBlockIds.0.package``, ``body`` for all)."""
    errors = exc.errors(include_url=False)
    if len(errors) == 1 and errors[0]["type"] == "json_invalid":
        return f"Malformed JSON body: {errors[0]['msg']}"
    return validation_problems(exc, root="body")


def query_flag(request: Request, name: str) -> bool:
    """A boolean query parameter (``true``/``false``, ``1``/``0``), False when absent; 400 otherwise."""
    value = request.query_params.get(name)
    if value is None or value.lower() in ("false", "0", ""):
        return False
    if value.lower() in ("true", "1"):
        return True
    raise ApiError(400, [f"{name} must be a boolean value"])


def query_choice(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    """An optional query parameter restricted to ``allowed``; 400 naming the parameter otherwise."""
    value = request.query_params.get(name)
    if value is None or value in allowed:
        return value
    raise ApiError(400, [f"{name} must be one of the following values: {', '.join(allowed)}"])


async def api_error_handler(_request: Request, exc: Exception) -> Response:
    """Render an :class:`ApiError`."""
    assert isinstance(exc, ApiError)
    response = json_response(exc.body or error_body(exc.status, exc.message), exc.status)
    response.headers.update(exc.headers or {})
    return response


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Render starlette's own errors as NestJS does: an unrouted method and path is 404 ``Cannot POST /x``."""
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):  # NestJS has no 405: a wrong method is simply an unknown route
        return json_response(error_body(404, f"Cannot {request.method} {request.url.path}"), 404)
    return json_response(error_body(exc.status_code, exc.detail), exc.status_code)


async def server_error_handler(_request: Request, _exc: Exception) -> Response:
    """A bug in the local engine: 500 with the engine's body (the traceback goes to the log)."""
    return json_response({"statusCode": 500, "message": "Internal server error"}, 500)
