#!/usr/bin/env python3
"""Benchmarks of the shared state store and of replicas (not tests).  Each
prints its measurements and the ratio or goal it is compared with, measured
in the same run.

  1. a session write (create + select of two tables, store_write_bench) on
     the PostgreSQL store vs the SQLite store, both durable (SQLite
     synchronous=FULL, PostgreSQL with fsync and synchronous_commit on, on
     the same disk), taking turns, with 1 and with 8 threads: mean latency
     of a write and writes/s (goal: PostgreSQL mean <= 1.5x SQLite's)
  2. throughput through HAProxy with one and with two replicas on that
     PostgreSQL store, wrk -t2 -c64: a cached table listing (GET) and a
     session create (POST).  On two cores two replicas cannot double it;
     the figures are for larger machines to compare against.

Usage: tests/bench/replicas.py BUILD_DIR [--seconds N] [--writes N]
Needs PostgreSQL 15 (Debian), haproxy and wrk (scripts/setup.sh installs
them).
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "faults"))
import faultlib as fl  # noqa: E402

PG_SH = os.path.join(ROOT, "tests", "scripts", "postgres.sh")


def start_pg(tmp):
    """A durable PostgreSQL of its own in tmp; its postgres.env as a dict
    and a database for the store."""
    env = dict(os.environ, DSB_PG_DURABLE="1")
    subprocess.run(["bash", PG_SH, "start", tmp], check=True, env=env)
    pg = {}
    for line in open(os.path.join(tmp, "postgres.env")):
        k, _, v = line.strip().partition("=")
        pg[k] = v
    subprocess.run(["bash", PG_SH, "psql", tmp, "-d", "postgres", "-c",
                    f"CREATE DATABASE bench OWNER {pg['PGUSER']} "
                    "TEMPLATE template0"], check=True)
    pg["URL"] = (f"host=127.0.0.1 port={pg['PGPORT']} user={pg['PGUSER']} "
                 "dbname=bench")
    return pg


def store_write(build, tmp, pg, writes, threads, backend):
    exe = os.path.join(build, "tests", "store_write_bench")
    if backend == "sqlite":
        state = tempfile.mkdtemp(dir=tmp, prefix="sqlite-")
        args = [exe, "sqlite", state, str(writes), str(threads)]
    else:
        args = [exe, "postgresql", pg["URL"], pg["DSB_TEST_PG_PASSWORD_FILE"],
                str(writes), str(threads)]
    out = subprocess.run(args, check=True, capture_output=True,
                         text=True).stdout
    m = re.search(r"([\d.]+) writes/s, mean (\d+) us, p50 (\d+) us, "
                  r"p99 (\d+) us", out)
    return float(m.group(1)), int(m.group(2)), int(m.group(3)), \
        int(m.group(4))


def bench_store(build, tmp, pg, writes, rounds=3):
    print("1. session write (create + select 2 tables), both stores "
          "durable, alternating rounds")
    for threads in (1, 8):
        res = {"sqlite": [], "postgresql": []}
        n = max(50, writes // threads)
        for _ in range(rounds):
            for b in ("sqlite", "postgresql"):
                res[b].append(store_write(build, tmp, pg, n, threads, b))
        for b, rs in res.items():
            print(f"   {b:10s} threads {threads}: "
                  f"{statistics.median(r[0] for r in rs):8.0f} writes/s, "
                  f"mean {statistics.median(r[1] for r in rs):6.0f} us, "
                  f"p50 {statistics.median(r[2] for r in rs):6.0f} us, "
                  f"p99 {statistics.median(r[3] for r in rs):6.0f} us")
        ratio = (statistics.median(r[1] for r in res["postgresql"]) /
                 statistics.median(r[1] for r in res["sqlite"]))
        print(f"   threads {threads}: PostgreSQL / SQLite mean latency "
              f"{ratio:.2f}x (goal <= 1.5x: "
              f"{'met' if ratio <= 1.5 else 'NOT met'})")


POST_LUA = """wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer {token}"
"""


def wrk(port, path, seconds, token, lua=None):
    args = ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency",
            "-H", f"Authorization: Bearer {token}"]
    if lua:
        args += ["-s", lua]
    out = subprocess.run(args + [f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99, int(non2xx.group(1)) if non2xx else 0


def bench_haproxy(build, tmp, pg, seconds):
    print(f"2. throughput through haproxy, wrk -t2 -c64 {seconds} s, "
          "one and two replicas on the PostgreSQL store")
    token = "bench-" + os.urandom(8).hex()
    data = os.path.join(ROOT, "tests/fixtures/confd-http/data/catalog.json")
    plugins = os.path.join(build, "tests", "plugins", "http")
    replicas = []
    for name in ("r1", "r2"):
        w = os.path.join(tmp, name)
        os.makedirs(w)
        port = fl.free_port()
        yaml = (f"listen: 127.0.0.1:{port}\n"
                f"state_dir: {os.path.join(tmp, 'state')}\nlog_level: warn\n"
                "auth:\n  enabled: true\n  tokens:\n    - name: bench\n"
                "      token: env:DSB_BENCH_TOKEN\n      scopes: [admin]\n"
                "limits:\n  threads: 2\n  max_connections_per_ip: 512\n"
                f"state:\n  store: postgresql\n  url: \"{pg['URL']}\"\n"
                f"  password: \"file:{pg['DSB_TEST_PG_PASSWORD_FILE']}\"\n")
        replicas.append(fl.Broker(w, {
            "broker.yaml": yaml,
            "main.yaml": f"name: main\nplugin: fixture\nnetwork: local\n"
                         f"data_file: {data}\n"},
            plugin_dir=plugins, env={"DSB_BENCH_TOKEN": token}, token=token))
    lua = os.path.join(tmp, "post.lua")
    with open(lua, "w") as f:
        f.write(POST_LUA.format(token=token))
    listing = "/v1/sources/main/databases/big/schemas/s/tables?page_size=4"
    try:
        for b in replicas:
            b.start(timeout=60)
            b.get(listing)  # warm its cache
        results = {}
        for n in (1, 2):
            lb_dir = os.path.join(tmp, f"lb{n}")
            os.makedirs(lb_dir)
            lb = fl.HAProxy(lb_dir, [b.port for b in replicas[:n]])
            try:
                results[n] = (wrk(lb.port, listing, seconds, token),
                              wrk(lb.port, "/v1/sessions", seconds, token,
                                  lua))
            finally:
                lb.stop()
        for what, i in (("cached listing GET", 0), ("session create POST",
                                                    1)):
            one, two = results[1][i], results[2][i]
            print(f"   {what:20s}: 1 replica {one[0]:8.0f} req/s (p99 "
                  f"{one[1]}, {one[2]} non-2xx), 2 replicas {two[0]:8.0f} "
                  f"req/s (p99 {two[1]}, {two[2]} non-2xx): "
                  f"{two[0] / one[0]:.2f}x on {os.cpu_count()} cores")
    finally:
        for b in replicas:
            b.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--writes", type=int, default=400)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    fl.BUILD = build  # the brokers' binary
    for tool in ("haproxy", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"replicas.py: {tool} is missing (scripts/setup.sh)")
    tmp = tempfile.mkdtemp(prefix="dsb-bench-replicas-")
    os.chmod(tmp, 0o711)  # the postgres user (postgres.sh as root) enters
    pg = None
    try:
        pg = start_pg(tmp)
        bench_store(build, tmp, pg, a.writes)
        bench_haproxy(build, tmp, pg, a.seconds)
    finally:
        if pg:
            subprocess.run(["bash", PG_SH, "stop", tmp], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
