#!/usr/bin/env python3
"""MCP benchmark (not a test): `tools/call` of describe_table over Streamable
HTTP (2026-07-28, stateless) against the same table's `GET /v1/...`, both
answered from the metadata cache, in the same run: the real `dsbroker serve`
with the fixture plugins, one keep-alive connection per client, the two
taking turns in rounds so they share the machine's conditions.  Prints the
latencies (p50, p90, p99) and the p50 ratio; the goal (<= 1.5x the REST
latency at p50) is printed, not asserted.

Usage: tests/bench/bench_mcp.py BUILD_DIR [--requests N]
"""
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "faults"))

TABLE = "/v1/sources/main/databases/sales/schemas/public/tables/orders"
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
    "name": "describe_table",
    "arguments": {"source": "main", "database": "sales", "schema": "public",
                  "table": "orders"},
    "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
              "io.modelcontextprotocol/clientCapabilities": {}}}}
MCP_HEADERS = {"Content-Type": "application/json",
               "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2026-07-28",
               "Mcp-Method": "tools/call", "Mcp-Name": "describe_table"}


def timed(conn, method, path, body, headers):
    t0 = time.perf_counter()
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    us = (time.perf_counter() - t0) * 1e6
    if r.status != 200:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:200]!r}")
    return us


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
    n = int(sys.argv[sys.argv.index("--requests") + 1]) \
        if "--requests" in sys.argv else 4000
    os.environ["DSB_BUILD_DIR"] = os.path.abspath(build)
    import faultlib as fl
    work = tempfile.mkdtemp(prefix="bench-mcp-")
    env = {"DSB_TEST_STATE_DIR": os.path.join(work, "state"),
           "DSB_TEST_FIXTURE_PASSWORD": "bench-password"}
    b = fl.Broker(work, {}, env=env, plugin_dir=os.path.join(
        fl.BUILD, "tests", "plugins", "http"))
    shutil.copytree(os.path.join(ROOT, "tests", "fixtures", "confd-http"),
                    b.conf, dirs_exist_ok=True)
    b.start()
    rest_c = http.client.HTTPConnection("127.0.0.1", b.port)
    mcp_c = http.client.HTTPConnection("127.0.0.1", b.port)
    call = CALL
    if "--ping" in sys.argv:
        call = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {
            "_meta": CALL["params"]["_meta"]}}
        MCP_HEADERS["Mcp-Method"] = "ping"
    body = json.dumps(call)
    rest, mcp = [], []
    try:
        for _ in range(200):  # warm: the entry cached, the connections open
            timed(rest_c, "GET", TABLE, None, {})
            timed(mcp_c, "POST", "/mcp", body, MCP_HEADERS)
        for _ in range(n // 100):
            rest += [timed(rest_c, "GET", TABLE, None, {}) for _ in range(100)]
            mcp += [timed(mcp_c, "POST", "/mcp", body, MCP_HEADERS)
                    for _ in range(100)]
    finally:
        rest_c.close()
        mcp_c.close()
        b.stop()
        shutil.rmtree(work, ignore_errors=True)
    if "--ping" in sys.argv:
        print("(--ping: the MCP side is ping, the protocol's own cost)")
    for name, v in (("GET /v1 table", rest), ("MCP describe_table", mcp)):
        print(f"{name:20s} n={len(v)}  p50 {pct(v, 50):7.1f} us  "
              f"p90 {pct(v, 90):7.1f} us  p99 {pct(v, 99):7.1f} us  "
              f"mean {statistics.mean(v):7.1f} us")
    ratio = statistics.median(mcp) / statistics.median(rest)
    print(f"p50 ratio MCP / REST: {ratio:.2f}x (goal <= 1.5x: "
          f"{'met' if ratio <= 1.5 else 'not met'})")


if __name__ == "__main__":
    main()
