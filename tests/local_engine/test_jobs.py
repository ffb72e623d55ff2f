"""Function-block registration, the job queue (poll, result, log) and the job listings."""

from __future__ import annotations

from typing import Any

from neops_worker.devkit.local_engine import LocalEngine
from neops_worker.devkit.local_engine.models import NewJob
from neops_worker.engine.wire import JobLog
from tests.local_engine.conftest import HEARTBEAT_S, OFFLINE_AFTER
from tests.local_engine.helpers import FB_A, FB_B, Api, FakeClock

UNKNOWN = "00000000-0000-4000-8000-000000000000"

DEVICE_CONTEXT: dict[str, Any] = {
    "devices": [
        {
            "id": 42,
            "hostname": "core-rtr-01",
            "ip": None,
            "platform": {"id": 3, "name": "Cisco IOS-XE", "shortName": "iosxe", "vendor": "cisco"},
            "groups": [{"id": 5, "name": "core", "description": None, "facts": None}],
            "interfaces": [{"id": 7}],
        }
    ],
    "deviceGroups": [],
    "interfaces": [{"id": 7, "name": "Gi0/0", "state": "UP", "device": {"id": 42}}],
}


# --- function-block registration ----------------------------------------------------------------


def test_register_fb_answers_201_then_409(api: Api) -> None:
    """The first registration of a package/name/version answers 201, the same again 409."""
    worker_id = api.register_worker()
    assert api.register_fb(worker_id).status_code == 201
    assert api.register_fb(worker_id).status_code == 409


def test_409_still_links_the_block_to_the_new_worker(api: Api) -> None:
    """A second worker registering an existing block gets 409 but is linked to it and may poll its jobs."""
    api.worker_with(FB_A, name="first")
    second = api.register_worker("second")
    assert api.register_fb(second).status_code == 409
    job_id = api.add_job()
    assert [job["jobId"] for job in api.poll(second)] == [job_id]
    blocks = api.http.get("/_dev/function-blocks").json()
    assert len(blocks[0]["workerIds"]) == 2


def test_register_fb_for_an_unknown_worker_answers_404(api: Api) -> None:
    """Registering a block for a worker id the engine does not know answers 404."""
    assert api.register_fb(UNKNOWN).status_code == 404


# --- polling ----------------------------------------------------------------------------------


def test_poll_answers_201_and_an_empty_list_when_nothing_waits(api: Api) -> None:
    """A poll with no pending job answers 201 and []."""
    worker_id = api.worker_with(FB_A)
    response = api.poll_raw(worker_id)
    assert response.status_code == 201
    assert response.json() == []


def test_poll_hands_out_the_job_as_queued(api: Api) -> None:
    """The claimed job carries everything the job was queued with."""
    worker_id = api.worker_with(FB_A)
    job_id = api.add_job(
        parameters={"command": "show version", "missing": None},
        context=DEVICE_CONTEXT,
        runOn="device",
        entityId=42,
        stepLabel="collect_version",
    )
    [job] = api.poll(worker_id)
    assert job == {
        "functionBlockId": FB_A.fb_id,
        "jobId": job_id,
        "stepLabel": "collect_version",
        "parameters": {"command": "show version", "missing": None},
        "context": DEVICE_CONTEXT,
        "type": "execute",
        "runOn": "device",
        "entityId": 42,
    }


def test_poll_sends_entity_id_null_for_global_jobs(api: Api) -> None:
    """entityId is required and nullable: a job without an entity carries "entityId": null."""
    worker_id = api.worker_with(FB_A)
    api.add_job(type="acquire")
    [job] = api.poll(worker_id)
    assert job["entityId"] is None
    assert job["context"] == {"devices": [], "deviceGroups": [], "interfaces": []}


def test_poll_honours_limit_and_queue_order(api: Api) -> None:
    """A poll with limit n claims the n oldest pending jobs, in queue order."""
    worker_id = api.worker_with(FB_A)
    job_ids = [api.add_job() for _ in range(5)]
    assert [job["jobId"] for job in api.poll(worker_id, limit=2)] == job_ids[:2]
    assert [job["jobId"] for job in api.poll(worker_id, limit=2)] == job_ids[2:4]
    assert [job["jobId"] for job in api.poll(worker_id, limit=2)] == job_ids[4:]


def test_poll_without_limit_claims_everything(api: Api) -> None:
    """Without limit the poll claims every matching pending job, as the engine does."""
    worker_id = api.worker_with(FB_A)
    job_ids = [api.add_job() for _ in range(4)]
    assert [job["jobId"] for job in api.poll(worker_id)] == job_ids


def test_poll_without_limit_claims_a_long_queue(api: Api, engine: LocalEngine) -> None:
    """A poll without limit over a long queue (past the one-parameter-per-job claim) claims all of it."""
    worker_id = api.worker_with(FB_A)
    job_ids = [engine.store.add_job(NewJob(function_block_id=FB_A.fb_id)) for _ in range(150)]
    assert [job["jobId"] for job in api.poll(worker_id)] == job_ids
    assert {row["claims"] for row in api.dev_jobs()} == {1}


