#!/usr/bin/env bash
# Installs the official OpenTelemetry Python SDK from PyPI into
# .backends/bench-venv and times the Python side of the side-by-side
# comparison (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.backends/bench-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check "opentelemetry-api==1.45.*" "opentelemetry-sdk==1.45.*"
exec "$VENV/bin/python" bench/python/workflows.py "$@"
