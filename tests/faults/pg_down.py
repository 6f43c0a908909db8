#!/usr/bin/env python3
"""PostgreSQL stopped during a read load.

Source `pg` (postgres plugin, the test server of tests/scripts/postgres.sh,
connect_timeout_ms 1000, never cached) and source `csv` (s3csv over local
files) are read by 6 client threads while /healthz is polled.  The
PostgreSQL server is stopped for ~3 s, then started again.  Expected: csv
and /healthz always answer 200; pg answers a 503 problem within the connect
timeout while the server is down; pg answers 200 again within 1 s of the
server being back; no request hangs.  The role's password (file: secret)
and the bearer token are canaries.
"""
import os
import subprocess
import threading
import time

import faultlib as fl

CONNECT_TIMEOUT_MS = 1000
PG_PATH = "/v1/sources/pg/databases/dsb/schemas/public/tables"
CSV_PATH = "/v1/sources/csv/databases"


def conf(work, pg):
    state = os.path.join(work, "state")
    with open(pg["DSB_TEST_PG_PASSWORD_FILE"]) as f:
        fl.register_canary(f.read().strip())
    token = fl.canary("bearer")
    extra = ("cache:\n  error_ttl_seconds: 0\n  sources:\n"
             "    - source: pg\n      ttl_seconds: 0\n"
             "auth:\n  enabled: true\n  tokens:\n    - name: load\n"
             "      token: env:DSB_FAULT_TOKEN\n      scopes: [admin]\n"
             "limits:\n  threads: 8\n")
    files = {
        "broker.yaml": fl.broker_yaml(state, extra),
        "pg.yaml": f"name: pg\nplugin: postgres\nnetwork: local\n"
                   f"host: 127.0.0.1\nport: {pg['PGPORT']}\ndbname: dsb\n"
                   f"user: {pg['PGUSER']}\n"
                   f"password: file:{pg['DSB_TEST_PG_PASSWORD_FILE']}\n"
                   f"sslmode: disable\nconnect_timeout_ms: "
                   f"{CONNECT_TIMEOUT_MS}\npool_size: 4\n",
        "csv.yaml": "name: csv\nplugin: s3csv\nnetwork: local\nroots: "
                    f"[\"file:{fl.SOURCE}/scripts/sample-data/\"]\n"}
    return files, token


class Load:
    def __init__(self, broker):
        self.b, self.log, self.lock = broker, [], threading.Lock()
        self.stop = threading.Event()

    def loop(self, what, path):
        while not self.stop.is_set():
            t0 = time.monotonic()
            r = self.b.get(path, timeout=20, capture=what == "pg")
            with self.lock:
                self.log.append((t0, what, r))
            time.sleep(0.02)

    def run(self):
        plan = [("pg", PG_PATH)] * 3 + [("csv", CSV_PATH)] * 2 + \
               [("health", "/healthz")]
        self.threads = [threading.Thread(target=self.loop, args=p)
                        for p in plan]
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        return all(not t.is_alive() for t in self.threads)

    def window(self, what, t_from, t_to):
        return [r for t, w, r in self.log if w == what and t_from <= t < t_to]


def pg_script(pg, cmd):
    subprocess.run(["bash", pg["DSB_TEST_PG_SCRIPT"], cmd, fl.SERVICES],
                   check=True, stdout=subprocess.DEVNULL)


def is_problem(r, status):
    j = r.json() or {}
    return (r.status == status and j.get("status") == status and
            r.headers.get("Content-Type", "").startswith(
                "application/problem+json"))


def check_outage(tally, load, t_down, t_up):
    bad = [r for r in load.window("pg", t_down + 0.3, t_up - 0.2)]
    tally.check("pg requests were made while the server was down",
                len(bad) >= 10, f"only {len(bad)}")
    wrong = [r for r in bad if not is_problem(r, 503)]
    tally.check("pg answers a 503 problem while down", not wrong,
                f"{len(wrong)} others, e.g. {wrong[:2]}")
    slow = max((r.elapsed for r in bad), default=0)
    tally.note(f"pg while down: {len(bad)} requests, all 503: "
               f"{not wrong}, slowest {slow * 1000:.0f} ms "
               f"(connect timeout {CONNECT_TIMEOUT_MS} ms)")
    tally.check("pg fails fast (within the connect timeout)",
                slow < CONNECT_TIMEOUT_MS / 1000 + 0.5, f"{slow:.3f} s")


def check_recovery(tally, load, t_up, t_end):
    after = sorted((t, r) for t, w, r in load.log if w == "pg" and
                   t >= t_up)
    first = next((t for t, r in after if r.status == 200), None)
    took = (first - t_up) if first else None
    tally.note(f"pg back: first 200 {took * 1000:.0f} ms after the server "
               f"answered" if first else "pg never came back")
    tally.check("pg answers 200 within 1 s of the server returning",
                first is not None and took < 1.0, f"{took}")
    late = [r for t, r in after if t > t_up + 1.0 and r.status != 200]
    tally.check("every pg request 1 s after the return succeeds", not late,
                f"{len(late)} failed, e.g. {late[:2]}")


def check_others(tally, load, t0, t1):
    for what in ("csv", "health"):
        rs = load.window(what, t0, t1)
        bad = [r for r in rs if r.status != 200]
        slow = max((r.elapsed for r in rs), default=0)
        tally.note(f"{what}: {len(rs)} requests, {len(bad)} not 200, "
                   f"slowest {slow * 1000:.0f} ms")
        tally.check(f"{what} always answers 200", rs and not bad,
                    f"{len(bad)} of {len(rs)}: {bad[:2]}")
        tally.check(f"{what} never waits on pg (slowest < 0.5 s)",
                    slow < 0.5, f"{slow:.3f} s")


def main():
    tally = fl.Tally("faults_pg_down")
    pg = fl.load_env("postgres")
    if not pg:
        fl.skip("faults_pg_down", "no postgres.env: run with the CTest "
                "fixture `postgres` (tests/scripts/postgres.sh)")
    work = fl.workdir("pgdown")
    files, token = conf(work, pg)
    b = fl.Broker(work, files, env={"DSB_FAULT_TOKEN": token}, token=token)
    load = Load(b)
    try:
        b.start()
        tally.check("pg answers before the fault", b.get(PG_PATH).status ==
                    200)
        ctx = fl.context_of(b, [{"source": "pg", "database": "dsb",
                                 "schema": "public", "table": "hello"}])
        tally.check("a context of a pg table (its password is a canary)",
                    ctx.status == 200 and "jdbc" in ctx.body, ctx)
        load.run()
        time.sleep(1.0)
        t_down = time.monotonic()
        pg_script(pg, "stop")
        time.sleep(3.0)
        pg_script(pg, "start")
        t_up = time.monotonic()
        time.sleep(2.5)
        t_end = time.monotonic()
        tally.check("no client thread is stuck", load.join())
        check_outage(tally, load, t_down, t_up)
        check_recovery(tally, load, t_up, t_end)
        check_others(tally, load, t_down - 1, t_end)
        tally.check("/healthz answers after the fault",
                    b.get("/healthz").status == 200)
    finally:
        load.stop.set()
        pg_script(pg, "start")
        b.stop()
    tally.finish()


if __name__ == "__main__":
    main()
