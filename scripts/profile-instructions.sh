#!/usr/bin/env bash
# Instructions per observed step, per mode, counted by callgrind (repeatable
# where this VM's wall clock is not). For each mode it runs `profile_step`
# with two step counts and divides the difference of the main thread's
# totals by the difference of the counts, so setup and shutdown cancel out.
#
#   ./scripts/profile-instructions.sh                 # every mode
#   ./scripts/profile-instructions.sh sampled metrics # some
#
# Needs valgrind. Builds the example in release mode first.
set -euo pipefail
cd "$(dirname "$0")/.."
modes=("$@")
[ ${#modes[@]} -eq 0 ] && modes=(bare nothing metrics unsampled sampled json)
low=${LOW_STEPS:-20000}
high=${HIGH_STEPS:-60000}
cargo build --release --quiet --example profile_step -p observability-integration
bin=${CARGO_TARGET_DIR:-target}/release/examples/profile_step
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

main_total() {
  # The main thread's file is the one ending in -01.
  local f
  f=$(ls "$1"/callgrind.out.*-01 | head -1)
  grep -m1 '^summary:' "$f" | awk '{print $2}'
}

printf '%-10s %12s\n' mode instr/step
for mode in "${modes[@]}"; do
  totals=()
  for n in "$low" "$high"; do
    d="$out/$mode-$n"
    mkdir -p "$d"
    PROFILE_STEPS=$n valgrind --tool=callgrind --separate-threads=yes \
      --callgrind-out-file="$d/callgrind.out.%p" "$bin" "$mode" >/dev/null 2>&1
    totals+=("$(main_total "$d")")
  done
  per=$(( (totals[1] - totals[0]) / (high - low) ))
  printf '%-10s %12s\n' "$mode" "$per"
done
