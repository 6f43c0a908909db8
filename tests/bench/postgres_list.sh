#!/usr/bin/env bash
# Benchmark: cold listing of a 10,000-table schema (21 columns each) through
# postgres.so (tests/bench/pg_list_bench.c, all pages) against the plugin's
# own catalog query run by psql over the same pages, in the same run.
# Prints both medians and the ratio (goal: <= 1.3).  Then the broker itself
# over HTTP (tests/bench/pg_meta.py): paged and compatibility listings and
# a 500-table context, cold and warm, against the whole-schema query in
# psql, and the broker's RSS over ROUNDS cold rounds.
#   tests/bench/postgres_list.sh [BUILD_DIR] [RUNS] [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
runs=${2:-5}
rounds=${3:-10}
services=$build/test-services
script=$root/tests/scripts/postgres.sh
bench=$build/tests/pg_list_bench
[ -x "$bench" ] || { echo "build pg_list_bench first (make pg_list_bench postgres)" >&2; exit 1; }

bash "$script" start "$services"
set -a; . "$services/postgres.env"; set +a
sq() { bash "$script" psql "$services" "$@"; }

if ! sq -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'bench_wide21'" | grep -q 1; then
  echo "creating bench_wide21: 10,000 tables of 21 columns (about a minute)"
  sq -d postgres -c "CREATE DATABASE bench_wide21"
  sq -d bench_wide21 <<'SQL'
CREATE SCHEMA wide;
GRANT USAGE ON SCHEMA wide TO dsb_reader;
DO $$
DECLARE cols text;
BEGIN
  SELECT string_agg(format('c%s %s', g,
           (ARRAY['integer','bigint','text','numeric(12,2)','timestamptz',
                  'boolean','jsonb','date','double precision','uuid'])[1 + g % 10]),
           ', ')
    INTO cols FROM generate_series(2, 21) g;
  FOR i IN 1..10000 LOOP
    EXECUTE format('CREATE TABLE wide.%I (id bigint PRIMARY KEY, %s)',
                   't' || lpad(i::text, 5, '0'), cols);
    IF i % 500 = 0 THEN COMMIT; END IF;
  END LOOP;
END $$;
ANALYZE;
SQL
fi
# read specs (the context) need SELECT; idempotent
sq -d bench_wide21 -qc "GRANT SELECT ON ALL TABLES IN SCHEMA wide TO dsb_reader"

conf=$(mktemp -d)
trap 'rm -rf "$conf"' EXIT
cat >"$conf/broker.yaml" <<YAML
listen: 127.0.0.1:0
state_dir: $conf/var
log_level: warn
limits:
  max_body_bytes: 4194304
YAML
cat >"$conf/bench.yaml" <<YAML
name: bench
plugin: postgres
host: $PGHOST
port: $PGPORT
dbname: bench_wide21
user: $PGUSER
password: file:$DSB_TEST_PG_PASSWORD_FILE
sslmode: disable
statement_timeout_ms: 600000
network: local
YAML

export DSB_PLUGIN_DIR=$build/lib/dsbroker
echo "== plugin (all pages, fresh broker and connection per run)"
plugin_ms=$("$bench" "$conf" bench bench_wide21 wide "$runs" | tee /dev/stderr | awk '/^median/ {print $2}')

sql=$("$bench" --sql)
page=$("$bench" --page)
export PGPASSWORD; PGPASSWORD=$(cat "$DSB_TEST_PG_PASSWORD_FILE")
# The plugin's session settings (pg_pool.c); jit=off matters most: JIT
# compiling this expression-heavy query costs more than running it.
export PGOPTIONS="-c default_transaction_read_only=on -c search_path=pg_catalog -c DateStyle=ISO,YMD -c TimeZone=UTC -c jit=off"
# The same pages as the plugin: PAGE+1 tables a query, keyset on the last
# name of the previous page.  The boundaries are read before timing.
afters=$(psql -X -q -At -d bench_wide21 -c "SELECT relname FROM pg_class
  WHERE relnamespace = 'wide'::regnamespace AND relkind IN ('r','p','v','m','f')
  AND NOT relispartition ORDER BY relname" |
  awk -v p="$page" 'NR > 1 && (NR - 1) % p == 0 {print prev} {prev = $0}')
pages=(-c "PREPARE q(text, text, text, text, text) AS $sql"
       -c "EXECUTE q('wide', NULL, NULL, NULL, '$((page + 1))')")
for a in $afters; do
  pages+=(-c "EXECUTE q('wide', NULL, '$a', NULL, '$((page + 1))')")
done
echo "== psql (the same query and pages in one session, output to /dev/null)"
times=()
for i in $(seq "$runs"); do
  t0=$(date +%s%N)
  psql -X -q -At -d bench_wide21 -o /dev/null "${pages[@]}"
  t=$(( ($(date +%s%N) - t0) / 1000 ))
  printf 'run %d: %.1f ms\n' "$i" "$(echo "$t / 1000" | bc -l)" >&2
  times+=("$t")
done
psql_us=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( runs / 2 + 1 ))p")
psql_ms=$(echo "$psql_us / 1000" | bc -l)
printf 'plugin median %.1f ms, psql median %.1f ms, ratio %.2f (goal <= 1.3)\n' \
  "$plugin_ms" "$psql_ms" "$(echo "$plugin_ms / $psql_ms" | bc -l)"

echo "== the broker over HTTP (cold and warm, RSS over $rounds cold rounds)"
PYTHONPATH=$here python3 "$here/pg_meta.py" "$build" "$conf" bench bench_wide21 wide "$rounds"
