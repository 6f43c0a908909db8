#!/usr/bin/env python3
"""Concurrency of the HTTP runtime: the real `dsbroker serve` under mixed
load from 9 client threads, with SIGHUP reloads in the middle and SIGTERM at
the end.  Run in every build; in the ThreadSanitizer build (scripts/test.sh)
it is what puts the server's threads (libmicrohttpd workers, the call pool,
the cache's single-flight, the session store, the job tracker, reloads)
under TSan, since Criterion's runner cannot start under TSan (Criterion
issue 274: "Could not initialize inheritable arena").

Clients: cold listings of a slow source racing its refresh (single flight
and flush), session lifecycles (create, select, context, unselect, delete),
jobs (submit, poll, result, cancel; tests/jobs/fake-spark-submit.sh),
verifications of a context (two POSTs, GET until it is done),
health/metrics/plugins, the compatibility routes.  Expected: every answer
has one of the statuses its route may give (no 5xx, no dropped
connection), the broker survives three reloads, exits 0 on SIGTERM, and its
log has no sanitizer report.  Prints one line per check and
"N passed, N failed".
"""
import os
import shutil
import signal
import threading
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "faults"))
import faultlib as fl  # noqa: E402

SECONDS = float(os.environ.get("DSB_RACE_SECONDS", "6"))
SEL = [{"source": "main", "database": "sales", "schema": "public",
        "table": "orders"},
       {"source": "main", "database": "sales", "schema": "public",
        "table": "Order Items"}]


class Clients:
    def __init__(self, broker):
        self.b, self.stop = broker, threading.Event()
        self.lock, self.counts, self.bad = threading.Lock(), {}, []

    def expect(self, what, r, ok):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1
            if r.status not in ok:
                self.bad.append(f"{what}: {r!r}")
        return r

    def loop(self, fn):
        while not self.stop.is_set():
            fn()

    def listings(self):
        b = self.b
        self.expect("refresh", b.post("/v1/sources/slow/refresh"), {200})
        for path in ("/v1/sources/slow/databases",
                     "/v1/sources/slow/databases/sales/schemas",
                     "/v1/sources/slow/databases/sales/schemas/public/tables"):
            self.expect("listing", b.get(path), {200})

    def session(self):
        b = self.b
        r = self.expect("session", b.post("/v1/sessions"), {201})
        sid = (r.json() or {}).get("id")
        if not sid:
            return
        self.expect("select", b.post(f"/v1/sessions/{sid}/selections", SEL),
                    {201})
        self.expect("context", b.get(f"/v1/sessions/{sid}/context"), {200})
        r = self.expect("selections", b.get(f"/v1/sessions/{sid}/selections"),
                        {200})
        items = (r.json() or {}).get("items") or []
        if items:
            one = items[0].get("id")
            self.expect("unselect", b.request(
                "DELETE", f"/v1/sessions/{sid}/selections/{one}"), {204})
        self.expect("end", b.request("DELETE", f"/v1/sessions/{sid}"), {204})

    def jobs(self):
        b = self.b
        sid = (b.post("/v1/sessions").json() or {}).get("id")
        b.post(f"/v1/sessions/{sid}/selections", SEL[:1])
        code = "print('race')\n"
        r = self.expect("submit", b.post(f"/v1/sessions/{sid}/jobs",
                                         {"code": code}), {202})
        slow = self.expect("submit", b.post(
            f"/v1/sessions/{sid}/jobs", {"code": code, "args": ["sleep"]}),
            {202})
        job = (r.json() or {}).get("id")
        for _ in range(50):
            s = self.expect("job", b.get(f"/v1/jobs/{job}"), {200})
            if (s.json() or {}).get("state") not in ("pending", "running"):
                break
            time.sleep(0.05)
        self.expect("result", b.get(f"/v1/jobs/{job}/result?limit=5"),
                    {200, 409})
        self.expect("logs", b.get(f"/v1/jobs/{job}/logs"), {200})
        other = (slow.json() or {}).get("id")
        self.expect("cancel", b.request("DELETE", f"/v1/jobs/{other}"),
                    {200, 202, 409})
        self.expect("jobs", b.get(f"/v1/sessions/{sid}/jobs"), {200})

    def verify(self):
        b = self.b
        sid = (b.post("/v1/sessions").json() or {}).get("id")
        b.post(f"/v1/sessions/{sid}/selections", SEL[:1])
        path = f"/v1/sessions/{sid}/context/verify"
        self.expect("verify", b.post(path), {202})
        self.expect("verify", b.post(path), {202})
        for _ in range(50):
            s = self.expect("verification", b.get(path), {200})
            if (s.json() or {}).get("state") in ("done", "failed"):
                break
            time.sleep(0.05)
        self.expect("end", b.request("DELETE", f"/v1/sessions/{sid}"), {204})

    def health(self):
        b = self.b
        for path in ("/healthz", "/readyz", "/metrics", "/v1/sources",
                     "/v1/plugins", "/v1/sources/main"):
            self.expect("health", b.get(path), {200})

    def compat(self):
        b = self.b
        for path in ("/postgres/connections", "/postgres/pgmain/databases",
                     "/postgres/pgmain/schemas/sales",
                     "/postgres/pgmain/tables/sales/public",
                     "/glue/databases"):
            self.expect("compat", b.get(path), {200})


