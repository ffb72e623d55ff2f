"""``GET /blackboard/jobs/page`` (0.43.0b8): the job listing paged on the engine, as contract 4.11 describes.

What the local engine serves of it: ``limit`` (0-200, default 50), ``cursor`` (the previous page's
``nextCursor``), ``sort`` by ``createdAt`` (``:asc`` or ``:desc``, the default), and the list filters
``id``, ``status``, ``state``, ``resultStatus``, ``functionBlockId``, ``workerId``,
``workflowExecutionId``, ``type``, ``stepLabel`` and ``entityId``, each repeatable, written ``state[]=``
as the engine's client sends them or ``state=``. A job's ``state`` is ``pending``, ``polled``, then its
result's status (``success``, ``success-ack``, ``failed``, ``failed-ack``); the local engine never
cancels a job, so ``canceled`` matches none. Other parameters (``q``, ``changedSince``, ``include[]``,
facet options) are accepted and ignored. ``total`` counts every job the filters match, across pages.

The cursor is the queue position of the page's last job: jobs are created in queue order, so
``createdAt`` order is queue order, and a job that changes state between two pages is neither
skipped nor repeated by the order itself. This module builds the statements only (no HTTP).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from neops_worker.engine.wire import JOB_TYPES

#: The largest page (contract 4.11: ``limit`` 0-200), and the page when none is asked for.
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
SORTS = ("createdAt:desc", "createdAt:asc")
RESULT_STATES = ("success", "success-ack", "failed", "failed-ack")
JOB_STATES = ("pending", "polled", *RESULT_STATES, "canceled")
#: Each list filter and the column it matches.
FILTER_COLUMNS: Mapping[str, str] = {
    "id": "j.job_id",
    "status": "j.status",
    "resultStatus": "j.result_status",
    "functionBlockId": "j.fb_id",
    "workerId": "j.worker_id",
    "workflowExecutionId": "j.run_id",
    "type": "j.type",
    "stepLabel": "j.step_label",
    "entityId": "j.entity_id",
}
#: The values a filter may take, where the contract lists them.
FILTER_CHOICES: Mapping[str, tuple[str, ...]] = {
    "status": ("pending", "polled", "pushed"),
    "resultStatus": RESULT_STATES,
    "type": JOB_TYPES,
    "state": JOB_STATES,
}


@dataclass(frozen=True)
class JobPageQuery:
    """One request of the page route, checked."""

    limit: int = DEFAULT_LIMIT
    #: The queue position after which (before which, newest first) the page starts.
    after: int | None = None
    descending: bool = True
    #: filter name -> the values any of which a job must have (``state`` among them).
    filters: Mapping[str, tuple[str | int, ...]] = field(default_factory=dict)

    def where(self) -> tuple[str, list[object]]:
        """The filters as a ``WHERE`` clause (``1`` for none) and its parameters; without the cursor."""
        clauses: list[str] = []
        values: list[object] = []
        for name, chosen in self.filters.items():
            if name == "state":
                clauses.append(_state_clause([str(state) for state in chosen], values))
            else:
                clauses.append(f"{FILTER_COLUMNS[name]} IN ({', '.join('?' * len(chosen))})")
                values.extend(chosen)
        return " AND ".join(clauses) or "1", values

    def items_statement(self, select_from: str) -> tuple[str, list[object]]:
        """The statement of the page's rows (one more than ``limit``, to tell if another page follows)."""
        where, values = self.where()
        if self.after is not None:
            where += f" AND j.seq {'<' if self.descending else '>'} ?"
            values.append(self.after)
        order = "DESC" if self.descending else "ASC"
        statement = f"{select_from} WHERE {where} ORDER BY j.seq {order} LIMIT ?"
        return statement, [*values, self.limit + 1]


def _state_clause(states: Sequence[str], values: list[object]) -> str:
    """Jobs in any of ``states``: ``pending`` and ``polled`` by status, the others by result."""
    parts = [f"j.status = '{state}'" for state in states if state in ("pending", "polled")]
    results = [state for state in states if state in RESULT_STATES]
    if results:
        parts.append(f"(j.status = 'pushed' AND j.result_status IN ({', '.join('?' * len(results))}))")
        values.extend(results)
    return f"({' OR '.join(parts) or '0'})"


def _typed(name: str, chosen: Sequence[str]) -> tuple[str | int, ...]:
    """Filter values as the column holds them: ``entityId`` is a number."""
    if name != "entityId":
        return tuple(chosen)
    try:
        return tuple(int(value) for value in chosen)
    except ValueError:
        raise ValueError("each value of entityId must be a number") from None


def parse_query(get_list: Callable[[str], list[str]], get: Callable[[str], str | None]) -> JobPageQuery:
    """The query of a request (read by ``get_list`` and ``get``); ``ValueError`` says what is wrong."""
    sort = get("sort") or SORTS[0]
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)} (the local engine sorts by createdAt only)")
    filters: dict[str, tuple[str | int, ...]] = {}
    for name in (*FILTER_COLUMNS, "state"):
        chosen = get_list(f"{name}[]") + get_list(name)
        allowed = FILTER_CHOICES.get(name)
        if allowed is not None and any(value not in allowed for value in chosen):
            raise ValueError(
                f"each value of {name} must be one of the following values: {', '.join(allowed or ())}"
            )
        if chosen:
            filters[name] = _typed(name, chosen)
    return JobPageQuery(_limit(get("limit")), _position(get("cursor")), sort.endswith(":desc"), filters)


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or int(text) > MAX_LIMIT:
        raise ValueError(f"limit must be a whole number from 0 to {MAX_LIMIT}")
    return int(text)


def cursor_of(seq: int) -> str:
    """The cursor of the page after the job at queue position ``seq``: opaque to clients."""
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def _position(cursor: str | None) -> int | None:
    """The queue position a cursor of :func:`cursor_of` holds."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    kind, _, seq = text.partition(":")
    if kind != "seq" or not seq.isdigit():
        raise ValueError("cursor must be the nextCursor of a page of this engine")
    return int(seq)


__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "JobPageQuery", "cursor_of", "parse_query"]
