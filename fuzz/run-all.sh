#!/usr/bin/env bash
# Runs every fuzz target for N seconds (default 60), one after another, and
# prints one summary line per target: executions, coverage, corpus size and
# whether it found a crash, a timeout or an out-of-memory input.
#
# Usage: fuzz/run-all.sh [SECONDS] [TARGET...]
#   With no TARGET, runs every target `cargo fuzz list` shows. Seeds the
#   corpora first (seed-corpus.sh) when fuzz/corpus is missing.
#   FUZZ_SANITIZER=none to build without AddressSanitizer.
# Needs cargo-fuzz. Only the stable toolchain is assumed: RUSTC_BOOTSTRAP=1
# lets it accept the -Z flags cargo-fuzz passes (docs/fuzzing.md).
# Logs go to fuzz/logs/<target>.log; crashes to fuzz/artifacts/<target>/.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
seconds="${1:-60}"
shift || true
export RUSTC_BOOTSTRAP=1
sanitizer=(--sanitizer "${FUZZ_SANITIZER:-address}")

if [[ ! -d corpus ]]; then
  ./seed-corpus.sh >/dev/null || echo "run-all.sh: seeding failed; fuzzing from empty corpora" >&2
fi
if (($# > 0)); then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build "${sanitizer[@]}" || exit 1
mkdir -p logs
status=0
printf '%-20s %10s %8s %8s %7s %8s  %s\n' target execs exec/s cov ft corpus result
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  log="logs/$target.log"
  # -timeout: an input that takes 10 s is a bug to report, not to wait out.
  cargo fuzz run "${sanitizer[@]}" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  execs="$(grep -oP '^stat::number_of_executed_units:\s*\K\d+' "$log" | tail -1)"
  rate="$(grep -oP '^stat::average_exec_per_sec:\s*\K\d+' "$log" | tail -1)"
  last="$(grep -E '^#[0-9]+' "$log" | tail -1)"
  cov="$(grep -oP 'cov: \K\d+' <<<"$last")"
  ft="$(grep -oP 'ft: \K\d+' <<<"$last")"
  corp="$(grep -oP 'corp: \K\d+' <<<"$last")"
  if ((rc == 0)); then
    result=ok
  else
    status=1
    result="FAILED (rc $rc): $(grep -m1 -oE 'ERROR: libFuzzer: [a-z-]+|panicked at [^ ]+' "$log") — see fuzz/$log"
  fi
  printf '%-20s %10s %8s %8s %7s %8s  %s\n' "$target" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
exit "$status"
