"""Version and health endpoints, and the development-only routes under /_dev/."""

from __future__ import annotations

from neops_worker.devkit.local_engine import EngineOptions, LocalEngine
from neops_worker.engine.generations import EngineGeneration, parse_version
from neops_worker.engine.wire import CONTRACT_LIBRARY, CONTRACT_VERSION
from tests.local_engine.conftest import HEARTBEAT_S, OFFLINE_AFTER
from tests.local_engine.helpers import FB_A, FB_B, Api, FakeClock

COMPATIBILITY = {"version": CONTRACT_VERSION, "library": CONTRACT_LIBRARY}


def test_version_and_health(api: Api) -> None:
    """GET /version answers the contract's version marked local, which parses as 0.43.0-beta.8."""
    version = api.http.get("/version").json()["version"]
    assert version == "0.43.0-beta.8-local"
    assert EngineGeneration(version).knows_retryable
    assert parse_version(version) == parse_version("0.43.0-beta.8")
    assert api.http.get("/health").json() == {"healthy": True}


def test_contract_library_is_compatible(api: Api) -> None:
    """The compatibility check answers compatible for the contract library and echoes what it checked."""
    response = api.http.post("/version/compatibility", json=COMPATIBILITY)
    assert response.status_code == 201
    assert response.json() == {
        "compatible": True,
        "deprecated": False,
        "version": "0.43.0-beta.8-local",
        "checkedLibrary": CONTRACT_LIBRARY,
        "checkedVersion": CONTRACT_VERSION,
    }


def test_other_library_is_incompatible(api: Api) -> None:
    """A library other than the contract's is not compatible."""
    body = api.http.post(
        "/version/compatibility", json={"version": "1.0", "library": "something_else"}
    ).json()
    assert body["compatible"] is False


def test_incompatible_answer_is_configurable() -> None:
    """An engine configured incompatible (and deprecated) says so for the contract library too."""
    options = EngineOptions(compatible=False, deprecated=True, engine_version="9.9.9")
    with LocalEngine(options=options) as engine:
        api = Api.connect(engine.url)
        body = api.http.post("/version/compatibility", json=COMPATIBILITY).json()
        assert (body["compatible"], body["deprecated"], body["version"]) == (False, True, "9.9.9")
        api.http.close()


def test_dev_add_job_with_own_id_and_duplicate(api: Api) -> None:
    """POST /_dev/jobs accepts a chosen jobId (201 {"jobId"}) and answers 409 when it is taken."""
    response = api.http.post("/_dev/jobs", json={"functionBlockId": FB_A.fb_id, "jobId": "job-1"})
    assert (response.status_code, response.json()) == (201, {"jobId": "job-1"})
    assert (
        api.http.post("/_dev/jobs", json={"functionBlockId": FB_A.fb_id, "jobId": "job-1"}).status_code == 409
    )


def test_dev_job_detail_and_404(api: Api) -> None:
    """GET /_dev/jobs/{jobId} shows input, state and no result yet; an unknown id answers 404."""
    job_id = api.add_job(parameters={"n": 1}, stepLabel="step_1")
    job = api.dev_job(job_id)
    assert (job["status"], job["claims"], job["parameters"], job["result"], job["logs"]) == (
        "pending",
        0,
        {"n": 1},
        None,
        [],
    )
    assert (job["stepLabel"], job["workerId"], job["claimedAt"], job["finishedAt"]) == (
        "step_1",
        None,
        None,
        None,
    )
    assert api.http.get("/_dev/jobs/nope").status_code == 404


def test_dev_job_listing_filters(api: Api) -> None:
    """GET /_dev/jobs filters by status, functionBlockId (partial versions allowed) and workerId."""
    worker_id = api.worker_with(FB_A, FB_B)
    claimed, other = api.add_job(FB_A), api.add_job(FB_B)
    api.poll(worker_id, [FB_A])
    assert [j["jobId"] for j in api.dev_jobs(status="polled")] == [claimed]
    assert [j["jobId"] for j in api.dev_jobs(functionBlockId="fb.test/beta:2.0.1")] == [other]
    assert [j["jobId"] for j in api.dev_jobs(workerId=worker_id)] == [claimed]
    assert api.http.get("/_dev/jobs", params={"functionBlockId": "bad"}).status_code == 400


def test_dev_workers_show_state_blocks_and_claims(api: Api, clock: FakeClock) -> None:
    """GET /_dev/workers shows every worker with state, last seen age, blocks, claimed jobs and expiry."""
    worker_id = api.worker_with(FB_A, name="busy")
    api.add_job()
    api.poll(worker_id)
    clock.advance(5)
    [row] = api.http.get("/_dev/workers").json()
    assert (row["uuid"], row["name"], row["state"], row["expired"]) == (worker_id, "busy", "online", False)
    assert (row["functionBlocks"], row["claimedJobs"], row["lastSeenAgeS"]) == ([FB_A.fb_id], 1, 5.0)
    clock.advance(HEARTBEAT_S * OFFLINE_AFTER)
    [row] = api.http.get("/_dev/workers").json()
    assert (row["state"], row["expired"], row["claimedJobs"]) == ("offline", True, 0)


def test_dev_function_blocks_show_the_first_registration(api: Api) -> None:
    """GET /_dev/function-blocks lists each block once with its registration, flags and linked workers."""
    worker_id = api.worker_with(FB_A, is_idempotent=True, reversible=True)
    [block] = api.http.get("/_dev/function-blocks").json()
    assert (block["functionBlockId"], block["fbType"], block["runOn"]) == (FB_A.fb_id, "facts", "device")
    assert (block["isPure"], block["isIdempotent"], block["reversible"]) == (False, True, True)
    assert block["workerIds"] == [worker_id]
    assert block["registration"]["parameterJsonSchema"] == {"type": "object"}


def test_dev_sweep_expires_silent_workers_now(api: Api, clock: FakeClock) -> None:
    """POST /_dev/sweep expires overdue workers at once and names them."""
    worker_id = api.register_worker()
    assert api.http.post("/_dev/sweep").json() == {"expired": []}
    clock.advance(HEARTBEAT_S * OFFLINE_AFTER + 1)
    assert api.http.post("/_dev/sweep").json() == {"expired": [worker_id]}
