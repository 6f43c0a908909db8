#!/usr/bin/env bash
# Submit overhead of a running broker: HTTP POST /v1/sessions/{id}/jobs
# through `dsbroker serve` (EMR Serverless executor, an s3csv table in the
# session) against a direct PutObject + StartJobRun, both on one moto_server,
# interleaved in the same run (tests/bench/jobs_submit_bench.c).  Prints both
# medians and the added ms (goal: <= 20 ms).  Not a CTest test.
#   tests/bench/jobs_submit.sh [BUILD_DIR] [ITERATIONS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
n=${2:-200}
bench=$build/tests/jobs_submit_bench
dsbroker=$build/bin/dsbroker
for f in "$bench" "$dsbroker" "$build/lib/dsbroker/s3csv.so"; do
  [ -e "$f" ] || { echo "build first: $f is missing" >&2; exit 1; }
done
dir=$(mktemp -d)
broker_pid=
cleanup() {
  [ -z "$broker_pid" ] || { kill "$broker_pid" 2>/dev/null; wait "$broker_pid" 2>/dev/null || true; }
  bash "$root/tests/scripts/moto.sh" stop "$dir" >/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
bash "$root/tests/scripts/moto.sh" start "$dir" >/dev/null
. "$dir/moto.env"
export AWS_ENDPOINT_URL=$DSB_TEST_MOTO_URL AWS_ACCESS_KEY_ID=testing \
  AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
app=$("$bench" setup "$DSB_TEST_MOTO_URL")

mkdir "$dir/conf.d"
cat >"$dir/conf.d/broker.yaml" <<YAML
listen: 127.0.0.1:0
state_dir: $dir/state
log_level: warn
executors:
  - name: standard
    type: emr-serverless
    networks: [public]
    application_id: $app
    execution_role_arn: arn:aws:iam::123456789012:role/bench
    staging_uri: s3://bench-jobs/staging/
YAML
cat >"$dir/conf.d/data.yaml" <<YAML
name: data
plugin: s3csv
roots: [s3://bench-data/]
YAML
"$dsbroker" -c "$dir/conf.d" -P "$build/lib/dsbroker" serve \
  --port-file "$dir/port" 2>"$dir/broker.log" &
broker_pid=$!
for _ in $(seq 1 200); do [ -s "$dir/port" ] && break; sleep 0.05; done
[ -s "$dir/port" ] || { cat "$dir/broker.log" >&2; exit 1; }
echo "broker on 127.0.0.1:$(cat "$dir/port"), moto on $DSB_TEST_MOTO_URL, $n submits each"
"$bench" run "$DSB_TEST_MOTO_URL" "http://127.0.0.1:$(cat "$dir/port")" "$app" \
  "$dir/state" "$n"
