#!/usr/bin/env python3
"""The MCP conformance suite (npm @modelcontextprotocol/conformance, pinned
by tests/mcp/package-lock.json) in server mode against the real `dsbroker
serve` (fixture plugins, auth off) at /mcp.  The suite is installed with
`npm ci` into the build tree once per lock file; every scenario must pass
except those in conformance-baseline.yml, each listed with its reason (a
listed scenario that passes fails the run too).  Skipped (77) without node
and npm.  Prints "N passed, N failed".
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "faults"))
import faultlib as fl  # noqa: E402
from mcp_common import fixture_broker, stop_checked  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def install(t):
    """npm ci into BUILD/mcp-conformance when the lock file changed."""
    d = os.path.join(fl.BUILD, "mcp-conformance")
    lock = open(os.path.join(HERE, "package-lock.json"), "rb").read()
    stamp = os.path.join(d, ".dsb-lock-sha256")
    want = hashlib.sha256(lock).hexdigest()
    if os.path.exists(stamp) and open(stamp).read() == want:
        return d
    os.makedirs(d, exist_ok=True)
    for f in ("package.json", "package-lock.json"):
        shutil.copyfile(os.path.join(HERE, f), os.path.join(d, f))
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund",
                        "--loglevel=error"], cwd=d, capture_output=True,
                       text=True, timeout=600)
    if not t.check("npm ci of the conformance suite", r.returncode == 0,
                   r.stderr[-2000:]):
        t.finish()
    with open(stamp, "w") as f:
        f.write(want)
    return d


def main():
    t = fl.Tally("mcp_conformance")
    if not shutil.which("node") or not shutil.which("npm"):
        fl.skip("mcp_conformance", "node and npm are not installed")
    d = install(t)
    b, work = fixture_broker("mcp-conformance")
    try:
        r = subprocess.run(
            ["node", os.path.join(d, "node_modules", ".bin", "conformance"),
             "server", "--url", f"http://127.0.0.1:{b.port}/mcp",
             "--expected-failures", os.path.join(HERE,
                                                 "conformance-baseline.yml"),
             "-o", os.path.join(work, "results")],
            capture_output=True, text=True, timeout=600)
    finally:
        stop_checked(t, b, "conformance broker")
    for top, _, names in os.walk(os.path.join(work, "results")):
        for n in names:  # what the suite exchanged, for the secret scan
            dst = fl.capture_path("mcp-conformance")
            if dst:
                shutil.copyfile(os.path.join(top, n), dst)
    out = re.sub(r"\x1b\[[0-9;]*m", "", r.stdout)
    for line in out.splitlines():
        m = re.match(r"([✓✗]) (\S+): (\d+) passed, (\d+) failed", line)
        if m:
            t.note(f"{m.group(2)}: checks {m.group(3)} ok, "
                   f"{m.group(4)} not ok")
    expected = len(re.findall(r"^  ~ ", out, re.M))
    t.note(f"{expected} scenarios failed as the baseline says")
    t.check("every scenario passes but the baseline's, and no baseline "
            "entry is stale", r.returncode == 0,
            out[-3000:] + r.stderr[-2000:])
    t.finish()


if __name__ == "__main__":
    main()
