"""The reference client: a synchronous httpx client doing only poll(limit 1) + result push.

It registers itself and the no-op block, then claims one job at a time and pushes a success result
for it until a poll comes back empty, and exits. No parsing beyond the job id, no logging, no
threads: what the protocol itself costs a Python client on httpx, to compare the worker with.

    uv run python -m bench.bare_client http://127.0.0.1:3030
"""

from __future__ import annotations

import argparse
from typing import Any

import httpx

NOOP = {"package": "bench.neops", "name": "noop", "majorVersion": 1, "minorVersion": 0, "patchVersion": 0}


def register(client: httpx.Client) -> str:
    """Register as a worker and link the no-op block to it; the worker id."""
    worker_id = str(client.post("/workers/register", json={"version": "bench"}).json()["uuid"])
    block = NOOP | {
        "workerId": worker_id,
        "description": "Does nothing",
        "fbType": "none",
        "parameterJsonSchema": {"type": "object"},
        "resultDataJsonSchema": {"type": "object"},
    }
    client.post("/function-blocks/register", json=block)
    return worker_id


def drain(client: httpx.Client, worker_id: str) -> int:
    """Poll one job at a time and push its result until the queue is empty; how many jobs."""
    poll: dict[str, Any] = {"functionBlockIds": [NOOP], "limit": 1, "workerId": worker_id}
    done = 0
    while claimed := client.post("/blackboard/job", json=poll).json():
        result = {
            "jobExecutionId": claimed[0]["jobId"],
            "status": "success",
            "result": {"success": True, "message": "noop"},
        }
        client.post("/blackboard/job/result", json=result).raise_for_status()
        done += 1
    return done


def main() -> None:
    """Drain the engine at the URL given; print how many jobs."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", help="base URL of the engine")
    args = parser.parse_args()
    with httpx.Client(base_url=args.url, timeout=30) as client:
        print(drain(client, register(client)))


if __name__ == "__main__":
    main()
