"""A worker refused by the engine's licence, as its service manager sees it: exit 3, the reason first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from neops_worker.discovery import discover
from tests.ops.fake_engine import FakeEngine
from tests.ops.harness import EXAMPLES

CLI = str(Path(sys.executable).parent / "neops_worker")
ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "neops-worker.service"


def run_worker(url: str, tmp_path: Path) -> tuple[int, list[dict[str, Any]]]:
    """Run the daemon against ``url`` until it exits; its exit code and JSON log lines."""
    ours = ("URL_", "BLACKBOARD_", "HEALTH_", "LOG_", "NOTIFY_", "WATCHDOG_", "STARTUP_", "WORKER_", "JOB_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(
        URL_BLACKBOARD=url,
        DIR_FUNCTION_BLOCKS=str(EXAMPLES),
        JOB_ISOLATION="thread",
        LOG_FORMAT="json",
        HOME=str(tmp_path),
    )
    done = subprocess.run(
        [CLI], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    return done.returncode, lines


def test_a_licence_refusal_exits_3_saying_every_refused_block_first(tmp_path: Path) -> None:
    """Blocks past the quota: the first error names each; unregistered; exit 3 with a short last line."""
    engine = FakeEngine(block_limit=2)
    with engine.serve() as url:
        code, lines = run_worker(url, tmp_path)
    errors = [line["message"] for line in lines if line["level"] in ("ERROR", "CRITICAL")]
    every = {block.fb_id for block in discover([EXAMPLES]).blocks}
    refused = sorted(every - engine.block_ids)
    assert code == 3
    assert len(refused) == len(every) - 2
    assert errors[0].startswith(
        "License limit exceeded: function blocks (2 of 2), edition developer-preview; "
    )
    assert f"; refused: {', '.join(refused)}; the engine says: " in errors[0]
    assert errors[-1] == "Stopped: the engine's licence refused this worker (exit 3; reason above)"
    assert len(errors) == 2
    assert list(engine.workers.values()) == [False]
    messages = [line["message"] for line in lines]
    assert messages.index(errors[0]) < next(i for i, m in enumerate(messages) if m.endswith(" unregistered"))


def test_the_shipped_unit_does_not_restart_into_a_refusal() -> None:
    """systemd restarts on failure, but not on exit 2 (configuration) or 3 (licence refused)."""
    settings = [line.strip() for line in UNIT.read_text().splitlines() if not line.startswith("#")]
    assert "Restart=on-failure" in settings
    assert "RestartPreventExitStatus=2 3" in settings
