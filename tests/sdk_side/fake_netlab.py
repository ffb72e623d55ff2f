"""A fake ``netlab`` command for the remote lab server: canned ``inspect`` answers, no containers.

The lab server (``neops_remote_lab``) drives netlab only through the ``netlab`` executable on its
PATH: ``version`` at start, ``down --instance default --cleanup`` before a lab starts, ``up
TOPOLOGY`` in a directory holding the uploaded topology, ``inspect ... list(nodes.keys())`` and
``inspect ... --node NAME --format yaml`` for the nodes, ``down --cleanup`` when the session ends.
``install`` puts a ``netlab`` launcher into a directory (put first on the server's PATH); the
launcher runs this file with the state directory holding ``nodes.json`` (the node data ``inspect``
answers with) and ``calls.jsonl`` (every call: its arguments and working directory).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: Two FRR routers as ``netlab inspect --node`` describes them (management addresses of TEST-NET-1).
NODES: dict[str, dict[str, Any]] = {
    name: {
        "name": name,
        "id": index,
        "device": "frr",
        "box": "quay.io/frrouting/frr:10.2.1",
        "mgmt": {"ifname": "eth0", "ipv4": f"192.0.2.{10 + index}", "mac": f"08:4f:a9:00:00:0{index}"},
        "loopback": {"ipv4": f"10.0.0.{index}/32"},
        "ansible_connection": "paramiko",
        "ansible_network_os": "frr",
        "ansible_user": "admin",
        "ansible_ssh_pass": "lab-secret",
    }
    for index, name in enumerate(("r1", "r2"), start=1)
}


def install(bin_dir: Path, state: Path, nodes: dict[str, dict[str, Any]] = NODES) -> Path:
    """Write ``bin_dir/netlab`` (answering with ``nodes``, recording into ``state``); return it."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    (state / "nodes.json").write_text(json.dumps(nodes))
    launcher = bin_dir / "netlab"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "{state}" "$@"\n')
    launcher.chmod(0o755)
    return launcher


def calls(state: Path) -> list[list[str]]:
    """The arguments of every call so far, in order."""
    log = state / "calls.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return [json.loads(line)["args"] for line in lines]


def _answer(state: Path, args: list[str]) -> int:
    nodes: dict[str, Any] = json.loads((state / "nodes.json").read_text())
    running = state / "running"
    command = args[0] if args else ""
    if command == "version":
        print("netlab version 25.06 (fake)")
    elif command == "up":
        if not (Path.cwd() / args[-1]).is_file():
            print(f"netlab up: no topology file {args[-1]} in {Path.cwd()}", file=sys.stderr)
            return 1
        running.write_text(args[-1])
    elif command == "down":
        if not running.exists():
            print("netlab down: no lab instance is running", file=sys.stderr)
            return 1
        running.unlink()
    elif command == "inspect" and "--node" in args:
        print(json.dumps(nodes[args[args.index("--node") + 1]]))
    elif command == "inspect":
        print(repr(list(nodes)))
    else:
        print(f"netlab (fake): unknown command {args}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str]) -> int:
    """``fake_netlab.py STATE_DIR ARGS...``: record the call, then answer it."""
    state, args = Path(argv[0]), argv[1:]
    with (state / "calls.jsonl").open("a") as log:
        log.write(json.dumps({"args": args, "cwd": str(Path.cwd())}) + "\n")
    return _answer(state, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
