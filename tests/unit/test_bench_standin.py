"""The bench's engine stand-in speaks the worker-facing contract: answers match the protocol's schemas."""

from __future__ import annotations

from bench.standin import StandInState, contract_reply
from tests.contract import assert_valid

NOOP = "bench.neops/noop:1.0.0"


def test_registration_and_version_answers_match_the_schemas() -> None:
    """Worker registration and the version check answer the contract's DTOs."""
    state = StandInState()
    status, worker = contract_reply(state, "/workers/register", {"version": "1.0.0"})
    assert status == 201
    assert_valid("WorkerRegistrationResponseDto", worker)
    status, version = contract_reply(state, "/version/compatibility", {"version": "0.42.1"})
    assert status == 201
    assert_valid("VersionCompatibilityResponseDto", version)
    assert contract_reply(state, f"/workers/{worker['uuid']}/ping", {}) == (200, None)


def test_poll_claims_at_most_limit_jobs_in_queue_order_then_none() -> None:
    """Each poll takes ``limit`` jobs off the queue, each a valid JobDefinitionDto; then ``[]``."""
    state = StandInState()
    ids = state.queue(NOOP, 3)
    status, first = contract_reply(state, "/blackboard/job", {"limit": 2})
    assert status == 201
    for job in first:
        assert_valid("JobDefinitionDto", job)
    assert [job["jobId"] for job in first] == ids[:2]
    assert [job["jobId"] for job in contract_reply(state, "/blackboard/job", {"limit": 2})[1]] == ids[2:]
    assert contract_reply(state, "/blackboard/job", {"limit": 1}) == (201, [])


def test_every_contract_request_is_recorded_with_its_job() -> None:
    """Claims and results are recorded with the job id (and the result's status); unknown paths are 404."""
    state = StandInState()
    (job_id,) = state.queue(NOOP, 1)
    contract_reply(state, "/blackboard/job", {"limit": 1})
    contract_reply(state, "/blackboard/job/result", {"jobExecutionId": job_id, "status": "failed"})
    assert [(r.kind, r.job_id, r.status) for r in state.records] == [
        ("claim", job_id, None),
        ("result", job_id, "failed"),
    ]
    assert contract_reply(state, "/nowhere", {})[0] == 404
    assert state.counts == {"claim": 1, "result": 1}
