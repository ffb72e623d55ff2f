"""Worker endpoints: registration, heartbeat, unregister, diagnostics, and expiry on the fake clock."""

from __future__ import annotations

from tests.local_engine.conftest import HEARTBEAT_S, OFFLINE_AFTER, UNREACHABLE_AFTER
from tests.local_engine.helpers import FB_A, Api, FakeClock

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def test_register_answers_201_with_an_online_record(api: Api) -> None:
    """POST /workers/register answers 201 and the new record, online, echoing name and address."""
    response = api.http.post(
        "/workers/register", json={"version": "1.0.0", "name": "w", "ipAddress": "10.0.0.9"}
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["version"], body["name"], body["ipAddress"], body["state"]) == (
        "1.0.0",
        "w",
        "10.0.0.9",
        "online",
    )
    assert body["lastPingAt"] == body["createdAt"]


def test_register_leaves_unset_optional_fields_out(api: Api) -> None:
    """A worker registered without name and address gets a record without those keys (not null)."""
    body = api.http.post("/workers/register", json={"version": "1.0.0"}).json()
    assert "name" not in body
    assert "ipAddress" not in body


def test_ping_answers_200_for_a_known_worker(api: Api) -> None:
    """POST /workers/{uuid}/ping answers 200 {"success": true}."""
    worker_id = api.register_worker()
    assert api.http.post(f"/workers/{worker_id}/ping").status_code == 200


def test_ping_and_unregister_answer_404_for_an_unknown_worker(api: Api) -> None:
    """Ping and unregister of a UUID the engine never issued answer 404."""
    assert api.http.post(f"/workers/{UNKNOWN}/ping").status_code == 404
    assert api.http.post(f"/workers/{UNKNOWN}/unregister").status_code == 404


def test_unregister_sets_offline_and_a_ping_brings_the_worker_back(api: Api) -> None:
    """Unregister answers 200 and marks the worker offline; a later ping makes it online again."""
    worker_id = api.register_worker()
    assert api.http.post(f"/workers/{worker_id}/unregister").status_code == 200
    assert api.worker_state(worker_id) == "offline"
    assert api.http.post(f"/workers/{worker_id}/ping").status_code == 200
    assert api.worker_state(worker_id) == "online"


def test_unregister_writes_the_epoch_into_last_ping_and_keeps_last_seen(api: Api, clock: FakeClock) -> None:
    """As a 0.43 engine: after unregistering, lastPingAt is the epoch and lastSeenAt the time it happened."""
    worker_id = api.register_worker()
    registered = api.http.get(f"/workers/{worker_id}").json()
    assert (registered["lastSeenAt"], registered["deletedAt"]) == (registered["lastPingAt"], None)
    clock.advance(3)
    api.http.post(f"/workers/{worker_id}/unregister")
    record = api.http.get(f"/workers/{worker_id}").json()
    assert record["lastPingAt"] == "1970-01-01T00:00:00.000Z"
    assert record["lastSeenAt"] == record["updatedAt"] > registered["lastSeenAt"]


def test_get_worker_answers_the_record_or_404(api: Api) -> None:
    """GET /workers/{uuid} answers the record of a known worker and 404 for an unknown one."""
    worker_id = api.register_worker("diag")
    assert api.http.get(f"/workers/{worker_id}").json()["name"] == "diag"
    assert api.http.get(f"/workers/{UNKNOWN}").status_code == 404


def test_list_workers_and_online_workers(api: Api) -> None:
    """GET /workers lists every live worker; GET /workers/online only the online ones."""
    first, second = api.register_worker("a"), api.register_worker("b")
    api.http.post(f"/workers/{second}/unregister")
    assert [w["uuid"] for w in api.http.get("/workers").json()] == [first, second]
    assert [w["uuid"] for w in api.http.get("/workers/online").json()] == [first]


def test_worker_function_blocks_lists_linked_blocks(api: Api) -> None:
    """GET /workers/{uuid}/function-blocks lists the string ids of the worker's blocks; 404 if unknown."""
    worker_id = api.worker_with(FB_A)
    assert api.http.get(f"/workers/{worker_id}/function-blocks").json() == [FB_A.fb_id]
    assert api.http.get(f"/workers/{UNKNOWN}/function-blocks").status_code == 404


def test_silent_worker_becomes_unreachable(api: Api, clock: FakeClock) -> None:
    """A worker silent for more than the unreachable multiple of the interval is unreachable."""
    worker_id = api.register_worker()
    clock.advance(HEARTBEAT_S * UNREACHABLE_AFTER + 1)
    assert api.worker_state(worker_id) == "unreachable"
    api.http.post(f"/workers/{worker_id}/ping")
    assert api.worker_state(worker_id) == "online"


def test_expired_worker_gets_404_everywhere_but_stays_findable(api: Api, clock: FakeClock) -> None:
    """After the offline multiple a worker expires: ping 404, GET 404 unless findDeleted, listed deleted."""
    worker_id = api.register_worker()
    clock.advance(HEARTBEAT_S * OFFLINE_AFTER + 1)
    assert api.http.post(f"/workers/{worker_id}/ping").status_code == 404
    assert api.http.get(f"/workers/{worker_id}").status_code == 404
    record = api.http.get(f"/workers/{worker_id}", params={"findDeleted": "true"}).json()
    assert record["state"] == "offline"
    assert record["deletedAt"] is not None
    assert api.http.get("/workers").json() == []
    assert [w["uuid"] for w in api.http.get("/workers", params={"findDeleted": "true"}).json()] == [worker_id]


def test_unregistered_worker_expires_too(api: Api, clock: FakeClock) -> None:
    """An unregistered worker that never pings again expires; its ping is then 404, not a revival."""
    worker_id = api.register_worker()
    api.http.post(f"/workers/{worker_id}/unregister")
    clock.advance(HEARTBEAT_S * OFFLINE_AFTER + 1)
    assert api.http.post(f"/workers/{worker_id}/ping").status_code == 404


def test_pings_keep_a_worker_alive(api: Api, clock: FakeClock) -> None:
    """A worker that pings every interval stays online however long it runs."""
    worker_id = api.register_worker()
    for _ in range(20):
        clock.advance(HEARTBEAT_S)
        assert api.http.post(f"/workers/{worker_id}/ping").status_code == 200
    assert api.worker_state(worker_id) == "online"


def test_find_deleted_must_be_a_boolean(api: Api) -> None:
    """A findDeleted query that is not a boolean answers 400 naming the parameter."""
    response = api.http.get("/workers", params={"findDeleted": "maybe"})
    assert response.status_code == 400
    assert "findDeleted" in response.json()["message"][0]
