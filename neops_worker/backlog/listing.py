"""Reading the engine's job listing: the pending and the claimed jobs, by the route the engine has.

The one home of httpx for the backlog exporter. Which route depends on the engine's version
(``GET /version``, read again after every failed read, since an outage may be an upgrade):

- from 0.43.0-beta.8 on, ``GET /blackboard/jobs/page`` with ``state[]=pending`` (then
  ``state[]=polled``), ``limit=200``, ``sort=createdAt:asc`` and the cursor of the page before: paged
  on the engine, so a large backlog costs the engine little per request, and oldest first, so the
  oldest pending job is seen even when a backlog over ``MAX_PAGES`` pages is cut short;
- before that, or when the version cannot be read, ``GET /blackboard/jobs?status=pending`` (then
  ``?status=polled``): each answer holds exactly the jobs counted, unlike ``/blackboard/jobs/active``,
  whose "recently pushed" jobs would only be read to be dropped. A 404 from the page route falls
  back to it as well.

Every request carries the bearer token (0.43 asks for one on these routes). A failure becomes a
``ListingError`` whose reason says what went wrong in words: a 401 or 403 names BLACKBOARD_TOKEN.
The answers' ``Date`` header tells the engine's clock (``aggregate`` counts on it when the hosts' differ).
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from neops_worker.engine.client import engine_message
from neops_worker.engine.generations import parse_version
from neops_worker.engine.wire import JobPage, ListedJob, VersionResponse
from neops_worker.errors import describe_errors

log = logging.getLogger("neops_worker.backlog")

#: The two states the exporter counts, as its ``state`` label says them.
BacklogState = Literal["pending", "claimed"]
STATES: tuple[BacklogState, ...] = ("pending", "claimed")
#: The engine's word for each: the page route's ``state`` and the older routes' ``status`` agree.
ENGINE_STATE: Mapping[BacklogState, str] = {"pending": "pending", "claimed": "polled"}
#: The largest page the engine serves (contract 4.11: ``limit`` 0-200).
PAGE_LIMIT = 200
#: Pages read per state and read at most: 10,000 jobs. Beyond, the counts are lower bounds.
MAX_PAGES = 50
#: The first engine version that serves ``GET /blackboard/jobs/page``.
JOB_PAGE_SINCE = parse_version("0.43.0-beta.8")
PAGE_PATH = "/blackboard/jobs/page"
STATUS_PATH = "/blackboard/jobs"
_Model = TypeVar("_Model", bound=BaseModel)


_JOBS = TypeAdapter(list[ListedJob])


@dataclass(frozen=True)
class Listing:
    """One read of the backlog: the jobs in each state, and the engine's time when it answered."""

    jobs: Mapping[BacklogState, list[ListedJob]]
    #: The ``Date`` of the engine's last answer (its clock); None when it sent none.
    engine_time: datetime | None
    #: The states whose listing was cut short at ``MAX_PAGES`` pages.
    truncated: tuple[BacklogState, ...] = ()


class ListingError(Exception):
    """A read that failed at ``GET path``; ``why`` says what went wrong, in words."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"GET {path}: {why}")
        self.path = path
        self.why = why

    @property
    def reason(self) -> str:
        """``GET path: why``, for the outage's log line."""
        return str(self)


class _NotThere(ListingError):
    """The route answered 404: this engine does not have it."""


class _Unexpected(ListingError):
    """An answer of another shape than the contract's."""


