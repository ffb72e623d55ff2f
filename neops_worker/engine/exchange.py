"""How a request reaches the engine: an httpx transport, called directly, on threads or on the loop.

The client builds each ``httpx.Request`` itself (absolute URL and headers made once, the body
encoded once) and hands it straight to a transport: no client-side URL merging, header
normalisation, cookie jar, auth flow or redirect loop per request, none of which the contract
uses. By default the transport is httpx's synchronous ``HTTPTransport`` (TLS verification, the CA
bundle, ``SSL_CERT_FILE``, a proxy from ``HTTP(S)_PROXY``/``NO_PROXY`` as ``httpx.Client`` would
take them) on ``CallThreads``; it costs a fraction of the CPU of the async stack. An injected
``httpx.AsyncBaseTransport`` (``MockTransport``, a test's fake engine) is awaited on the loop instead.
``send_then`` sends a second request right behind the first, chosen from the first's answer, in the
same trip to the thread (the next poll behind a result push): a hand-over costs about as much CPU
as a third of a request.

A request on a thread cannot be cancelled halfway; a task cancelled while one is in flight waits
for its end (at most the request timeout), so the engine sees the calls in the order they were
made: a ping cut short by the shutdown never arrives after the unregister and brings the worker
back. A second cancellation stops the wait.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Callable
from typing import Protocol

import httpx

from neops_worker.engine.threads import CallThreads

#: Given the answer to a first request, the request to send right after it, or None.
FollowUp = Callable[[httpx.Response], httpx.Request | None]
#: The answer to a follow-up request, the reason it has none, or None when it was not sent.
FollowUpAnswer = httpx.Response | httpx.HTTPError | None


class Exchange(Protocol):
    """Sends one request and returns its answer, read in full."""

    async def send(self, request: httpx.Request) -> httpx.Response:
        """The engine's answer to ``request``; httpx's exceptions for no answer."""
        ...

    async def send_then(
        self, request: httpx.Request, follow_up: FollowUp
    ) -> tuple[httpx.Response, FollowUpAnswer]:
        """``request``, then at once the request ``follow_up`` makes of its answer (if any).

        Raises as ``send`` does for the first request only: the second's failure is returned.
        """
        ...

    async def aclose(self) -> None:
        """Close the connections (and any threads)."""
        ...


class ThreadedExchange:
    """A synchronous transport, called on threads that grow with the calls in flight."""

    def __init__(self, transport: httpx.BaseTransport) -> None:
        self.transport = transport
        self.threads = CallThreads("neops-engine")

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Hand the request to a thread and await its answer (cancelled: its end, first)."""
        return await self.threads.call(self._exchange, request)

    async def send_then(
        self, request: httpx.Request, follow_up: FollowUp
    ) -> tuple[httpx.Response, FollowUpAnswer]:
        """Both requests in one trip to a thread: the loop is not woken in between."""
        return await self.threads.call(self._exchange_then, (request, follow_up))

    async def aclose(self) -> None:
        """Stop the threads once their calls are done; close the connection pool."""
        self.threads.close()
        self.transport.close()

    def _exchange(self, request: httpx.Request) -> httpx.Response:
        response = self.transport.handle_request(request)
        try:
            response.read()
        finally:
            response.close()
        return response

    def _exchange_then(
        self, requests: tuple[httpx.Request, FollowUp]
    ) -> tuple[httpx.Response, FollowUpAnswer]:
        request, follow_up = requests
        first = self._exchange(request)
        second = follow_up(first)
        if second is None:
            return first, None
        try:
            return first, self._exchange(second)
        except httpx.HTTPError as exc:
            return first, exc


class AsyncExchange:
    """An async transport, awaited on the event loop (injected transports, tests)."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport = transport

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Await the transport's answer and read it."""
        response = await self.transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def send_then(
        self, request: httpx.Request, follow_up: FollowUp
    ) -> tuple[httpx.Response, FollowUpAnswer]:
        """One after the other, on the loop."""
        first = await self.send(request)
        second = follow_up(first)
        if second is None:
            return first, None
        try:
            return first, await self.send(second)
        except httpx.HTTPError as exc:
            return first, exc

    async def aclose(self) -> None:
        """Close the transport."""
        await self.transport.aclose()


#: What a test may inject in place of httpx's own transport.
Transport = httpx.BaseTransport | httpx.AsyncBaseTransport


def exchange_for(base_url: str, verify: ssl.SSLContext | bool, transport: Transport | None) -> Exchange:
    """The given transport (awaited if it is async), else httpx's own on threads."""
    if isinstance(transport, httpx.AsyncBaseTransport):
        return AsyncExchange(transport)
    if transport is None:
        proxy = environment_proxy(base_url)
        if verify is True and not any(url.lower().startswith("https:") for url in (base_url, proxy or "")):
            # Plain HTTP all the way: loading the system's CA store (a sizeable part of start-up)
            # buys nothing. A context that trusts no certificate fails closed should TLS ever happen.
            verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        transport = httpx.HTTPTransport(verify=verify, proxy=proxy)
    return ThreadedExchange(transport)


def environment_proxy(base_url: str) -> str | None:
    """The proxy the environment names for ``base_url`` (``HTTP(S)_PROXY``, ``ALL_PROXY``, ``NO_PROXY``)."""
    url = httpx.URL(base_url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(url.host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


__all__ = [
    "AsyncExchange",
    "Exchange",
    "FollowUp",
    "FollowUpAnswer",
    "ThreadedExchange",
    "Transport",
    "environment_proxy",
    "exchange_for",
]