def reloads(broker):
    """How many reloads the running broker has logged."""
    return broker.log_text().count("configuration reloaded")


def wait_for(cond, seconds):
    end = time.monotonic() + seconds
    while not cond() and time.monotonic() < end:
        time.sleep(0.05)


def main():
    tally = fl.Tally("api_race")
    work = fl.workdir("race")
    env = {"DSB_TEST_STATE_DIR": os.path.join(work, "state"),
           "DSB_TEST_LOG_LEVEL": "info", "DSB_TEST_LOG_FORMAT": "json",
           "DSB_TEST_FIXTURE_PASSWORD": fl.canary("fixture-password"),
           "DSB_TEST_TOKEN_ADMIN": fl.canary("admin-token"),
           "DSB_TEST_TOKEN_LIMITED": fl.canary("limited-token"),
           "DSB_TEST_SPARK_SUBMIT": os.path.join(
               fl.SOURCE, "tests", "jobs", "fake-spark-submit.sh")}
    b = fl.Broker(work, {}, env=env,
                  plugin_dir=os.path.join(fl.BUILD, "tests", "plugins", "http"))
    shutil.copytree(os.path.join(fl.SOURCE, "tests", "fixtures", "confd-http"),
                    b.conf, dirs_exist_ok=True)
    b.start()
    c = Clients(b)
    plan = [c.listings, c.listings, c.session, c.session, c.jobs, c.health,
            c.compat, c.session, c.verify]
    threads = [threading.Thread(target=c.loop, args=(f,)) for f in plan]
    for t in threads:
        t.start()
    for i in range(3):
        time.sleep(SECONDS / 4)
        b.proc.send_signal(signal.SIGHUP)
        # one reload at a time: signals sent during a reload would merge
        wait_for(lambda: reloads(b) > i, 60)
    time.sleep(SECONDS / 4)
    c.stop.set()
    for t in threads:
        t.join(60)
    tally.check("no client thread stuck", not any(t.is_alive() for t in threads))
    tally.note("answers: " + ", ".join(f"{k} {v}" for k, v in
                                       sorted(c.counts.items())))
    tally.check("every answer had an expected status", not c.bad,
                "; ".join(c.bad[:5]))
    tally.check("every kind of request ran", len(c.counts) >= 15,
                sorted(c.counts))
    alive = b.proc.poll() is None
    tally.check("broker alive after 3 reloads under load", alive,
                f"exit {b.proc.returncode}")
    logs = list(b.logs)
    rc = b.kill(signal.SIGTERM) if alive else b.proc.returncode
    tally.check("SIGTERM: exit 0", rc == 0, f"exit {rc}")
    b.stop()
    text = "".join(open(p, errors="replace").read() for p in logs)
    done = text.count("configuration reloaded")
    tally.note(f"{done} reloads logged")
    tally.check("3 reloads logged", done == 3, text[-1500:])
    tally.check("no sanitizer report in the broker's log",
                "Sanitizer" not in text and "runtime error" not in text,
                text[text.find("Sanitizer") - 200:][:3000])
    tally.finish()


if __name__ == "__main__":
    main()
