#!/usr/bin/env bash
# Runs every CTest test labelled "unit" that needs no real server, and those
# labelled "store" (the state stores on the fixture PostgreSQL, started here
# for them), under valgrind memcheck (children traced: Criterion forks a process per test) and
# fails on any memcheck error or definite leak.  System programs (/usr, /bin)
# and the stand-in spark-submit the tests start are not traced: their own
# leaks are not ours (and valgrind's launcher would add its variables to a
# job's exact environment).  Prints one line per test and "N passed, N failed".
#   tests/valgrind.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: valgrind.sh BUILD_DIR}" && pwd)
pg_script=$(cd "$(dirname "$0")" && pwd)/scripts/postgres.sh
logs=$build/valgrind
rm -rf "$logs"; mkdir -p "$logs"
cd "$build"
ctest -L 'unit|store' --show-only=json-v1 > "$logs/tests.json"
bash "$pg_script" start "$build/test-services" >/dev/null
trap 'bash "$pg_script" stop "$build/test-services" >/dev/null' EXIT
python3 - "$logs" <<'PY'
import json, os, re, subprocess, sys
logs = sys.argv[1]
tests = json.load(open(os.path.join(logs, "tests.json")))["tests"]
passed = failed = 0
for t in tests:
    cmd, name = t.get("command"), t["name"]
    props = {p["name"]: p["value"] for p in t.get("properties", [])}
    # programs of ours only; suites that need real servers run elsewhere,
    # but for the fixture PostgreSQL of the store suites
    if not cmd or not cmd[0].startswith(os.getcwd()) or \
            props.get("FIXTURES_REQUIRED", ["postgres"]) != ["postgres"]:
        continue
    env = dict(os.environ)
    for p in t.get("properties", []):
        if p["name"] == "ENVIRONMENT":
            env.update(v.split("=", 1) for v in p["value"])
    if "criterion" in open(cmd[0], "rb").read().decode("latin-1"):
        cmd = cmd[:1] + ["--jobs=1"] + [a for a in cmd[1:] if not a.startswith("--jobs")]
    d = os.path.join(logs, name); os.makedirs(d)
    os.chmod(d, 0o1777)  # a test that becomes another user still logs
    vg = ["valgrind", "--trace-children=yes", "--leak-check=full",
          "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
          "--child-silent-after-fork=no", "--trace-children-skip=/usr/*,/bin/*,*/python3*,*/moto_server,*/fake-spark-submit.sh,*/fake-cluster.sh",
          "--log-file=" + os.path.join(d, "vg.%p.log")]
    r = subprocess.run(vg + cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bad = []
    for f in os.listdir(d):
        text = open(os.path.join(d, f), errors="replace").read()
        m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        if m and int(m.group(1)) > 0:
            bad.append(f)
    ok = r.returncode == 0 and not bad
    passed += ok; failed += not ok
    print(f"valgrind {name}: {'ok' if ok else 'FAILED'}"
          + ("" if ok else f" (exit {r.returncode}; see {d}: {', '.join(bad[:3])})"))
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
