"""Contexts with references that carry no id (0.43's ``EntityReferenceDto``) are accepted and handed out
as submitted, valid against the 0.43 schemas."""

from __future__ import annotations

from typing import Any

from tests.contract import assert_valid
from tests.local_engine.helpers import FB_A, Api

#: The contract's example of a device valid in 0.43 but not in 0.42.1 (BLACKBOARD.md 5.6), and more.
ID_LESS: dict[str, Any] = {
    "devices": [
        {
            "id": 42,
            "hostname": "core-rtr-01",
            "platform": {"shortName": "iosxe"},
            "controller": {},
            "groups": [{"id": 5}, {}],
            "interfaces": [{"hostname": "core-rtr-01"}],
        }
    ],
    "deviceGroups": [{"id": 5, "name": "core", "devices": [{}, {"id": 42}]}],
    "interfaces": [{"id": 7, "name": "Gi0/0", "device": {}, "clients": [{}]}],
}


def test_id_less_references_are_accepted_and_handed_out_unchanged(api: Api) -> None:
    """A job whose context has id-less references and platform is queued, and polled exactly as given."""
    worker_id = api.worker_with(FB_A)
    job_id = api.add_job(context=ID_LESS, runOn="device", entityId=42)
    [job] = api.poll(worker_id)
    assert (job["jobId"], job["context"]) == (job_id, ID_LESS)
    assert_valid("JobExecutionContextDto", job["context"])
