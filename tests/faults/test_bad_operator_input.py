"""Bad input from the operator, through the real ``neops_worker`` command: settings, directories, blocks.

Every invalid setting, unusable block directories among them, must end in exit 2 and one line naming
the variable; broken block modules in exit 1 and a line naming the path; never a traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from neops_worker.settings import Settings
from tests.faults.faultkit import free_port

WORKER = str(Path(sys.executable).parent / "neops_worker")

#: setting -> an invalid value. Every setting is either here or in FREE_TEXT.
INVALID = {
    "url_blackboard": "not a url",
    "dir_function_blocks": " , ",
    "heartbeat_interval": "abc",
    "poll_interval": "0",
    "poll_min_interval": "-1",
    "shutdown_timeout": "-1",
    "api_request_timeout": "0",
    "poll_timeout": "0",
    "engine_stuck_job_timeout": "-1",
    "version_check_library": "",
    "version_check_version": "",
    "result_push_timeout": "soon",
    "startup_retry_timeout": "-5",
    "job_timeout": "-5",
    "job_isolation": "container",
    "worker_slots": "0",
    "max_jobs": "-3",
    "exit_when_idle": "later",
    "max_jobs_per_process": "-1",
    "max_memory_per_process": "lots",
    "registration_concurrency": "1000",
    "register_reversible": "maybe",
    "skip_broken_modules": "perhaps",
    "log_level": "loud",
    "log_format": "xml",
    "log_redact_extra_keys": "pin;enable",
    "blackboard_ca_bundle": "/nonexistent/ca.pem",
    "blackboard_token_file": "/nonexistent/token",
    "health_port": "70000",
}

#: Settings any text is valid for; HEALTH_HOST is only checked when the listener binds (tested below).
FREE_TEXT = {
    "worker_name": "a label",
    "worker_ip_address": "informational, never parsed",
    "blackboard_token": "an opaque secret",
    "health_host": "resolved when the health listener starts",
}


def _env(cwd: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(
        {
            "URL_BLACKBOARD": f"http://127.0.0.1:{free_port()}",
            "DIR_FUNCTION_BLOCKS": str(cwd),
            "STARTUP_RETRY_TIMEOUT": "1",
        }
    )
    env.update(settings)
    return env


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def bad_setting_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[int, str]]]:
    """The command run once per invalid setting, all at the same time (each start costs ~0.5 s)."""
    cwd = tmp_path_factory.mktemp("settings")
    started = {
        name: subprocess.Popen(
            [WORKER],
            cwd=cwd,
            env=_env(cwd, **{name.upper(): value}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, value in INVALID.items()
    }
    runs = {}
    try:
        for name, process in started.items():
            output, _ = process.communicate(timeout=60)
            runs[name] = (process.returncode, output)
        yield runs
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()


def test_every_setting_is_covered() -> None:
    """Each setting of the model has an invalid value here, or is listed as free text."""
    assert set(INVALID) | set(FREE_TEXT) == set(Settings.model_fields)
    assert not set(INVALID) & set(FREE_TEXT)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_an_invalid_setting_is_one_line_and_exit_2(
    bad_setting_runs: dict[str, tuple[int, str]], name: str
) -> None:
    """An invalid value: exit 2, a single line naming the variable (and the value), no traceback."""
    code, output = bad_setting_runs[name]
    lines = output.strip().splitlines()
    assert code == 2, output
    assert len(lines) == 1, output
    assert lines[0].startswith("neops_worker: error: configuration: "), lines[0]
    assert f" {name.upper()}: " in lines[0]
    if name != "dir_function_blocks":
        assert INVALID[name].lower() in lines[0].lower()


def test_a_ca_bundle_error_says_configuration_once(bad_setting_runs: dict[str, tuple[int, str]]) -> None:
    """The line for a missing CA bundle reads 'configuration: BLACKBOARD_CA_BUNDLE: ...'."""
    _, output = bad_setting_runs["blackboard_ca_bundle"]
    assert output.startswith("neops_worker: error: configuration: BLACKBOARD_CA_BUNDLE: "), output


def test_a_health_host_that_cannot_be_bound(tmp_path: Path) -> None:
    """HEALTH_HOST is free text until the listener binds: an unknown host ends in exit 2 naming it."""
    blocks = Path(__file__).resolve().parents[2] / "function_blocks"
    env = _env(tmp_path, HEALTH_HOST="no-such-host.invalid", HEALTH_PORT="0", DIR_FUNCTION_BLOCKS=str(blocks))
    done = _run([WORKER], tmp_path, env)
    assert done.returncode == 2, done.stderr
    assert "cannot listen on no-such-host.invalid:0" in done.stderr
    assert "Traceback" not in done.stderr


def _without_dac_override() -> list[str] | None:
    """A command prefix under which even root obeys file modes, or None if there is none."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    caps = "-dac_override,-dac_read_search"
    prefix = [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
    return prefix if probe.returncode == 0 else None


def test_an_unreadable_block_directory(tmp_path: Path) -> None:
    """DIR_FUNCTION_BLOCKS with mode 000: exit 2 and a line naming the path, no traceback."""
    # Root ignores file modes: as root the worker runs without CAP_DAC_OVERRIDE, through setpriv.
    prefix = _without_dac_override()
    if prefix is None:
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE (no setpriv): chmod 000 would not bite")
    blocks = tmp_path / "blocks"
    blocks.mkdir()
    (blocks / "echo.py").write_text("x = 1\n")
    blocks.chmod(0)
    try:
        done = _run([*prefix, WORKER], tmp_path, _env(tmp_path, DIR_FUNCTION_BLOCKS=str(blocks)))
    finally:
        blocks.chmod(0o755)
    assert done.returncode == 2, done.stderr
    assert str(blocks) in done.stderr
    assert "Permission denied" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_block_directory_that_is_a_symlink_loop(tmp_path: Path) -> None:
    """DIR_FUNCTION_BLOCKS that is a symlink loop (unreadable even for root): exit 2, the path named."""
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    done = _run([WORKER], tmp_path, _env(tmp_path, DIR_FUNCTION_BLOCKS=str(loop)))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert str(loop) in done.stderr


def test_a_block_module_with_a_syntax_error(tmp_path: Path) -> None:
    """A block module that does not compile: exit 1, the file and line named, no traceback."""
    blocks = tmp_path / "blocks"
    blocks.mkdir()
    (blocks / "broken.py").write_text("x = 1\ndef oops(:\n    pass\n")
    done = _run([WORKER], tmp_path, _env(tmp_path, DIR_FUNCTION_BLOCKS=str(blocks)))
    assert done.returncode == 1, done.stderr
    assert f"{blocks / 'broken.py'}:2: failed to import: SyntaxError: invalid syntax" in done.stderr
    assert "Traceback" not in done.stderr
