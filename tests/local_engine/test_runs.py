"""Runs of a 0.43 engine: retries of failed pure or idempotent jobs, rollback only of reversible blocks,
and rollback jobs made on request (remediation), with a new id each time."""

from __future__ import annotations

from typing import Any

import pytest

from neops_worker.devkit.local_engine import EngineOptions
from neops_worker.devkit.local_engine._runs import BlockFlags, EndedJob, Step, next_step
from tests.local_engine.helpers import FB_A, FB_B, Api

DEVICE = {"devices": [{"id": 42, "hostname": "core-rtr-01"}], "deviceGroups": [], "interfaces": []}
INPUT: dict[str, Any] = {
    "parameters": {"line": "banner motd x"},
    "context": DEVICE,
    "runOn": "device",
    "entityId": 42,
}


def ended(
    succeeded: bool = False,
    job_type: str = "execute",
    attempt: int = 1,
    rollback_of: str | None = None,
    retryable: bool | None = None,
) -> EndedJob:
    """A job of FB_A that just ended."""
    return EndedJob("j", job_type, FB_A.fb_id, "r", attempt, rollback_of, succeeded, retryable)


CURRENT = EngineOptions()


@pytest.mark.parametrize(
    ("job", "flags", "step"),
    [
        (ended(succeeded=True), BlockFlags(), Step("end", "COMPLETED")),
        (ended(), BlockFlags(is_pure=True), Step("retry", "RUNNING")),
        (ended(), BlockFlags(is_idempotent=True, reversible=True), Step("retry", "RUNNING")),
        (ended(attempt=4), BlockFlags(is_pure=True), Step("end", "FAILED_SAFE")),
        (ended(retryable=False), BlockFlags(is_pure=True, reversible=True), Step("end", "FAILED_SAFE")),
        (ended(attempt=4), BlockFlags(is_idempotent=True, reversible=True), Step("rollback", "ROLLBACK")),
        (ended(), BlockFlags(reversible=True), Step("rollback", "ROLLBACK")),
        (ended(), BlockFlags(), Step("end", "FAILED_UNSAFE")),
        (ended(job_type="acquire"), BlockFlags(is_pure=True), Step("end", "FAILED_SAFE")),
        (ended(True, "rollback", rollback_of="x"), BlockFlags(reversible=True), Step("end", "FAILED_SAFE")),
        (
            ended(False, "rollback", rollback_of="x"),
            BlockFlags(reversible=True),
            Step("end", "FAILED_UNSAFE"),
        ),
    ],
)
def test_what_follows_a_jobs_end(job: EndedJob, flags: BlockFlags, step: Step) -> None:
    """Retry a pure or idempotent failure (unless retryable is false or the retries are spent), roll back a
    reversible block's, and end the run as the contract's 5.2 says."""
    assert next_step(job, flags, CURRENT) == step


def test_a_0_42_1_engine_neither_retries_nor_rolls_back() -> None:
    """In 0.42.1 mode a failure ends the run FAILED, whatever the block's flags."""
    flags = BlockFlags(is_pure=True, reversible=True)
    assert next_step(ended(), flags, EngineOptions(contract="0.42.1")) == Step("end", "FAILED")


# --- rollback over HTTP ---------------------------------------------------------------------------


def test_failed_reversible_job_gets_a_rollback_job_with_a_new_id_and_its_input(api: Api) -> None:
    """A reversible, non-pure block's failure: a pending rollback job (new id, same input), run ROLLBACK."""
    worker_id = api.worker_with(FB_A, reversible=True)
    failed_id = api.add_job(**INPUT, stepLabel="configure")
    api.run_once(worker_id, success=False)
    [job] = api.poll(worker_id)
    assert job["jobId"] != failed_id
    assert {k: job[k] for k in ("type", "parameters", "context", "runOn", "entityId", "stepLabel")} == {
        "type": "rollback",
        **INPUT,
        "stepLabel": "configure",
    }
    row = api.dev_job(job["jobId"])
    assert (row["rollbackOf"], row["runId"], row["runState"]) == (
        failed_id,
        api.dev_job(failed_id)["runId"],
        "ROLLBACK",
    )


