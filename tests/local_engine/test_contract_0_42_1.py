"""The engine in 0.42.1 mode: the old shapes (validated against tests/schemas/0.42.1/), a refusal of the
fields 0.42.1 does not know, and runs without retries or rollback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from neops_worker.devkit.local_engine import EngineOptions, LocalEngine
from neops_worker.engine.generations import EngineGeneration, parse_version
from neops_worker.engine.wire import CONTRACT_LIBRARY
from tests.contract import PREVIOUS, assert_valid
from tests.local_engine.helpers import FB_A, Api

OLD = EngineOptions(contract="0.42.1")


@pytest.fixture
def api() -> Iterator[Api]:
    """A client of an in-memory engine speaking 0.42.1, checking answers against the 0.42.1 schemas."""
    with LocalEngine(options=OLD) as engine:
        client = Api.connect(engine.url, PREVIOUS)
        yield client
        client.http.close()


def test_version_says_0_42_1_and_parses_as_such(api: Api) -> None:
    """GET /version and the compatibility answer say 0.42.1-local, which a worker reads as before 0.43."""
    version = api.http.get("/version").json()["version"]
    body = {"version": "0.42.1", "library": CONTRACT_LIBRARY}
    assert api.http.post("/version/compatibility", json=body).json()["version"] == version == "0.42.1-local"
    assert parse_version(version) == parse_version("0.42.1")
    assert not EngineGeneration(version).knows_reversible


def test_worker_records_have_the_0_42_1_shape(api: Api) -> None:
    """A live worker's record has neither lastSeenAt nor deletedAt (optional in 0.42.1)."""
    record = api.http.get(f"/workers/{api.register_worker()}").json()
    assert "lastSeenAt" not in record
    assert "deletedAt" not in record


def test_ping_and_unregister_answer_without_a_body(api: Api) -> None:
    """0.42.1 answers ping and unregister 200 with an empty body (the client hook checks it)."""
    worker_id = api.register_worker()
    assert api.http.post(f"/workers/{worker_id}/ping").content == b""
    assert api.http.post(f"/workers/{worker_id}/unregister").content == b""


def test_job_listings_have_the_0_42_1_shape(api: Api) -> None:
    """Listings carry only the 0.42.1 fields: no run, times or retry count; unset fields left out."""
    api.add_job()
    [job] = api.http.get("/blackboard/jobs").json()
    assert set(job) == {"functionBlockId", "jobId", "status", "type", "workerDeleted"}


@pytest.mark.parametrize("value", [True, False])
def test_reversible_at_block_registration_is_refused_naming_it(api: Api, value: bool) -> None:
    """A registration carrying reversible (true or false) answers 400 naming the field; without, 201."""
    worker_id = api.register_worker()
    refused = api.register_fb(worker_id, reversible=value)
    assert refused.status_code == 400
    assert refused.json()["message"][0].startswith("reversible: property reversible should not exist")
    assert api.register_fb(worker_id).status_code == 201


def test_retryable_in_a_result_is_refused_naming_it(api: Api) -> None:
    """A result carrying retryable answers 400 naming result.retryable and is not kept; without, 201."""
    worker_id = api.worker_with(FB_A)
    api.add_job()
    [job] = api.poll(worker_id)
    refused = api.push_result(job["jobId"], success=False, retryable=False)
    assert refused.status_code == 400
    assert refused.json()["message"][0].startswith("result.retryable: property retryable should not exist")
    assert api.push_result(job["jobId"], success=False).status_code == 201


def test_a_failure_is_neither_retried_nor_rolled_back(api: Api) -> None:
    """A failed job of a pure block gets no retry and no rollback job; its run ends FAILED."""
    worker_id = api.worker_with(FB_A, is_pure=True)
    job_id = api.add_job()
    api.run_once(worker_id, success=False)
    assert api.poll(worker_id) == []
    assert [row["runState"] for row in api.run_jobs(job_id)] == ["FAILED"]


def test_rollback_on_request_is_refused(api: Api) -> None:
    """0.42.1 has no remediation: a rollback on request answers 400 saying so."""
    worker_id = api.worker_with(FB_A)
    job_id = api.add_job()
    api.run_once(worker_id, success=False)
    answer = api.http.post(f"/_dev/jobs/{job_id}/rollback")
    assert answer.status_code == 400
    assert "0.42.1, which has no remediation rollback" in answer.json()["message"]


def test_the_poll_answer_validates_against_0_42_1(api: Api) -> None:
    """A claimed job (its step label may start with a digit) validates against the 0.42.1 JobDefinitionDto."""
    worker_id = api.worker_with(FB_A)
    api.add_job(context={"devices": [{"id": 42, "groups": [{"id": 5, "name": "core"}]}]}, stepLabel="1st")
    [job] = api.poll(worker_id)
    assert_valid("JobDefinitionDto", job, PREVIOUS)
