#!/usr/bin/env python3
"""PostgreSQL stopped during a read load.

Source `pg` (postgres plugin, the test server of tests/scripts/postgres.sh,
connect_timeout_ms 1000, never cached) and source `csv` (s3csv over local
files) are read by 6 client threads (3 on pg) while /healthz is polled.
The PostgreSQL server is stopped, then started again.  Every phase ends on
an event the test observes, never on a sleep, so a slow machine only makes
the test longer:
  before  each kind has been answered a few times (baseline latencies);
  down    after `pg_ctl stop` the test sees a TCP connection to PostgreSQL
          refused (t_down).  A pg request sent after t_down can get a 200
          from the live server only by joining a call already in flight
          (concurrent misses share one plugin call), and then it is
          answered before that call's successor fails.  So the outage
          window opens when the broker has answered a pg request sent
          after t_down with an error (no call in flight can predate the
          stop any more), and the server stays down until 10 pg requests
          were sent and answered inside the window;
  back    after `pg_ctl start` the test sees a connection accepted (t_up);
          the load stops once 10 pg requests sent after t_up are answered.
Expected: csv and /healthz always answer 200 and are not slowed by pg
(slowest under 0.5 s, or 3x their slowest before the fault when the machine
is slower than that); once the server is verifiably down the broker answers
pg with an error, at most one 200 per pg client thread comes first (a call
in flight), none after; inside the window every pg answer is a 503 problem
within the connect timeout; after t_up at most one error per pg thread (a
failed call in flight), then every pg request is answered 200; no request
hangs.  The role's password (file: secret) and the bearer token are
canaries.
"""
import math
import os
import subprocess
import threading
import time

import faultlib as fl

CONNECT_TIMEOUT_MS = 1000
PG_PATH = "/v1/sources/pg/databases/dsb/schemas/public/tables"
CSV_PATH = "/v1/sources/csv/databases"
PG_THREADS = 3
ENOUGH = 10        # pg requests wanted inside the outage and after it
PHASE_CAP = 60.0   # seconds an awaited event may take before giving up


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
                self.log.append((t0, time.monotonic(), what, r))
            time.sleep(0.02)

    def run(self):
        plan = [("pg", PG_PATH)] * PG_THREADS + [("csv", CSV_PATH)] * 2 + \
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

    def answered(self, what, sent_from=0.0, done_by=math.inf):
        """(sent, answered, response) of the `what` requests sent at or
        after sent_from and answered before done_by, in the order sent."""
        with self.lock:
            rs = [(t0, t1, r) for t0, t1, w, r in self.log
                  if w == what and t0 >= sent_from and t1 < done_by]
        return sorted(rs, key=lambda x: x[0])


def pg_script(pg, cmd):
    subprocess.run(["bash", pg["DSB_TEST_PG_SCRIPT"], cmd, fl.SERVICES],
                   check=True, stdout=subprocess.DEVNULL)


def is_problem(r, status):
    j = r.json() or {}
    return (r.status == status and j.get("status") == status and
            r.headers.get("Content-Type", "").startswith(
                "application/problem+json"))


def slowest(rs):
    return max((r.elapsed for _, _, r in rs), default=0)


def baseline(tally, load):
    """Waits for 5 answers of each kind; their slowest latency by kind."""
    kinds = ("pg", "csv", "health")
    fl.wait_until(lambda: all(len(load.answered(k)) >= 5 for k in kinds),
                  PHASE_CAP)
    pg = load.answered("pg")
    tally.check("pg answers 200 under load before the fault",
                len(pg) >= 5 and all(r.status == 200 for _, _, r in pg),
                f"{[r for _, _, r in pg if r.status != 200][:2]}")
    base = {k: slowest(load.answered(k)) for k in kinds}
    tally.note("slowest before the fault: " + ", ".join(
        f"{k} {v * 1000:.0f} ms" for k, v in base.items()))
    return base


def server_is(tally, pg, state, what):
    """Waits until a TCP connection to PostgreSQL is `state`; the time it
    was seen so (None when it never was)."""
    port = int(pg["PGPORT"])
    seen = fl.wait_until(lambda: fl.tcp_connect(port) == state, 30)
    tally.check(f"the server is verifiably {what} (a connection {state})",
                seen)
    return time.monotonic() if seen else None


def outage_start(load, t_down):
    """Waits for the first error answered to a pg request sent after
    t_down; the time it was answered (None when none came)."""
    def first_error():
        return min((t1 for _, t1, r in load.answered("pg", t_down)
                    if r.status != 200), default=None)
    return fl.wait_until(first_error, PHASE_CAP)


