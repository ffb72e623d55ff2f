"""In-memory spans for the tracing tests: one SDK provider for the test process, emptied for each test."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from neops_worker import tracing
from tests.integration.conftest import engine, start_worker

__all__ = ["Spans", "engine", "spans", "start_worker"]

BLOCKS = Path(__file__).resolve().parent / "blocks"
TRACED = "fb.tests.tracing/traced:1.0.0"


@cache
def _exporter() -> InMemorySpanExporter:
    """The exporter of the test process's one global provider (OpenTelemetry allows one per process)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # no thread: safe to fork under
    trace.set_tracer_provider(provider)
    return exporter


class Spans:
    """The spans ended so far in this test, by name."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    def all(self) -> list[ReadableSpan]:
        """Every span ended since the test began."""
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        """The spans called ``name``, in the order they ended."""
        return [span for span in self.all() if span.name == name]

    def one(self, name: str) -> ReadableSpan:
        """The single span called ``name``."""
        [span] = self.named(name)
        return span


@pytest.fixture
def spans() -> Iterator[Spans]:
    """Tracing on in this process, into memory, for the test; off again afterwards."""
    exporter = _exporter()
    exporter.clear()
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    tracing.enable(provider)
    try:
        yield Spans(exporter)
    finally:
        tracing.disable()
