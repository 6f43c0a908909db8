#!/usr/bin/env bash
# Submit overhead of the broker against a bare StartJobRun, on moto_server.
#   tests/bench/jobs_submit.sh BUILD_DIR [ITERATIONS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: $0 BUILD_DIR [ITERATIONS]}
dir=$(mktemp -d)
trap 'bash "$root/tests/scripts/moto.sh" stop "$dir" >/dev/null; rm -rf "$dir"' EXIT
bash "$root/tests/scripts/moto.sh" start "$dir" >/dev/null
. "$dir/moto.env"
DSB_LOG_LEVEL=error "$build/tests/jobs_submit_bench" "$DSB_TEST_MOTO_URL" "${2:-200}" 2>/dev/null