def check_outage(tally, load, base, t_down, t_window, t_start):
    tally.check("pg answers an error once the server is verifiably down",
                t_window is not None, "only 200s: answers from a dead server")
    if t_window is None:
        return
    during = load.answered("pg", t_down, t_start)
    joined = [r for _, t1, r in during if r.status == 200 and t1 < t_window]
    stale = [r for _, t1, r in during if r.status == 200 and t1 >= t_window]
    tally.check("at most one pg 200 per client thread after the server is "
                "down (a call already in flight)", len(joined) <= PG_THREADS,
                f"{len(joined)}: {joined[:3]}")
    tally.check("no pg 200 after the broker's first error while down",
                not stale, f"{len(stale)}, e.g. {stale[:2]}")
    inside = load.answered("pg", t_window, t_start)
    tally.check("pg requests were made while the server was down",
                len(inside) >= ENOUGH, f"only {len(inside)}")
    wrong = [r for _, _, r in during
             if r.status != 200 and not is_problem(r, 503)]
    tally.check("pg answers a 503 problem while down", not wrong,
                f"{len(wrong)} others, e.g. {wrong[:2]}")
    slow = slowest(inside)
    bound = CONNECT_TIMEOUT_MS / 1000 + max(0.5, 3 * base["pg"])
    tally.note(f"pg while down: {len(during)} requests, {len(joined)} "
               f"joined a call in flight, {len(inside)} inside the window, "
               f"slowest {slow * 1000:.0f} ms (connect timeout "
               f"{CONNECT_TIMEOUT_MS} ms)")
    tally.check("pg fails fast (within the connect timeout)", slow < bound,
                f"{slow:.3f} s, bound {bound:.3f} s")


def check_recovery(tally, load, t_up):
    after = load.answered("pg", t_up)
    first = min((t1 for _, t1, r in after if r.status == 200), default=None)
    failed = [r for _, _, r in after if r.status != 200]
    late = [r for t0, _, r in after
            if first is not None and t0 >= first and r.status != 200]
    sent = next((t0 for t0, _, r in after if r.status == 200), None)
    tally.note(f"pg back: the first request answered 200 was sent "
               f"{(sent - t_up) * 1000:.0f} ms after the server accepted a "
               f"connection; {len(failed)} failed before"
               if sent is not None else "pg never came back")
    tally.check("pg answers 200 once the server is verifiably back",
                first is not None)
    tally.check("at most one pg error per client thread after the return (a "
                "call already in flight)", len(failed) <= PG_THREADS,
                f"{len(failed)}, e.g. {failed[:2]}")
    tally.check("every pg request sent after the first success succeeds",
                not late, f"{len(late)} failed, e.g. {late[:2]}")


def check_others(tally, load, base, t0, t1):
    for what in ("csv", "health"):
        rs = [x for x in load.answered(what, t0) if x[0] < t1]
        bad = [r for _, _, r in rs if r.status != 200]
        slow = slowest(rs)
        bound = max(0.5, 3 * base[what])
        tally.note(f"{what}: {len(rs)} requests, {len(bad)} not 200, "
                   f"slowest {slow * 1000:.0f} ms")
        tally.check(f"{what} always answers 200", rs and not bad,
                    f"{len(bad)} of {len(rs)}: {bad[:2]}")
        tally.check(f"{what} never waits on pg (slowest < {bound:.2f} s)",
                    slow < bound, f"{slow:.3f} s")


def fault(tally, pg, load):
    """Stops and restarts the server on observed events; the times."""
    base = baseline(tally, load)
    t_stop = time.monotonic()
    pg_script(pg, "stop")
    t_down = server_is(tally, pg, "refused", "down") or time.monotonic()
    t_window = outage_start(load, t_down)
    if t_window is not None:
        fl.wait_until(lambda: len(load.answered("pg", t_window)) >= ENOUGH,
                      PHASE_CAP)
    t_start = time.monotonic()
    pg_script(pg, "start")
    t_up = server_is(tally, pg, "accepted", "back") or time.monotonic()
    fl.wait_until(lambda: len(load.answered("pg", t_up)) >= ENOUGH,
                  PHASE_CAP)
    return base, t_stop, t_down, t_window, t_start, t_up, time.monotonic()


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
        base, t_stop, t_down, t_window, t_start, t_up, t_end = \
            fault(tally, pg, load)
        tally.check("no client thread is stuck", load.join())
        check_outage(tally, load, base, t_down, t_window, t_start)
        check_recovery(tally, load, t_up)
        check_others(tally, load, base, t_stop, t_end)
        tally.check("/healthz answers after the fault",
                    b.get("/healthz").status == 200)
    finally:
        load.stop.set()
        pg_script(pg, "start")
        b.stop()
    tally.finish()


if __name__ == "__main__":
    main()
