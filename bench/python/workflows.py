"""The same two workflows as the Rust benches, in Python with asyncio and the
official OpenTelemetry Python SDK: a span, a counter and a histogram per step
(plus the workflow's own), batch export to a no-op exporter.

usage: python workflows.py [--seconds N] [--rounds R]
Prints, per workflow, the median over R rounds of microseconds per workflow
run, instrumented and uninstrumented, as one JSON object.
"""
import argparse
import asyncio
import json
import statistics
import time

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult


class NoopExporter(SpanExporter):
    def __init__(self):
        self.received = 0

    def export(self, spans):
        self.received += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass


exporter = NoopExporter()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=1 << 16))
meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
tracer = tracer_provider.get_tracer("bench")
meter = meter_provider.get_meter("bench")
executions = meter.create_counter("primitive_executions", unit="1")
duration = meter.create_histogram("primitive_duration", unit="s")


async def step(x):
    return x + 1


async def instrumented(name, kind, fn, x):
    """One observed step: span + counter + histogram, like the Rust primitive."""
    start = time.perf_counter()
    with tracer.start_as_current_span(f"primitive.{name}", attributes={"primitive.name": name, "primitive.type": kind}):
        out = await fn(x)
    attrs = {"primitive": name, "type": kind}
    duration.record(time.perf_counter() - start, attrs)
    executions.add(1, {**attrs, "status": "ok"})
    return out


async def seq3_instrumented(x):
    async def body(v):
        v = await instrumented("a", "lambda", step, v)
        v = await instrumented("b", "lambda", step, v)
        return await instrumented("c", "lambda", step, v)
    return await instrumented("sequential", "sequential", body, x)


async def seq3_bare(x):
    return await step(await step(await step(x)))


async def par10_instrumented(x):
    async def body(v):
        return await asyncio.gather(*(instrumented("branch", "lambda", step, v) for _ in range(10)))
    return await instrumented("parallel", "parallel", body, x)


async def par10_bare(x):
    return await asyncio.gather(*(step(x) for _ in range(10)))


async def measure(fn, seconds):
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            await fn(n)
            n += 1
    return (time.perf_counter() - start) / n * 1e6


async def main(seconds, rounds):
    results = {}
    for name, fn in [
        ("sequential_3_instrumented", seq3_instrumented),
        ("sequential_3_bare", seq3_bare),
        ("parallel_10_instrumented", par10_instrumented),
        ("parallel_10_bare", par10_bare),
    ]:
        await measure(fn, 0.3)  # warm-up
        runs = [await measure(fn, seconds) for _ in range(rounds)]
        results[name] = {"median_us": statistics.median(runs), "runs_us": runs}
    tracer_provider.shutdown()
    results["spans_exported"] = exporter.received
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    asyncio.run(main(a.seconds, a.rounds))
