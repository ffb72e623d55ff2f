"""The engine client tells engine generations apart and sends each only what it knows (respx)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from neops_worker.engine.client import EngineClient
from neops_worker.engine.wire import (
    JobExecutionResult,
    JobPoll,
    JobResult,
    RegisterFunctionBlock,
    Versionable,
    failed_result,
)
from neops_worker.errors import EngineRejected, EngineUnavailable
from neops_worker.settings import ReversibleMode
from tests.contract import assert_sent_body

BASE = "http://engine.test"
COMPATIBLE = {"compatible": True, "deprecated": False, "checkedLibrary": "lib", "checkedVersion": "1"}


def _client(mode: ReversibleMode = "auto", **options: Any) -> EngineClient:
    return EngineClient(BASE, timeout=2, reversible=mode, **options)


def _block(reversible: bool = True) -> RegisterFunctionBlock:
    return RegisterFunctionBlock(
        package="fb.tests",
        name="undoable",
        major_version=1,
        minor_version=0,
        patch_version=0,
        worker_id="3b9f6c1e-2f4a-4c8e-9d2b-7a1e5f0c4d21",
        description="d",
        run_on="global",
        fb_type="execute",
        parameter_json_schema={"type": "object"},
        result_data_json_schema={"type": "object"},
        is_idempotent=False,
        is_pure=False,
        reversible=reversible,
    )


def _poll() -> JobPoll:
    identity = Versionable(package="p", name="n", major_version=1, minor_version=0, patch_version=0)
    return JobPoll(function_block_ids=[identity], limit=1, worker_id="w")


async def _meet(client: EngineClient, version: str | None) -> None:
    """The client learns ``version`` from a version check (None: the check was not answered)."""
    route = respx.post(f"{BASE}/version/compatibility")
    if version is None:
        route.respond(503)
        with pytest.raises(EngineUnavailable):
            await client.check_compatibility()
        return
    route.respond(201, json={**COMPATIBLE, "version": version})
    await client.check_compatibility()


def _sent(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


@respx.mock
async def test_the_version_check_sends_what_it_is_given_and_learns_the_engines_version() -> None:
    """Library and version are the caller's (the settings'); the answer's version becomes the generation."""
    client = _client()
    route = respx.post(f"{BASE}/version/compatibility").respond(
        201, json={**COMPATIBLE, "version": "0.43.0-beta.2"}
    )
    await client.check_compatibility("neops_worker_sdk", "1.0.0")
    sent = _sent(route)
    assert sent == {"version": "1.0.0", "library": "neops_worker_sdk"}
    assert_sent_body("VersionCompatibilityRequestDto", sent)
    assert client.generation.version == "0.43.0-beta.2"
    assert (client.sends_reversible, client.sends_retryable) == (True, False)


@respx.mock
async def test_get_version_gives_the_generation_when_asked() -> None:
    """``engine_version`` reads ``GET /version`` (no body sent) and from then on decides what is sent."""
    client = _client()
    route = respx.get(f"{BASE}/version").respond(200, json={"version": "v0.43.0-beta.8"})
    assert client.generation.version is None
    assert await client.engine_version() == "v0.43.0-beta.8"
    assert route.calls.last.request.content == b""
    assert (client.sends_reversible, client.sends_retryable) == (True, True)


@pytest.mark.parametrize(
    ("version", "mode", "sent"),
    [
        ("0.43.0-beta.8", "auto", True),
        ("0.43.0-beta.2", "auto", True),
        ("0.43.0-beta.1", "auto", False),
        ("0.42.1", "auto", False),
        (None, "auto", False),
        ("0.42.1", "always", True),
        (None, "always", True),
        ("0.43.0-beta.8", "never", False),
    ],
)
@respx.mock
async def test_reversible_goes_to_engines_that_know_it_unless_register_reversible_says_otherwise(
    version: str | None, mode: ReversibleMode, sent: bool
) -> None:
    """auto: from 0.43.0-beta.2 on, never to an unknown version; always: to any engine; never: to none."""
    client = _client(mode)
    await _meet(client, version)
    route = respx.post(f"{BASE}/function-blocks/register").respond(201)
    for flag in (True, False):
        await client.register_function_block(_block(flag))
        body = _sent(route)
        assert_sent_body("RegisterFunctionBlockDto", body)
        assert body.get("reversible", "left out") == (flag if sent else "left out")
    assert client.sends_reversible is sent


