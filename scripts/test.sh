#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing (scripts/setup.sh),
# then builds and runs every CTest suite twice — a normal build and an
# ASan+UBSan build with LeakSanitizer —, the unit suites under valgrind, the runtime (HTTP)
# suites in a ThreadSanitizer build, and every libFuzzer target for
# DSB_FUZZ_SECONDS (default 45) each.  Exit status is non-zero when
# anything fails.
#   scripts/test.sh            everything
#   scripts/test.sh -R REGEX   only the CTest tests matching REGEX (default
#                              and ASan+UBSan builds; no valgrind, TSan, fuzz)
set -euo pipefail
umask 022
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

bash "$root/scripts/setup.sh"

run_build() { # name, extra cmake args...
  local dir="$root/build-test-$1"; shift
  echo "==> $dir: configure and build"
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir.log" 2>&1 ||
    { cat "$dir.log"; return 1; }
  cmake --build "$dir" -j"$jobs" ${targets[@]+--target "${targets[@]}"} >>"$dir.log" 2>&1 ||
    { tail -50 "$dir.log"; return 1; }
  echo "==> $dir: ctest"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" ${CTEST_ARGS:-} "${filter[@]}")
}

filter=()
targets=() # what run_build builds (empty: everything)
[ "${1:-}" = "-R" ] && filter=(-R "$2")

status=0
run_build default || status=1
if [ ${#filter[@]} -eq 0 ]; then
  echo "==> valgrind memcheck over the unit suites"
  bash "$root/tests/valgrind.sh" "$root/build-test-default" || status=1
fi
# LeakSanitizer on: a leak fails the test (tests/CMakeLists.txt matches the
# report, as Criterion ignores a worker's exit status once the test passed)
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_build sanitize -DDSB_SANITIZE=ON || status=1
if [ ${#filter[@]} -eq 0 ]; then
  echo "==> ThreadSanitizer build: the server under the fault, property and race tests"
  # faults_pg_down is left out here (it runs in the two builds above): its
  # windows follow observed events, but it has not been tried under TSan.
  # faults_failover too: its 64 clients and Spark jobs under TSan's
  # slowdown would measure TSan, not the failover.
  filter=(-L "faults|props|race" -E "faults_pg_down|faults_failover")
  targets=(dsbroker postgres glue s3csv fixture http_fixture http_postgres http_glue)
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$root/tests/tsan.supp" \
    run_build tsan -DDSB_TSAN=ON || status=1
  filter=() targets=()
  echo "==> fuzz smoke: every libFuzzer target for ${DSB_FUZZ_SECONDS:-45} s"
  FUZZ_BUILD="$root/build-test-fuzz" FUZZ_JOBS="$jobs" \
    bash "$root/tests/fuzz/run.sh" "${DSB_FUZZ_SECONDS:-45}" || status=1
fi
if [ $status -eq 0 ]; then
  echo "==> all suites passed (default, ASan+UBSan, valgrind, TSan, fuzz)"
else
  echo "==> FAILED: see the output above" >&2
fi
exit $status
