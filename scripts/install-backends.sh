#!/usr/bin/env bash
# Installs the real backends the integration tests talk to. Idempotent.
# Nothing is needed yet by the core crate; backends are added here as the
# integration crate's tests start to need them (Prometheus, an OTLP receiver).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "no external backends required by the current test suite"
