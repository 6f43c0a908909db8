#!/usr/bin/env bash
# Starts or stops a moto_server for tests, on 127.0.0.1 and a free port.
#   moto.sh start DIR   start (or reuse a running one); writes DIR/moto.env:
#                       DSB_TEST_MOTO_URL=http://127.0.0.1:PORT
#                       DSB_TEST_MOTO_PORT=PORT
#   moto.sh stop DIR    stop it and remove DIR/moto.env (no-op when stopped)
#   moto.sh start|stop DIR auth
#                       a second, separate server that checks credentials
#                       (tests/scripts/moto_auth.py: IAM users, verified
#                       SigV4, policies); files DIR/moto-auth.*, variables
#                       DSB_TEST_MOTO_AUTH_URL, _PORT and the users' keys.
#                       Starting it again (re)creates the users.
# All are idempotent.  The server comes from the project venv
# ($DSB_VENV or REPO/.venv; see scripts/setup.sh); its log is DIR/NAME.log.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${DSB_VENV:-$root/.venv}
cmd=${1:-}
dir=${2:-}
mode=${3:-}
usage="usage: $0 start|stop DIR [auth]"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "$usage" >&2; exit 2; }
case "$mode" in
  "") name=moto; prefix=DSB_TEST_MOTO ;;
  auth) name=moto-auth; prefix=DSB_TEST_MOTO_AUTH ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
pidfile=$dir/$name.pid
envfile=$dir/$name.env
logfile=$dir/$name.log

# Is the pid in the pid file a moto_server we started?
running() {
  local pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q moto_server
}

answers() { # PORT: moto answers POST /moto-api/reset
  curl -fsS --noproxy '*' -m 2 -X POST "http://127.0.0.1:$1/moto-api/reset" \
    -o /dev/null 2>/dev/null
}

free_port() {
  "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop() {
  local pid i
  if running; then
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for i in $(seq 50); do
      [ -d "/proc/$pid" ] || break
      sleep 0.1
    done
    [ -d "/proc/$pid" ] && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile" "$envfile"
}

publish() { # PORT: writes the env file (bootstrapping auth mode first)
  rm -f "$envfile.tmp"
  (umask 077 && printf '%s_URL=http://127.0.0.1:%s\n%s_PORT=%s\n' \
    "$prefix" "$1" "$prefix" "$1" > "$envfile.tmp")
  if [ "$mode" = auth ]; then
    "$venv/bin/python" "$root/tests/scripts/moto_auth.py" \
      "http://127.0.0.1:$1" "$envfile.tmp" >>"$logfile" 2>&1 || {
      echo "$name: auth bootstrap failed; see $logfile" >&2
      rm -f "$envfile.tmp"
      return 1
    }
  fi
  mv "$envfile.tmp" "$envfile"
}

try_start() { # one attempt on a fresh port; 0 when it answers
  local port pid i
  port=$(free_port)
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" \
    </dev/null >>"$logfile" 2>&1 &
  pid=$!
  echo "$pid" > "$pidfile"
  for i in $(seq 150); do
    if answers "$port"; then
      publish "$port" && return 0
      break
    fi
    [ -d "/proc/$pid" ] || break
    sleep 0.1
  done
  stop
  return 1
}

start() {
  local port attempt
  mkdir -p "$dir"
  if running && [ -f "$envfile" ]; then
    port=$(sed -n "s/^${prefix}_PORT=//p" "$envfile")
    if answers "$port" && publish "$port"; then
      echo "$name: already running on 127.0.0.1:$port"
      return 0
    fi
  fi
  stop
  [ -x "$venv/bin/moto_server" ] || {
    echo "moto: $venv/bin/moto_server not found; run scripts/setup.sh" >&2
    exit 1
  }
  for attempt in 1 2 3; do
    if try_start; then
      echo "$name: started on $(sed -n "s/^${prefix}_URL=//p" "$envfile")"
      return 0
    fi
    echo "$name: attempt $attempt failed; see $logfile" >&2
  done
  exit 1
}

case "$cmd" in
  start) start ;;
  stop) stop; echo "$name: stopped" ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
