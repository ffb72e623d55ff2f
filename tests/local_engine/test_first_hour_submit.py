"""``neops_worker submit`` checks the parameters against the schema the block registered, where the
submitter sees it: a misspelt, missing or mistyped parameter is refused (exit 2) naming the key and the
block, with a did-you-mean; ``--force`` sends it anyway; an unregistered block cannot be checked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from neops_worker.devkit.local_client._params import parameter_problems
from neops_worker.devkit.local_engine import LocalEngine
from tests.integration.support import EXAMPLES_REGISTERED, WorkerProcess, job, jobs, wait_until
from tests.local_engine.helpers import run_command

ECHO = "fb.examples.neops/echo:1.0.0"
#: The tail of every refusal: what to do about it.
FIX = "fix them, or send the job anyway with --force"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local engine with one real worker, which registered the bundled blocks and their schemas."""
    with LocalEngine(":memory:") as engine:
        worker = WorkerProcess(engine.url, tmp_path_factory.mktemp("worker"), WORKER_NAME="checked")
        try:
            worker.wait_for_log(EXAMPLES_REGISTERED)
            yield engine.url
        finally:
            worker.stop()


def submit(url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """``neops_worker submit ARGS --url URL`` as a real command: exit code, stdout, stderr."""
    done = run_command("submit", *args, "--url", url, cwd=tmp_path)
    return done.returncode, done.stdout, done.stderr


def test_a_misspelt_parameter_is_refused_with_a_did_you_mean(url: str, tmp_path: Path) -> None:
    """`submit echo -p mesage=hi`: exit 2, one line naming block, key and 'message'; nothing is queued."""
    before = len(jobs(url))
    code, out, err = submit(url, tmp_path, "echo", "-p", "mesage=hi")
    assert (code, out) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith(f"neops_worker: error: parameters for {ECHO} do not fit the schema it registered:")
    assert "unknown 'mesage' (did you mean 'message'?)" in line
    assert "missing required 'message'" in line
    assert "(its parameters: message, repeat)" in line
    assert line.endswith(FIX)
    assert len(jobs(url)) == before


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (
            ["set_software_release", "-p", "software_release=17.9"],
            "'software_release' must be a string, not a number (17.9); "
            "quote it to send text: -p 'software_release=\"17.9\"'",
        ),
        (["echo", "-p", "message=hi", "-p", "repeat=twice"], "'repeat' must be an integer, not a string"),
        (["fail", "-p", "mode=rais"], '\'mode\' must be one of "result", "raise", not "rais"'),
        (["stage_config", "-p", "lines=[]"], "missing required 'directory'"),
    ],
)
def test_a_mistyped_or_missing_parameter_is_refused(
    url: str, tmp_path: Path, args: list[str], problem: str
) -> None:
    """A value of the wrong type, outside the block's choices, or a required key left out: exit 2, named."""
    code, _, err = submit(url, tmp_path, *args)
    assert code == 2, err
    assert problem in err
    assert err.rstrip().endswith(FIX)


def test_force_sends_the_job_anyway_with_a_warning(url: str, tmp_path: Path) -> None:
    """With --force the job is queued as given; the problem is still said, as a warning."""
    code, out, err = submit(url, tmp_path, "echo", "-p", "message=hi", "-p", "colour=red", "--force")
    assert code == 0, err
    assert err.startswith(f"neops_worker: warning: parameters for {ECHO} do not fit")
    assert "unknown 'colour' (its parameters: message, repeat)" in err
    assert err.rstrip().endswith("sending the job anyway (--force)")
    assert job(url, out.strip())["parameters"] == {"message": "hi", "colour": "red"}


def test_fitting_parameters_are_sent_without_a_word(url: str, tmp_path: Path) -> None:
    """Parameters that fit the schema (a default left out, a nullable one null): queued, nothing on stderr."""
    code, out, err = submit(url, tmp_path, "echo", "-p", "message=hi", "-p", "repeat=2", "--wait")
    assert (code, err) == (0, "")
    assert "Echoed 5 characters" in out
    code, _, err = submit(
        url, tmp_path, "set_software_release", "-p", "software_release=17.9.4a", "-p", "previous_release=null"
    )
    assert (code, err) == (0, "")


def test_a_block_nobody_registered_cannot_be_checked(url: str, tmp_path: Path) -> None:
    """A block no worker registered: queued with a warning that its parameters cannot be checked."""
    code, out, err = submit(url, tmp_path, "other.pkg/thing:1.0.0", "-p", "anything=1")
    assert code == 0
    assert "no worker has registered other.pkg/thing:1.0.0 yet, so its parameters cannot be checked" in err
    wait_until(lambda: job(url, out.strip())["status"] == "pending", 5, "the queued job")


SCHEMA = {
    "properties": {"message": {"type": "string"}, "note": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
    "required": ["message"],
    "type": "object",
}
NUMBER = {"properties": {"n": {"type": "number"}}}
QUOTE_NOTE = "'note' must be a string or null, not an integer (3); quote it to send text: -p 'note=\"3\"'"
QUOTE_TRUE = "'message' must be a string, not a boolean (true); quote it to send text: -p 'message=\"true\"'"


@pytest.mark.parametrize(
    ("schema", "parameters", "job_type", "expected"),
    [
        (SCHEMA, {"message": "x", "note": None}, "execute", []),
        (SCHEMA, {"note": 3}, "acquire", [QUOTE_NOTE]),
        (SCHEMA, {"message": True}, "rollback", [QUOTE_TRUE]),
        ({**SCHEMA, "additionalProperties": True}, {"message": "x", "extra": 1}, "execute", []),
        ({"type": "object", "additionalProperties": False}, {"x": 1}, "execute", ["unknown 'x'"]),
        ({"type": "object"}, {"anything": [1]}, "execute", []),
        ({"properties": {"n": {"type": "integer"}}}, {"n": 2.0}, "execute", []),
        (NUMBER, {"n": False}, "execute", ["'n' must be a number, not a boolean (false)"]),
        ({"properties": {"n": {"enum": [1]}}}, {"n": True}, "execute", ["'n' must be one of 1, not true"]),
        ({"properties": {"n": {"$ref": "#/$defs/N"}}}, {"n": "any"}, "execute", []),
    ],
)
def test_the_light_check_follows_json_schema_at_the_top_level(
    schema: dict[str, object], parameters: dict[str, object], job_type: str, expected: list[str]
) -> None:
    """Open schemas take any key, acquire jobs may leave required keys out, a boolean is no number, $ref is
    left to the worker."""
    assert parameter_problems(schema, parameters, job_type) == expected
