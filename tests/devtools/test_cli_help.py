"""The help of every command speaks in words (``SECONDS``, ``DIR``, ``BLOCK``), never in Python types."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from neops_worker.cli import LAZY_COMMANDS
from tests.devtools.blockdirs import BUNDLED, invoke

#: Wide enough that no option's line is wrapped: each assertion reads one option's line.
WIDE = {"COLUMNS": "200"}
#: How typer shows a Python type: <bool>, <str>, <list[str]>, <float range>, [x>=0]; and {block} in a usage.
PYTHON_TYPE = re.compile(r"<[A-Za-z_\[\]|, ]+>|\[x[<>]=?|Usage: .*\{[a-z_]+\}")
HELP_OF = [["--help"], ["run", "--help"], *([name, "--help"] for name in LAZY_COMMANDS)]


def help_text(*args: str) -> str:
    """The help printed by ``neops_worker ARGS`` (exit 0)."""
    result = invoke(*args, env=WIDE)
    assert result.exit_code == 0, result.output
    return result.stdout


def option_words(text: str, option: str) -> list[str]:
    """The words of the help line of ``option`` (its first), the frame of the panel left out."""
    line = next(line for line in text.splitlines() if re.search(rf"│ {re.escape(option)}\b(?!-)", line))
    return line.strip("│ ").split()


@pytest.mark.parametrize("args", HELP_OF, ids=" ".join)
def test_no_help_shows_a_python_type(args: list[str]) -> None:
    """No command's help shows <bool>, <str>, <list[...]>, <float range>, [x>=0] or {block}."""
    assert PYTHON_TYPE.findall(help_text(*args)) == []


@pytest.mark.parametrize(
    ("option", "metavar"),
    [
        ("--url-blackboard", "URL"),
        ("--dir-function-blocks", "DIR[,DIR…]"),
        ("--poll-interval", "SECONDS"),
        ("--log-level", "LEVEL"),
        ("--max-jobs-per-process", "N"),
        ("--max-memory-per-process", "MiB"),
        ("--job-isolation", "process|thread"),
        ("--blackboard-token-file", "FILE"),
    ],
)
def test_run_options_name_their_value_in_words(option: str, metavar: str) -> None:
    """``run --help`` shows each setting's value as a word: --poll-interval SECONDS, --dir-... DIR[,DIR…]."""
    assert option_words(help_text("run", "--help"), option)[1] == metavar


@pytest.mark.parametrize(
    ("command", "flag", "help_starts"),
    [
        ("run", "--reload", "For"),
        ("exec", "--json", "Print"),
        ("blocks", "--help", "Show"),
        (None, "--help", "Show"),
    ],
)
def test_flags_show_no_value(command: str | None, flag: str, help_starts: str) -> None:
    """A flag is shown alone (``--json  Print ...``), with no ``<bool>`` between it and its help."""
    text = help_text(*([command] if command else []), "--help")
    assert option_words(text, flag)[1] == help_starts


def test_the_token_is_no_option_and_run_help_says_where_it_comes_from() -> None:
    """No --blackboard-token (the process list shows it): the help names the variable and the file."""
    text = " ".join(help_text("run", "--help").split())
    assert re.search(r"--blackboard-token\b(?!-)", text) is None
    assert "BLACKBOARD_TOKEN in the environment or .env" in text
    assert "BLACKBOARD_TOKEN_FILE" in text
    refused = invoke("run", "--blackboard-token", "s3cr3t")
    assert refused.exit_code == 2
    assert "No such option: --blackboard-token" in refused.output


def test_exec_help_shows_examples_and_block_in_capitals() -> None:
    """``exec --help``: usage ``exec [OPTIONS] BLOCK``, what BLOCK is, and command lines to copy."""
    text = help_text("exec", "--help")
    assert "Usage: neops_worker exec [OPTIONS] BLOCK" in text
    assert "BLOCK: the block's id 'package/name:1.2.3'" in text
    assert "neops_worker exec echo -p message=hello -p repeat=2" in text
    assert "--context-file router.json" in text


def test_the_examples_of_exec_run(tmp_path: Path) -> None:
    """Every example of ``exec --help`` succeeds on the bundled blocks, router.json as the help shows it."""
    text = help_text("exec", "--help")
    (tmp_path / "router.json").write_text(text.split("router.json, a job context as on the wire: ")[1])
    examples = [line.strip() for line in text.splitlines() if line.strip().startswith("neops_worker exec ")]
    assert len(examples) == 5
    for example in examples:
        result = invoke(*shlex.split(example)[1:], "--dir", str(BUNDLED))
        assert result.exit_code == 0, (example, result.output)


def test_a_range_is_still_enforced_where_it_is_not_shown() -> None:
    """``exec --timeout -1`` is refused (exit 2) although the help no longer prints [x>=0]."""
    result = invoke("exec", "echo", "--timeout", "-1", "--dir", str(BUNDLED))
    assert result.exit_code == 2
    assert "--timeout" in result.output


def test_bare_help_lists_the_commands_and_says_it_takes_run_options() -> None:
    """``neops_worker --help`` lists every command and says each option of run works without a command."""
    text = help_text("--help")
    assert all(re.search(rf"│ {name}\s", text) for name in ["run", *LAZY_COMMANDS])
    assert "every option of 'run' works here too" in " ".join(text.split())
    assert "--poll-interval" not in text  # accepted, but listed once: under run --help


def test_run_options_before_another_command_are_refused() -> None:
    """``neops_worker --log-level DEBUG blocks``: exit 2, one line saying where worker options go."""
    result = invoke("--log-level", "DEBUG", "blocks")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "neops_worker: error: --log-level: options of the worker go after 'run' or without a command "
        "(neops_worker --log-level ...), not before 'blocks'"
    ]


def test_submit_help_shows_examples() -> None:
    """``submit --help`` ends with command lines to copy, a rollback on request among them."""
    text = help_text("submit", "--help")
    assert "neops_worker submit echo -p message=hello --wait" in text
    assert "neops_worker submit --rollback-of JOB --wait" in text
