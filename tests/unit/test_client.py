"""The engine client: each endpoint, and how every class of answer is mapped (respx)."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
import respx

from neops_worker.engine.client import EngineClient
from neops_worker.engine.wire import JobExecutionResult, JobPoll, JobResult, RegisterWorker, Versionable
from neops_worker.errors import EngineError, EngineRejected, EngineUnavailable
from tests.contract import assert_valid

BASE = "http://engine.test"
WORKER = {
    "uuid": "3b9f6c1e-2f4a-4c8e-9d2b-7a1e5f0c4d21",
    "version": "1.0.0",
    "state": "online",
    "lastPingAt": "2025-06-02T09:14:03.512Z",
    "createdAt": "2025-06-02T09:14:03.512Z",
    "updatedAt": "2025-06-02T09:14:03.512Z",
    "deletedAt": None,
    "someFutureField": {"x": 1},
}


@pytest.fixture
def client() -> EngineClient:
    """A client against a fake base URL (respx intercepts the transport)."""
    return EngineClient(BASE, timeout=2, token="s3cret")


def _poll() -> JobPoll:
    identity = Versionable(package="p", name="n", major_version=1, minor_version=0, patch_version=0)
    return JobPoll(function_block_ids=[identity], limit=1, worker_id="w")


@respx.mock
async def test_register_worker_accepts_201_and_ignores_unknown_fields(client: EngineClient) -> None:
    """A 201 answer with extra fields parses into the registration."""
    assert_valid("WorkerRegistrationResponseDto", WORKER)
    route = respx.post(f"{BASE}/workers/register").respond(201, json=WORKER)
    answer = await client.register_worker(RegisterWorker(version="1.0.0"))
    assert answer.uuid == WORKER["uuid"]
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer s3cret"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"


@respx.mock
async def test_any_2xx_is_success(client: EngineClient) -> None:
    """200 instead of the documented 201 is accepted too."""
    respx.post(f"{BASE}/workers/register").respond(200, json=WORKER)
    assert (await client.register_worker(RegisterWorker(version="1"))).uuid == WORKER["uuid"]


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
@respx.mock
async def test_transient_statuses_raise_unavailable(client: EngineClient, status: int) -> None:
    """408, 429 and 5xx are worth retrying."""
    respx.post(f"{BASE}/workers/register").respond(status, json={"message": "busy"})
    with pytest.raises(EngineUnavailable) as caught:
        await client.register_worker(RegisterWorker(version="1"))
    assert caught.value.status == status
    assert "busy" in str(caught.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
@respx.mock
async def test_other_4xx_raise_rejected_with_engine_message(client: EngineClient, status: int) -> None:
    """A permanent 4xx carries the engine's message (NestJS list form included)."""
    body = {"statusCode": status, "message": ["version must be a string"], "error": "Bad Request"}
    respx.post(f"{BASE}/workers/register").respond(status, json=body)
    with pytest.raises(EngineRejected) as caught:
        await client.register_worker(RegisterWorker(version="1"))
    assert caught.value.status == status
    assert "version must be a string" in str(caught.value)


@respx.mock
async def test_connection_refused_is_unavailable_and_not_sent(client: EngineClient) -> None:
    """A refused connection never reached the engine."""
    respx.post(f"{BASE}/blackboard/job").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(EngineUnavailable) as caught:
        await client.poll(_poll())
    assert caught.value.request_sent is False


@respx.mock
async def test_read_timeout_is_unavailable_and_maybe_sent(client: EngineClient) -> None:
    """A read timeout may have reached the engine (a poll could have claimed a job)."""
    respx.post(f"{BASE}/blackboard/job").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(EngineUnavailable) as caught:
        await client.poll(_poll())
    assert caught.value.request_sent is True


@respx.mock
async def test_retry_after_is_read_from_header_and_licence_body(client: EngineClient) -> None:
    """A 429 says how long to wait, in a header or in the licence error body."""
    respx.post(f"{BASE}/workers/register").respond(429, headers={"Retry-After": "7"})
    with pytest.raises(EngineUnavailable) as caught:
        await client.register_worker(RegisterWorker(version="1"))
    assert caught.value.retry_after == 7
    respx.post(f"{BASE}/workers/register").respond(
        429, json={"error": "LicenseLimitExceeded", "retryAfterSeconds": 12}
    )
    with pytest.raises(EngineUnavailable) as caught:
        await client.register_worker(RegisterWorker(version="1"))
    assert caught.value.retry_after == 12


