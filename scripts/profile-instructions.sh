#!/usr/bin/env bash
# Instructions per observed step, per mode, counted by callgrind (repeatable
# where this VM's wall clock is not). For each mode it runs `profile_step`
# with two step counts and divides the difference of the step loop's
# instructions (the inclusive cost of entering the loop's runtime on the
# main thread) by the difference of the counts. Setup is left out on
# purpose: the clock's calibration there runs for a time, not a number of
# instructions.
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

loop_total() {
  # The main thread's file is the one ending in -01.
  local f
  f=$(ls "$1"/callgrind.out.*-01 | head -1)
  # (Into a file: with pipefail, grep -m1 closing the pipe early would
  # fail the script.)
  callgrind_annotate --inclusive=yes "$f" >"$1/annotated" 2>/dev/null
  grep -m1 -E 'tokio::runtime::context::runtime::enter_runtime|tokio::runtime::runtime::Runtime::block_on' "$1/annotated" | awk '{gsub(",", "", $1); print $1}'
}

printf '%-10s %12s\n' mode instr/step
for mode in "${modes[@]}"; do
  totals=()
  for n in "$low" "$high"; do
    d="$out/$mode-$n"
    mkdir -p "$d"
    PROFILE_STEPS=$n valgrind --tool=callgrind --separate-threads=yes \
      --callgrind-out-file="$d/callgrind.out.%p" "$bin" "$mode" >/dev/null 2>&1
    totals+=("$(loop_total "$d")")
  done
  per=$(( (totals[1] - totals[0]) / (high - low) ))
  printf '%-10s %12s\n' "$mode" "$per"
done
