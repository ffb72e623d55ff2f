"""The listing client: which route for which engine, paging, and failures said in words."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

import httpx
import pytest

from neops_worker.backlog import listing as listing_module
from neops_worker.backlog.listing import BacklogState, JobListingClient, Listing, ListingError, engine_time
from tests.backlog.fakes import FakeEngine, job, old_job, page

FB_A = "fb.acme/backup:1.0.0"
FB_B = "fb.acme/show_version:2.1.0"
PAGE_QUERY = "/blackboard/jobs/page?state%5B%5D={}&limit=200&sort=createdAt%3Aasc"


def read(engine: FakeEngine, token: str | None = None, reads: int = 1) -> Listing:
    """The last of ``reads`` reads of a client of ``engine``."""

    async def reading() -> Listing:
        client = JobListingClient("http://engine.test", token=token, transport=engine.transport, timeout=2)
        try:
            for _ in range(reads - 1):
                await client.read()
            return await client.read()
        finally:
            await client.aclose()

    return asyncio.run(reading())


def failure(engine: FakeEngine, token: str | None = None) -> str:
    """The reason of the read's failure."""
    with pytest.raises(ListingError) as raised:
        read(engine, token)
    return raised.value.reason


def job_ids(listing: Listing, state: BacklogState) -> list[str]:
    """The ids of the jobs listed in ``state``, in order."""
    return [listed.job_id for listed in listing.jobs[state]]


def test_an_engine_from_0_43_0_beta_8_is_read_page_by_page_oldest_first() -> None:
    """Pending then polled jobs from the page route, 200 a page, oldest first, following ``nextCursor``."""
    engine = FakeEngine("0.43.0-beta.8")
    engine.pages["pending"] = {
        None: page([job(FB_A, "p1"), job(FB_B, "p2")], next_cursor="c1", total=3),
        "c1": page([job(FB_A, "p3")], total=3),
    }
    engine.pages["polled"] = {None: page([job(FB_A, "c1", "polled")])}
    listing = read(engine)
    assert engine.paths() == [
        "/version",
        PAGE_QUERY.format("pending"),
        PAGE_QUERY.format("pending") + "&cursor=c1",
        PAGE_QUERY.format("polled"),
    ]
    assert job_ids(listing, "pending") == ["p1", "p2", "p3"]
    assert job_ids(listing, "claimed") == ["c1"]
    assert listing.jobs["pending"][0].created_at == datetime(2026, 6, 6, 9, 59, tzinfo=UTC)
    assert listing.engine_time == datetime(2026, 6, 6, 10, 0, tzinfo=UTC)
    assert listing.truncated == ()


@pytest.mark.parametrize("version", ["0.42.1", "0.43.0-beta.7", None])
def test_older_or_unknown_engines_are_read_by_status(version: str | None) -> None:
    """Before 0.43.0-beta.8, or when /version cannot say, ``GET /blackboard/jobs?status=`` per state."""
    engine = FakeEngine(version)
    engine.by_status = {"pending": [old_job(FB_A, "p1")], "polled": [old_job(FB_B, "c1", "polled")]}
    listing = read(engine)
    assert engine.paths() == ["/version", "/blackboard/jobs?status=pending", "/blackboard/jobs?status=polled"]
    assert (job_ids(listing, "pending"), job_ids(listing, "claimed")) == (["p1"], ["c1"])
    assert listing.jobs["pending"][0].created_at is None


def test_a_page_route_that_is_not_there_falls_back_to_status_for_good() -> None:
    """A 404 from the page route: this read and the next use the status route, without asking again."""
    engine = FakeEngine("0.43.0-beta.8")
    engine.refuse["/blackboard/jobs/page"] = (
        404,
        {"statusCode": 404, "message": "Cannot GET", "error": "Not Found"},
    )
    engine.by_status["pending"] = [old_job(FB_A, "p1")]
    listing = read(engine, reads=2)
    assert job_ids(listing, "pending") == ["p1"]
    status_reads = ["/blackboard/jobs?status=pending", "/blackboard/jobs?status=polled"]
    assert engine.paths() == ["/version", PAGE_QUERY.format("pending"), *status_reads, *status_reads]


def test_a_page_route_found_missing_is_not_tried_again_after_an_outage() -> None:
    """After a failed read the version is asked again; one known to lack the page route stays on status."""
    engine = FakeEngine("0.43.0-beta.8")
    engine.refuse["/blackboard/jobs/page"] = (
        404,
        {"statusCode": 404, "message": "Cannot GET", "error": "Not Found"},
    )

    async def reading() -> list[str]:
        client = JobListingClient("http://engine.test", transport=engine.transport)
        try:
            await client.read()
            engine.refuse["/blackboard/jobs"] = (503, {"statusCode": 503, "message": "restarting"})
            with pytest.raises(ListingError):
                await client.read()
            del engine.refuse["/blackboard/jobs"]
            engine.requests.clear()
            await client.read()
            return engine.paths()
        finally:
            await client.aclose()

    assert asyncio.run(reading()) == [
        "/version",
        "/blackboard/jobs?status=pending",
        "/blackboard/jobs?status=polled",
    ]


