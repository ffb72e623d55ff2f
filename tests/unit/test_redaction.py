"""Redaction knobs: fields marked ``Sensitive`` (or the SDK's ``SENSITIVE``), and LOG_REDACT_EXTRA_KEYS."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field, SecretStr

from neops_worker import (
    FunctionBlock,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    Registration,
    WorkflowContext,
    register_function_block,
)
from neops_worker.blocks.sensitive import Sensitive
from neops_worker.discovery import DiscoveredBlock
from neops_worker.engine.wire import JobDefinition
from neops_worker.errors import ConfigurationError
from neops_worker.scrub import (
    REDACTED,
    ScrubbedStream,
    is_secret_key,
    job_secret_values,
    job_secrets,
    redact,
    scrub_standard_streams,
    secret_values,
    sensitive_fields,
    set_secret_keys,
)
from neops_worker.sdk.logger.redaction import SENSITIVE, Redactor, default_redactor
from neops_worker.settings import load_settings
from neops_worker.worker.execution import execute_job


@pytest.fixture(autouse=True)
def _no_extra_keys() -> Iterator[None]:
    """Each test starts, and leaves, without LOG_REDACT_EXTRA_KEYS."""
    set_secret_keys(())
    yield
    set_secret_keys(())


FB_ID = "tests/redact:1.0.0"


class Hop(BaseModel):
    """A jump host: its ``enable`` is marked with the SDK's marker, as a ported block writes it."""

    host: str
    enable: Annotated[str | None, SENSITIVE] = None


class Login(FunctionBlockParams):
    """Names that say nothing of a secret, marked; and the shapes a marker hides in."""

    user: str = "admin"
    pin: Annotated[str, Sensitive] = "4711"
    code: Annotated[int, Sensitive()] = 86420
    spare: Annotated[str, Sensitive] | None = None
    backups: list[Annotated[str, Sensitive]] = Field(default_factory=list)
    hops: list[Hop] = Field(default_factory=list)
    vault: Annotated[Hop | None, Sensitive] = None
    note: str = "plain"


# --- the marker -----------------------------------------------------------------------------------


def test_a_marked_field_is_secret_whatever_its_name() -> None:
    """``pin`` and ``code`` marked Sensitive are secrets; the unmarked ``user`` and ``note`` are not."""
    assert secret_values(Login()) == {"4711", "86420"}


def test_markers_are_found_in_optional_lists_and_nested_models() -> None:
    """An optional marked field, marked list items, a marked field of a model in a list, a marked model."""
    params = Login(
        spare="sp-1",
        backups=["bk-1", "bk-2"],
        hops=[Hop(host="jump1", enable="en-1"), Hop(host="jump2")],
        vault=Hop(host="vault1", enable="en-2"),
    )
    found = secret_values(params)
    assert found == {"4711", "86420", "sp-1", "bk-1", "bk-2", "en-1", "vault1", "en-2"}
    assert "jump1" not in found


def test_the_marked_fields_of_a_class_are_worked_out_once() -> None:
    """The second job's parameters of a class are walked without reading its fields' types again."""
    first = sensitive_fields(Login)
    hits = sensitive_fields.cache_info().hits
    secret_values(Login(pin="other-pin"))
    assert sensitive_fields(Login) is first
    assert sensitive_fields.cache_info().hits > hits
    assert first == {"pin", "code", "spare", "backups", "vault"}


def test_the_installed_sdks_own_marker_counts_too() -> None:
    """A model of the installed vendor SDK (its ``Credential``) has the SDK's marker: known by its home."""
    vendor = type("Sensitive", (), {"__module__": "neops_worker_sdk.logger.redaction"})

    class Credential(BaseModel):
        username: str
        pin: Annotated[str, vendor()]

    assert secret_values(Credential(username="admin", pin="vendor-pin")) == {"vendor-pin"}


def test_a_marker_changes_neither_the_value_nor_the_schema() -> None:
    """The block still reads its value, and the schema registered with the engine is a plain string."""

    class Marked(BaseModel):
        pin: Annotated[str, Sensitive]

    class Plain(BaseModel):
        pin: str

    assert Marked(pin="1234").pin == "1234"
    assert Marked.model_json_schema()["properties"] == Plain.model_json_schema()["properties"]


# --- LOG_REDACT_EXTRA_KEYS --------------------------------------------------------------------------


def test_extra_keys_are_read_comma_separated_trimmed_and_lower_cased() -> None:
    """'Pin, enable ,,PIN' is the key names pin and enable; unset is none."""
    settings = load_settings({"log_redact_extra_keys": " Pin, enable ,,PIN"}, env_file=None)
    assert settings.log_redact_extra_keys == ["pin", "enable"]
    assert load_settings(env_file=None).log_redact_extra_keys == []


