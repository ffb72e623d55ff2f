"""Settings: defaults, environment names, and one clear line per bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from neops_worker.errors import ConfigurationError
from neops_worker.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the developer's environment or a .env file."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    """The documented defaults."""
    settings = load_settings()
    assert settings.base_url == "http://localhost:3030"
    assert settings.dir_function_blocks == ["function_blocks"]
    assert (settings.heartbeat_interval, settings.poll_interval, settings.shutdown_timeout) == (20, 10, 60)
    assert (settings.api_request_timeout, settings.result_push_timeout, settings.startup_retry_timeout) == (
        30,
        300,
        120,
    )
    assert settings.job_timeout == 0
    assert (settings.log_level, settings.log_format) == ("INFO", "console")
    assert settings.health_port is None


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Variables come from the environment, and from .env when not set there."""
    (tmp_path / ".env").write_text("WORKER_NAME=from-dotenv\nPOLL_INTERVAL=3\n")
    monkeypatch.setenv("POLL_INTERVAL", "4")
    monkeypatch.setenv("DIR_FUNCTION_BLOCKS", " blocks_a , blocks_b ,")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.worker_name == "from-dotenv"
    assert settings.poll_interval == 4
    assert settings.dir_function_blocks == ["blocks_a", "blocks_b"]
    assert settings.log_level == "DEBUG"


def test_overrides_beat_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Command-line overrides win; None means 'not given'."""
    monkeypatch.setenv("HEARTBEAT_INTERVAL", "5")
    settings = load_settings({"heartbeat_interval": 2, "worker_name": None})
    assert settings.heartbeat_interval == 2


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("HEARTBEAT_INTERVAL", "abc", "HEARTBEAT_INTERVAL: Input should be a valid number"),
        ("HEARTBEAT_INTERVAL", "0", "HEARTBEAT_INTERVAL: Input should be greater than 0"),
        ("POLL_INTERVAL", "-1", "POLL_INTERVAL"),
        ("URL_BLACKBOARD", "not a url", "URL_BLACKBOARD"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL"),
        ("JOB_TIMEOUT", "-5", "JOB_TIMEOUT"),
        ("HEALTH_PORT", "70000", "HEALTH_PORT"),
        ("DIR_FUNCTION_BLOCKS", " , ", "DIR_FUNCTION_BLOCKS: names no directory"),
        ("BLACKBOARD_CA_BUNDLE", "/nonexistent/ca.pem", "BLACKBOARD_CA_BUNDLE"),
        ("SKIP_BROKEN_MODULES", "maybe", "SKIP_BROKEN_MODULES"),
        (
            "REGISTER_REVERSIBLE",
            "sometimes",
            "REGISTER_REVERSIBLE: Input should be 'auto', 'always' or 'never'",
        ),
        ("VERSION_CHECK_VERSION", "", "VERSION_CHECK_VERSION"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    """Each invalid value gives a message naming its variable and what is wrong."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_the_engine_conversation_defaults() -> None:
    """The version check names the contract implemented; REGISTER_REVERSIBLE is auto; polls wait longer."""
    settings = load_settings()
    assert (settings.version_check_library, settings.version_check_version) == (
        "neops_workflow_engine_client",
        "0.43.0-beta.8",
    )
    assert settings.register_reversible == "auto"
    assert (settings.poll_timeout, settings.effective_poll_timeout) == (60, 60)
    assert load_settings({"poll_timeout": 5}).effective_poll_timeout == 30


@pytest.mark.parametrize(("value", "mode"), [("true", "always"), ("false", "never"), (" Never ", "never")])
def test_register_reversible_still_reads_its_boolean_form(
    monkeypatch: pytest.MonkeyPatch, value: str, mode: str
) -> None:
    """The former REGISTER_REVERSIBLE=true/false read as always/never; the modes read in any case."""
    monkeypatch.setenv("REGISTER_REVERSIBLE", value)
    assert load_settings().register_reversible == mode


def test_token_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bearer token is masked in the effective-configuration view and in errors."""
    monkeypatch.setenv("BLACKBOARD_TOKEN", "top-secret-value")
    view = load_settings().public_view()
    assert view["blackboard_token"] == "**********"
    assert "top-secret-value" not in repr(load_settings())


def test_cli_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    """The real command: one error line naming the variable, exit code 2, no traceback."""
    env = {"PATH": "/usr/bin:/bin", "HEARTBEAT_INTERVAL": "soon"}
    proc = subprocess.run(
        [sys.executable, "-m", "neops_worker"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "HEARTBEAT_INTERVAL" in lines[0]
    assert "Traceback" not in proc.stderr


def test_cli_option_overrides_are_validated_too(tmp_path: Path) -> None:
    """A bad `run` option is reported the same way."""
    proc = subprocess.run(
        [sys.executable, "-m", "neops_worker", "run", "--poll-interval", "-3"],
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "POLL_INTERVAL" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_block_directories_that_cannot_be_read_are_refused_naming_the_variable_and_the_path(
    tmp_path: Path,
) -> None:
    """Missing, a file, a symlink loop: a ConfigurationError (exit 2) naming DIR_FUNCTION_BLOCKS and it."""
    (tmp_path / "a_file").write_text("")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "blocks").mkdir()
    cases = {
        str(tmp_path / "nowhere"): f"DIR_FUNCTION_BLOCKS: {tmp_path / 'nowhere'} does not exist",
        "a_file": f"DIR_FUNCTION_BLOCKS: a_file (in {tmp_path}) is not a directory",
        "loop": f"DIR_FUNCTION_BLOCKS: loop (in {tmp_path}) cannot be resolved (",
    }
    for directory, says in cases.items():
        settings = load_settings({"dir_function_blocks": f"blocks,{directory}"})
        with pytest.raises(ConfigurationError) as caught:
            settings.check_block_directories()
        assert str(caught.value).startswith(says), str(caught.value)
        assert caught.value.exit_code == 2
    load_settings({"dir_function_blocks": f"blocks,{tmp_path}"}).check_block_directories()


def test_settings_load_without_their_block_directories() -> None:
    """Loading the settings does not need the directories (the health probe and the client commands)."""
    assert load_settings({"dir_function_blocks": "/nowhere/blocks"}).dir_function_blocks == [
        "/nowhere/blocks"
    ]
