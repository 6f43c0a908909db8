#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (+ASan/UBSan) and runs each for
# SECONDS (default 60).  Prints executions and crashes per target; a crash
# leaves its input in build-fuzz/crashes/TARGET/ (add it to corpus/TARGET/
# with the fix).  Exit status 1 when any target crashed.
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
umask 022
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
shift || true
build=$root/build-fuzz
CC=${FUZZ_CC:-clang-14} cmake -S "$root" -B "$build" -DDSB_FUZZ=ON -DDSB_SANITIZE=ON \
  -DDSB_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build.log" 2>&1 ||
  { cat "$build.log"; exit 1; }
cmake --build "$build" -j"$(nproc)" >>"$build.log" 2>&1 || { tail -40 "$build.log"; exit 1; }

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$root"/tests/fuzz/fuzz_*.c; do
    t=$(basename "$f" .c); targets+=("${t#fuzz_}")
  done
fi
status=0
printf '%-14s %12s %8s\n' target execs crashes
for t in "${targets[@]}"; do
  work=$build/work/$t crashes=$build/crashes/$t
  rm -rf "$work" "$crashes"; mkdir -p "$work" "$crashes"
  cp -r "$root/tests/fuzz/corpus/$t/." "$work/" 2>/dev/null || true
  log=$build/$t.log
  ASAN_OPTIONS=detect_leaks=1 "$build/tests/fuzz/fuzz_$t" "$work" \
    -max_total_time="$secs" -artifact_prefix="$crashes/" -print_final_stats=1 \
    -rss_limit_mb=2048 >"$log" 2>&1 || true
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  n=$(find "$crashes" -type f | wc -l)
  printf '%-14s %12s %8s\n' "$t" "${execs:-0}" "$n"
  [ "$n" -eq 0 ] || status=1
done
exit $status
