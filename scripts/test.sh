#!/usr/bin/env bash
# Runs every check and test of the workspace, installing what they need.
#
#   ./scripts/test.sh            # everything
#   SKIP_INSTALL=1 ./scripts/test.sh   # don't install backends (tests that need one skip, unless CI=true)
#
# Under CI=true a test that needs a backend fails when the backend is missing
# instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
# Property tests (tests/bad_input.rs): cases per property.
export PROPTEST_CASES="${PROPTEST_CASES:-256}"

# Each step's time is printed when the next one starts (and the total at the end).
step=""
step_start=$SECONDS
log() {
  if [ -n "$step" ]; then
    printf '    [%s: %ds]\n' "$step" $((SECONDS - step_start))
  fi
  step="$*"
  step_start=$SECONDS
  printf '\n==> %s\n' "$*"
}

if [ -z "${SKIP_INSTALL:-}" ]; then
  log "installing test backends"
  bash scripts/install-backends.sh
fi

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

log "cargo doc (broken intra-doc links are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

log "compose stack and Prometheus config: docker-compose config, promtool check config (with the SLO rules)"
if [ -n "${SKIP_INSTALL:-}" ] && ! command -v docker-compose >/dev/null; then
  echo "    docker-compose not installed: skipped (scripts/install-backends.sh installs it)"
else
  docker-compose -f docker-compose.test.yml config -q
  echo "    docker-compose.test.yml: valid"
fi
if command -v promtool >/dev/null || [ -z "${SKIP_INSTALL:-}" ]; then
  promtool check config prometheus.yml
fi

log "cargo test --workspace (unit, integration and doc tests)"
cargo test --workspace

log "benches compile"
cargo bench --workspace --no-run --quiet 2>/dev/null || cargo bench --workspace --no-run

log "short throughput runs: span accounting must be exact (created == exported + dropped); none dropped with a sized queue"
# The bench profile (release plus line tables, for profilers) so the
# dependencies the benches just compiled are reused instead of built again.
cargo build --profile bench --quiet --example throughput
./target/release/examples/throughput --seconds 3
./target/release/examples/throughput --seconds 3 --queue 4194304 --require-no-drops

log "endurance (release): 100 000 runs over 1000 tasks while /metrics is scraped every 10 ms; 1000 install/shutdown cycles; a 10 s soak with RSS sampled every second"
./target/release/examples/throughput --runs 100000 --tasks 1000 --scrape-ms 10
./target/release/examples/throughput --cycles 1000
./target/release/examples/throughput --soak --seconds 10 --rss-every 1 | cut -c1-400

log "main demo (the README's first command, with --exit): prints the viewer URL, every span reaches the viewer, shuts down clean"
demo_out=$(cargo run --quiet --example full_stack -- --exit 2>&1)
tail -4 <<<"$demo_out"
grep -q "See the runs: open http://127.0.0.1:9464/" <<<"$demo_out"
grep -q "shutdown flushed everything" <<<"$demo_out"
grep -Eq "spans via viewer: ended ([1-9][0-9]*), exported \1, dropped 0, in flight 0" <<<"$demo_out"

log "LLM examples (simulated models, no network): cost lines, tokens by type, cache hit rate and cost avoided from their own /metrics"
for ex in cost_tracking llm_router_cache; do
  ex_out=$(cargo run --quiet --example "$ex" 2>&1)
  grep -E '^  llm_cost_usd_total\{model="[^"]+"\} [0-9.e-]+$' <<<"$ex_out" | head -2
  for want in 'tokens by type' 'cache hit rate: [0-9]+%' 'cost avoided by cache hits: \$0\.0*[1-9]' 'shutdown flushed everything'; do
    grep -Eq "$want" <<<"$ex_out" || { echo "$ex: no line matching '$want' in:"; echo "$ex_out"; exit 1; }
  done
  ! grep -q "panicked" <<<"$ex_out"
  if [ "$ex" = cost_tracking ]; then grep -q "stopped (budget_exceeded)" <<<"$ex_out"; fi
done

log "main demo with a metrics endpoint the router can't take: a clear error, exit 2, no panic"
for bad in /healthz '/:id' '/metrics/{x}'; do
  set +e
  bad_out=$(OBSERVABILITY_PROMETHEUS_ENDPOINT="$bad" cargo run --quiet --example full_stack -- --exit 2>&1)
  bad_rc=$?
  set -e
  echo "    $bad -> exit $bad_rc: $(head -1 <<<"$bad_out" | cut -c1-110)"
  [ "$bad_rc" -eq 2 ] || { echo "expected exit 2, got $bad_rc"; echo "$bad_out"; exit 1; }
  grep -q "invalid prometheus_endpoint" <<<"$bad_out"
  ! grep -q "panicked" <<<"$bad_out"
done

log "all checks passed"
printf '    [total: %ds]\n' "$SECONDS"
