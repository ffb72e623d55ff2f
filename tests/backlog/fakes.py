"""A fake engine for the listing's unit tests: answers built from contract-valid fixtures, requests recorded.

Every job and page it answers with is validated against the schemas of its engine generation first
(``tests/schemas/`` for 0.43.0b8, ``tests/schemas/0.42.1/``), so the tests read what an engine sends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from tests.contract import CURRENT, PREVIOUS, assert_valid

Handler = Callable[[httpx.Request], httpx.Response]
DATE = "Sat, 06 Jun 2026 10:00:00 GMT"


def job(
    fb: str, job_id: str, status: str = "pending", created: str = "2026-06-06T09:59:00.000Z"
) -> dict[str, Any]:
    """A ``JobShowResultDto`` as a 0.43.0b8 engine lists it."""
    claimed = status == "polled"
    body = {
        "functionBlockId": fb,
        "jobId": job_id,
        "status": status,
        "type": "execute",
        "workerId": "3b9f6c1e-2f4a-4c8e-9d2b-7a1e5f0c4d21" if claimed else None,
        "workerName": "worker-1" if claimed else None,
        "workerDeleted": False,
        "workflowExecutionId": f"run-{job_id}",
        "entityId": None,
        "createdAt": created,
        "updatedAt": created,
        "startedAt": created if claimed else None,
        "finishedAt": None,
        "retryCount": 0,
        "canceled": False,
        "resultMessage": None,
    }
    assert_valid("JobShowResultDto", body, CURRENT)
    return body


def old_job(fb: str, job_id: str, status: str = "pending") -> dict[str, Any]:
    """A ``JobShowResultDto`` as a 0.42.1 engine lists it: no creation time."""
    body = {
        "functionBlockId": fb,
        "jobId": job_id,
        "status": status,
        "type": "execute",
        "workerDeleted": False,
    }
    assert_valid("JobShowResultDto", body, PREVIOUS)
    return body


def page(
    items: list[dict[str, Any]], next_cursor: str | None = None, total: int | None = None
) -> dict[str, Any]:
    """A ``JobPageDto``."""
    body = {"items": items, "nextCursor": next_cursor, "total": len(items) if total is None else total}
    assert_valid("JobPageDto", body, CURRENT)
    return body


class FakeEngine:
    """Answers ``GET /version`` and the listings from what the test sets; records every request."""

    def __init__(self, version: str | None = "0.43.0-beta.8") -> None:
        self.version = version
        #: state ("pending"/"polled") -> the pages the page route answers, in order, keyed by cursor.
        self.pages: dict[str, dict[str | None, dict[str, Any]]] = {
            "pending": {None: page([])},
            "polled": {None: page([])},
        }
        #: status -> the array the status route answers.
        self.by_status: dict[str, list[dict[str, Any]]] = {"pending": [], "polled": []}
        #: (method, path) -> a status answered instead (404 for the page route of an older engine...).
        self.refuse: dict[str, tuple[int, dict[str, Any]]] = {}
        self.requests: list[httpx.Request] = []

    @property
    def transport(self) -> httpx.MockTransport:
        """The transport to give the listing client."""
        return httpx.MockTransport(self.answer)

    def paths(self) -> list[str]:
        """The paths asked for, with their queries, in order."""
        return [f"{r.url.path}?{r.url.query.decode()}" if r.url.query else r.url.path for r in self.requests]

    def answer(self, request: httpx.Request) -> httpx.Response:
        """The engine's answer to ``request``."""
        self.requests.append(request)
        path = request.url.path
        if path in self.refuse:
            status, body = self.refuse[path]
            return _json(status, body)
        if path == "/version":
            return _json(200, {"version": self.version}) if self.version else _json(404, _error(404, path))
        if path == "/blackboard/jobs/page":
            params = request.url.params
            return _json(200, self.pages[params["state[]"]][params.get("cursor")])
        if path == "/blackboard/jobs":
            return _json(200, self.by_status[request.url.params["status"]])
        return _json(404, _error(404, path))


def _error(status: int, path: str) -> dict[str, Any]:
    return {"statusCode": status, "message": f"Cannot GET {path}", "error": "Not Found"}


def _json(status: int, body: Any) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(body), headers={"Content-Type": "application/json", "Date": DATE}
    )
