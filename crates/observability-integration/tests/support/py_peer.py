"""An HTTP peer built on the official OpenTelemetry Python SDK (its
default W3C propagators through `opentelemetry.propagate`), with the
standard library's http.server and urllib.

    py_peer.py client URL   # GET URL inside a span, baggage origin=python; prints JSON
    py_peer.py server       # serves GET on a free port; prints {"port": N}, then
                            # answers each request with what it extracted, as JSON
"""
import json
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from opentelemetry import baggage, context, propagate, trace
from opentelemetry.sdk.trace import TracerProvider

trace.set_tracer_provider(TracerProvider())
tracer = trace.get_tracer("py-peer")


def ids(span_context):
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


def client(url):
    # The baggage goes into the current context, which inject reads.
    context.attach(baggage.set_baggage("origin", "python"))
    with tracer.start_as_current_span("py-client") as span:
        headers = {}
        propagate.inject(headers)
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as resp:
            body = resp.read().decode()
            echoed = resp.headers.get("x-correlation-id")
        trace_id, span_id = ids(span.get_span_context())
    print(json.dumps({"trace_id": trace_id, "span_id": span_id, "sent": headers, "body": body, "correlation_id": echoed}))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        carrier = {k.lower(): v for k, v in self.headers.items()}
        ctx = propagate.extract(carrier)
        parent = trace.get_current_span(ctx).get_span_context()
        with tracer.start_as_current_span("py-server", context=ctx) as span:
            trace_id, span_id = ids(span.get_span_context())
            out = {
                "trace_id": trace_id,
                "span_id": span_id,
                "parent_trace_id": ids(parent)[0],
                "parent_span_id": ids(parent)[1],
                "parent_is_remote": parent.is_remote,
                "baggage": {k: str(v) for k, v in baggage.get_all(ctx).items()},
                "received": carrier,
            }
        body = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def server():
    srv = HTTPServer(("127.0.0.1", 0), Handler)
    print(json.dumps({"port": srv.server_port}), flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    if sys.argv[1] == "client":
        client(sys.argv[2])
    else:
        server()
