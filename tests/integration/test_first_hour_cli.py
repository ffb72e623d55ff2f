"""The worker command as a newcomer types it (``neops_worker --log-level DEBUG``); start-up errors said once.

Every test runs the real ``neops_worker`` console script in a subprocess.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

from tests.faults.faultkit import free_port
from tests.integration.commands import CommandProcess, clean_environment
from tests.integration.conftest import EngineUnderTest
from tests.integration.support import EXAMPLES, EXAMPLES_REGISTERED, WORKER_COMMAND, workers

#: A console log line at ERROR level: "2026-01-01 12:00:00.000 ERROR    logger: message".
ERROR_LINE = re.compile(r"^\S+ \S+ ERROR ")


def run_to_exit(tmp_path: Path, *args: str, **settings: object) -> tuple[int, list[str]]:
    """``neops_worker ARGS`` with ``settings`` to its end: the exit code and the lines of stderr."""
    command = CommandProcess([*WORKER_COMMAND, *args], tmp_path, clean_environment(**settings))
    return command.wait(60), command.stderr


def broken_blocks(tmp_path: Path, *modules: str) -> Path:
    """A block directory whose modules each import a module that does not exist."""
    blocks = tmp_path / "blocks"
    blocks.mkdir()
    for name in modules:
        (blocks / f"{name}.py").write_text(f"import no_such_module_{name}\n")
    return blocks


def unreachable() -> str:
    """The URL of an engine that is not there: nothing listens on its port."""
    return f"http://127.0.0.1:{free_port()}"


def test_the_bare_command_takes_the_options_of_run(engine: EngineUnderTest, tmp_path: Path) -> None:
    """``neops_worker --log-level DEBUG --worker-name X`` serves exactly as ``run`` with them would."""
    command = CommandProcess(
        [*WORKER_COMMAND, "--log-level", "DEBUG", "--worker-name", "first-hour"],
        tmp_path,
        clean_environment(url_blackboard=engine.url, dir_function_blocks=EXAMPLES, log_level="INFO"),
    )
    command.wait_for_log(EXAMPLES_REGISTERED)
    assert command.count("DEBUG") > 0  # the option won over LOG_LEVEL=INFO from the environment
    assert [worker["name"] for worker in workers(engine.url)] == ["first-hour"]
    command.process.send_signal(signal.SIGTERM)
    assert command.wait(30) == 0, command.log


def test_several_block_problems_end_in_one_line(tmp_path: Path) -> None:
    """Two broken modules: exit 1, and the last line names both files, on one line."""
    blocks = broken_blocks(tmp_path, "first", "second")
    code, lines = run_to_exit(
        tmp_path, dir_function_blocks=blocks, url_blackboard=unreachable(), startup_retry_timeout=30
    )
    assert code == 1, lines
    assert ERROR_LINE.match(lines[-1]), lines
    assert str(blocks / "first.py") in lines[-1]
    assert str(blocks / "second.py") in lines[-1]


def test_a_broken_block_is_said_once(tmp_path: Path) -> None:
    """A module that fails to import: exit 1, one error line, and its cause printed once."""
    blocks = broken_blocks(tmp_path, "only")
    code, lines = run_to_exit(
        tmp_path, dir_function_blocks=blocks, url_blackboard=unreachable(), startup_retry_timeout=30
    )
    assert code == 1, lines
    assert [line for line in lines if "no_such_module_only" in line] == lines[-1:]
    assert [line for line in lines if ERROR_LINE.match(line)] == lines[-1:]


def test_an_unreachable_engine_is_said_once(tmp_path: Path) -> None:
    """No engine at URL_BLACKBOARD: exit 1, and the last line is the only error line."""
    code, lines = run_to_exit(
        tmp_path, dir_function_blocks=EXAMPLES, url_blackboard=unreachable(), startup_retry_timeout=1
    )
    assert code == 1, lines
    assert [line for line in lines if ERROR_LINE.match(line)] == lines[-1:]
