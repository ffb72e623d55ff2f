"""When the ``OTEL_*`` variables turn tracing on, and the one line that says they cannot."""

from __future__ import annotations

import threading

import pytest

from neops_worker import tracing
from neops_worker.errors import ConfigurationError


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "edge-workers"}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_on_only_when_an_exporter_or_endpoint_is_set(environ: dict[str, str], on: bool) -> None:
    """An exporter (not ``none``) or an OTLP endpoint turns it on; OTEL_SDK_DISABLED=true wins."""
    assert tracing.configured(environ) is on


def test_off_means_no_provider_and_no_error() -> None:
    """Without OTEL_*, setup does nothing (and imports nothing: see test_otlp_export)."""
    assert tracing.setup_from_environment({}) is False
    assert not tracing.enabled()


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp_proto_http"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ["otlp_proto_http"]),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, ["otlp_proto_grpc"]),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ["otlp_proto_http", "console"]),
    ],
)
def test_otlp_means_http_unless_the_protocol_says_grpc(environ: dict[str, str], names: list[str]) -> None:
    """``otlp`` is OTLP/HTTP (the extra's exporter, the specification's default protocol)."""
    assert tracing._exporter_names(environ) == names


@pytest.mark.parametrize(
    ("environ", "said"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER: no span exporter 'zipkin' is installed"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "install opentelemetry-exporter-otlp-proto-grpc",
        ),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
            "OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' is not an OTLP protocol",
        ),
    ],
)
def test_an_exporter_that_cannot_be_had_is_a_configuration_error(environ: dict[str, str], said: str) -> None:
    """A name no installed package provides stops the worker (exit 2) with the variable named."""
    with pytest.raises(ConfigurationError, match=r"^OTEL_") as raised:
        tracing.setup_from_environment(environ)
    assert said in str(raised.value)
    assert raised.value.exit_code == 2
    assert not tracing.enabled()


def test_preload_imports_the_exporter_without_a_provider_or_thread() -> None:
    """What the template calls before forking job processes: modules imported, no thread to cross a fork."""
    before = threading.active_count()
    tracing.preload({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    assert threading.active_count() == before
    assert tracing._exporter_class("otlp_proto_http") is not None
    assert not tracing.enabled()
