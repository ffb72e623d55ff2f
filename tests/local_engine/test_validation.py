"""Request validation: invalid bodies answer 400 with a NestJS-style message naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.local_engine.helpers import FB_A, Api

FB = FB_A.to_wire()
RESULT = {"jobExecutionId": "j", "status": "success", "result": {"success": True}}
LOG = {
    "workflowId": "fb.test/flow:1.0.0",
    "jobId": "j",
    "functionBlockId": FB_A.fb_id,
    "logEntry": "line",
    "logLevel": "info",
    "timestamp": "2025-06-02T09:15:11.204Z",
}
FB_REGISTRATION = {
    **FB,
    "description": "d",
    "fbType": "facts",
    "parameterJsonSchema": {},
    "resultDataJsonSchema": {},
}

INVALID_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("/workers/register", {}, "version"),
    ("/workers/register", {"version": 1}, "version"),
    ("/function-blocks/register", {**FB_REGISTRATION, "fbType": "deploy"}, "fbType"),
    (
        "/function-blocks/register",
        {k: v for k, v in FB_REGISTRATION.items() if k != "description"},
        "description",
    ),
    ("/blackboard/job", {"functionBlockIds": [FB]}, "workerId"),
    ("/blackboard/job", {"functionBlockIds": [FB], "workerId": "w", "limit": 0}, "limit"),
    (
        "/blackboard/job",
        {"functionBlockIds": [{**FB, "majorVersion": "1"}], "workerId": "w"},
        "functionBlockIds.0.majorVersion",
    ),
    ("/blackboard/job/result", {**RESULT, "status": "done"}, "status"),
    ("/blackboard/job/result", {k: v for k, v in RESULT.items() if k != "result"}, "result"),
    ("/blackboard/job/result", {**RESULT, "result": {"message": "no success"}}, "result.success"),
    (
        "/blackboard/job/result",
        {
            **RESULT,
            "acquires": [{"type": "reference", "assertNotEmpty": True, "entity": "device", "label": "x"}],
        },
        "acquires.0",
    ),
    ("/blackboard/job/log", {**LOG, "workflowId": "not-a-workflow"}, "workflowId"),
    ("/blackboard/job/log", {**LOG, "functionBlockId": "a/b"}, "functionBlockId"),
    ("/version/compatibility", {"version": "0.42.1"}, "library"),
    ("/_dev/jobs", {"functionBlockId": "no version"}, "functionBlockId"),
    ("/_dev/jobs", {"functionBlockId": FB_A.fb_id, "stepLabel": "steps"}, "stepLabel"),
    ("/_dev/jobs", {"functionBlockId": FB_A.fb_id, "stepLabel": "1st"}, "stepLabel"),
    ("/_dev/jobs", {"functionBlockId": FB_A.fb_id, "runOn": "planet"}, "runOn"),
]


@pytest.mark.parametrize(("path", "body", "field"), INVALID_BODIES)
def test_invalid_body_answers_400_naming_the_field(
    api: Api, path: str, body: dict[str, Any], field: str
) -> None:
    """An invalid body answers 400 and a message that starts with the offending field's camelCase path."""
    response = api.http.post(path, json=body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "Bad Request"
    assert any(message.startswith(f"{field}") for message in payload["message"]), payload


@pytest.mark.parametrize(
    "path", ["/workers/register", "/blackboard/job", "/blackboard/job/result", "/_dev/jobs"]
)
def test_malformed_json_answers_400(api: Api, path: str) -> None:
    """A body that is not JSON answers 400 with a message saying so."""
    response = api.http.post(path, content=b'{"version": ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "JSON" in response.json()["message"]


def test_a_body_that_is_not_an_object_answers_400(api: Api) -> None:
    """A JSON array where an object is expected answers 400 naming the body."""
    response = api.http.post("/workers/register", json=[{"version": "1"}])
    assert response.status_code == 400
    assert response.json()["message"][0].startswith("body")


def test_snake_case_field_names_are_not_accepted(api: Api) -> None:
    """Field names are camelCase on the wire: a snake_case poll body is missing its fields."""
    response = api.http.post("/blackboard/job", json={"function_block_ids": [FB], "worker_id": "w"})
    assert response.status_code == 400
    assert {m.split(":")[0] for m in response.json()["message"]} == {"functionBlockIds", "workerId"}


def test_unknown_fields_are_ignored(api: Api) -> None:
    """Unknown request fields (e.g. reversible from newer clients) are ignored, not rejected."""
    response = api.http.post("/workers/register", json={"version": "1.0.0", "reversible": True})
    assert response.status_code == 201


def test_unknown_route_and_wrong_method_answer_404_like_nestjs(api: Api) -> None:
    """An unknown path or a wrong method answers 404 "Cannot METHOD /path", as the engine does."""
    response = api.http.get("/blackboard/job")
    assert response.status_code == 404
    assert response.json()["message"] == "Cannot GET /blackboard/job"
    assert api.http.post("/nowhere").status_code == 404