@respx.mock
async def test_ping_with_and_without_body(client: EngineClient) -> None:
    """Ping succeeds on an empty 200 (0.42.1) and on {"success": true} (0.43)."""
    route = respx.post(f"{BASE}/workers/w1/ping")
    route.respond(200)
    await client.ping("w1")
    route.respond(200, json={"success": True})
    await client.ping("w1")
    assert route.calls.last.request.content == b""


@respx.mock
async def test_ping_404_is_rejected_with_status(client: EngineClient) -> None:
    """An expired worker's ping raises EngineRejected(404)."""
    respx.post(f"{BASE}/workers/w1/ping").respond(404, json={"message": "Worker not found"})
    with pytest.raises(EngineRejected) as caught:
        await client.ping("w1")
    assert caught.value.status == 404


@respx.mock
async def test_unregister_404_counts_as_success(client: EngineClient) -> None:
    """Unregistering a worker the engine forgot is fine."""
    respx.post(f"{BASE}/workers/w1/unregister").respond(404)
    await client.unregister("w1")


@respx.mock
async def test_unregister_other_errors_raise(client: EngineClient) -> None:
    """Other unregister failures are reported to the caller (who logs and goes on)."""
    respx.post(f"{BASE}/workers/w1/unregister").respond(500)
    with pytest.raises(EngineUnavailable):
        await client.unregister("w1")


@respx.mock
async def test_function_block_409_means_already_registered(client: EngineClient) -> None:
    """409 on block registration is success (already known); 201 is new."""
    from neops_worker.engine.wire import RegisterFunctionBlock

    body = RegisterFunctionBlock(
        package="p",
        name="n",
        major_version=1,
        minor_version=0,
        patch_version=0,
        description="d",
        fb_type="none",
        parameter_json_schema={},
        result_data_json_schema={},
    )
    route = respx.post(f"{BASE}/function-blocks/register")
    route.respond(201)
    assert await client.register_function_block(body) is True
    route.respond(409, json={"message": "exists"})
    assert await client.register_function_block(body) is False
    route.respond(400, json={"message": "fbType must be one of ..."})
    with pytest.raises(EngineRejected):
        await client.register_function_block(body)


@respx.mock
async def test_poll_returns_raw_entries_and_sends_limit(client: EngineClient) -> None:
    """The poll body carries limit 1; entries come back unparsed, for per-job handling."""
    route = respx.post(f"{BASE}/blackboard/job").respond(201, json=[{"jobId": "j"}, "garbage"])
    jobs = await client.poll(_poll())
    assert jobs == [{"jobId": "j"}, "garbage"]
    sent = json.loads(route.calls.last.request.content)
    assert sent["limit"] == 1
    assert_valid("JobPollDto", sent)


@respx.mock
async def test_poll_empty_body_and_non_list(client: EngineClient) -> None:
    """An empty answer is no job; a non-array answer is an error."""
    route = respx.post(f"{BASE}/blackboard/job")
    route.respond(200, content=b"")
    assert await client.poll(_poll()) == []
    route.respond(200, json={"not": "a list"})
    with pytest.raises(EngineRejected):
        await client.poll(_poll())


@respx.mock
async def test_poll_malformed_json_is_rejected(client: EngineClient) -> None:
    """A poll answer that is not JSON is an error naming it, never a crash."""
    respx.post(f"{BASE}/blackboard/job").respond(200, content=b"\xff\xfe{not json")
    with pytest.raises(EngineRejected, match="not JSON"):
        await client.poll(_poll())


@respx.mock
async def test_result_push_409_means_already_delivered(client: EngineClient) -> None:
    """409 on a result push returns False; 201 True; other 4xx raise."""
    result = JobResult(
        job_execution_id="j", status="success", result=JobExecutionResult(success=True, message="ok")
    )
    route = respx.post(f"{BASE}/blackboard/job/result")
    route.respond(201)
    assert await client.push_result(result) is True
    route.respond(409)
    assert await client.push_result(result) is False
    route.respond(400, json={"message": "bad"})
    with pytest.raises(EngineRejected):
        await client.push_result(result)


