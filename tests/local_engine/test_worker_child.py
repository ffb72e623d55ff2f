"""The worker as a child process of the development kit: its environment, scrubbed of the user's settings."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from neops_worker.devkit.local_engine.process import BASIC_VARIABLES, start_worker, worker_env


def test_the_users_settings_never_reach_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every worker setting of this environment is dropped, in any case; other variables stay."""
    monkeypatch.setenv("URL_BLACKBOARD", "http://users-engine:3030")
    monkeypatch.setenv("job_isolation", "thread")
    monkeypatch.setenv("NEOPS_UNRELATED", "kept")
    env = worker_env({"poll_interval": 0.5, "LOG_LEVEL": "DEBUG"})
    assert "URL_BLACKBOARD" not in env
    assert "job_isolation" not in env
    assert env["NEOPS_UNRELATED"] == "kept"
    assert (env["POLL_INTERVAL"], env["LOG_LEVEL"]) == ("0.5", "DEBUG")


def test_keep_narrows_what_else_is_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``keep``, only the variables it accepts are inherited; the given settings are always set."""
    monkeypatch.setenv("NEOPS_UNRELATED", "dropped")
    env = worker_env({"WORKER_NAME": "w"}, keep=BASIC_VARIABLES.__contains__)
    assert set(env) <= BASIC_VARIABLES | {"WORKER_NAME"}
    assert env["WORKER_NAME"] == "w"


def test_the_child_runs_on_the_settings_it_was_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real worker child rejects the bad setting it was given, not the user's bad one it never saw."""
    monkeypatch.setenv("LOG_LEVEL", "NOT-A-LEVEL")
    process = start_worker({"HEARTBEAT_INTERVAL": "-1"}, tmp_path, stderr=subprocess.PIPE)
    output, errors = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "HEARTBEAT_INTERVAL" in errors
    assert "LOG_LEVEL" not in output + errors
