#!/usr/bin/env python3
"""Two replicas behind HAProxy on one PostgreSQL store; one is killed.

Replicas r1 and r2 (`dsbroker serve`, state.store: postgresql on a database
of their own in the fixture cluster, one state_dir for their job files,
state.lease_seconds LEASE) sit behind Debian's haproxy, which checks
/readyz and sends each request to a ready replica (a request whose
connection fails is sent to the other; nothing already sent is re-sent).
CLIENTS client threads work through haproxy for RUN seconds, pausing
THINK_S before each request: each creates a session, selects tables one
by one, builds the session's context, and now and then submits a local
PySpark job (isolation none, so the job can leave
a marker file: MARKS/<token>-<pid> when it starts).  Once KILL_AT seconds
have passed and r1 is seen running a job, r1 is killed with SIGKILL;
DOWN_FOR seconds later it is started again; the load goes on until RUN
seconds and at least AFTER_MIN seconds after r1 is back.

Printed: writes acknowledged vs found afterwards, jobs submitted vs jobs
that reached a final state and how many times each ran, requests failed
before, during (from the kill until haproxy sees r1 ready again) and after
the failover, and p50/p99 latency of each phase.  The same figures are
quoted in docs/operators.md ("Running several replicas").

Checks: no acknowledged session or selection is lost; every job submitted
reaches a final state and no job ran twice (a job that succeeded ran
exactly once); no request fails before the kill or after r1 is back; the
job r1 was running (a job that runs until stopped, submitted to r1 before
the load) is taken over by r2 within about the lease and failed once,
naming r1, never run again.  The bearer token and the store's
password are canaries.
"""
import os
import random
import signal
import shutil
import subprocess
import threading
import time

import faultlib as fl

CLIENTS = 64
RUN = 60.0
KILL_AT = 20.0       # at the earliest: r1 must be running a job
DOWN_FOR = 12.0      # r1 stays dead this long
AFTER_MIN = 15.0     # the load goes on at least this long after r1 is back
LEASE = 3
JOB_EVERY = 6        # a client submits a job every JOB_EVERY sessions
THINK_S = 0.1        # a client's pause before each request
DRAIN_CAP = 420.0    # seconds the submitted jobs may take to end afterwards
TABLES = [f"t{i:03d}" for i in range(100)]
FINAL = {"succeeded", "failed", "cancelled", "timed_out"}
VICTIM = """import os, time
open(os.path.join({marks!r}, {token!r} + "-" + str(os.getpid())), "x").close()
time.sleep(3600)
"""
JOB = """import os
open(os.path.join({marks!r}, {token!r} + "-" + str(os.getpid())), "x").close()
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
spark.range(3).coalesce(1).write.csv(os.environ["DSB_OUTPUT"])
spark.stop()
"""


def replica_yaml(name, port, state, store_yaml, token_env):
    data = os.path.join(fl.SOURCE, "tests/fixtures/confd-http/data/"
                        "catalog.json")
    extra = ("auth:\n  enabled: true\n  tokens:\n    - name: load\n"
             f"      token: env:{token_env}\n      scopes: [admin]\n"
             "limits:\n  threads: 8\n  max_connections_per_ip: 512\n"
             "jobs:\n  max_running_per_principal: 4\n"
             "  max_queued_per_principal: 64\n"
             f"{store_yaml}  replica_id: {name}\n"
             f"  lease_seconds: {LEASE}\n")
    yaml = fl.broker_yaml(state, extra)
    yaml = yaml.replace("listen: 127.0.0.1:0", f"listen: 127.0.0.1:{port}")
    yaml = yaml.replace("    s3a: true\n",
                        "    isolation: none\n    max_running_jobs: 2\n"
                        "    max_queued_jobs: 2\n"
                        "    conf: {spark.ui.enabled: \"false\"}\n")
    return {"broker.yaml": yaml,
            "main.yaml": f"name: main\nplugin: fixture\nnetwork: local\n"
                         f"data_file: {data}\n"}


class Load:
    """The client threads and what they saw: every request (start, latency,
    ok), the acknowledged sessions and selections, the submitted jobs."""

    def __init__(self, front, marks):
        self.front, self.marks, self.lock = front, marks, threading.Lock()
        self.stop = threading.Event()
        self.requests = []        # (t_start, seconds, ok, what)
        self.sessions, self.selected = set(), set()
        self.jobs = {}            # job id -> marker token
        self.throttled = 0
        self.t0 = None

    def call(self, what, method, path, body=None):
        # a client's think time between its requests: the load leaves the
        # two cores room for the Spark jobs it submits
        self.stop.wait(THINK_S)
        t = time.monotonic()
        r = self.front.request(method, path, body=body, timeout=60,
                               capture=False)
        ok = 200 <= r.status < 300 or (what == "job" and r.status == 429)
        with self.lock:
            self.requests.append((t - self.t0, r.elapsed, ok, what, r.status))
        return r

    def client(self, seed):
        rnd = random.Random(seed)
        n = 0
        while not self.stop.is_set():
            r = self.call("session", "POST", "/v1/sessions")
            if r.status != 201:
                continue
            sid = r.json()["id"]
            with self.lock:
                self.sessions.add(sid)
            for t in rnd.sample(TABLES, 3):
                if self.stop.is_set():
                    break
                r = self.call("select", "POST", f"/v1/sessions/{sid}/selections",
                              {"source": "main", "database": "big",
                               "schema": "s", "table": t})
                if 200 <= r.status < 300:
                    with self.lock:
                        self.selected.add((sid, t))
            if self.stop.is_set():
                break
            self.call("context", "GET", f"/v1/sessions/{sid}/context")
            n += 1
            if n % JOB_EVERY == 0 and not self.stop.is_set():
                token = f"j{seed:x}-{n}"
                r = self.call("job", "POST", f"/v1/sessions/{sid}/jobs",
                              {"code": JOB.format(marks=self.marks,
                                                  token=token)})
                if r.status == 202:
                    with self.lock:
                        self.jobs[r.json()["id"]] = token
                elif r.status == 429:
                    with self.lock:
                        self.throttled += 1


