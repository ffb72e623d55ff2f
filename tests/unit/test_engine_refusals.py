"""How the engine client reads refusals and short answers: licences, error pages, ping results (respx)."""

from __future__ import annotations

import json

import pytest
import respx

from neops_worker.engine.client import MESSAGE_LIMIT, EngineClient, LicenceRefusal, engine_message
from neops_worker.engine.wire import RegisterWorker
from neops_worker.errors import EngineRejected, EngineUnavailable
from tests.contract import assert_valid
from tests.ops.fake_engine import licence_refusal

BASE = "http://engine.test"
REGISTER = f"{BASE}/workers/register"
NGINX_502 = (
    """<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx</center>
"""
    + "<!-- padding -->\n" * 200
    + "</body></html>"
)


@pytest.fixture
def client() -> EngineClient:
    """A client against a fake base URL (respx intercepts the transport)."""
    return EngineClient(BASE, timeout=2)


@respx.mock
async def test_a_licence_refusal_is_read_from_its_body(client: EngineClient) -> None:
    """403 ``LicenseLimitExceeded``: a ``LicenceRefusal`` carrying the quota, edition, message and hint."""
    body = licence_refusal("workers", "Workers", 3, 3)
    assert_valid("LicenseLimitExceededDto", body)
    respx.post(REGISTER).respond(403, json=body)
    with pytest.raises(LicenceRefusal) as caught:
        await client.register_worker(RegisterWorker(version="1"))
    assert caught.value.status == 403
    assert caught.value.licence is not None
    assert caught.value.describe(["the worker"]) == (
        "License limit exceeded: Workers (3 of 3), edition developer-preview; refused: the worker; "
        "the engine says: The licence allows 3 Workers; "
        "hint: Remove Workers or use a licence with a higher cap"
    )


@respx.mock
async def test_a_licence_refusal_without_a_label_names_the_limit(client: EngineClient) -> None:
    """An engine before 0.43.0b8 sends no ``label``: the limit's name stands in."""
    body = licence_refusal("functionBlocks", "function blocks", 2, 2)
    del body["limit"]["label"]
    respx.post(REGISTER).respond(403, json=body)
    with pytest.raises(LicenceRefusal) as caught:
        await client.register_worker(RegisterWorker(version="1"))
    line = caught.value.describe(["fb.a/x:1.0.0", "fb.b/y:1.0.0"])
    assert line.startswith("License limit exceeded: functionBlocks (2 of 2), edition developer-preview; ")
    assert "; refused: fb.a/x:1.0.0, fb.b/y:1.0.0; " in line


@respx.mock
async def test_the_licence_header_alone_marks_a_refusal(client: EngineClient) -> None:
    """A 403 with ``X-Neops-License-Error`` but a body of another shape is still a licence refusal."""
    respx.post(REGISTER).respond(
        403, json={"message": "quota reached"}, headers={"X-Neops-License-Error": "limit-exceeded"}
    )
    with pytest.raises(LicenceRefusal) as caught:
        await client.register_worker(RegisterWorker(version="1"))
    assert caught.value.licence is None
    assert caught.value.describe(["the worker"]) == (
        "License limit exceeded; refused: the worker; the engine says: HTTP 403: quota reached"
    )


@respx.mock
async def test_a_403_without_a_licence_is_a_plain_rejection(client: EngineClient) -> None:
    """A 403 of a token problem is a rejection like any other, not a licence refusal."""
    respx.post(REGISTER).respond(403, json={"statusCode": 403, "message": "Forbidden resource"})
    with pytest.raises(EngineRejected) as caught:
        await client.register_worker(RegisterWorker(version="1"))
    assert not isinstance(caught.value, LicenceRefusal)
    assert str(caught.value) == "worker registration: HTTP 403: Forbidden resource"


@respx.mock
async def test_an_html_error_page_is_cut_to_its_title(client: EngineClient) -> None:
    """A proxy's 502 page: the error names the page's title, never its markup."""
    respx.post(REGISTER).respond(502, html=NGINX_502)
    with pytest.raises(EngineUnavailable) as caught:
        await client.register_worker(RegisterWorker(version="1"))
    assert str(caught.value) == "worker registration: HTTP 502: 502 Bad Gateway"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<!DOCTYPE html>\n<html><body>\n\n<p>Internal &amp; fatal</p>\n</body></html>", "Internal & fatal"),
        ("<title>\n  Service\n  Unavailable </title>", "Service Unavailable"),
        (
            "upstream connect error\nor disconnect/reset before headers",
            "upstream connect error or disconnect/reset before headers",
        ),
        (
            '{"message": ["name must match", "fbType must be one of"]}',
            "name must match; fbType must be one of",
        ),
        ("a < b, and that is all", "a < b, and that is all"),
    ],
)
def test_an_error_body_becomes_one_readable_line(body: str, message: str) -> None:
    """JSON messages, HTML pages (title, else first text) and plain text all read as one line."""
    assert engine_message(body) == message


@pytest.mark.parametrize("body", ["x" * 5000, '{"message": "' + "y" * 5000 + '"}', "<title>" + "z" * 5000])
def test_a_long_error_body_is_cut_to_a_readable_length(body: str) -> None:
    """No engine message in a log line is longer than ``MESSAGE_LIMIT``; a cut one ends with an ellipsis."""
    message = engine_message(body)
    assert len(message) == MESSAGE_LIMIT
    assert message.endswith("…")


@pytest.mark.parametrize(
    ("answer", "accepted"), [(None, True), ({"success": True}, True), ({"success": False}, False)]
)
@respx.mock
async def test_ping_and_unregister_answers(client: EngineClient, answer: object, accepted: bool) -> None:
    """Empty (0.42.1) and ``success: true`` are accepted; ``success: false`` is reported as not accepted."""
    for action, call in (("ping", client.ping), ("unregister", client.unregister)):
        route = respx.post(f"{BASE}/workers/w1/{action}")
        route.respond(200, content=b"" if answer is None else json.dumps(answer).encode())
        assert await call("w1") is accepted