@respx.mock
async def test_version_check_parses_answer(client: EngineClient) -> None:
    """The compatibility answer is parsed; the request names the contract library and version."""
    answer = {
        "compatible": False,
        "deprecated": False,
        "version": "2.4.1",
        "checkedLibrary": "neops_workflow_engine_client",
        "checkedVersion": "0.42.1",
    }
    route = respx.post(f"{BASE}/version/compatibility").respond(201, json=answer)
    result = await client.check_compatibility()
    assert result.compatible is False
    import json

    assert_valid("VersionCompatibilityRequestDto", json.loads(route.calls.last.request.content))


@pytest.mark.parametrize(
    ("status", "noted"), [(200, 1), (201, 1), (404, 1), (409, 1), (408, 0), (429, 0), (500, 0), (503, 0)]
)
@respx.mock
async def test_answers_that_show_the_engine_is_there_are_noted(
    client: EngineClient, status: int, noted: int
) -> None:
    """2xx and permanent 4xx answers wake waiting retries; 408, 429 and 5xx (engine still away) do not."""
    respx.post(f"{BASE}/workers/w/ping").respond(status)
    with pytest.raises(EngineError) if status >= 400 else contextlib.nullcontext():
        await client.ping("w")
    assert client.answers.count == noted


@respx.mock
async def test_a_request_that_got_no_answer_is_not_noted(client: EngineClient) -> None:
    """A refused connection or a timeout is no answer: nothing is noted."""
    respx.post(f"{BASE}/workers/w/ping").mock(side_effect=[httpx.ConnectError("x"), httpx.ReadTimeout("y")])
    for _ in range(2):
        with pytest.raises(EngineUnavailable):
            await client.ping("w")
    assert client.answers.count == 0


async def test_an_async_transport_gets_absolute_urls_under_the_base_path_and_the_headers() -> None:
    """An injected async transport is awaited with the URL under the base path and every fixed header."""
    seen: list[httpx.Request] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=WORKER)

    client = EngineClient(f"{BASE}/api/", token="t", user_agent="ua/1", transport=httpx.MockTransport(answer))
    await client.register_worker(RegisterWorker(version="1"))
    await client.ping("w1")
    await client.aclose()
    register, ping = seen
    assert [str(register.url), str(ping.url)] == [
        f"{BASE}/api/workers/register",
        f"{BASE}/api/workers/w1/ping",
    ]
    assert register.headers["Authorization"] == "Bearer t"
    assert register.headers["User-Agent"] == "ua/1"
    assert register.headers["Content-Type"] == "application/json"
    assert "Content-Type" not in ping.headers
    assert ping.extensions["timeout"]["read"] == 30.0


class _ThreadRecordingTransport(httpx.BaseTransport):
    """A synchronous transport that notes the thread each request arrives on."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer every request 200, noting the current thread."""
        self.threads.append(threading.current_thread())
        return httpx.Response(200)


async def test_a_synchronous_transport_is_called_off_the_event_loops_thread() -> None:
    """A sync transport never blocks the loop: each request runs on one of the client's threads."""
    transport = _ThreadRecordingTransport()
    client = EngineClient(BASE, transport=transport)
    await client.ping("w1")
    await client.ping("w1")
    await client.aclose()
    assert len(transport.threads) == 2
    assert threading.current_thread() not in transport.threads