def test_poll_merges_blocks_in_queue_order(api: Api) -> None:
    """Jobs of several requested blocks come out oldest first across the blocks."""
    worker_id = api.worker_with(FB_A, FB_B)
    job_ids = [api.add_job(FB_A), api.add_job(FB_B), api.add_job(FB_A)]
    assert [job["jobId"] for job in api.poll(worker_id, [FB_A, FB_B], limit=3)] == job_ids


def test_poll_hands_out_only_requested_blocks(api: Api) -> None:
    """Only jobs whose functionBlockId is among the requested blocks are handed out."""
    worker_id = api.worker_with(FB_A, FB_B)
    api.add_job(FB_B)
    job_a = api.add_job(FB_A)
    assert [job["jobId"] for job in api.poll(worker_id, [FB_A])] == [job_a]


def test_poll_skips_blocks_not_registered_for_the_worker(api: Api) -> None:
    """A block in the poll that the worker never registered is not served to it."""
    worker_id = api.worker_with(FB_A)
    api.add_job(FB_B)
    assert api.poll(worker_id, [FB_A, FB_B]) == []


def test_poll_matches_a_partial_version_resolved_to_patch_zero(api: Api) -> None:
    """A job queued as ``pkg/name:1.2`` is the resolved block ``pkg/name:1.2.0``."""
    worker_id = api.worker_with(FB_A)
    api.http.post("/_dev/jobs", json={"functionBlockId": "fb.test/alpha:1.2"})
    [job] = api.poll(worker_id)
    assert job["functionBlockId"] == "fb.test/alpha:1.2.0"


def test_poll_by_an_unknown_or_expired_worker_answers_404(api: Api, clock: FakeClock) -> None:
    """A poll naming an unknown worker, or one that expired, answers 404."""
    assert api.poll_raw(UNKNOWN).status_code == 404
    worker_id = api.worker_with(FB_A)
    clock.advance(HEARTBEAT_S * OFFLINE_AFTER + 1)
    assert api.poll_raw(worker_id).status_code == 404


def test_claimed_job_is_not_handed_out_again(api: Api) -> None:
    """A polled job belongs to its worker: another worker's poll does not get it."""
    first, second = api.worker_with(FB_A, name="a"), api.worker_with(FB_A, name="b")
    api.add_job()
    assert len(api.poll(first)) == 1
    assert api.poll(second) == []


# --- results and logs -------------------------------------------------------------------------


def test_result_answers_201_and_is_stored(api: Api) -> None:
    """A result answers 201 and the job shows it: pushed, status, message, duration and the stored body."""
    worker_id = api.worker_with(FB_A)
    job_id = api.add_job()
    api.poll(worker_id)
    assert api.push_result(job_id, message="all good").status_code == 201
    job = api.dev_job(job_id)
    assert (job["status"], job["resultStatus"], job["resultMessage"], job["claims"]) == (
        "pushed",
        "success",
        "all good",
        1,
    )
    assert job["durationS"] >= 0
    assert job["result"]["result"] == {"success": True, "message": "all good", "data": {"answer": 42}}


def test_second_result_answers_409_and_the_first_is_kept(api: Api) -> None:
    """A second result for the same job answers 409; the engine keeps the first."""
    worker_id = api.worker_with(FB_A)
    job_id = api.add_job()
    api.poll(worker_id)
    assert api.push_result(job_id, message="first").status_code == 201
    assert api.push_result(job_id, success=False, message="second").status_code == 409
    assert api.dev_job(job_id)["resultMessage"] == "first"


def test_result_for_an_unknown_job_answers_404(api: Api) -> None:
    """A result naming a job the engine does not have answers 404."""
    assert api.push_result("no-such-job").status_code == 404


def test_result_keeps_db_updates_and_acquires_as_sent(api: Api) -> None:
    """dbUpdates (a null patch value included) and acquires are stored as the worker sent them."""
    worker_id = api.worker_with(FB_A)
    job_id = api.add_job()
    api.poll(worker_id)
    body = {
        "jobExecutionId": job_id,
        "status": "success",
        "result": {
            "success": True,
            "message": "m",
            "dbUpdates": {
                "updates": [{"operation": "patch", "entity": "device", "id": 42, "path": "ip", "value": None}]
            },
        },
        "acquires": [{"type": "elastic", "assertNotEmpty": True, "entity": "device", "query": "hostname:x"}],
    }
    assert api.http.post("/blackboard/job/result", json=body).status_code == 201
    assert api.dev_job(job_id)["result"] == body


def test_ack_statuses_of_the_contract_are_accepted(api: Api) -> None:
    """The contract's -ack result statuses are accepted; the worker never sends them."""
    worker_id = api.worker_with(FB_A)
    job_id = api.add_job()
    api.poll(worker_id)
    body = {"jobExecutionId": job_id, "status": "failed-ack", "result": {"success": False}}
    assert api.http.post("/blackboard/job/result", json=body).status_code == 201


