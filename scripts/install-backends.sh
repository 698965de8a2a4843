#!/usr/bin/env bash
# Installs the real backends the integration tests talk to. Idempotent.
#   - Arize Phoenix: a third-party OTLP trace receiver (gRPC 4317-style and HTTP), with a REST API.
#   - opentelemetry-proto + grpcio: the official generated OTLP metrics service, for a metrics receiver.
#   - Prometheus (Debian package, with promtool).
#   - prometheus-client (the official Python client): its parsers read our
#     expositions back in both formats (0.0.4 text and OpenMetrics).
#   - opentelemetry-sdk (the official Python SDK): an HTTP peer for the
#     trace-context and baggage interop tests.
#   - Chromium and chromedriver (Debian packages chromium, chromium-driver):
#     the viewer's browser test.
#   - docker-compose (Debian package): validates docker-compose.test.yml
#     without a Docker daemon.
# Everything Python goes into .backends/venv (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.backends/venv

need_apt=()
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v promtool >/dev/null || need_apt+=(prometheus)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
if [ ${#need_apt[@]} -gt 0 ]; then
  mapfile -t need_apt < <(printf '%s\n' "${need_apt[@]}" | sort -u)
  echo "installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Debian's package starts no service here (no systemd); tests start their own.

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import phoenix, opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc, grpc, prometheus_client.openmetrics.parser, opentelemetry.sdk.trace, opentelemetry.propagate, opentelemetry.exporter.otlp.proto.http.trace_exporter" 2>/dev/null; then
  echo "installing Python backends into $VENV (arize-phoenix, opentelemetry-proto, grpcio, prometheus-client, opentelemetry-sdk, opentelemetry-exporter-otlp-proto-http)"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    "arize-phoenix==20.26.1" "opentelemetry-proto" "grpcio" "protobuf" "prometheus-client==0.21.1" "opentelemetry-sdk" "opentelemetry-exporter-otlp-proto-http"
fi
echo "backends ready: $(command -v prometheus) ($(prometheus --version 2>&1 | head -1)), phoenix $("$VENV/bin/python" -c 'import phoenix; print(phoenix.__version__)' 2>/dev/null || echo '?')"
