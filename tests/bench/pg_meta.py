#!/usr/bin/env python3
"""Cold metadata through the running broker (not a test): issue 15 section 1.

Against a floor measured in the same run (the plugin's own tables query for
the whole schema, once, in a new psql session), through `dsbroker serve`
over HTTP:
  - paged cold listing of the schema (page_size=1000, following
    next_page_token, after a refresh)                       goal <= 1.3x
  - the compatibility route's single answer, cold           goal <= 1.3x
  - context of a 500-table session, cold (after a refresh)  goal <= 1.5x
  - the same context, warm                                  goal <= 10 ms
  - RSS: peak during the first cold round against the bytes the cache
    then holds (dsb_cache_bytes in /metrics; goal peak <= 3x), and 1.5 s after each of ten
    cold rounds (goal: the tenth within 10% of the first).
The floor is measured again in every round, just before it, and each
round's listings are compared with that round's floor: on a shared machine
the load moves by 2x within a minute, and a ratio of two measurements taken
seconds apart is what can be compared across builds.  Printed: round 1
(cold connection too) and the median of the rounds' ratios.  Everything is
printed, nothing asserted.  Run by tests/bench/postgres_list.sh
(which makes the schema and the conf.d); by hand:
  pg_meta.py BUILD_DIR CONF_DIR SOURCE DATABASE SCHEMA [ROUNDS]
with PG* set for psql as postgres_list.sh sets them.
"""
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse

from bench_http import get  # noqa: E402 (tests/bench is on sys.path)


def now_ms():
    return time.monotonic() * 1e3


def psql_floor(build, db, schema, runs=3):
    """The plugin's tables query for the whole schema in one psql run."""
    sql = subprocess.run([os.path.join(build, "tests", "pg_list_bench"),
                          "--sql"], capture_output=True, text=True,
                         check=True).stdout
    times = []
    for _ in range(runs):
        t0 = now_ms()
        subprocess.run(["psql", "-X", "-q", "-At", "-d", db, "-o", "/dev/null",
                        "-c", f"PREPARE q(text, text, text, text, text) AS "
                        f"{sql}", "-c", f"EXECUTE q('{schema}', NULL, NULL, "
                        f"NULL, '1000000')"], check=True)
        times.append(now_ms() - t0)
    return statistics.median(times)


class Broker:
    def __init__(self, build, conf, state):
        portf = os.path.join(state, "port")
        if os.path.exists(portf):
            os.remove(portf)
        self.log = open(os.path.join(state, "broker.log"), "wb")
        self.proc = subprocess.Popen(
            [os.path.join(build, "bin", "dsbroker"), "-c", conf, "-P",
             os.path.join(build, "lib", "dsbroker"), "serve", "--port-file",
             portf], stderr=self.log)
        while not os.path.exists(portf) or not open(portf).read().strip():
            if self.proc.poll() is not None:
                sys.exit("the broker did not start; see " + self.log.name)
            time.sleep(0.01)
        self.port = int(open(portf).read())

    def cache_bytes(self):
        """dsb_cache_bytes from /metrics, or None (a broker without it)."""
        m = re.search(rb"^dsb_cache_bytes (\d+)", self.call("/metrics"), re.M)
        return int(m.group(1)) if m else None

    def cpu_ms(self):
        """The broker's CPU time so far (user + system), ms."""
        f = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1]
        f = f.split()
        return (int(f[11]) + int(f[12])) * 1000 / os.sysconf("SC_CLK_TCK")

    def status_kb(self, field):
        status = open(f"/proc/{self.proc.pid}/status").read()
        return int(re.search(field + r":\s+(\d+)", status).group(1))

    def call(self, path, method="GET", body=None):
        status, data = get(self.port, path, method,
                           json.dumps(body) if body is not None else None)
        if status >= 300:
            sys.exit(f"{method} {path}: {status} {data[:300]!r}")
        return data

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.log.close()


PARSE_MS = [0.0]  # the client's own json.loads time in paged()


def paged(b, src, db, schema):
    """All pages; returns (ms, bytes, tables)."""
    base = (f"/v1/sources/{src}/databases/{db}/schemas/{schema}/tables"
            "?page_size=1000")
    token, size, tables, t0 = None, 0, 0, now_ms()
    while True:
        path = base + (f"&page_token={urllib.parse.quote(token)}"
                       if token else "")
        data = b.call(path)
        q0 = now_ms()
        doc = json.loads(data)
        PARSE_MS[0] += now_ms() - q0
        size += len(data)
        tables += len(doc["items"])
        token = doc.get("next_page_token")
        if not token:
            return now_ms() - t0, size, tables


def compat(b, src, db, schema):
    t0 = now_ms()
    data = b.call(f"/postgres/{src}/tables/{db}/{schema}")
    return now_ms() - t0, len(data)


