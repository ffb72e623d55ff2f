"""``sdk_bridge.prepare`` in a process where the vendor SDK is installed (Python >= 3.12)."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("neops_worker_sdk", reason="the vendor SDK is not installed here")

# Only importable where the SDK is (not where the type checker runs), hence after the skip.
from loguru import logger as loguru_logger  # type: ignore[import-not-found]
from neops_worker_sdk.connection.registry import (  # type: ignore[import-not-found]
    get_registry_snapshot,
)
from neops_worker_sdk.logger import Logger  # type: ignore[import-not-found]

from neops_worker.sdk import bridge as sdk_bridge


@pytest.fixture(autouse=True)
def prepared() -> None:
    """The SDK prepared, as discovery does before importing blocks."""
    sdk_bridge.prepare()


def test_the_sdk_plugins_are_registered_without_a_block_importing_them() -> None:
    """The plugins the SDK bundles are in its registry, as its own worker would have them."""
    assert {"frr", "ios", "srl"} <= set(get_registry_snapshot()["plugins"])


def test_loguru_has_one_sink_and_it_survives_a_second_prepare() -> None:
    """The SDK's stdout sink is gone; a second prepare() adds nothing (one sink, into logging)."""
    sdk_bridge.prepare()
    assert len(loguru_logger._core.handlers) == 1


def test_sdk_log_lines_become_standard_records(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line of the SDK's logger is a standard record: its module, level, message and context."""
    caplog.set_level(logging.DEBUG)
    Logger().with_context(device_ip="192.0.2.1").warning("cannot reach {}", "r1")
    (record,) = [r for r in caplog.records if r.getMessage() == "cannot reach r1"]
    assert (record.name, record.levelname) == (__name__, "WARNING")
    assert record.funcName == "test_sdk_log_lines_become_standard_records"
    assert record.__dict__["device_ip"] == "192.0.2.1"
    assert capsys.readouterr().out == ""


def test_loguru_levels_map_onto_standard_ones(caplog: pytest.LogCaptureFixture) -> None:
    """TRACE arrives as DEBUG and SUCCESS as INFO; levels the standard logger filters are dropped."""
    caplog.set_level(logging.DEBUG)
    loguru_logger.trace("a trace")
    loguru_logger.success("a success")
    levels = {r.getMessage(): r.levelname for r in caplog.records}
    assert levels["a trace"] == "DEBUG"
    assert levels["a success"] == "INFO"
    caplog.clear()
    caplog.set_level(logging.WARNING)
    loguru_logger.info("filtered out")
    assert not [r for r in caplog.records if r.getMessage() == "filtered out"]


def test_an_exception_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """``logger.exception`` in SDK code gives a record with the exception attached."""
    caplog.set_level(logging.DEBUG)
    try:
        raise TimeoutError("device did not answer")
    except TimeoutError:
        loguru_logger.exception("connect failed")
    (record,) = [r for r in caplog.records if r.getMessage() == "connect failed"]
    assert record.levelname == "ERROR"
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], TimeoutError)
