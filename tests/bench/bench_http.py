#!/usr/bin/env python3
"""HTTP benchmarks of dsbroker (not tests).  Each prints its measurements and
the ratio or goal it is compared with, measured in the same run.

  1. cached table lists, wrk -t2 -c64, the access log on (info level,
     written to a file): the broker vs bare_mhd (the same libmicrohttpd
     daemon flags) serving the same bytes, taking turns, for a small page
     (~5 KB) where the per-request cost shows and a large one (100 tables
     x 10 columns, ~127 KB) where bandwidth dominates (goal >= 0.8x for
     both)
  2. start to ready with 3 plugins and 20 sources, and idle RSS
     (goals <= 50 ms, <= 15 MB)
  3. context of a 50-table session, warm (goal <= 5 ms)

Usage: tests/bench/bench_http.py BUILD_DIR [--seconds N]
"""
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "confd-http")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_confd(tmp, n_sources=None):
    conf = os.path.join(tmp, "conf")
    shutil.copytree(FIXTURE, conf)
    text = open(os.path.join(conf, "broker.yaml")).read()
    text = text.replace("threads: 8", "threads: 2")
    open(os.path.join(conf, "broker.yaml"), "w").write(text)
    if n_sources:
        for f in os.listdir(conf):
            if f.endswith(".yaml") and f != "broker.yaml":
                os.remove(os.path.join(conf, f))
        # a small catalog each: what is measured is the broker, not the
        # fixture parsing a large JSON file 20 times
        shutil.copy(os.path.join(ROOT, "tests", "fixtures", "confd-good",
                                 "data", "catalog.json"),
                    os.path.join(conf, "data", "small.json"))
        plugins = ["fixture", "postgres", "glue"]
        for i in range(n_sources):
            p = plugins[i % 3]
            data = "data/glue.json" if p == "glue" else "data/small.json"
            open(os.path.join(conf, f"s{i:02d}.yaml"), "w").write(
                f"name: s{i:02d}\nplugin: {p}\ndata_file: {data}\n")
    return conf


class Broker:
    def __init__(self, build, conf, state, log_level="warn"):
        self.portf = os.path.join(state, "port")
        env = dict(os.environ, DSB_TEST_STATE_DIR=os.path.join(state, "st"),
                   DSB_TEST_LOG_LEVEL=log_level,
                   DSB_TEST_FIXTURE_PASSWORD="pw-x")
        self.log = open(os.path.join(state, "broker.log"), "wb")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [os.path.join(build, "bin", "dsbroker"), "-c", conf, "-P",
             os.path.join(build, "tests", "plugins", "http"), "serve",
             "--port-file", self.portf], env=env, stderr=self.log)
        while not os.path.exists(self.portf):
            time.sleep(0.0005)
        self.port = int(open(self.portf).read())
        while True:
            try:
                if get(self.port, "/readyz")[0] == 200:
                    break
            except OSError:
                pass
        self.ready_ms = (time.monotonic() - self.t0) * 1e3

    def rss_kb(self):
        status = open(f"/proc/{self.proc.pid}/status").read()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        self.log.close()

    def access_lines(self):
        with open(self.log.name, "rb") as f:
            return sum(1 for line in f if b"[access]" in line or
                       b'"component":"access"' in line)