@contextlib.contextmanager
def _serving(answer: Callable[[str], int]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 whose status for each POST is ``answer(request path)``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            status = answer(self.path)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("bypassed", [False, True])
async def test_a_proxy_named_by_the_environment_carries_the_requests(
    monkeypatch: pytest.MonkeyPatch, bypassed: bool
) -> None:
    """HTTP_PROXY is used as httpx.Client would use it, unless NO_PROXY names the engine's host."""
    seen: list[str] = []

    def answer(path: str) -> int:
        seen.append(path)
        return 200

    with _serving(answer) as proxy:
        for name in ("http_proxy", "all_proxy", "ALL_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1" if bypassed else "")
        client = EngineClient("http://127.0.0.1:9")  # nothing listens there: a direct request is refused
        with pytest.raises(EngineUnavailable) if bypassed else contextlib.nullcontext():
            await client.ping("w1")
        await client.aclose()
    assert seen == ([] if bypassed else ["http://127.0.0.1:9/workers/w1/ping"])


async def test_a_call_cancelled_in_flight_ends_before_the_next_goes_out() -> None:
    """A ping cancelled by the shutdown is answered before the unregister leaves (or it would revive us)."""
    events: list[str] = []
    pinged, unregistered = threading.Event(), threading.Event()

    def answer(path: str) -> int:
        if path.endswith("/ping"):
            pinged.set()
            unregistered.wait(0.5)  # an unregister sent meanwhile would overtake the ping here
            events.append("ping answered")
        else:
            events.append("unregister arrived")
            unregistered.set()
        return 200

    with _serving(answer) as url:
        client = EngineClient(url)
        ping = asyncio.ensure_future(client.ping("w1"))
        await asyncio.to_thread(pinged.wait, 10)
        ping.cancel()
        with pytest.raises(asyncio.CancelledError):
            await ping
        await client.unregister("w1")
        await client.aclose()
    assert events == ["ping answered", "unregister arrived"]


def _ok_result() -> JobResult:
    return JobResult(
        job_execution_id="j", status="success", result=JobExecutionResult(success=True, message="ok")
    )


@respx.mock
async def test_a_push_then_poll_sends_the_poll_once_the_push_is_answered(client: EngineClient) -> None:
    """201 or 409 on the push: the poll follows at once and its entries come back; both bodies valid."""
    push = respx.post(f"{BASE}/blackboard/job/result")
    poll = respx.post(f"{BASE}/blackboard/job").respond(201, json=[{"jobId": "next"}])
    push.respond(201)
    assert await client.push_result_then_poll(_ok_result(), _poll(), lambda: True) == (
        True,
        [{"jobId": "next"}],
    )
    push.respond(409)
    assert await client.push_result_then_poll(_ok_result(), _poll(), lambda: True) == (
        False,
        [{"jobId": "next"}],
    )
    assert poll.call_count == 2
    assert_valid("JobResultDto", json.loads(push.calls.last.request.content))
    assert_valid("JobPollDto", json.loads(poll.calls.last.request.content))


@respx.mock
async def test_a_push_then_poll_sends_no_poll_when_told_not_to_or_when_the_push_failed(
    client: EngineClient,
) -> None:
    """``may_poll`` false: no poll (None). A push refused or unanswered raises, as ``push_result`` does."""
    push = respx.post(f"{BASE}/blackboard/job/result").respond(201)
    poll = respx.post(f"{BASE}/blackboard/job").respond(201, json=[])
    assert await client.push_result_then_poll(_ok_result(), _poll(), lambda: False) == (True, None)
    push.respond(503)
    with pytest.raises(EngineUnavailable):
        await client.push_result_then_poll(_ok_result(), _poll(), lambda: True)
    push.respond(400, json={"message": "bad"})
    with pytest.raises(EngineRejected):
        await client.push_result_then_poll(_ok_result(), _poll(), lambda: True)
    push.side_effect = httpx.ConnectError("refused")
    with pytest.raises(EngineUnavailable):
        await client.push_result_then_poll(_ok_result(), _poll(), lambda: True)
    assert poll.call_count == 0


@respx.mock
async def test_a_failed_poll_behind_a_delivered_push_is_returned_not_raised(client: EngineClient) -> None:
    """The push went through: a poll error must not make the caller push again, so it is returned."""
    respx.post(f"{BASE}/blackboard/job/result").respond(201)
    poll = respx.post(f"{BASE}/blackboard/job").respond(500)
    accepted, claimed = await client.push_result_then_poll(_ok_result(), _poll(), lambda: True)
    assert accepted is True
    assert isinstance(claimed, EngineUnavailable)
    poll.side_effect = httpx.ReadTimeout("slow")
    _, claimed = await client.push_result_then_poll(_ok_result(), _poll(), lambda: True)
    assert isinstance(claimed, EngineUnavailable)
    poll.side_effect = None
    poll.respond(200, json={"not": "a list"})
    _, claimed = await client.push_result_then_poll(_ok_result(), _poll(), lambda: True)
    assert isinstance(claimed, EngineRejected)


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _failure_of(url: str) -> EngineUnavailable:
    """The error of a ping to ``url`` over the real network, which does not answer it."""
    client = EngineClient(url, timeout=5)
    try:
        with pytest.raises(EngineUnavailable) as caught:
            await client.ping("w")
    finally:
        await client.aclose()
    return caught.value


async def test_a_refused_connection_and_an_unknown_name_are_said_in_words() -> None:
    """Over the real network: 'connection refused' and 'name not resolved: ...', never sent."""
    refused = await _failure_of(f"http://127.0.0.1:{_closed_port()}")
    assert (refused.reason, refused.detail, refused.request_sent) == (
        "connection refused",
        "ConnectError: connection refused",
        False,
    )
    unknown = await _failure_of("http://enigne.example.invalid:3030")
    assert unknown.reason.startswith("name not resolved: ")
    assert unknown.detail == f"ConnectError: {unknown.reason}"


async def test_tls_spoken_to_a_plain_http_server_is_a_tls_failure() -> None:
    """https:// to a server that speaks plain HTTP: 'TLS failure: ...', with the system's own text."""
    with _serving(lambda path: 200) as url:
        failure = await _failure_of(url.replace("http://", "https://"))
    assert failure.reason.startswith("TLS failure: [SSL")


@respx.mock
async def test_a_connect_timeout_says_how_long_it_waited(client: EngineClient) -> None:
    """A connection that was not made in time: 'connection timed out after 2 s'."""
    respx.post(f"{BASE}/workers/w/ping").mock(side_effect=httpx.ConnectTimeout("timed out"))
    with pytest.raises(EngineUnavailable) as caught:
        await client.ping("w")
    assert str(caught.value) == "heartbeat: ConnectTimeout: connection timed out after 2 s"


@pytest.mark.parametrize(
    ("failure", "says"),
    [
        (
            EngineUnavailable(
                "x", "ConnectError: connection refused", request_sent=False, reason="connection refused"
            ),
            "x: cannot reach the engine at http://engine.test (connection refused) for 3 s "
            "(STARTUP_RETRY_TIMEOUT); is URL_BLACKBOARD right and the engine running?",
        ),
        (
            EngineUnavailable(
                "x", "ReadTimeout: timed out, no answer within 2 s", reason="timed out, no answer within 2 s"
            ),
            "x: no answer from the engine at http://engine.test (timed out, no answer within 2 s) for 3 s "
            "(STARTUP_RETRY_TIMEOUT); is the engine running, and API_REQUEST_TIMEOUT long enough?",
        ),
        (
            EngineUnavailable("x", "HTTP 502: Bad Gateway", 502),
            "x: the engine at http://engine.test still answers HTTP 502: Bad Gateway after 3 s "
            "(STARTUP_RETRY_TIMEOUT); is it starting up or overloaded?",
        ),
    ],
)
def test_giving_up_names_the_url_the_failure_the_time_and_the_setting(
    client: EngineClient, failure: EngineUnavailable, says: str
) -> None:
    """Unreachable, unanswered, or answering 5xx: one sentence with what to check."""
    gave_up = client.gave_up(failure, 3, "STARTUP_RETRY_TIMEOUT")
    assert str(gave_up) == says
    assert (gave_up.status, gave_up.request_sent) == (failure.status, failure.request_sent)


@respx.mock
async def test_the_engines_return_after_failures_is_said_once(
    client: EngineClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures (no answer, 503), then answers: one 'answering again after N s' line, at the first answer."""
    caplog.set_level(logging.INFO, "neops_worker.engine")
    respx.post(f"{BASE}/workers/w/ping").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(503),
            httpx.Response(200),
            httpx.Response(200),
        ]
    )
    for expected in (EngineUnavailable, EngineUnavailable, None, None):
        with pytest.raises(expected) if expected else contextlib.nullcontext():
            await client.ping("w")
    [line] = [m for m in caplog.messages if "answering again" in m]
    assert re.fullmatch(r"Engine at http://engine\.test answering again after \d+\.\d s", line)