def pct(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def job_states(front, ids):
    out = {}
    for jid in ids:
        r = front.get(f"/v1/jobs/{jid}", capture=False)
        out[jid] = (r.json() or {}) if r.status == 200 else {}
    return out


def main():
    t = fl.Tally("faults_failover")
    if not shutil.which("haproxy"):
        if os.environ.get("CI"):
            t.check("haproxy is installed (scripts/setup.sh)", False)
            t.finish()
        fl.skip("faults_failover", "haproxy is not installed")
    pg = fl.load_env("postgres")
    if not pg:
        fl.skip("faults_failover", "the postgres fixture is not running")
    work = fl.workdir("failover")
    store_yaml = fl.pg_state("failover")
    state = os.path.join(work, "state")
    marks = os.path.join(work, "marks")
    os.makedirs(marks)
    os.chmod(marks, 0o1777)
    token = fl.canary("bearer")
    env = {"DSB_FAULT_TOKEN": token}
    plugins = os.path.join(os.environ.get(
        "DSB_TEST_PLUGIN_DIR", os.path.join(fl.BUILD, "tests/plugins")),
        "http")
    replicas = []
    for name in ("r1", "r2"):
        rw = os.path.join(work, name)
        os.makedirs(rw)
        replicas.append(fl.Broker(
            rw, replica_yaml(name, fl.free_port(), state, store_yaml,
                             "DSB_FAULT_TOKEN"),
            plugin_dir=plugins, env=env, token=token))
    lb = None
    try:
        for b in replicas:
            b.start(timeout=60)
        lb = fl.HAProxy(work, [b.port for b in replicas])
        front = fl.Endpoint(lb.port, token)
        t.check("both replicas are ready behind haproxy", fl.wait_until(
            lambda: all(b.get("/readyz", capture=False).status == 200
                        for b in replicas) and
            front.get("/readyz", capture=False).status == 200, 30))
        load = Load(front, marks)
        r1 = replicas[0]
        # a job that runs until it is stopped, started on r1 itself (a free
        # slot: it starts there at once): the job r1 is running when killed
        sid = r1.post("/v1/sessions").json()["id"]
        r = r1.post(f"/v1/sessions/{sid}/selections",
                    {"source": "main", "database": "big", "schema": "s",
                     "table": "t000"})
        t.check("the victim's session has its table", r.status == 201, r)
        r = r1.post(f"/v1/sessions/{sid}/jobs",
                    {"code": VICTIM.format(marks=marks, token="victim")})
        t.check("the victim job started on r1", r.status == 202 and
                (r.json() or {}).get("replica") == "r1", r)
        victim = (r.json() or {}).get("id")
        load.jobs[victim] = "victim"
        load.t0 = time.monotonic()
        threads = [threading.Thread(target=load.client, args=(i + 1,))
                   for i in range(CLIENTS)]
        for th in threads:
            th.start()
        def at(t_s):
            """Waits until t_s seconds into the run (the scenario's clock:
            a phase of the load, not a wait for an event)."""
            fl.wait_until(lambda: time.monotonic() - load.t0 >= t_s,
                          max(0.0, t_s - (time.monotonic() - load.t0)) + 1,
                          interval=0.1)
        at(KILL_AT)
        # r1 must be running the victim when it dies: its code has begun
        # (its marker file is there)
        fl.wait_until(lambda: any(f.startswith("victim-")
                                  for f in os.listdir(marks)), 180,
                      interval=0.2)
        ups = lb.log_text().count("r1 is UP")
        t_kill = time.monotonic() - load.t0
        kill_wall = time.time()
        t.check("r1 died of SIGKILL", r1.kill(signal.SIGKILL) ==
                -signal.SIGKILL)
        at(t_kill + DOWN_FOR)
        r1.start(timeout=60)
        back = fl.wait_until(lambda: r1.get("/readyz", capture=False).status
                             == 200, 60)
        # haproxy needs `rise` successful checks before it sends r1 traffic
        fl.wait_until(lambda: lb.log_text().count("r1 is UP") > ups, 30,
                      interval=0.05)
        t_back = time.monotonic() - load.t0
        t.check("r1 is ready again after its restart", back)
        at(max(RUN, t_back + AFTER_MIN))
        t_end = time.monotonic() - load.t0
        load.stop.set()
        for th in threads:
            th.join(120)
        t.check("every client thread ended", not any(th.is_alive()
                                                     for th in threads))

        # writes
        s, p = fl.found_writes(front, load.sessions, load.selected)
        t.note(f"{len(load.requests)} requests by {CLIENTS} clients in "
               f"{t_end:.0f} s; r1 killed at {t_kill:.1f} s, back behind "
               f"haproxy at {t_back:.1f} s")
        t.note(f"writes: {len(load.sessions)} sessions and "
               f"{len(load.selected)} selections acknowledged; found "
               f"{s} and {p}")
        t.check("no acknowledged session is lost", s == len(load.sessions),
                f"{s} of {len(load.sessions)}")
        t.check("no acknowledged selection is lost", p == len(load.selected),
                f"{p} of {len(load.selected)}")

        # requests and latency by phase: before = answered before the
        # kill, after = sent once haproxy had r1 back, during = the rest
        # (in flight at the kill, or sent while r1 was down)
        def phase(r):
            if r[0] + r[1] < t_kill:
                return "before"
            return "after" if r[0] >= t_back else "during"
        by_phase = {"before": [], "during": [], "after": []}
        for r in load.requests:
            by_phase[phase(r)].append(r)
        for name, rs in by_phase.items():
            failed = [r for r in rs if not r[2]]
            lat = [r[1] for r in rs if r[2]]
            # "errors", not "failed": " N failed" is the runner's verdict
            t.note(f"{name:6s}: {len(rs)} requests, {len(failed)} errors, "
                   f"p50 {pct(lat, 0.5) * 1000:.0f} ms, "
                   f"p99 {pct(lat, 0.99) * 1000:.0f} ms")
            if name != "during":
                t.check(f"no request failed {name} the failover",
                        not failed, str(sorted({(r[3], r[4])
                                                for r in failed})[:10]))
        t.check("requests were answered during the failover",
                any(r[2] for r in by_phase["during"]))

        # jobs
        ids = list(load.jobs)
        t.check("jobs were submitted", len(ids) >= 4, f"only {len(ids)}")
        states = {}

        def all_final():
            states.update(job_states(front, [i for i in ids if states.get(
                i, {}).get("state") not in FINAL]))
            return all(states[i].get("state") in FINAL for i in ids)
        done = fl.wait_until(all_final, DRAIN_CAP, interval=1.0)
        by_state = {}
        for i in ids:
            by_state[states[i].get("state")] = by_state.get(
                states[i].get("state"), 0) + 1
        runs = {}
        for f in os.listdir(marks):
            tok = f.rsplit("-", 1)[0]
            runs[tok] = runs.get(tok, 0) + 1
        twice = [i for i in ids if runs.get(load.jobs[i], 0) > 1]
        unran = [i for i in ids if states[i].get("state") == "succeeded" and
                 runs.get(load.jobs[i], 0) != 1]
        t.note(f"jobs: {len(ids)} submitted ({load.throttled} more refused "
               f"by the queue limits, 429); final states {by_state}; "
               f"ran twice: {len(twice)}")
        t.check("every submitted job reached a final state", done,
                str({i: states[i].get('state') for i in ids
                     if states[i].get('state') not in FINAL}))
        t.check("no job ran twice", not twice, str(twice[:5]))
        t.check("every job that succeeded ran exactly once", not unran,
                str(unran[:5]))
        t.check("some jobs succeeded", by_state.get("succeeded", 0) > 0,
                str(by_state))
        failed = [i for i in ids if states[i].get("state") == "failed"]
        taken = [i for i in failed if "replica r1" in
                 str(states[i].get("reason"))]
        t.note(f"jobs r1 was running when it died, failed by r2's takeover: "
               f"{len(taken)}")
        t.check("every failed job is one r1 was running when it died",
                taken == failed,
                str({i: states[i].get("reason") for i in failed
                     if i not in taken}))
        doc = states.get(victim, {})
        t.note(f"the job r1 was running: {doc.get('state')}, tracked by "
               f"{doc.get('replica')}: {doc.get('reason')}")
        t.check("the job r1 was running was taken over by r2 and failed "
                "once, naming r1", doc.get("state") == "failed" and
                doc.get("replica") == "r2" and
                "r1" in str(doc.get("reason")), str(doc))
        t.check("the job r1 was running ran once", runs.get("victim") == 1,
                str(runs.get("victim")))
        t.note(f"from the kill to the takeover: "
               f"{((doc.get('finished_at') or 0) / 1000 - kill_wall):.1f} s "
               f"(state.lease_seconds {LEASE})")
        t.check("taken over within the lease and a little",
                0 < (doc.get("finished_at") or 0) / 1000 - kill_wall <
                LEASE * 3,
                str(doc.get("finished_at")))
    finally:
        if lb:
            lb.stop()
        for b in replicas:
            b.stop()
    t.finish()


if __name__ == "__main__":
    main()
