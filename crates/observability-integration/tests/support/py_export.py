"""Exports one trace to an OTLP/HTTP endpoint with the official
OpenTelemetry Python SDK and its OTLP/HTTP (protobuf) exporter.

    py_export.py URL [gzip] [TOKEN]

Prints {"trace_id": "..."} once the exporter has sent the spans.
"""
import json
import sys

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

url = sys.argv[1]
gzip = len(sys.argv) > 2 and sys.argv[2] == "gzip"
headers = {"authorization": "Bearer " + sys.argv[3]} if len(sys.argv) > 3 else None

provider = TracerProvider(resource=Resource.create({"service.name": "py-worker"}))
exporter = OTLPSpanExporter(
    endpoint=url,
    compression=Compression.Gzip if gzip else Compression.NoCompression,
    headers=headers,
)
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = provider.get_tracer("py-export", "1.0")

with tracer.start_as_current_span("py.job", attributes={"job.kind": "nightly", "job.items": 3}) as root:
    with tracer.start_as_current_span("py.step") as step:
        step.set_attribute("step.tags", ["a", "b"])
        step.add_event("checkpoint", {"done": 2})
    with tracer.start_as_current_span("py.flaky") as flaky:
        flaky.set_status(Status(StatusCode.ERROR, "flaky failed"))
    trace_id = format(root.get_span_context().trace_id, "032x")

provider.shutdown()
print(json.dumps({"trace_id": trace_id}))