def context_bench(b, src, db, schema, n=500, warm_runs=20):
    names = json.loads(b.call(
        f"/v1/sources/{src}/databases/{db}/schemas/{schema}/tables"
        f"?page_size={n}"))["items"]
    sid = json.loads(b.call("/v1/sessions", "POST", {}))["id"]
    b.call(f"/v1/sessions/{sid}/selections", "POST",
           [{"source": src, "database": db, "schema": schema,
             "table": t["name"]} for t in names[:n]])
    b.call(f"/v1/sources/{src}/refresh", "POST")
    t0 = now_ms()
    body = b.call(f"/v1/sessions/{sid}/context")
    cold = now_ms() - t0
    warm = []
    for _ in range(warm_runs):
        t0 = now_ms()
        b.call(f"/v1/sessions/{sid}/context")
        warm.append(now_ms() - t0)
    return cold, statistics.median(warm), len(body), len(names[:n])


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    build, conf, src, db, schema = sys.argv[1:6]
    rounds = int(sys.argv[6]) if len(sys.argv) > 6 else 10
    state = os.path.join(conf, "var")
    os.makedirs(state, exist_ok=True)
    floor = psql_floor(build, db, schema)
    print(f"floor: the whole-schema tables query in psql {floor:.1f} ms")
    b = Broker(build, conf, state)
    try:
        print(f"idle RSS {b.status_kb('VmRSS') / 1024:.1f} MB")
        rss, first, ratios = [], None, []
        for r in range(rounds):
            f_ms = psql_floor(build, db, schema, runs=1)
            b.call(f"/v1/sources/{src}/refresh", "POST")
            PARSE_MS[0], cpu0 = 0.0, b.cpu_ms()
            p_ms, p_bytes, tables = paged(b, src, db, schema)
            cpu1 = b.cpu_ms()
            c_ms, c_bytes = compat(b, src, db, schema)
            cpu2 = b.cpu_ms()
            now_kb = b.status_kb("VmRSS")
            held = b.cache_bytes()
            # the broker trims its heap DSB_TRIM_DELAY_MS (1 s) after a
            # large answer (core/service/service.c): read RSS after that
            time.sleep(1.5)
            rss.append(b.status_kb("VmRSS"))
            ratios.append((p_ms / f_ms, c_ms / f_ms))
            if first is None:
                first = (f_ms, p_ms, p_bytes, tables, c_ms, c_bytes,
                         b.status_kb("VmHWM"), held)
            print(f"round {r + 1}: floor {f_ms:.0f} ms, paged {p_ms:.0f} ms "
                  f"({p_ms / f_ms:.2f}x), compat {c_ms:.0f} ms "
                  f"({c_ms / f_ms:.2f}x), RSS {now_kb / 1024:.1f} MB, 1.5 s "
                  f"later {rss[-1] / 1024:.1f} MB; broker CPU paged "
                  f"{cpu1 - cpu0:.0f} ms, compat {cpu2 - cpu1:.0f} ms; client "
                  f"json.loads of the pages {PARSE_MS[0]:.0f} ms", flush=True)
        f_ms, p_ms, p_bytes, tables, c_ms, c_bytes, hwm, held = first
        if held is None:
            # a broker without dsb_cache_bytes kept the pages of both
            # listings (page_size=1000, and the plugin's own pages of
            # 1,000 under the compatibility route)
            held = 2 * p_bytes
        print(f"paged cold listing, {tables} tables in "
              f"{-(-tables // 1000)} pages: round 1 {p_ms:.1f} ms = "
              f"{p_ms / f_ms:.2f}x its floor, median of rounds "
              f"{statistics.median(x[0] for x in ratios):.2f}x "
              f"(goal <= 1.3x)")
        print(f"compatibility route, cold: round 1 {c_ms:.1f} ms = "
              f"{c_ms / f_ms:.2f}x its floor, median of rounds "
              f"{statistics.median(x[1] for x in ratios):.2f}x "
              f"(goal <= 1.3x)")
        print(f"peak RSS in round 1: {hwm / 1024:.1f} MB = "
              f"{hwm * 1024 / held:.2f}x the {held / 1048576:.1f} MB the "
              f"cache holds (goal <= 3x; the pages are "
              f"{p_bytes / 1048576:.1f} MB, the compatibility answer "
              f"{c_bytes / 1048576:.1f} MB)")
        print(f"RSS 1.5 s after round 1: {rss[0] / 1024:.1f} MB, after round "
              f"{len(rss)}: {rss[-1] / 1024:.1f} MB "
              f"({(rss[-1] / rss[0] - 1) * 100:+.1f}%, goal within 10%)")
        cold, warm, size, n = context_bench(b, src, db, schema)
        print(f"context of {n} tables ({size} bytes), cold: {cold:.1f} ms = "
              f"{cold / floor:.2f}x the floor (goal <= 1.5x); warm: "
              f"{warm:.2f} ms (goal <= 10 ms)")
    finally:
        b.stop()


if __name__ == "__main__":
    main()
