#!/usr/bin/env python3
"""kill -9 of the broker during a burst of selection writes.

8 client threads create sessions and select tables (one POST per table)
against the fixture plugin; every 2xx answer is recorded.  The broker is
killed with SIGKILL mid-burst, three times; after each restart every
acknowledged session and selection must be there and the store must pass
PRAGMA integrity_check.  A file: secret and a bearer token are canaries.
"""
import os
import random
import signal
import threading
import time

import faultlib as fl

CLIENTS = 8
ROUNDS = 3
BURST_S = 1.5
TABLES = [f"t{i:03d}" for i in range(100)]


def conf(work):
    state = os.path.join(work, "state")
    pw_file = os.path.join(work, "fixture.password")
    with open(os.open(pw_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(fl.canary("file-secret"))
    data = os.path.join(fl.SOURCE, "tests/fixtures/confd-http/data/"
                        "catalog.json")
    token_env = {"DSB_FAULT_TOKEN": fl.canary("bearer")}
    auth = ("auth:\n  enabled: true\n  tokens:\n    - name: crash\n"
            "      token: env:DSB_FAULT_TOKEN\n      scopes: [admin]\n"
            "limits:\n  threads: 8\n")
    files = {"broker.yaml": fl.broker_yaml(state, auth),
             "main.yaml": f"name: main\nplugin: fixture\nnetwork: local\n"
                          f"data_file: {data}\npassword: file:{pw_file}\n"}
    return state, files, token_env


class Clients:
    def __init__(self, broker):
        self.b, self.lock = broker, threading.Lock()
        self.sessions, self.selected = set(), set()
        self.errors = 0
        self.stop = threading.Event()

    def ack(self, what, key):
        with self.lock:
            what.add(key)

    def one_client(self, seed):
        rnd = random.Random(seed)
        sid, left = None, []
        while not self.stop.is_set():
            if not left:
                r = self.b.post("/v1/sessions", timeout=10, capture=False)
                if r.status != 201:
                    self.errors += 1
                    time.sleep(0.01)
                    continue
                sid = r.json()["id"]
                self.ack(self.sessions, sid)
                left = rnd.sample(TABLES, 12)
            t = left.pop()
            r = self.b.post(f"/v1/sessions/{sid}/selections",
                            {"source": "main", "database": "big",
                             "schema": "s", "table": t}, timeout=10,
                            capture=False)
            if 200 <= r.status < 300:
                self.ack(self.selected, (sid, t))
            else:
                self.errors += 1

    def burst(self, seconds, kill):
        self.stop.clear()
        threads = [threading.Thread(target=self.one_client,
                                    args=(random.random(),))
                   for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(seconds)
        kill()
        self.stop.set()
        for t in threads:
            t.join(30)


def main():
    tally = fl.Tally("faults_crash")
    work = fl.workdir("crash")
    state, files, env = conf(work)
    b = fl.Broker(work, files, plugin_dir=os.path.join(
        os.environ.get("DSB_TEST_PLUGIN_DIR",
                       os.path.join(fl.BUILD, "tests/plugins")), "good"),
        env=env, token=env["DSB_FAULT_TOKEN"])
    clients = Clients(b)
    try:
        b.start()
        for rnd in range(1, ROUNDS + 1):
            before = len(clients.selected)
            clients.burst(BURST_S, lambda: b.kill(signal.SIGKILL))
            tally.check(f"round {rnd}: the broker died of SIGKILL",
                        b.proc.returncode == -signal.SIGKILL,
                        f"exit status {b.proc.returncode}")
            ic = fl.integrity_check(os.path.join(state, "dsbroker.db"))
            tally.check(f"round {rnd}: integrity_check after the kill", ic ==
                        "ok", ic)
            b.start()
            s, p = fl.found_writes(b, clients.sessions, clients.selected)
            tally.note(f"round {rnd}: {len(clients.selected) - before} "
                       f"selections acknowledged in {BURST_S} s by "
                       f"{CLIENTS} clients; total acknowledged "
                       f"{len(clients.sessions)} sessions / "
                       f"{len(clients.selected)} selections, found {s} / {p}")
            tally.check(f"round {rnd}: every acknowledged session is there",
                        s == len(clients.sessions),
                        f"{s} of {len(clients.sessions)}")
            tally.check(f"round {rnd}: every acknowledged selection is there",
                        p == len(clients.selected),
                        f"{p} of {len(clients.selected)}")
        tally.check("writes were acknowledged at all",
                    len(clients.selected) >= 100,
                    f"only {len(clients.selected)}")
        tally.check("the restarted broker still takes writes",
                    b.post("/v1/sessions").status == 201)
    finally:
        b.stop()
    print(f"acknowledged {len(clients.sessions)} sessions, "
          f"{len(clients.selected)} selections; found all after "
          f"{ROUNDS} kill -9 (failed or cut requests: {clients.errors})")
    tally.finish()


if __name__ == "__main__":
    main()