class JobListingClient:
    """Reads the pending and claimed jobs from the engine at ``base_url``."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        verify: ssl.SSLContext | bool = True,
        timeout: float = 30.0,
        user_agent: str = "neops-worker-backlog",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token_set = bool(token)
        headers = {"Accept": "application/json", "User-Agent": user_agent}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout, verify=verify, transport=transport
        )
        self._timeout = timeout
        #: True: the page route; False: the status route; None: to be decided by the engine's version.
        self.paged: bool | None = None
        self._engine_time: datetime | None = None
        #: The engine's version and the route last logged: said again only when either changes.
        self._said: tuple[str | None, bool] | None = None
        #: The engine's version, and the versions whose page route answered 404 (not tried again).
        self._version: str | None = None
        self._pageless: set[str | None] = set()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def read(self) -> Listing:
        """The pending and the claimed jobs; ``ListingError`` if the engine cannot say."""
        try:
            return await self._read()
        except ListingError:
            self.paged = None  # after a failure, ask the engine's version again: it may be another one
            raise

    async def _read(self) -> Listing:
        if self.paged is None:
            self.paged = await self._choose_route()
        if self.paged:
            try:
                return await self._read_pages()
            except _NotThere:
                log.info(
                    "The engine at %s has no %s: reading %s?status= instead",
                    self.base_url,
                    PAGE_PATH,
                    STATUS_PATH,
                )
                self.paged, self._said = False, (self._version, False)
                self._pageless.add(self._version)
        return await self._read_statuses()

    async def _choose_route(self) -> bool:
        """Whether this engine pages its listing (0.43.0-beta.8 and later), by its ``GET /version``."""
        try:
            version = self._parse(VersionResponse, await self._get("/version"), "/version").version
        except (_NotThere, _Unexpected):
            version = None
        parsed = parse_version(version)
        paged = parsed is not None and JOB_PAGE_SINCE is not None and parsed >= JOB_PAGE_SINCE
        paged = paged and version not in self._pageless
        self._version = version
        if self._said != (version, paged):
            self._said = (version, paged)
            route = f"{PAGE_PATH}?state[]=" if paged else f"{STATUS_PATH}?status="
            log.info(
                "Engine at %s is version %s: reading its backlog with GET %s",
                self.base_url,
                version or "unknown",
                route,
            )
        return paged

    async def _read_pages(self) -> Listing:
        jobs: dict[BacklogState, list[ListedJob]] = {}
        truncated: list[BacklogState] = []
        for state in STATES:
            jobs[state], cut = await self._pages_of(ENGINE_STATE[state])
            if cut:
                truncated.append(state)
        return Listing(jobs, self._engine_time, tuple(truncated))

    async def _pages_of(self, state: str) -> tuple[list[ListedJob], bool]:
        """Every job in ``state``, page after page; and whether ``MAX_PAGES`` cut the listing short."""
        found: list[ListedJob] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = self._parse(JobPage, await self._get(PAGE_PATH, page_query(state, cursor)), PAGE_PATH)
            found.extend(page.items)
            if page.next_cursor is None or page.next_cursor == cursor or not page.items:
                return found, False
            cursor = page.next_cursor
        return found, True

    async def _read_statuses(self) -> Listing:
        jobs: dict[BacklogState, list[ListedJob]] = {}
        for state in STATES:
            answer = await self._get(STATUS_PATH, {"status": ENGINE_STATE[state]})
            jobs[state] = self._parse_list(answer)
        return Listing(jobs, self._engine_time)

    async def _get(self, path: str, query: Any = None) -> httpx.Response:
        """``GET path``, its answer if 2xx; else ``ListingError`` saying why."""
        try:
            answer = await self._http.get(path, params=query)
        except httpx.HTTPError as exc:
            raise ListingError(path, self._unanswered(exc)) from None
        if not answer.is_success:
            raise self._refused(path, answer)
        self._engine_time = engine_time(answer.headers.get("date"))
        return answer

    def _unanswered(self, exc: httpx.HTTPError) -> str:
        """Why no answer came, in words, from the first cause that tells."""
        if isinstance(exc, httpx.TimeoutException):
            return f"no answer within {self._timeout:g} s (API_REQUEST_TIMEOUT)"
        for cause in _chain(exc):
            if isinstance(cause, ConnectionRefusedError):
                return "connection refused; is URL_BLACKBOARD right and the engine running?"
            if isinstance(cause, socket.gaierror):
                return f"name not resolved ({cause.strerror}); is URL_BLACKBOARD right?"
            if isinstance(cause, ssl.SSLCertVerificationError):
                return (
                    f"TLS certificate not verified ({cause.verify_message}); set BLACKBOARD_CA_BUNDLE "
                    "to the CA bundle (PEM) that signed the engine's certificate"
                )
        return f"{type(exc).__name__}: {str(exc) or 'no answer'}"

    def _refused(self, path: str, answer: httpx.Response) -> ListingError:
        """The error for an answer other than 2xx; 401 and 403 say what to do about the token."""
        status = answer.status_code
        said = engine_message(answer.text[:2000]) or answer.reason_phrase
        if status == 404:
            return _NotThere(path, f"HTTP 404: {said}")
        if status == 401 and not self._token_set:
            hint = "the engine asks for a token: set BLACKBOARD_TOKEN (or BLACKBOARD_TOKEN_FILE)"
        elif status == 401:
            hint = (
                "the engine refused the token of BLACKBOARD_TOKEN (or BLACKBOARD_TOKEN_FILE): wrong, expired?"
            )
        elif status == 403:
            hint = "the token of BLACKBOARD_TOKEN (or BLACKBOARD_TOKEN_FILE) may not read the job listing"
        else:
            return ListingError(path, f"HTTP {status}: {said}")
        return ListingError(path, f"HTTP {status} ({said}): {hint}")

    def _parse(self, model: type[_Model], answer: httpx.Response, path: str) -> _Model:
        try:
            return model.model_validate(_json(answer, path))
        except ValidationError as exc:
            raise _Unexpected(path, f"unexpected answer: {describe_errors(exc)}") from None

    def _parse_list(self, answer: httpx.Response) -> list[ListedJob]:
        try:
            return _JOBS.validate_python(_json(answer, STATUS_PATH))
        except ValidationError as exc:
            raise _Unexpected(STATUS_PATH, f"unexpected answer: {describe_errors(exc)}") from None


def page_query(state: str, cursor: str | None) -> list[tuple[str, str | int]]:
    """The query of one page of jobs in ``state``, oldest first, from ``cursor`` on."""
    query: list[tuple[str, str | int]] = [
        ("state[]", state),
        ("limit", PAGE_LIMIT),
        ("sort", "createdAt:asc"),
    ]
    if cursor is not None:
        query.append(("cursor", cursor))
    return query


def engine_time(header: str | None) -> datetime | None:
    """An HTTP ``Date`` header as an aware datetime; None when absent or unreadable."""
    if not header:
        return None
    try:
        return parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None


def _json(answer: httpx.Response, path: str) -> Any:
    try:
        return answer.json()
    except ValueError:
        raise _Unexpected(path, f"unexpected answer, not JSON: {answer.text[:100]!r}") from None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its causes, outermost first."""
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


__all__ = [
    "JOB_PAGE_SINCE",
    "MAX_PAGES",
    "PAGE_LIMIT",
    "STATES",
    "BacklogState",
    "JobListingClient",
    "JobPage",
    "ListedJob",
    "Listing",
    "ListingError",
    "engine_time",
    "page_query",
]
