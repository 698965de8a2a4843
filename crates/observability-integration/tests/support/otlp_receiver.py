"""An OTLP receiver built on the official opentelemetry-proto package.

Serves the generated gRPC MetricsService and TraceService and OTLP/HTTP
(protobuf) POST /v1/metrics and /v1/traces, and appends every request it
receives, as JSON (protobuf's MessageToDict), one line per request, to the file
given as the first argument.

usage: otlp_receiver.py OUT.jsonl GRPC_PORT HTTP_PORT
Prints READY when both servers listen.
"""
import sys
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json

import grpc
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

OUT, GRPC_PORT, HTTP_PORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lock = threading.Lock()


def record(transport, signal, request):
    line = json.dumps({"transport": transport, "signal": signal, "request": MessageToDict(request)})
    with lock, open(OUT, "a") as f:
        f.write(line + "\n")


class Service(metrics_service_pb2_grpc.MetricsServiceServicer):
    def Export(self, request, context):
        record("grpc", "metrics", request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request, context):
        record("grpc", "traces", request)
        return trace_service_pb2.ExportTraceServiceResponse()


# path -> (signal, request type, response type)
HTTP_PATHS = {
    "/v1/metrics": (
        "metrics",
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
    ),
    "/v1/traces": (
        "traces",
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
    ),
}


class Http(BaseHTTPRequestHandler):
    def do_POST(self):
        if self.path not in HTTP_PATHS:
            self.send_response(404)
            self.end_headers()
            return
        signal, request_type, response_type = HTTP_PATHS[self.path]
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        request = request_type()
        request.ParseFromString(body)
        record("http", signal, request)
        payload = response_type().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Service(), server)
trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
server.add_insecure_port(f"127.0.0.1:{GRPC_PORT}")
server.start()
http = ThreadingHTTPServer(("127.0.0.1", HTTP_PORT), Http)
threading.Thread(target=http.serve_forever, daemon=True).start()
print("READY", flush=True)
server.wait_for_termination()
