"""Reads expositions from stdin and parses each with the official Prometheus
Python client: `text` with the 0.0.4 parser, `openmetrics` with the strict
OpenMetrics parser. Each request is a line `FORMAT LENGTH` and LENGTH bytes of
UTF-8; each answer one line: `ok SAMPLES` or `err MESSAGE`."""
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

inp = sys.stdin.buffer
out = sys.stdout
while True:
    header = inp.readline()
    if not header:
        break
    fmt, length = header.decode().split()
    body = inp.read(int(length)).decode("utf-8")
    try:
        parse = parse_om if fmt == "openmetrics" else parse_text
        samples = sum(len(f.samples) for f in parse(body))
        out.write(f"ok {samples}\n")
    except Exception as e:  # noqa: BLE001 - every parse failure is an answer
        out.write("err " + repr(e).replace("\n", " ")[:500] + "\n")
    out.flush()
