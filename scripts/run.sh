#!/usr/bin/env bash
# Runs dsbroker on the embedded default (conf.d/ as checked in): installs
# what is missing, builds, starts a local PostgreSQL with the sample shop
# database, points the CSV source at scripts/sample-data, and serves until
# Ctrl-C (the PostgreSQL is stopped on the way out).  State lives in var/.
#   scripts/run.sh            build and serve
#   DSB_LISTEN=127.0.0.1:9090 scripts/run.sh
set -euo pipefail
umask 022
root=$(cd "$(dirname "$0")/.." && pwd)
state=$root/var

bash "$root/scripts/setup.sh"
echo "run: building into build/"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$root/build.log" 2>&1 &&
  cmake --build "$root/build" -j"$(nproc)" >>"$root/build.log" 2>&1 ||
  { tail -40 "$root/build.log"; exit 1; }

echo "run: starting the local PostgreSQL (sample shop database)"
DSB_PG_FIXTURES=$root/scripts/sample-data/postgres.sql \
  bash "$root/tests/scripts/postgres.sh" start "$state/run"
trap 'bash "$root/tests/scripts/postgres.sh" stop "$state/run"' EXIT
# shellcheck disable=SC1091
. "$state/run/postgres.env"
export DSB_PG_PORT=$PGPORT
export DSB_PG_PASSWORD_FILE=$DSB_TEST_PG_PASSWORD_FILE
export DSB_DATA_DIR=$root/scripts/sample-data
export DSB_STATE_DIR=$state/state

dsb=$root/build/bin/dsbroker
"$dsb" check-config -c "$root/conf.d"
"$dsb" sources -c "$root/conf.d"
echo "run: serving on ${DSB_LISTEN:-127.0.0.1:8080}; Ctrl-C stops"
"$dsb" serve -c "$root/conf.d" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM
wait "$pid" || wait "$pid" || true
