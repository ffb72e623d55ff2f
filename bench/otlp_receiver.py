"""A tiny OTLP/HTTP trace receiver on 127.0.0.1: decodes each ``ExportTraceServiceRequest`` it is sent.

The tracing benchmark counts what it receives; the tracing tests read the spans themselves.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived: its ids in hex, name, attributes, status, and its resource's attributes."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    attributes: dict[str, Any]
    status_code: int
    resource: dict[str, Any]


class Receiver:
    """Collects the spans of every export request; ``url`` is what OTEL_EXPORTER_OTLP_ENDPOINT takes."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        self.url = ""

    def take(self, path: str, body: bytes) -> None:
        """Decode one request body into spans."""
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        found = [
            ReceivedSpan(
                span.trace_id.hex(),
                span.span_id.hex(),
                span.parent_span_id.hex(),
                span.name,
                _attributes(span.attributes),
                span.status.code,
                _attributes(resource_spans.resource.attributes),
            )
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]
        with self._lock:
            self.paths.append(path)
            self.spans.extend(found)

    def named(self, name: str) -> list[ReceivedSpan]:
        """The spans called ``name`` received so far."""
        with self._lock:
            return [span for span in self.spans if span.name == name]


def _attributes(pairs: Any) -> dict[str, Any]:
    """OTLP key/values as a dict (string, int, bool or double values)."""
    return {pair.key: getattr(pair.value, pair.value.WhichOneof("value")) for pair in pairs}


def _handler(receiver: Receiver) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            receiver.take(self.path, body)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@contextlib.contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    """A receiver serving on a free port of 127.0.0.1 for the duration."""
    receiver = Receiver()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