def test_log_answers_201_and_is_stored_with_the_job(api: Api) -> None:
    """A log line answers 201 and shows up in the job's development view."""
    job_id = api.add_job()
    log = JobLog(
        workflow_id="fb.test/flow:1.0.0",
        job_id=job_id,
        function_block_id=FB_A.fb_id,
        log_entry="connected",
        log_level="info",
        timestamp="2025-06-02T09:15:11.204Z",
    )
    assert api.http.post("/blackboard/job/log", json=log.to_wire()).status_code == 201
    [entry] = api.dev_job(job_id)["logs"]
    assert (entry["logEntry"], entry["logLevel"], entry["workflowId"]) == (
        "connected",
        "info",
        "fb.test/flow:1.0.0",
    )


# --- listings ---------------------------------------------------------------------------------


def test_job_listings_show_status_worker_and_result(api: Api) -> None:
    """GET /blackboard/jobs lists pending, polled and pushed jobs with worker, result status and times."""
    worker_id = api.worker_with(FB_A, name="lister")
    done, claimed, waiting = api.add_job(), api.add_job(), api.add_job()
    api.poll(worker_id, limit=2)
    api.push_result(done)
    jobs = {job["jobId"]: job for job in api.http.get("/blackboard/jobs").json()}
    assert (jobs[done]["status"], jobs[done]["resultStatus"], jobs[done]["workerName"]) == (
        "pushed",
        "success",
        "lister",
    )
    assert (jobs[claimed]["status"], jobs[claimed]["workerId"]) == ("polled", worker_id)
    assert (jobs[waiting]["status"], jobs[waiting]["workerId"], jobs[waiting]["startedAt"]) == (
        "pending",
        None,
        None,
    )
    assert jobs[done]["startedAt"] <= jobs[done]["finishedAt"]
    assert (jobs[done]["retryCount"], jobs[done]["canceled"], jobs[done]["resultMessage"]) == (
        0,
        False,
        "done",
    )
    assert len({job["workflowExecutionId"] for job in jobs.values()}) == 3, "each submitted job is a run"


def test_job_listing_filters_by_status(api: Api) -> None:
    """GET /blackboard/jobs?status= filters; an unknown status answers 400 naming the parameter."""
    worker_id = api.worker_with(FB_A)
    api.add_job()
    waiting = api.add_job()
    api.poll(worker_id, limit=1)
    assert [
        job["jobId"] for job in api.http.get("/blackboard/jobs", params={"status": "pending"}).json()
    ] == [waiting]
    response = api.http.get("/blackboard/jobs", params={"status": "done"})
    assert response.status_code == 400
    assert "status" in response.json()["message"][0]


def test_worker_jobs_lists_the_workers_jobs(api: Api) -> None:
    """GET /workers/{uuid}/jobs lists the worker's jobs (filterable by status); 404 for an unknown worker."""
    mine, theirs = api.worker_with(FB_A, name="mine"), api.worker_with(FB_A, name="theirs")
    job_id = api.add_job()
    api.add_job()
    api.poll(mine, limit=1)
    api.poll(theirs, limit=1)
    assert [job["jobId"] for job in api.http.get(f"/workers/{mine}/jobs").json()] == [job_id]
    assert api.http.get(f"/workers/{mine}/jobs", params={"status": "pushed"}).json() == []
    assert api.http.get(f"/workers/{UNKNOWN}/jobs").status_code == 404


def test_active_jobs_drop_pushed_jobs_after_the_window(api: Api, clock: FakeClock) -> None:
    """GET /blackboard/jobs/active lists pending, polled and recently pushed jobs only."""
    worker_id = api.worker_with(FB_A)
    done = api.add_job()
    waiting = api.add_job()
    api.poll(worker_id, limit=1)
    api.push_result(done)
    assert [job["jobId"] for job in api.http.get("/blackboard/jobs/active").json()] == [done, waiting]
    clock.advance(61)
    assert [job["jobId"] for job in api.http.get("/blackboard/jobs/active").json()] == [waiting]


# --- expiry of a worker holding a job ---------------------------------------------------------


def test_expired_workers_job_is_requeued_and_claimed_again(api: Api, clock: FakeClock) -> None:
    """A worker that stops pinging loses its claimed job: it is pending again and the next poller gets it."""
    silent = api.worker_with(FB_A, name="silent")
    job_id = api.add_job()
    api.poll(silent)
    clock.advance(HEARTBEAT_S * OFFLINE_AFTER + 1)
    rescuer = api.worker_with(FB_A, name="rescuer")
    [job] = api.poll(rescuer)
    assert job["jobId"] == job_id
    row = api.dev_job(job_id)
    assert (row["status"], row["workerId"], row["claims"]) == ("polled", rescuer, 2)
    assert api.http.post(f"/workers/{silent}/ping").status_code == 404
