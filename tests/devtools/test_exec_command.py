"""``neops_worker exec``: one job run locally through execute_job, printed for people or as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.devtools.blockdirs import BUNDLED, invoke

ROUTER = {"id": 42, "hostname": "core-rtr-01", "softwareRelease": "17.6.5", "facts": {"site": "zrh"}}


def run_json(*args: str) -> tuple[int, dict[str, Any]]:
    """Exit code and the JobResultDto body of ``exec ARGS --json`` on the bundled blocks."""
    result = invoke("exec", *args, "--json", "--dir", str(BUNDLED))
    return result.exit_code, json.loads(result.stdout)


def write_json(path: Path, value: object) -> str:
    """Write ``value`` as JSON to ``path``; return the path as an argument."""
    path.write_text(json.dumps(value))
    return str(path)


def test_json_is_the_job_result_body() -> None:
    """--json prints the exact JobResultDto the worker would push; success exits 0."""
    code, body = run_json("echo", "--param", "message=hello", "--param", "repeat=2")
    assert code == 0
    assert body["jobExecutionId"].startswith("local-")
    assert body == {
        "jobExecutionId": body["jobExecutionId"],
        "status": "success",
        "result": {"success": True, "message": "Echoed 11 characters", "data": {"echoed": "hello hello"}},
    }


def test_param_values_are_json_when_they_parse(tmp_path: Path) -> None:
    """--param values parse as JSON (repeat=3 is a number), else stay strings; they override the file."""
    params = write_json(tmp_path / "p.json", {"message": "from file", "repeat": 5})
    code, body = run_json("echo", "--params-file", params, "-p", "repeat=3", "-p", "message=a b")
    assert code == 0
    assert body["result"]["data"] == {"echoed": "a b a b a b"}


def test_device_job_prints_the_db_updates(tmp_path: Path) -> None:
    """A device job from a context file: dbUpdates in the JSON body, entity taken from the context."""
    context = write_json(tmp_path / "ctx.json", {"devices": [ROUTER], "deviceGroups": [], "interfaces": []})
    code, body = run_json("set_software_release", "-p", "software_release=17.9.4a", "--context-file", context)
    assert code == 0
    assert body["result"]["dbUpdates"] == {
        "updates": [
            {
                "operation": "patch",
                "entity": "device",
                "id": 42,
                "path": "facts",
                "value": {"site": "zrh", "release_source": "neops_worker example"},
            },
            {
                "operation": "patch",
                "entity": "device",
                "id": 42,
                "path": "software_release",
                "value": "17.9.4a",
            },
        ]
    }


def test_readable_output_shows_status_data_and_db_updates(tmp_path: Path) -> None:
    """Without --json: status line, message, data and a dbUpdates table."""
    context = write_json(tmp_path / "ctx.json", {"devices": [ROUTER]})
    result = invoke(
        "exec", "set_software_release", "-p", "software_release=17.9.4a", "--context-file", context,
        "--entity-id", "42", "--dir", str(BUNDLED),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "success fb.examples.neops/set_software_release:1.0.0 (execute, device 42)" in out
    assert "message: Software release of core-rtr-01 set to 17.9.4a" in out
    assert '"previous_release": "17.6.5"' in out
    assert "dbUpdates (2)" in out
    assert 'software_release = "17.9.4a"' in out


def test_acquire_job_prints_the_acquires() -> None:
    """--type acquire runs the block's acquire and prints its acquires."""
    code, body = run_json("set_software_release", "--type", "acquire")
    assert code == 0
    assert body["acquires"] == [
        {"type": "context", "assertNotEmpty": True, "entity": "device", "filter": "[0]"}
    ]


def test_rollback_job(tmp_path: Path) -> None:
    """--type rollback runs the block's rollback with the same parameters and context."""
    context = write_json(tmp_path / "ctx.json", {"devices": [ROUTER]})
    code, body = run_json(
        "set_software_release", "--type", "rollback", "--context-file", context,
        "-p", "software_release=17.9.4a", "-p", "previous_release=17.6.5",
    )  # fmt: skip
    assert code == 0
    assert body["result"] == {"success": True, "message": "Software release restored to 17.6.5"}


def test_failed_result_exits_1() -> None:
    """A block returning a failed result: the result is printed, exit 1."""
    result = invoke("exec", "fail", "-p", "mode=result", "-p", "reason=nope", "--dir", str(BUNDLED))
    assert result.exit_code == 1
    assert "failed fb.examples.neops/fail:1.0.0 (execute, global)" in result.stdout
    assert "message: nope" in result.stdout


def test_raising_block_exits_1_with_the_error_as_message() -> None:
    """A block that raises: a failed result reading ``ErrorType: text``, exit 1."""
    code, body = run_json("fail", "-p", "reason=unreachable")
    assert code == 1
    assert body["result"] == {"success": False, "message": "DeviceUnreachableError: unreachable"}


def test_timeout_exits_1() -> None:
    """--timeout is JOB_TIMEOUT: an overlong job is killed with its job process, a failed result."""
    code, body = run_json("sleep", "-p", "seconds=0.5", "--timeout", "0.05")
    assert code == 1
    assert body["result"]["message"] == "Job killed after JOB_TIMEOUT of 0.05 s"