def test_after_a_failed_read_the_engine_version_is_asked_again() -> None:
    """An outage may be an upgrade: the read after a failure asks /version again and picks the route anew."""
    engine = FakeEngine("0.42.1")

    async def reading() -> list[str]:
        client = JobListingClient("http://engine.test", transport=engine.transport)
        try:
            await client.read()
            engine.refuse["/blackboard/jobs"] = (503, {"statusCode": 503, "message": "restarting"})
            with pytest.raises(ListingError, match="HTTP 503: restarting"):
                await client.read()
            engine.refuse.clear()
            engine.version = "0.43.0-beta.8"
            engine.requests.clear()
            await client.read()
            return engine.paths()
        finally:
            await client.aclose()

    assert asyncio.run(reading())[:2] == ["/version", PAGE_QUERY.format("pending")]


@pytest.mark.parametrize(
    ("status", "token", "said"),
    [
        (401, None, "the engine asks for a token: set BLACKBOARD_TOKEN (or BLACKBOARD_TOKEN_FILE)"),
        (401, "tok-4f1e9a", "the engine refused the token of BLACKBOARD_TOKEN (or BLACKBOARD_TOKEN_FILE)"),
        (
            403,
            "narrow",
            "the token of BLACKBOARD_TOKEN (or BLACKBOARD_TOKEN_FILE) may not read the job listing",
        ),
    ],
)
def test_a_refused_token_is_named(status: int, token: str | None, said: str) -> None:
    """401 and 403 say what to do about BLACKBOARD_TOKEN, with the engine's own message."""
    engine = FakeEngine()
    engine.refuse["/blackboard/jobs/page"] = (status, {"statusCode": status, "message": "Unauthorized"})
    reason = failure(engine, token)
    assert reason.startswith(f"GET /blackboard/jobs/page: HTTP {status} (Unauthorized): ")
    assert said in reason
    assert token is None or token not in reason


def test_an_answer_of_another_shape_names_the_field() -> None:
    """A page whose job lacks its block id is a failed read naming the field, not a crash."""
    engine = FakeEngine()
    broken = job(FB_A, "p1")
    del broken["functionBlockId"]
    engine.pages["pending"] = {None: {"items": [broken], "nextCursor": None, "total": 1}}
    assert (
        failure(engine)
        == "GET /blackboard/jobs/page: unexpected answer: items.0.functionBlockId: Field required"
    )


def test_a_refused_connection_is_said_in_words() -> None:
    """No engine on the port: 'connection refused', with what to check."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the read: nothing listens there

    async def reading() -> None:
        client = JobListingClient(f"http://127.0.0.1:{port}", timeout=2)
        try:
            await client.read()
        finally:
            await client.aclose()

    with pytest.raises(ListingError) as raised:
        asyncio.run(reading())
    assert raised.value.reason == (
        "GET /version: connection refused; is URL_BLACKBOARD right and the engine running?"
    )


def test_no_answer_in_time_names_the_timeout() -> None:
    """A request that times out says after how long, and which setting sets it."""

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async def reading() -> None:
        client = JobListingClient("http://engine.test", transport=httpx.MockTransport(hang), timeout=2)
        try:
            await client.read()
        finally:
            await client.aclose()

    with pytest.raises(ListingError, match=r"^GET /version: no answer within 2 s \(API_REQUEST_TIMEOUT\)$"):
        asyncio.run(reading())


def test_a_listing_longer_than_max_pages_is_cut_short(monkeypatch: pytest.MonkeyPatch) -> None:
    """At ``MAX_PAGES`` pages the read stops, says which state was cut, and keeps what it read."""
    monkeypatch.setattr(listing_module, "MAX_PAGES", 2)
    engine = FakeEngine()
    engine.pages["pending"] = {
        None: page([job(FB_A, "p1")], "a", total=9),
        "a": page([job(FB_A, "p2")], "b", total=9),
        "b": page([job(FB_A, "p3")], "c", total=9),
    }
    listing = read(engine)
    assert (job_ids(listing, "pending"), listing.truncated) == (["p1", "p2"], ("pending",))


def test_a_cursor_that_does_not_move_ends_the_paging() -> None:
    """An engine that hands back the cursor it was given cannot keep the read in a loop."""
    engine = FakeEngine()
    engine.pages["pending"] = {None: page([job(FB_A, "p1")], "same"), "same": page([job(FB_A, "p2")], "same")}
    assert job_ids(read(engine), "pending") == ["p1", "p2"]


def test_the_bearer_token_goes_on_every_request() -> None:
    """The version check and every page carry ``Authorization: Bearer <token>``."""
    engine = FakeEngine()
    read(engine, token="s3cret")
    assert {request.headers["Authorization"] for request in engine.requests} == {"Bearer s3cret"}


def test_engine_time_reads_the_date_header() -> None:
    """An HTTP date becomes an aware time; a missing or malformed one, None."""
    assert engine_time("Sat, 06 Jun 2026 10:00:00 GMT") == datetime(2026, 6, 6, 10, 0, tzinfo=UTC)
    assert engine_time(None) is None
    assert engine_time("yesterday") is None
