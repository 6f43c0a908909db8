#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for the tests, on 127.0.0.1 and a free port.
#   postgres.sh start DIR    initdb (first time), start, load fixtures; idempotent
#   postgres.sh stop DIR     stop (keeps the data directory); idempotent
#   postgres.sh restart DIR  stop then start (for tests of reconnection)
#   postgres.sh psql DIR ... psql as the superuser over the Unix socket
# DSB_PG_FIXTURES=FILE loads FILE instead of the tests' fixtures (run.sh).
# DSB_PG_DURABLE=1 keeps PostgreSQL's durability defaults (fsync, commit
# waits for its WAL flush) for benchmarks; tests run without them.
# Writes DIR/postgres.env: PGHOST, PGPORT, PGUSER (the broker's role),
# DSB_TEST_PG_PASSWORD_FILE (0600), the other roles' password files, and
# DSB_TEST_PG_SOCKET / DSB_TEST_PG_SUPERUSER for fixtures (trust over the
# socket only; TCP always asks for a scram password).
set -euo pipefail

cmd=${1:?usage: postgres.sh start|stop|restart|psql DIR}
dir=${2:?usage: postgres.sh start|stop|restart|psql DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
fixtures=${DSB_PG_FIXTURES:-$here/../postgres/fixtures.sql}
pgbin=${DSB_PG_BIN:-/usr/lib/postgresql/15/bin}
state=$dir/postgres
data=$state/data
sock=$state/sock
envfile=$dir/postgres.env

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
superuser() { if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running() { [ -f "$data/postmaster.pid" ] && as_owner "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

new_password() { head -c 18 /dev/urandom | base64 | tr -d '/+=' ; }

write_secret() { # FILE VALUE
  (umask 077; printf '%s\n' "$2" > "$1")
}

init_cluster() {
  rm -rf "$state"
  mkdir -p "$state" "$sock"
  [ "$(id -u)" -eq 0 ] && chown postgres "$state" "$sock"
  chmod 700 "$state"
  [ "$(id -u)" -eq 0 ] && chmod 711 "$state"   # root-owned files inside, postgres-owned data
  as_owner "$pgbin/initdb" -D "$data" -U "$(superuser)" -A trust -E UTF8 \
    --locale=C.UTF-8 >"$state/initdb.log" 2>&1
  cat >"$data/pg_hba.conf" <<HBA
local all all trust
host  all all 127.0.0.1/32 scram-sha-256
HBA
  local port; port=$(free_port)
  cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
password_encryption = scram-sha-256
max_connections = 200
log_min_messages = warning
CONF
  [ "${DSB_PG_DURABLE:-0}" = 1 ] ||
    printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' \
      >>"$data/postgresql.conf"
  echo "$port" >"$state/port"
  write_secret "$state/reader.password" "$(new_password)"
  write_secret "$state/rotate.password" "$(new_password)"
  write_secret "$state/wrong.password" "not-the-$(new_password)"
}

write_env() {
  local port; port=$(cat "$state/port")
  cat >"$envfile" <<ENV
PGHOST=127.0.0.1
PGPORT=$port
PGUSER=dsb_reader
DSB_TEST_PG_PASSWORD_FILE=$state/reader.password
DSB_TEST_PG_ROTATE_USER=dsb_rotate
DSB_TEST_PG_ROTATE_PASSWORD_FILE=$state/rotate.password
DSB_TEST_PG_WRONG_PASSWORD_FILE=$state/wrong.password
DSB_TEST_PG_SOCKET=$sock
DSB_TEST_PG_SUPERUSER=$(superuser)
DSB_TEST_PG_SCRIPT=$here/postgres.sh
DSB_TEST_PG_DATA=$data
ENV
}

start_server() {
  running && return 0
  rm -f "$data/postmaster.pid"
  as_owner "$pgbin/pg_ctl" -D "$data" -l "$state/server.log" -w -t 60 start >/dev/null
}

psql_super() {
  "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$(cat "$state/port")" \
    -U "$(superuser)" "$@"
}

# What the cluster is made from: the fixtures and this script (its
# postgresql.conf lines); a change of either makes a new cluster.
cluster_sha() {
  cat "$fixtures" "$here/postgres.sh" | sha256sum | cut -d' ' -f1
}

load_fixtures() {
  psql_super -d postgres \
    -v reader_password="$(cat "$state/reader.password")" \
    -v rotate_password="$(cat "$state/rotate.password")" \
    -f "$fixtures" >"$state/fixtures.log" 2>&1 || {
      echo "postgres.sh: loading fixtures failed, see $state/fixtures.log" >&2
      tail -5 "$state/fixtures.log" >&2; return 1; }
  cluster_sha >"$state/fixtures.sha"
}

fixtures_current() {
  [ -f "$state/fixtures.sha" ] &&
    [ "$(cat "$state/fixtures.sha")" = "$(cluster_sha)" ]
}

do_start() {
  if [ -f "$data/PG_VERSION" ] && fixtures_current; then
    start_server; write_env; return 0
  fi
  running && as_owner "$pgbin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null || true
  init_cluster
  start_server
  load_fixtures
  write_env
}

do_stop() {
  [ -d "$data" ] || return 0
  running || return 0
  as_owner "$pgbin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
}

case "$cmd" in
start) do_start ;;
stop) do_stop ;;
restart) do_stop; start_server ;;
psql) shift 2; psql_super "$@" ;;
*) echo "usage: postgres.sh start|stop|restart|psql DIR" >&2; exit 2 ;;
esac