def test_timeout_in_thread_mode_abandons_the_job() -> None:
    """With JOB_ISOLATION=thread exec runs as such a worker would: the job is abandoned, not killed."""
    args = ["exec", "sleep", "-p", "seconds=0.5", "--timeout", "0.05", "--json", "--dir", str(BUNDLED)]
    result = invoke(*args, env={"JOB_ISOLATION": "thread"})
    assert result.exit_code == 1
    assert (
        json.loads(result.stdout)["result"]["message"]
        == "Job exceeded JOB_TIMEOUT of 0.05 s and was abandoned"
    )


# --- bad input: one clear line and exit 2 -------------------------------------------------


def test_unknown_block() -> None:
    """An unknown block is a usage error."""
    result = invoke("exec", "nope", "--dir", str(BUNDLED))
    assert result.exit_code == 2
    assert result.stderr.startswith("neops_worker: error: no function block 'nope' in ")


def test_invalid_parameter_gives_the_validation_message() -> None:
    """Parameters the block's model rejects: the worker's failed-validation message, exit 2."""
    result = invoke("exec", "echo", "-p", "message=hi", "-p", "repeat=0", "--json", "--dir", str(BUNDLED))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == (
        "neops_worker: error: Invalid parameters for fb.examples.neops/echo:1.0.0: "
        "repeat: Input should be greater than or equal to 1"
    )


def test_missing_required_parameter() -> None:
    """A required parameter left out is named."""
    result = invoke("exec", "echo", "--dir", str(BUNDLED))
    assert result.exit_code == 2
    assert "Invalid parameters for fb.examples.neops/echo:1.0.0: message: Field required" in result.stderr


def test_malformed_params_file(tmp_path: Path) -> None:
    """A params file that is not JSON: the file and the parser's complaint, exit 2."""
    bad = tmp_path / "bad.json"
    bad.write_text("{message: hi}")
    result = invoke("exec", "echo", "--params-file", str(bad), "--dir", str(BUNDLED))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"neops_worker: error: --params-file {bad}: not valid JSON: Expecting")


def test_params_file_must_hold_an_object(tmp_path: Path) -> None:
    """A params file holding an array is refused."""
    params = write_json(tmp_path / "list.json", ["message"])
    result = invoke("exec", "echo", "--params-file", params, "--dir", str(BUNDLED))
    assert result.exit_code == 2
    assert "must hold a JSON object, not an array" in result.stderr


def test_malformed_context_file(tmp_path: Path) -> None:
    """A context file that is not JSON, or has an unknown key, is refused."""
    broken = tmp_path / "ctx.json"
    broken.write_text('{"devices": [')
    result = invoke("exec", "echo", "-p", "message=x", "--context-file", str(broken), "--dir", str(BUNDLED))
    assert result.exit_code == 2
    assert f"--context-file {broken}: not valid JSON" in result.stderr
    typo = write_json(tmp_path / "typo.json", {"device": []})
    result = invoke("exec", "echo", "-p", "message=x", "--context-file", typo, "--dir", str(BUNDLED))
    assert result.exit_code == 2
    assert "unknown key 'device' (expected devices, deviceGroups, interfaces)" in result.stderr


def test_unreadable_file(tmp_path: Path) -> None:
    """A file that cannot be read is named with the reason."""
    missing = tmp_path / "missing.json"
    result = invoke("exec", "echo", "--params-file", str(missing), "--dir", str(BUNDLED))
    assert result.exit_code == 2
    assert f"--params-file {missing}: cannot be read: No such file or directory" in result.stderr


def test_entity_not_in_context(tmp_path: Path) -> None:
    """--entity-id naming no entity of the context: the worker's context error, exit 2."""
    context = write_json(tmp_path / "ctx.json", {"devices": [ROUTER]})
    result = invoke(
        "exec", "set_software_release", "-p", 'software_release="17.9"', "--context-file", context,
        "--entity-id", "7", "--dir", str(BUNDLED),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Invalid job context: device 7 (the job's entityId) is not in the job context" in result.stderr


def test_bad_param_syntax() -> None:
    """--param without '=' is refused."""
    result = invoke("exec", "echo", "-p", "message", "--dir", str(BUNDLED))
    assert result.exit_code == 2
    assert "--param 'message' is not key=value" in result.stderr


def test_unknown_job_type_is_refused_by_the_parser() -> None:
    """--type accepts only acquire, execute and rollback."""
    result = invoke("exec", "echo", "--type", "deploy", "--dir", str(BUNDLED))
    assert result.exit_code == 2


def test_number_given_for_a_string_gets_a_quoting_hint(tmp_path: Path) -> None:
    """software_release=17.9 parses as a number: the error says how to pass it as a string."""
    context = write_json(tmp_path / "ctx.json", {"devices": [ROUTER]})
    result = invoke(
        "exec", "set_software_release", "-p", "software_release=17.9", "--context-file", context,
        "--dir", str(BUNDLED),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "software_release: Input should be a valid string (--param values are JSON" in result.stderr