@pytest.mark.parametrize(("success", "state"), [(True, "FAILED_SAFE"), (False, "FAILED_UNSAFE")])
def test_the_rollback_jobs_end_ends_the_run(api: Api, success: bool, state: str) -> None:
    """The run ends FAILED_SAFE when its rollback job succeeds, FAILED_UNSAFE when it fails."""
    worker_id = api.worker_with(FB_A, reversible=True)
    failed_id = api.add_job(**INPUT)
    api.run_once(worker_id, success=False)
    api.run_once(worker_id, success=success)
    assert [(row["type"], row["runState"]) for row in api.run_jobs(failed_id)] == [
        ("execute", state),
        ("rollback", state),
    ]
    assert api.poll(worker_id) == []


def test_a_block_that_is_not_reversible_is_not_rolled_back(api: Api) -> None:
    """A non-pure block registered without reversible: no rollback job, the run is FAILED_UNSAFE at once."""
    worker_id = api.worker_with(FB_A)
    failed_id = api.add_job(**INPUT)
    api.run_once(worker_id, success=False)
    assert [row["jobId"] for row in api.run_jobs(failed_id)] == [failed_id]
    assert api.dev_job(failed_id)["runState"] == "FAILED_UNSAFE"
    assert api.poll(worker_id) == []


def test_a_pure_blocks_failure_is_not_rolled_back(api: Api) -> None:
    """A pure block (reversible or not) is never rolled back: after its retries the run is FAILED_SAFE."""
    worker_id = api.worker_with(FB_A, is_pure=True, reversible=True)
    first = api.add_job(**INPUT)
    for _ in range(4):
        api.run_once(worker_id, success=False)
    assert {row["type"] for row in api.run_jobs(first)} == {"execute"}
    assert api.dev_job(first)["runState"] == "FAILED_SAFE"
    assert api.poll(worker_id) == []


def test_a_retried_step_is_rolled_back_once_from_its_last_attempt(api: Api) -> None:
    """An idempotent, reversible block: retried to the limit, then one rollback job of the last attempt."""
    worker_id = api.worker_with(FB_A, is_idempotent=True, reversible=True)
    first = api.add_job(**INPUT)
    attempts = [api.run_once(worker_id, success=False) for _ in range(4)]
    [rollback] = [row for row in api.run_jobs(first) if row["type"] == "rollback"]
    assert (attempts[0], rollback["rollbackOf"], rollback["runState"]) == (first, attempts[-1], "ROLLBACK")


# --- retries --------------------------------------------------------------------------------------


def test_a_failed_idempotent_job_is_retried_as_a_new_linked_job(api: Api) -> None:
    """The retry is a new job with the same input, linked both ways, attempt 2; listings count it."""
    worker_id = api.worker_with(FB_A, is_idempotent=True)
    first = api.add_job(**INPUT)
    api.run_once(worker_id, success=False)
    [retry] = api.poll(worker_id)
    assert (retry["jobId"] != first, retry["parameters"], retry["context"]) == (
        True,
        INPUT["parameters"],
        DEVICE,
    )
    row = api.dev_job(retry["jobId"])
    assert (row["attempt"], row["retryOf"], api.dev_job(first)["retriedBy"]) == (2, first, retry["jobId"])
    listed = {job["jobId"]: job for job in api.http.get("/blackboard/jobs").json()}
    assert (listed[first]["retryCount"], listed[retry["jobId"]]["retryCount"]) == (0, 1)
    assert listed[first]["workflowExecutionId"] == listed[retry["jobId"]]["workflowExecutionId"]


def test_retries_stop_at_max_retries(api: Api) -> None:
    """Three retries (the default) and no more: four attempts, the run FAILED_SAFE for a pure block."""
    worker_id = api.worker_with(FB_A, is_pure=True)
    first = api.add_job()
    for _ in range(4):
        api.run_once(worker_id, success=False)
    assert [row["attempt"] for row in api.run_jobs(first)] == [1, 2, 3, 4]
    assert api.poll(worker_id) == []


