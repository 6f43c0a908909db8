#!/usr/bin/env bash
# Installs everything dsbroker's build and tests need on Debian/Ubuntu:
# Debian packages (when missing), the dsbroker-job user confined local jobs
# run as (when run as root), and a project venv with the PyPI tools.
# Idempotent and quiet; safe to run again.  Usage: scripts/setup.sh [--no-spark]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
want_spark=1
[ "${1:-}" = "--no-spark" ] && want_spark=0

debs=(build-essential cmake pkg-config git ca-certificates curl
      libpq-dev libcurl4-openssl-dev libjansson-dev libssl-dev libyaml-dev
      libcriterion-dev libmicrohttpd-dev libsqlite3-dev sqlite3 libexpat1-dev
      libcsv-dev zlib1g-dev
      postgresql postgresql-client libpostgresql-jdbc-java
      python3 python3-venv python3-pip default-jre-headless
      clang-14 libclang-rt-14-dev clang-format-14 valgrind wrk procps util-linux
      bubblewrap chromium fonts-liberation haproxy)
# node and npm build the web console (ui/): Debian's only when the commands
# are missing (a newer node from elsewhere is fine)
command -v node >/dev/null 2>&1 || debs+=(nodejs)
command -v npm >/dev/null 2>&1 || debs+=(npm)

missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  log=$(mktemp)
  if ! { $sudo apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
           --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup: apt-get failed (output above)" >&2
    exit 1
  fi
  rm -f "$log"
fi

# A root broker runs each local job as this user (docs/jobs.md, run_as):
# a system user without a home or a login shell.
if [ "$(id -u)" -eq 0 ] && ! getent passwd dsbroker-job >/dev/null; then
  echo "setup: creating the system user dsbroker-job (local jobs run as it)"
  useradd --system --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --user-group dsbroker-job
fi

venv=${DSB_VENV:-$root/.venv}
py=("moto[server]>=5,<6" "boto3>=1.34" "schemathesis>=4,<5" "mcp>=2.3,<3"
    "playwright>=1.40,<2")
[ "$want_spark" = 1 ] && py+=("pyspark>=4,<5")
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating the project venv in $venv"
  python3 -m venv "$venv"
fi
stamp="$venv/.dsb-installed"
mods="moto, boto3, schemathesis, mcp, playwright"
[ "$want_spark" = 1 ] && mods+=", pyspark"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${py[*]}" ]; then
  echo "setup: installing ${py[*]} into the venv"
  rm -f "$stamp"
  log=$(mktemp)
  if ! "$venv/bin/pip" install -q --disable-pip-version-check "${py[@]}" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "setup: pip install failed (output above)" >&2
    exit 1
  fi
  rm -f "$log"
  if ! "$venv/bin/python" -c "import $mods" 2>/dev/null; then
    echo "setup: pip finished but the venv cannot import $mods" >&2
    exit 1
  fi
  echo "${py[*]}" > "$stamp"
fi
