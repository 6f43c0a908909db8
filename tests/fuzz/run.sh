#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (+ASan/UBSan) and runs each for
# SECONDS (default 60), FUZZ_JOBS targets at a time (default: the number of
# CPUs).  Prints executions and crashes per target; a crash, leak or timeout
# leaves its input in build-fuzz/crashes/TARGET/ (add it to the target's
# corpus with the fix).  Exit status 1 when any target failed.
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
# CI-sized: tests/fuzz/run.sh 30 (all targets, about three minutes with the
# build on 4 CPUs).
set -euo pipefail
umask 022
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
shift || true
build=${FUZZ_BUILD:-$root/build-fuzz}
jobs=${FUZZ_JOBS:-$(nproc)}
CC=${FUZZ_CC:-clang-14} cmake -S "$root" -B "$build" -DDSB_FUZZ=ON -DDSB_SANITIZE=ON \
  -DDSB_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build.log" 2>&1 ||
  { cat "$build.log"; exit 1; }
cmake --build "$build" -j"$(nproc)" >>"$build.log" 2>&1 || { tail -40 "$build.log"; exit 1; }

corpora=$build/tests/fuzz/corpora.txt
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cut -d' ' -f1 "$corpora")

# run_one TARGET: fuzzes into build-fuzz/work/TARGET, logs to TARGET.log.
run_one() {
  local t=$1 work=$build/work/$1 crashes=$build/crashes/$1 corpus
  corpus=$(awk -v t="$t" '$1 == t { print $2 }' "$corpora")
  rm -rf "$work" "$crashes"; mkdir -p "$work" "$crashes"
  cp -r "$corpus/." "$work/" 2>/dev/null || true
  ASAN_OPTIONS=detect_leaks=1 "$build/tests/fuzz/fuzz_$t" "$work" \
    -max_total_time="$secs" -timeout=10 -artifact_prefix="$crashes/" \
    -print_final_stats=1 -rss_limit_mb=2048 >"$build/$t.log" 2>&1 || true
}

for t in "${targets[@]}"; do
  [ -x "$build/tests/fuzz/fuzz_$t" ] || { echo "no target $t" >&2; exit 1; }
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_one "$t" &
done
wait

status=0
printf '%-16s %12s %8s\n' target execs crashes
for t in "${targets[@]}"; do
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/$t.log" |
          grep -o '[0-9]*$' || echo 0)
  n=$(find "$build/crashes/$t" -type f | wc -l)
  printf '%-16s %12s %8s\n' "$t" "${execs:-0}" "$n"
  [ "$n" -eq 0 ] || status=1
done
exit $status
