#!/usr/bin/env bash
# Runs scripts/setup.sh with DSB_VENV pointing at a stand-in venv whose pip
# "installs" modules as files (what it installs is chosen by FAKE_PIP), so
# the script's own checks are exercised without the network.
set -uo pipefail
setup=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

# The Debian package check would call apt-get: only run where all are there.
eval "$(sed -n '/^debs=(/,/)$/p' "$setup")"
for p in "${debs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    echo "setup_venv: skipped ($p is not installed; setup.sh would install it)"
    exit 77
  fi
done

make_venv() {
  rm -rf "$tmp/venv"
  mkdir -p "$tmp/venv/bin" "$tmp/venv/site"
  cat >"$tmp/venv/bin/python" <<'PY'
#!/bin/sh
PYTHONPATH="$(dirname "$0")/../site" exec python3 -S "$@"
PY
  cat >"$tmp/venv/bin/pip" <<'PIP'
#!/bin/sh
site="$(dirname "$0")/../site"
echo "$*" >>"$site/../pip.log"
touch "$site/moto.py" "$site/boto3.py" "$site/schemathesis.py" "$site/mcp.py" \
  "$site/playwright.py"
case "$FAKE_PIP" in
  fail) echo "ERROR: No matching distribution found for pyspark<5,>=4" >&2; exit 1 ;;
  nospark) exit 0 ;;
  *) touch "$site/pyspark.py"; exit 0 ;;
esac
PIP
  chmod +x "$tmp/venv/bin/python" "$tmp/venv/bin/pip"
}

check() { # name condition...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}

run() { # FAKE_PIP args...
  local mode=$1; shift
  FAKE_PIP=$mode DSB_VENV="$tmp/venv" bash "$setup" "$@" >"$tmp/out" 2>&1
  echo $? >"$tmp/rc"
}

make_venv
run fail
check "a pip failure fails the run and shows pip's error" \
  bash -c "[ \$(cat '$tmp/rc') -ne 0 ] && grep -q 'No matching distribution' '$tmp/out' &&
           grep -q 'pip install failed' '$tmp/out' && [ ! -e '$tmp/venv/.dsb-installed' ]"

make_venv
run nospark
check "pyspark missing after pip fails the run and writes no stamp" \
  bash -c "[ \$(cat '$tmp/rc') -ne 0 ] && grep -q 'cannot import moto, boto3, schemathesis, mcp, playwright, pyspark' '$tmp/out' &&
           [ ! -e '$tmp/venv/.dsb-installed' ]"

make_venv
run nospark --no-spark
check "--no-spark does not ask for pyspark and writes the stamp" \
  bash -c "[ \$(cat '$tmp/rc') -eq 0 ] && [ -s '$tmp/venv/.dsb-installed' ] &&
           ! grep -q pyspark '$tmp/venv/pip.log'"
check "success prints only what it installs" \
  bash -c "[ \$(wc -l <'$tmp/out') -eq 1 ] && grep -q '^setup: installing ' '$tmp/out'"

run nospark --no-spark
check "a second run is silent and does not call pip" \
  bash -c "[ \$(cat '$tmp/rc') -eq 0 ] && [ ! -s '$tmp/out' ] && [ \$(wc -l <'$tmp/venv/pip.log') -eq 1 ]"

if [ "$(id -u)" -eq 0 ]; then
  check "as root, the dsbroker-job user exists: no home, no login shell" \
    bash -c "getent passwd dsbroker-job | grep -q ':/nonexistent:/usr/sbin/nologin\$'"
else
  check "not root, no user is created" bash -c "! grep -q dsbroker-job '$tmp/out'"
fi

echo "setup_venv: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
