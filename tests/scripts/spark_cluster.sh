#!/usr/bin/env bash
# Starts or stops a Spark standalone cluster for tests: one master and two
# workers on 127.0.0.1, from the project venv's PySpark, on free ports.
#   spark_cluster.sh start DIR   start (or reuse a running one) and wait
#                                until the master lists 2 ALIVE workers;
#                                writes DIR/spark-cluster.env:
#                                DSB_TEST_SPARK_MASTER=spark://127.0.0.1:PORT
#                                DSB_TEST_SPARK_MASTER_UI=http://127.0.0.1:PORT
#                                DSB_TEST_SPARK_WORKER_USER=USER
#   spark_cluster.sh stop DIR    stop all three and remove the env file
# Both are idempotent.  Logs: DIR/spark-cluster/*.log.  Run as root, the
# workers run as dsbroker-job, the user confined jobs run as: a job's
# driver writes its output directory as that user and the executors write
# into it too (docs/jobs.md, spark-submit).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${DSB_VENV:-$root/.venv}
cmd=${1:-}
dir=${2:-}
usage="usage: $0 start|stop DIR"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "$usage" >&2; exit 2; }
base=$dir/spark-cluster
envfile=$dir/spark-cluster.env
export SPARK_LOCAL_IP=127.0.0.1 SPARK_NO_DAEMONIZE=1

spark_class() {
  local c
  for c in "$venv"/lib/python3*/site-packages/pyspark/bin/spark-class; do
    [ -x "$c" ] && { echo "$c"; return 0; }
  done
  echo "spark_cluster: no pyspark/bin/spark-class in $venv; run scripts/setup.sh" >&2
  return 1
}

free_port() {
  "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ours() { # NAME: is the pid in base/NAME.pid a live java we started?
  local pid
  [ -f "$base/$1.pid" ] || return 1
  pid=$(cat "$base/$1.pid")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "org.apache.spark.deploy"
}

alive_workers() { # UI: how many workers the master lists ALIVE
  curl -fsS --noproxy '*' -m 2 "$1/json/" 2>/dev/null |
    "$venv/bin/python" -c 'import json, sys
try:
    print(sum(w.get("state") == "ALIVE" for w in json.load(sys.stdin)["workers"]))
except Exception:
    print(0)'
}

stop() {
  local name pid i
  for name in worker2 worker1 master; do
    if ours "$name"; then
      pid=$(cat "$base/$name.pid")
      kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
      for i in $(seq 100); do
        [ -d "/proc/$pid" ] || break
        sleep 0.1
      done
      [ -d "/proc/$pid" ] && kill -9 -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$base/$name.pid"
  done
  rm -f "$envfile"
}

launch() { # NAME AS-USER ARGS...: a java in a session of its own
  local name=$1 user=$2
  shift 2
  if [ -n "$user" ]; then
    setsid setpriv --reuid "$user" --regid "$user" --clear-groups \
      "$@" </dev/null >>"$base/$name.log" 2>&1 &
  else
    setsid "$@" </dev/null >>"$base/$name.log" 2>&1 &
  fi
  echo $! > "$base/$name.pid"
}

try_start() {
  local sc port ui_port ui i user="" n
  sc=$(spark_class)
  port=$(free_port)
  ui_port=$(free_port)
  ui=http://127.0.0.1:$ui_port
  [ "$(id -u)" = 0 ] && user=dsbroker-job
  launch master "" "$sc" org.apache.spark.deploy.master.Master \
    --host 127.0.0.1 --port "$port" --webui-port "$ui_port"
  for n in 1 2; do
    mkdir -p "$base/work$n"
    [ -n "$user" ] && chown "$user:" "$base/work$n"
    launch "worker$n" "$user" "$sc" org.apache.spark.deploy.worker.Worker \
      "spark://127.0.0.1:$port" --host 127.0.0.1 --cores 1 --memory 1g \
      --webui-port 0 --work-dir "$base/work$n"
  done
  for i in $(seq 1200); do # until the master lists both workers (2 min)
    if [ "$(alive_workers "$ui")" = 2 ]; then
      (umask 077 && printf 'DSB_TEST_SPARK_MASTER=spark://127.0.0.1:%s\nDSB_TEST_SPARK_MASTER_UI=%s\nDSB_TEST_SPARK_WORKER_USER=%s\n' \
        "$port" "$ui" "${user:-$(id -un)}" > "$envfile.tmp")
      mv "$envfile.tmp" "$envfile"
      return 0
    fi
    for n in master worker1 worker2; do
      ours "$n" || { echo "spark_cluster: $n exited; see $base/$n.log" >&2; stop; return 1; }
    done
    sleep 0.1
  done
  echo "spark_cluster: the master did not list 2 workers; see $base/*.log" >&2
  stop
  return 1
}

start() {
  local ui attempt
  mkdir -p "$base"
  chmod 0755 "$base"
  if ours master && ours worker1 && ours worker2 && [ -f "$envfile" ]; then
    ui=$(sed -n 's/^DSB_TEST_SPARK_MASTER_UI=//p' "$envfile")
    if [ "$(alive_workers "$ui")" = 2 ]; then
      echo "spark_cluster: already running ($ui)"
      return 0
    fi
  fi
  stop
  for attempt in 1 2; do
    if try_start; then
      echo "spark_cluster: started ($(sed -n 's/^DSB_TEST_SPARK_MASTER=//p' "$envfile"))"
      return 0
    fi
    echo "spark_cluster: attempt $attempt failed" >&2
  done
  exit 1
}

case "$cmd" in
  start) start ;;
  stop) stop; echo "spark_cluster: stopped" ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
