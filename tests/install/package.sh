#!/usr/bin/env bash
# usage: package.sh BUILD_DIR
# The .deb as an operator gets it: built with CPack from BUILD_DIR,
# extracted into a fresh root, then checked — its control data (depends,
# conffiles, maintainer scripts), its files, the installed binary's
# --version, check-config of the installed conf.d, the installed broker
# serving with that conf.d (token required), and the systemd unit
# (`systemd-analyze verify`, where it exists, must not complain).
# Prints "N passed, N failed".
set -uo pipefail
umask 022
build=$(cd "$1" && pwd)
work=$(mktemp -d)
broker=0
cleanup() {
  [ "$broker" -gt 0 ] && kill "$broker" 2>/dev/null && wait "$broker"
  rm -rf "$work"
}
trap cleanup EXIT
pass=0 fail=0
check() { # what, command...: the command's output is shown when it fails
  local what=$1; shift
  if "$@" >"$work/out" 2>&1; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $what"
    sed 's/^/  /' "$work/out"
  fi
}
has() { grep -q -- "$2" "$1"; }

if ! (cd "$build" && cpack -G DEB -B "$work/pkg") >"$work/cpack.log" 2>&1; then
  cat "$work/cpack.log"
  echo "0 passed, 1 failed"
  exit 1
fi
deb=$(ls "$work"/pkg/dsbroker_*_*.deb)
root=$work/root
dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$work/control"
dpkg-deb -c "$deb" | awk '{print $6}' >"$work/files"

check "control: name, version, dependencies" bash -c "
  grep -qx 'Package: dsbroker' '$work/control/control' &&
  grep -q '^Version: [0-9]' '$work/control/control' &&
  grep '^Depends:' '$work/control/control' |
    grep -q 'adduser.*bubblewrap.*libpq5.*libsqlite3'"
check "conffiles: broker.yaml and the examples" bash -c "
  grep -qx /etc/dsbroker/conf.d/broker.yaml '$work/control/conffiles' &&
  grep -q '^/etc/dsbroker/conf.d/examples/.*\.example$' \
    '$work/control/conffiles'"
for s in postinst prerm postrm; do
  check "maintainer script $s: executable, valid sh" bash -c "
    test -x '$work/control/$s' && sh -n '$work/control/$s'"
done
for f in ./usr/bin/dsbroker ./usr/include/dsbroker/plugin.h \
         ./usr/lib/systemd/system/dsbroker.service \
         ./etc/dsbroker/conf.d/broker.yaml \
         ./usr/share/doc/dsbroker/operators.md; do
  check "file $f" grep -qx -- "$f" "$work/files"
done
check "the three plugins and the .pc" bash -c "
  for p in postgres glue s3csv; do
    grep -q '^\./usr/lib/.*dsbroker/'\$p'\.so$' '$work/files' || exit 1
  done
  grep -q '^\./usr/lib/.*pkgconfig/dsbroker-plugin\.pc$' '$work/files'"
check "nothing of the tests or the build tree" bash -c "
  ! grep -E 'tests/|CMakeFiles|/tmp/' '$work/files'"

bin=$root/usr/bin/dsbroker
check "dsbroker --version" bash -c "'$bin' --version | grep -q '^dsbroker [0-9]'"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/admin.token"
export DSB_ADMIN_TOKEN_FILE=$work/admin.token DSB_STATE_DIR=$work/state
conf=$root/etc/dsbroker/conf.d
check "check-config of the installed conf.d, plugins beside the binary" \
  bash -c "'$bin' -c '$conf' check-config |
           grep -q 'ok (0 sources, 1 executor, 3 plugins)'"

# The installed broker serves with the installed conf.d: a token is needed.
DSB_LISTEN=127.0.0.1:0 "$bin" -c "$conf" serve --port-file "$work/port" \
  2>"$work/serve.log" &
broker=$!
for _ in $(seq 3000); do
  [ -s "$work/port" ] && break
  kill -0 "$broker" 2>/dev/null || break
  sleep 0.01
done
port=$(cat "$work/port" 2>/dev/null || echo 0)
check "the installed broker starts" test "$port" -gt 0
url=http://127.0.0.1:$port
check "a request without a token: 401" bash -c "
  test \$(curl -s -o /dev/null -w '%{http_code}' $url/v1/sources) = 401"
check "with the admin token: 200" bash -c "
  test \$(curl -s -o /dev/null -w '%{http_code}' \
    -H \"Authorization: Bearer \$(cat '$work/admin.token')\" \
    $url/v1/sources) = 200"
check "/readyz open" bash -c "curl -sf $url/readyz >/dev/null"
kill "$broker" && wait "$broker"
check "SIGTERM: a clean stop" test $? -eq 0
broker=0
check "the token is not in the broker's log" bash -c "
  ! grep -qF \"\$(cat '$work/admin.token')\" '$work/serve.log'"

unit=$root/usr/lib/systemd/system/dsbroker.service
check "unit: ExecStart, conf.d, notify, hardening" bash -c "
  grep -qx 'ExecStart=/usr/bin/dsbroker serve' '$unit' &&
  grep -qx 'Environment=DSB_CONF_DIR=/etc/dsbroker/conf.d' '$unit' &&
  grep -qx 'Type=notify' '$unit' && grep -qx 'ProtectSystem=strict' '$unit' &&
  grep -qx 'NoNewPrivileges=true' '$unit' &&
  grep -qx 'StateDirectory=dsbroker' '$unit'"
if command -v systemd-analyze >/dev/null; then
  # verify checks that ExecStart exists: point it into the fresh root
  mkdir -p "$work/unit"
  sed "s|/usr/bin/dsbroker|$bin|" "$unit" >"$work/unit/dsbroker.service"
  check "systemd-analyze verify: no complaint" bash -c "
    out=\$(systemd-analyze verify '$work/unit/dsbroker.service' 2>&1) &&
    test -z \"\$out\" || { echo \"\$out\"; exit 1; }"
else
  echo "systemd-analyze is not installed: the unit is not verified"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
