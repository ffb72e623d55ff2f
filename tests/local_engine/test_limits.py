"""Licence limits (403 ``LicenseLimitExceededDto`` with its header) and body limits (413), as options."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from neops_worker.devkit.local_engine import EngineOptions, LocalEngine
from neops_worker.devkit.local_engine.options import KB, MB, SMALL_BODY_LIMIT, format_size, parse_size
from tests.local_engine.helpers import FB_A, FB_B, Api, FakeClock

FB_A_NEXT = FB_A.model_copy(update={"minor_version": 3})


@pytest.fixture
def limited(clock: FakeClock) -> Iterator[Api]:
    """An engine whose licence allows one worker and one function block, on the fake clock."""
    options = EngineOptions(heartbeat_interval_s=10, max_workers=1, max_function_blocks=1)
    with LocalEngine(options=options, clock=clock) as engine:
        client = Api.connect(engine.url)  # checks each refusal against LicenseLimitExceededDto and its header
        yield client
        client.http.close()


def test_a_worker_past_the_limit_is_refused_with_the_licence_body(limited: Api) -> None:
    """The second worker gets 403: limit workers (label, current 1, max 1), a hint, the edition."""
    limited.register_worker()
    refused = limited.http.post("/workers/register", json={"version": "1"})
    assert refused.status_code == 403
    assert refused.headers["X-Neops-License-Error"] == "limit-exceeded"
    body = refused.json()
    assert (body["error"], body["edition"], body["statusCode"]) == (
        "LicenseLimitExceeded",
        "developer-preview",
        403,
    )
    assert body["limit"] == {"name": "workers", "label": "Workers", "max": 1, "current": 1}
    assert "--max-workers" in body["hint"]


def test_an_expired_worker_frees_its_slot(limited: Api, clock: FakeClock) -> None:
    """A worker that expired no longer counts: the next registration is allowed."""
    limited.register_worker()
    clock.advance(51)
    assert limited.http.post("/workers/register", json={"version": "1"}).status_code == 201


def test_a_block_past_the_limit_is_refused_naming_it(limited: Api) -> None:
    """A second block (new package/name) gets 403 naming it; a new version of the first takes no new slot."""
    worker_id = limited.worker_with(FB_A)
    refused = limited.register_fb(worker_id, FB_B)
    assert refused.status_code == 403
    body = refused.json()
    assert body["message"] == f"Function block {FB_B.fb_id} would exceed the licence's 1 function blocks"
    assert (body["limit"]["name"], body["limit"]["label"], body["limit"]["current"]) == (
        "functionBlocks",
        "Function blocks",
        1,
    )
    assert body["limit"]["countingRule"] == "by-package-and-name"
    assert limited.register_fb(worker_id, FB_A_NEXT).status_code == 201
    assert limited.register_fb(worker_id, FB_A).status_code == 409
    assert limited.http.get(f"/workers/{worker_id}/function-blocks").json() == [FB_A.fb_id, FB_A_NEXT.fb_id]


# --- body limits ----------------------------------------------------------------------------------


@pytest.fixture
def small(clock: FakeClock) -> Iterator[Api]:
    """An engine whose result and log bodies may be 200 kB."""
    with LocalEngine(options=EngineOptions(max_body_size=200 * KB), clock=clock) as engine:
        client = Api.connect(engine.url)
        yield client
        client.http.close()


def test_block_registration_over_100_kb_is_refused(small: Api) -> None:
    """A registration body over 100 kB gets 413 naming the limit, however large the result limit is."""
    worker_id = small.register_worker()
    fb = FB_A.to_wire()
    body = {**fb, "workerId": worker_id, "description": "x" * SMALL_BODY_LIMIT, "fbType": "none"}
    body |= {"parameterJsonSchema": {}, "resultDataJsonSchema": {}}
    refused = small.http.post("/function-blocks/register", json=body)
    assert refused.status_code == 413
    assert refused.json()["message"].endswith("the limit of /function-blocks/register is 100 kB")


def test_a_result_over_the_limit_is_refused_by_its_content_length(small: Api) -> None:
    """A 250 kB result gets 413 (the job keeps no result); one under 200 kB is taken."""
    worker_id = small.worker_with(FB_A)
    small.add_job()
    [job] = small.poll(worker_id)
    refused = small.push_result(job["jobId"], message="x" * 250 * KB)
    assert refused.status_code == 413
    assert refused.json()["message"].startswith("request entity too large: 256")
    assert small.dev_job(job["jobId"])["status"] == "polled"
    assert small.push_result(job["jobId"], message="x" * 150 * KB).status_code == 201


def test_a_body_without_content_length_is_refused_by_its_size(small: Api) -> None:
    """A chunked body (no Content-Length) is refused once more than the limit has come."""

    def chunks() -> Iterator[bytes]:
        for _ in range(30):
            yield b"x" * 10 * KB

    refused = small.http.post("/workers/register", content=chunks())
    assert refused.status_code == 413
    assert refused.json()["message"].startswith("request entity too large: more than 102400 bytes")


def test_a_declared_size_over_the_limit_is_refused_before_the_body_is_read(small: Api) -> None:
    """A request announcing 60 MB is answered 413 at once, though only its first bytes were sent."""
    address = urlsplit(str(small.http.base_url))
    with socket.create_connection((address.hostname, address.port), timeout=5) as connection:
        head = "POST /blackboard/job/result HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        connection.sendall(f"{head}Content-Length: {60 * MB}\r\n\r\n{{".encode())
        started = time.monotonic()
        answer = connection.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413 ")
    assert time.monotonic() - started < 2
    assert f"request entity too large: {60 * MB} bytes" in answer


def test_a_60_mb_result_over_the_default_limit_gets_its_413(api: Api) -> None:
    """The default 50 MB limit: a worker pushing a 60 MB result reads a clean 413, not a broken connection."""
    worker_id = api.worker_with(FB_A)
    api.add_job()
    [job] = api.poll(worker_id)
    refused = api.push_result(job["jobId"], success=True, message="x" * 60 * MB)
    assert refused.status_code == 413
    assert refused.json()["message"].endswith("the limit of /blackboard/job/result is 50 MB")
    assert api.push_result(job["jobId"], success=False, message="result too large").status_code == 201


@pytest.mark.parametrize(
    ("text", "size"), [("50MB", 50 * MB), ("100kb", 100 * KB), ("1234", 1234), ("2 GiB", 2048 * MB)]
)
def test_sizes_are_read_as_the_engine_counts_them(text: str, size: int) -> None:
    """--max-body-size takes bytes or kB/MB/GB (1024-based); format_size writes them back."""
    assert parse_size(text) == size
    assert parse_size(format_size(size).replace(" bytes", "")) == size


def test_a_size_that_is_not_one_is_refused() -> None:
    """A size with an unknown unit is a ValueError naming the text."""
    with pytest.raises(ValueError, match="'50 apples'"):
        parse_size("50 apples")