def test_a_mistyped_separator_is_refused_naming_the_variable() -> None:
    """'pin;enable' would match no key and hide nothing: refused, with the variable and what to write."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"log_redact_extra_keys": "pin;enable"}, env_file=None)
    assert str(caught.value).startswith("LOG_REDACT_EXTRA_KEYS: 'pin;enable' is not a key name")
    assert "separate the names with commas" in str(caught.value)


def test_a_name_without_a_letter_or_digit_is_refused() -> None:
    """'_' would match every key once separators are ignored: refused, and never a pattern for all keys."""
    with pytest.raises(ConfigurationError, match="LOG_REDACT_EXTRA_KEYS: '_' is not a key name"):
        load_settings({"log_redact_extra_keys": "pin,_"}, env_file=None)
    set_secret_keys(["-", "_", " "])
    assert not is_secret_key("hostname")


def test_extra_keys_match_like_the_built_in_secret_names() -> None:
    """An extra key name is found anywhere in a key, whatever its case; other keys stay plain."""
    assert not is_secret_key("enable")
    set_secret_keys(["Enable", " pin "])
    assert all(
        map(is_secret_key, ["enable", "ENABLE", "enableSecretLevel", "device_pin", "PinCode", "p-i-n"])
    )
    assert not any(map(is_secret_key, ["hostname", "ip", ""]))
    assert is_secret_key("password")


def _job(parameters: dict[str, Any], context: dict[str, Any] | None = None) -> JobDefinition:
    return JobDefinition.model_validate(
        {
            "functionBlockId": FB_ID,
            "jobId": "job-r",
            "parameters": parameters,
            "context": context or {},
            "type": "execute",
        }
    )


def test_extra_keys_are_found_in_parameters_and_context_entities() -> None:
    """A job's values under an extra key, in its parameters and in its devices, are its secrets."""
    job = _job(
        {"enable": "en-param", "nested": {"site_pin": 1234}, "hostname": "r1"},
        {"devices": [{"id": 1, "hostname": "r1", "enable": "en-device"}]},
    )
    assert job_secret_values(job) == set()
    set_secret_keys(["enable", "pin"])
    assert job_secret_values(job) == {"en-param", "1234", "en-device"}


# --- plain data for a log line ------------------------------------------------------------------


def test_redact_gives_plain_data() -> None:
    """Models become dicts, tuples and sets lists, SecretStr values masked, other values kept."""
    redacted = redact({"hops": (Hop(host="j1", enable="en-1"),), "tags": {"a"}, "key": SecretStr("k")})
    assert redacted == {"hops": [{"host": "j1", "enable": REDACTED}], "tags": ["a"], "key": REDACTED}


# --- the SDK's redactor -----------------------------------------------------------------------------


def test_the_sdk_redactor_dumps_with_its_key_parts_and_placeholder() -> None:
    """``Redactor(key_parts, placeholder).dump``: named keys and marked fields replaced, nulls kept."""
    redactor = Redactor(key_parts=("pin",), placeholder="<hidden>")
    dumped = redactor.dump({"PIN_code": "1", "hop": Hop(host="j1", enable="en-1"), "pinless": None})
    assert dumped == {"PIN_code": "<hidden>", "hop": {"host": "j1", "enable": "<hidden>"}, "pinless": None}
    assert Redactor().dump({"password": "x", "pin": "1"}) == {"password": "***", "pin": "1"}


def test_the_sdks_default_redactor_follows_log_redact_extra_keys() -> None:
    """``default_redactor()`` knows the worker's secret names and, once set, the extra key names."""
    assert not default_redactor().is_sensitive_key("pin")
    set_secret_keys(["pin"])
    assert default_redactor().is_sensitive_key("Pin")
    assert default_redactor().is_sensitive_key("api_key")


# --- a job -----------------------------------------------------------------------------------------


class Said(FunctionBlockResultData):
    """Nothing."""


@register_function_block(Registration(name="redact", package="tests", description="says its pin"))
class SaysPin(FunctionBlock[Login, Said]):
    """Puts its marked ``pin`` and its unmarked ``note`` into its result message."""

    def run(self, params: Login, context: WorkflowContext) -> FunctionBlockResult[Said]:
        """Say both."""
        return FunctionBlockResult(success=True, message=f"pin {params.pin} note {params.note}", data=Said())


BLOCK = DiscoveredBlock(SaysPin, SaysPin.registration, __name__, Path(__file__))
assert BLOCK.fb_id == FB_ID


@pytest.mark.parametrize("inline", [False, True])
async def test_a_jobs_marked_and_extra_key_values_leave_its_result_message(inline: bool) -> None:
    """A result message with the marked ``pin`` and ``note`` (in LOG_REDACT_EXTRA_KEYS): both scrubbed."""
    set_secret_keys(["note"])
    outcome = await execute_job(_job({"pin": "5150", "note": "en4ble"}), lambda _: BLOCK, inline=inline)
    assert outcome.result.result.message == f"pin {REDACTED} note {REDACTED}"


def test_what_a_block_prints_is_scrubbed_on_the_standard_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the standard streams are scrubbed, a print of a job's secret shows asterisks (once wrapped)."""
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    scrub_standard_streams()
    wrapped = sys.stdout
    scrub_standard_streams()
    assert isinstance(wrapped, ScrubbedStream)
    assert sys.stdout is wrapped
    with job_secrets({"4711"}):
        print("pin 4711")
    print("pin 4711")
    assert out.getvalue() == f"pin {REDACTED}\npin 4711\n"