def test_retryable_false_is_honoured_and_shown(api: Api) -> None:
    """A failure the result calls not retryable is not retried; the row shows what the result said."""
    worker_id = api.worker_with(FB_A, is_pure=True)
    first = api.add_job()
    api.run_once(worker_id, success=False, retryable=False)
    assert api.poll(worker_id) == []
    row = api.dev_job(first)
    assert (row["retryable"], row["retriedBy"], row["runState"]) == (False, None, "FAILED_SAFE")


def test_a_retry_that_succeeds_completes_the_run(api: Api) -> None:
    """A failed attempt, then a successful retry: the run is COMPLETED."""
    worker_id = api.worker_with(FB_A, is_idempotent=True)
    first = api.add_job()
    api.run_once(worker_id, success=False, retryable=True)
    api.run_once(worker_id, success=True)
    assert [(row["resultStatus"], row["runState"]) for row in api.run_jobs(first)] == [
        ("failed", "COMPLETED"),
        ("success", "COMPLETED"),
    ]


def test_max_retries_0_retries_nothing() -> None:
    """With max_retries=0 a failed pure job ends its run at once."""
    flags = BlockFlags(is_pure=True)
    assert next_step(ended(), flags, EngineOptions(max_retries=0)) == Step("end", "FAILED_SAFE")


# --- rollback on request (remediation) ---------------------------------------------------------------


def test_a_failed_job_is_rolled_back_on_request_twice_with_new_ids(api: Api) -> None:
    """POST /_dev/jobs/{id}/rollback makes a rollback job with a new id each time, from the job's input."""
    worker_id = api.worker_with(FB_A, reversible=True)
    failed_id = api.add_job(**INPUT)
    api.run_once(worker_id, success=False)
    api.run_once(worker_id, success=False)  # the automatic rollback failed: FAILED_UNSAFE
    made = [api.http.post(f"/_dev/jobs/{failed_id}/rollback") for _ in range(2)]
    assert [answer.status_code for answer in made] == [201, 201]
    ids = [answer.json()["jobId"] for answer in made]
    assert len({failed_id, *ids}) == 3
    claimed = api.poll(worker_id)
    assert [(job["jobId"], job["type"], job["parameters"]) for job in claimed] == [
        (job_id, "rollback", INPUT["parameters"]) for job_id in ids
    ]
    assert {api.dev_job(job_id)["rollbackOf"] for job_id in ids} == {failed_id}
    assert api.dev_job(failed_id)["runState"] == "ROLLBACK"
    for job_id in ids:
        assert api.push_result(job_id).status_code == 201
    assert api.dev_job(failed_id)["runState"] == "FAILED_SAFE"


@pytest.mark.parametrize(
    ("reversible", "outcome", "status", "words"),
    [
        (False, False, 400, "is not registered reversible"),
        (True, True, 409, "has not failed (success)"),
    ],
)
def test_rollback_on_request_is_refused_with_a_reason(
    api: Api, reversible: bool, outcome: bool, status: int, words: str
) -> None:
    """Only a failed job of a reversible block can be rolled back on request; the answer says why not."""
    worker_id = api.worker_with(FB_A, reversible=reversible)
    job_id = api.add_job()
    api.run_once(worker_id, success=outcome)
    answer = api.http.post(f"/_dev/jobs/{job_id}/rollback")
    assert answer.status_code == status
    assert words in answer.json()["message"]


def test_rollback_on_request_of_an_unknown_or_non_execute_job(api: Api) -> None:
    """An unknown job answers 404; an acquire job cannot be rolled back (400)."""
    assert api.http.post("/_dev/jobs/nope/rollback").status_code == 404
    worker_id = api.worker_with(FB_B, reversible=True)
    job_id = api.add_job(FB_B, type="acquire")
    api.run_once(worker_id, success=False, fb=FB_B)
    answer = api.http.post(f"/_dev/jobs/{job_id}/rollback")
    assert (answer.status_code, "only execute jobs" in answer.json()["message"]) == (400, True)