@pytest.mark.parametrize(
    ("version", "sent"), [("0.43.0-beta.8", True), ("0.43.0-beta.2", False), (None, False)]
)
@respx.mock
async def test_retryable_goes_only_to_engines_from_beta_8_and_only_on_failures(
    version: str | None, sent: bool
) -> None:
    """A failed result says ``retryable: false`` to an engine that reads it; a success never carries it."""
    client = _client()
    await _meet(client, version)
    route = respx.post(f"{BASE}/blackboard/job/result").respond(201)
    await client.push_result(failed_result("j", "bad parameters", retryable=False))
    failure = _sent(route)
    success = JobResult(
        job_execution_id="j", status="success", result=JobExecutionResult(success=True, retryable=False)
    )
    await client.push_result(success)
    for body in (failure, _sent(route)):
        assert_sent_body("JobResultDto", body)
    assert failure["result"].get("retryable", "left out") == (False if sent else "left out")
    assert "retryable" not in _sent(route)["result"]


@respx.mock
async def test_the_push_followed_by_a_poll_passes_the_same_gate() -> None:
    """The result pushed right before a poll is gated like any other: nothing 0.42.1 does not know."""
    client = _client()
    await _meet(client, "0.42.1")
    push = respx.post(f"{BASE}/blackboard/job/result").respond(201)
    respx.post(f"{BASE}/blackboard/job").respond(201, json=[])
    await client.push_result_then_poll(failed_result("j", "bad", retryable=False), _poll(), lambda: True)
    body = _sent(push)
    assert_sent_body("JobResultDto", body)
    assert "retryable" not in body["result"]


@respx.mock
async def test_encoded_size_is_the_size_of_the_body_on_the_wire() -> None:
    """A refused (413) result raises with its status; ``encoded_size`` is what went on the wire (UTF-8)."""
    client = _client()
    await _meet(client, "0.43.0-beta.8")
    route = respx.post(f"{BASE}/blackboard/job/result").respond(413)
    result = failed_result("j", "größer " * 100, retryable=False)
    with pytest.raises(EngineRejected) as caught:
        await client.push_result(result)
    assert caught.value.status == 413
    assert client.encoded_size(result) == len(route.calls.last.request.content)
    assert client.encoded_size(_block()) > client.encoded_size(_block().model_copy(update={"name": "u"}))


@respx.mock
async def test_the_poll_waits_its_own_timeout_and_other_calls_theirs() -> None:
    """POLL_TIMEOUT goes on the poll (alone or behind a push); every other call keeps API_REQUEST_TIMEOUT."""
    client = _client(poll_timeout=45)
    poll = respx.post(f"{BASE}/blackboard/job").respond(201, json=[])
    push = respx.post(f"{BASE}/blackboard/job/result").respond(201)
    await client.poll(_poll())
    assert poll.calls.last.request.extensions["timeout"] == httpx.Timeout(45).as_dict()
    await client.push_result_then_poll(failed_result("j", "x"), _poll(), lambda: True)
    assert poll.calls.last.request.extensions["timeout"]["read"] == 45
    assert push.calls.last.request.extensions["timeout"]["read"] == 2


@respx.mock
async def test_a_poll_timeout_is_never_shorter_than_the_other_calls() -> None:
    """A POLL_TIMEOUT below API_REQUEST_TIMEOUT is raised to it (the poll is the call that may claim)."""
    client = _client(poll_timeout=1)
    poll = respx.post(f"{BASE}/blackboard/job").respond(201, json=[])
    await client.poll(_poll())
    assert poll.calls.last.request.extensions["timeout"]["read"] == 2


@respx.mock
async def test_a_poll_that_timed_out_says_so_and_may_have_reached_the_engine() -> None:
    """A read timeout on a poll, alone or behind a push: sent, and the detail names the timeout waited."""
    client = _client(poll_timeout=45)
    respx.post(f"{BASE}/blackboard/job").mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(EngineUnavailable) as caught:
        await client.poll(_poll())
    assert caught.value.request_sent is True
    assert caught.value.detail == "ReadTimeout: timed out, no answer within 45 s"
    respx.post(f"{BASE}/blackboard/job/result").respond(201)
    _, claimed = await client.push_result_then_poll(failed_result("j", "x"), _poll(), lambda: True)
    assert isinstance(claimed, EngineUnavailable)
    assert claimed.request_sent is True
    assert str(claimed) == "poll: ReadTimeout: timed out, no answer within 45 s"