def get(port, path, method="GET", body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=body,
              headers={"Content-Type": "application/json"} if body else {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def wrk(port, path, seconds):
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency",
                          f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)  # distribution
    return rps, p99


def start_bare(build, bodyf, body):
    port = free_port()
    bare = subprocess.Popen([os.path.join(build, "tests", "bench",
                                          "bare_mhd"), bodyf, str(port), "2"])
    while True:  # until the bare responder answers
        try:
            if get(port, "/x")[1] == body:
                return bare, port
        except OSError:
            time.sleep(0.01)


def bench_cached_list(build, seconds, rounds=3):
    """Broker and bare responder take turns, `rounds` times each, so that
    what else the machine does weighs on both alike; medians compared."""
    cases = [("small page (4 tables x 10 columns)",
              "/v1/sources/main/databases/big/schemas/s/tables?page_size=4"),
             ("100 tables x 10 columns",
              "/v1/sources/main/databases/big/schemas/s/tables")]
    print(f"1. cached table lists, wrk -t2 -c64, {rounds} alternating rounds"
          f" of {seconds}s each, access log on")
    with tempfile.TemporaryDirectory() as tmp:
        b = Broker(build, make_confd(tmp), tmp, log_level="info")
        served = 0
        for i, (label, path) in enumerate(cases):
            status, body = get(b.port, path)
            assert status == 200, body
            bodyf = os.path.join(tmp, f"body{i}.json")
            open(bodyf, "wb").write(body)
            bare, port = start_bare(build, bodyf, body)
            rb, rm = [], []
            for _ in range(rounds):
                rb.append(wrk(b.port, path, seconds))
                rm.append(wrk(port, "/x", seconds))
            bare.send_signal(signal.SIGTERM)
            bare.wait()
            mb = statistics.median(r for r, _ in rb)
            mm = statistics.median(r for r, _ in rm)
            print(f"   {label}, {len(body)} bytes")
            print(f"     broker   {mb:10.0f} req/s  (rounds: "
                  f"{', '.join(f'{r:.0f}' for r, _ in rb)}; p99 "
                  f"{', '.join(p for _, p in rb)})")
            print(f"     bare MHD {mm:10.0f} req/s  (rounds: "
                  f"{', '.join(f'{r:.0f}' for r, _ in rm)}; p99 "
                  f"{', '.join(p for _, p in rm)})")
            print(f"     ratio    {mb / mm:.2f}x (goal >= 0.8x)")
            served += sum(r for r, _ in rb) * seconds
        b.stop()
        print(f"   access lines logged: {b.access_lines()} (wrk served about"
              f" {served:.0f})")


def bench_start(build, runs=7):
    times, rss = [], []
    with tempfile.TemporaryDirectory() as tmp:
        conf = make_confd(tmp, n_sources=20)
        for i in range(runs):
            state = os.path.join(tmp, f"run{i}")
            os.mkdir(state)
            b = Broker(build, conf, state)
            times.append(b.ready_ms)
            time.sleep(1.0)
            rss.append(b.rss_kb())
            n = len(json.loads(get(b.port, "/v1/sources")[1])["items"])
            assert n == 20, n
            b.stop()
    print(f"2. start to ready (exec to first 200 from /readyz), 3 plugins, "
          f"20 sources, {runs} runs")
    print(f"   median {statistics.median(times):.1f} ms, min "
          f"{min(times):.1f} ms, max {max(times):.1f} ms (goal <= 50 ms)")
    print(f"   idle RSS median {statistics.median(rss) / 1024:.1f} MB "
          f"(goal <= 15 MB)")


def bench_context(build, n=200):
    with tempfile.TemporaryDirectory() as tmp:
        b = Broker(build, make_confd(tmp), tmp)
        sid = json.loads(get(b.port, "/v1/sessions", "POST")[1])["id"]
        sel = [{"source": "main", "database": "big", "schema": "s",
                "table": f"t{i:03d}"} for i in range(50)]
        st, body = get(b.port, f"/v1/sessions/{sid}/selections", "POST",
                       json.dumps(sel))
        assert st == 201, body
        path = f"/v1/sessions/{sid}/context"
        st, body = get(b.port, path)
        assert st == 200 and len(json.loads(body)["tables"]) == 50
        c = http.client.HTTPConnection("127.0.0.1", b.port)
        lat = []
        for _ in range(n):
            t0 = time.perf_counter()
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            lat.append((time.perf_counter() - t0) * 1e3)
        c.close()
        b.stop()
    lat.sort()
    print(f"3. context of a 50-table session, warm ({len(body)} bytes, "
          f"{n} requests, one keep-alive client)")
    print(f"   median {statistics.median(lat):.2f} ms, p99 "
          f"{lat[int(n * 0.99) - 1]:.2f} ms (goal <= 5 ms)")


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                            os.path.join(ROOT, "build"))
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    bench_cached_list(build, seconds)
    bench_start(build)
    bench_context(build)


if __name__ == "__main__":
    main()
