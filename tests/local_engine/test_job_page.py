"""``GET /blackboard/jobs/page`` (0.43.0b8): paging with a cursor, the list filters, the sort, the 400s.

Every page is validated against ``JobPageDto`` of tests/schemas (the ``Api`` client's hook knows the
older listings only, so pages are read with a plain client here).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from neops_worker.devkit.local_engine import EngineOptions, LocalEngine
from tests.contract import assert_valid
from tests.local_engine.helpers import FB_A, FB_B, Api, unexpected_nulls

PAGE = "/blackboard/jobs/page"
Query = list[tuple[str, str | int | float | bool | None]]


@pytest.fixture
def pages(engine: LocalEngine) -> Iterator[httpx.Client]:
    """A plain client of the engine, for the page route."""
    with httpx.Client(base_url=engine.url, timeout=10) as client:
        yield client


def page(client: httpx.Client, query: Query) -> dict[str, Any]:
    """One page, checked against ``JobPageDto`` (and without a null the contract does not allow)."""
    answer = client.get(PAGE, params=query)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert_valid("JobPageDto", body)
    assert not unexpected_nulls(body["items"]), body["items"]
    return body


def ids(body: dict[str, Any]) -> list[str]:
    """The job ids of a page, in its order."""
    return [item["jobId"] for item in body["items"]]


def test_pages_follow_the_cursor_oldest_first_to_a_null_cursor(api: Api, pages: httpx.Client) -> None:
    """Five jobs in pages of two, oldest first: three pages, each with the total; the last cursor is null."""
    added = [api.add_job() for _ in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    for expected in (2, 2, 1):
        query: Query = [("limit", 2), ("sort", "createdAt:asc"), *([("cursor", cursor)] if cursor else [])]
        body = page(pages, query)
        assert len(body["items"]) == expected
        assert body["total"] == 5
        seen += ids(body)
        cursor = body["nextCursor"]
    assert cursor is None
    assert seen == added


def test_newest_first_is_the_default_sort(api: Api, pages: httpx.Client) -> None:
    """Without ``sort`` (and with ``createdAt:desc``) the newest job comes first."""
    added = [api.add_job() for _ in range(3)]
    assert ids(page(pages, [])) == added[::-1]
    assert ids(page(pages, [("sort", "createdAt:desc")])) == added[::-1]


def test_a_job_claimed_between_two_pages_moves_no_other_job(api: Api, pages: httpx.Client) -> None:
    """Claiming a job of the first page does not make the second skip or repeat a job (keyset cursor)."""
    worker_id = api.worker_with(FB_A)
    added = [api.add_job() for _ in range(4)]
    query: Query = [("state[]", "pending"), ("limit", 2), ("sort", "createdAt:asc")]
    first = page(pages, query)
    [claimed] = api.poll(worker_id, limit=1)
    assert claimed["jobId"] == added[0]
    second = page(pages, [*query, ("cursor", first["nextCursor"])])
    assert ids(first) + ids(second) == added
    assert second["total"] == 3


def test_state_tells_pending_polled_and_each_result_apart(api: Api, pages: httpx.Client) -> None:
    """``state`` is pending, polled, then the result's status; repeatable, with or without ``[]``."""
    worker_id = api.worker_with(FB_A)
    added = [api.add_job() for _ in range(4)]
    claimed = [job["jobId"] for job in api.poll(worker_id, limit=2)]
    api.push_result(claimed[0], success=True)

    def listed(*query: tuple[str, str]) -> set[str]:
        return set(ids(page(pages, list(query))))

    assert listed(("state[]", "pending")) == set(added[2:])
    assert listed(("state[]", "polled")) == {claimed[1]}
    assert listed(("state", "polled")) == {claimed[1]}
    assert listed(("state[]", "success")) == {claimed[0]}
    assert listed(("state[]", "pending"), ("state[]", "polled")) == {claimed[1], *added[2:]}
    assert listed(("state[]", "failed"), ("state[]", "canceled")) == set()


def test_block_worker_and_status_filters(api: Api, pages: httpx.Client) -> None:
    """``functionBlockId[]``, ``workerId[]`` and ``status[]`` narrow the listing, and ``total`` with it."""
    worker_id = api.worker_with(FB_A, FB_B)
    api.add_job(FB_A)
    beta = api.add_job(FB_B)
    [held] = api.poll(worker_id, [FB_A], limit=1)
    by_block = page(pages, [("functionBlockId[]", FB_B.fb_id)])
    assert (ids(by_block), by_block["total"]) == ([beta], 1)
    assert ids(page(pages, [("workerId[]", worker_id)])) == [held["jobId"]]
    assert ids(page(pages, [("status[]", "pending")])) == [beta]
    item = page(pages, [("workerId[]", worker_id)])["items"][0]
    assert (item["status"], item["workerId"], item["startedAt"] is not None) == ("polled", worker_id, True)


def test_limit_zero_counts_without_listing(api: Api, pages: httpx.Client) -> None:
    """``limit=0``: no items, no cursor, and the total of every matching job."""
    for _ in range(3):
        api.add_job()
    assert page(pages, [("limit", 0)]) == {"items": [], "nextCursor": None, "total": 3}


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ([("limit", 201)], "limit"),
        ([("limit", "ten")], "limit"),
        ([("state[]", "running")], "state"),
        ([("status[]", "done")], "status"),
        ([("sort", "stepLabel:asc")], "sort"),
        ([("cursor", "not-a-cursor")], "cursor"),
        ([("entityId[]", "seven")], "entityId"),
    ],
)
def test_a_bad_query_answers_400_naming_the_parameter(pages: httpx.Client, query: Query, named: str) -> None:
    """Out-of-range, unknown or malformed values are refused with the engine's 400 shape, naming them."""
    answer = pages.get(PAGE, params=query)
    assert answer.status_code == 400
    body = answer.json()
    assert (body["statusCode"], body["error"]) == (400, "Bad Request")
    assert named in body["message"][0]


def test_an_engine_of_0_42_1_has_no_page_route() -> None:
    """The route is new in 0.43.0b8: a 0.42.1 engine answers 404 as for any unknown route."""
    with LocalEngine(options=EngineOptions(contract="0.42.1")) as engine:
        answer = httpx.get(f"{engine.url}{PAGE}", timeout=10)
    assert answer.status_code == 404
    assert answer.json()["message"] == f"Cannot GET {PAGE}"
