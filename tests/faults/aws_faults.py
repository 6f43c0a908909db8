#!/usr/bin/env python3
"""The AWS endpoint slow and gone, for Glue and S3 sources.

A moto_server of its own (so the shared one is untouched) sits behind a
TCP proxy written here; the broker's aws.endpoint_url is the proxy, with
short timeouts (connect 500 ms, attempt 1000 ms, 2 attempts, backoff <=
100 ms, plugin calls 2.1 s).  Phases, each under load on `glue` (Glue catalog), `lake` (s3csv
on S3), `local` (s3csv on local files) and /healthz:
  slow     the proxy holds each connection 3 s: glue/lake answer 504
           problems within the attempts' time, at most 2 attempts each
  stopped  moto killed behind the proxy: 502/503 problems, fast
  gone     the proxy's port closed too (connection refused): 503, fast
  back     a new moto (re-seeded) behind the proxy: 200 within 2 s
local and /healthz answer 200 quickly throughout.  Canaries: the AWS
secret key and session token, and a bearer token kept in Secrets Manager
(auth tokens are aws-sm: references, resolved through the proxy).
"""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import boto3

import faultlib as fl

TIMEOUT_MS, ATTEMPTS, CONNECT_MS, BACKOFF_CAP_MS = 1500, 2, 500, 100
# What a loaded machine may add to a bounded answer (a request that is not
# bounded waits for the proxy's SLOW_DELAY or the client's 30 s instead).
SLACK = 5.0
SLOW_DELAY = 25.0
REGION = "us-east-1"


class Proxy:
    """127.0.0.1:port -> upstream; `delay` seconds before forwarding."""

    def __init__(self, upstream):
        self.upstream, self.delay, self.conns = upstream, 0.0, 0
        self.port, self.lsock, self.lock = fl.free_port(), None, threading.Lock()

    def up(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self.lsock = s
        threading.Thread(target=self.accept, args=(s,), daemon=True).start()

    def down(self):
        s, self.lsock = self.lsock, None
        if s:
            s.shutdown(socket.SHUT_RDWR)
            s.close()

    def accept(self, s):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        time.sleep(self.delay)
        try:
            u = socket.create_connection(("127.0.0.1", self.upstream), 2)
        except OSError:
            c.close()
            return
        threading.Thread(target=pipe, args=(u, c), daemon=True).start()
        pipe(c, u)


def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def listens(pid, port):
    """Whether process pid holds the socket listening on 127.0.0.1:port
    (another test's server may have taken a port free_port() gave out)."""
    inodes = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{f[9]}]")
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
        except OSError:
            pass
    return False


def start_moto():
    """A moto_server of this test's own on a free port; a start that loses
    its port to another process is retried on a new one."""
    venv = os.path.dirname(os.environ.get("DSB_VENV_PY", "") or
                           os.path.join(fl.SOURCE, ".venv/bin/python"))
    for _ in range(5):
        port = fl.free_port()
        p = subprocess.Popen([os.path.join(venv, "moto_server"), "-H",
                              "127.0.0.1", "-p", str(port)],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        end = time.monotonic() + 60
        while p.poll() is None and time.monotonic() < end:
            if listens(p.pid, port):
                return p, port
            time.sleep(0.05)
        p.kill()
        p.wait()
    raise RuntimeError("moto_server did not start")


def seed(port, token):
    kw = dict(endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
              aws_access_key_id="AKIAFAULTTEST", aws_secret_access_key="x")
    s3 = boto3.client("s3", **kw)
    s3.create_bucket(Bucket="fault-bucket")
    s3.put_object(Bucket="fault-bucket", Key="exports/sales/orders.csv",
                  Body=b"id,amount\n1,2.5\n2,3.5\n", ContentType="text/csv")
    glue = boto3.client("glue", **kw)
    glue.create_database(DatabaseInput={"Name": "faultdb"})
    glue.create_table(DatabaseName="faultdb", TableInput={
        "Name": "events", "StorageDescriptor": {
            "Columns": [{"Name": "id", "Type": "bigint"}],
            "Location": "s3://fault-bucket/events/",
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "SerdeInfo": {"SerializationLibrary":
                          "org.apache.hadoop.hive.serde2.OpenCSVSerde"}}})
    boto3.client("secretsmanager", **kw).create_secret(
        Name="dsb/fault-token", SecretString=token)


def conf(work, proxy_port):
    state = os.path.join(work, "state")
    aws = (f"aws:\n  region: {REGION}\n  endpoint_url: "
           f"http://127.0.0.1:{proxy_port}\n  connect_timeout_ms: {CONNECT_MS}\n"
           f"  timeout_ms: {TIMEOUT_MS}\n  max_attempts: {ATTEMPTS}\n"
           f"  backoff_base_ms: 50\n  backoff_cap_ms: {BACKOFF_CAP_MS}\n"
           "cache:\n  ttl_seconds: 0\n  error_ttl_seconds: 0\n"
           "secrets:\n  ttl_seconds: 3600\n"
           "auth:\n  enabled: true\n  tokens:\n    - name: agent\n"
           "      token: aws-sm:dsb/fault-token\nlimits:\n  threads: 8\n"
           # one plugin call may send several AWS requests: its deadline
           # bounds them all to what one request's attempts may take
           f"  plugin_timeout_ms: {ATTEMPTS * TIMEOUT_MS + BACKOFF_CAP_MS}\n")
    return {"broker.yaml": fl.broker_yaml(state, aws),
            "glue.yaml": "name: glue\nplugin: glue\nnetwork: public\n",
            "lake.yaml": "name: lake\nplugin: s3csv\nnetwork: public\n"
                         "roots: [\"s3://fault-bucket/exports/\"]\n",
            "local.yaml": "name: local\nplugin: s3csv\nnetwork: local\nroots: "
                          f"[\"file:{fl.SOURCE}/scripts/sample-data/\"]\n"}


def aws_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "DSB_TEST_"))}
    env.update(AWS_ACCESS_KEY_ID="AKIAFAULTTEST",
               AWS_SECRET_ACCESS_KEY=fl.canary("aws-secret-key"),
               AWS_SESSION_TOKEN=fl.canary("aws-session-token"),
               AWS_EC2_METADATA_DISABLED="true")
    return env


def run_load(b, paths, seconds):
    out, stop, lock = {k: [] for k in paths}, threading.Event(), threading.Lock()

    def loop(name):
        while not stop.is_set():
            r = b.get(paths[name], timeout=30)
            with lock:
                out[name].append(r)
            time.sleep(0.05)

    ts = [threading.Thread(target=loop, args=(n,)) for n in paths]
    for t in ts:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in ts:
        t.join(40)
    return out, all(not t.is_alive() for t in ts)


def problem_status(r):
    j = r.json() or {}
    ok = r.headers.get("Content-Type", "").startswith("application/problem")
    return r.status if ok and j.get("status") == r.status else None


def check_phase(tally, name, out, statuses, bound):
    for src in ("glue", "lake"):
        rs = out[src]
        got = sorted({r.status for r in rs})
        bad = [r for r in rs if problem_status(r) not in statuses]
        slow = max((r.elapsed for r in rs), default=0)
        tally.note(f"{name}: {src}: {len(rs)} requests, statuses {got}, "
                   f"slowest {slow * 1000:.0f} ms (bound {bound * 1000:.0f})")
        tally.check(f"{name}: {src} answers {statuses} problems",
                    rs and not bad, f"{bad[:2]}")
        tally.check(f"{name}: {src} answers within its timeouts",
                    slow <= bound + SLACK, f"{slow:.3f} s")
    check_unaffected(tally, name, out)


def check_unaffected(tally, name, out):
    for src in ("local", "health"):
        rs = out[src]
        bad = [r for r in rs if r.status != 200]
        slow = max((r.elapsed for r in rs), default=0)
        # a request queued behind an AWS call would wait TIMEOUT_MS at least
        tally.check(f"{name}: {src} unaffected ({len(rs)} x 200, slowest "
                    f"{slow * 1000:.0f} ms)", rs and not bad and
                    slow < TIMEOUT_MS / 1000 * 0.8,
                    f"{len(bad)} failed, slowest {slow:.3f} s: {bad[:2]}")


def main():
    tally = fl.Tally("faults_aws")
    work = fl.workdir("aws")
    token = fl.canary("bearer-in-secrets-manager")
    moto, mport = start_moto()
    seed(mport, token)
    proxy = Proxy(mport)
    proxy.up()
    b = fl.Broker(work, conf(work, proxy.port), env=aws_env(), token=token)
    try:
        b.start()
        lake_db = (b.get("/v1/sources/lake/databases").json() or
                   {"items": [{"name": "?"}]})["items"][0]["name"]
        paths = {"glue": "/v1/sources/glue/databases",
                 "lake": f"/v1/sources/lake/databases/{lake_db}/schemas",
                 "local": "/v1/sources/local/databases", "health": "/healthz"}
        ctx = fl.context_of(b, [{"source": "glue", "database": "faultdb",
                                 "table": "events"}])
        tally.check("a context of a Glue table (AWS keys are canaries)",
                    ctx.status == 200 and "faultdb" in ctx.body, ctx)
        out, _ = run_load(b, paths, 1.0)
        tally.check("baseline: every source answers 200", all(
            r.status == 200 for rs in out.values() for r in rs),
            {k: [r for r in v if r.status != 200][:1] for k, v in out.items()})

        proxy.delay, c0 = SLOW_DELAY, proxy.conns
        out, done = run_load(b, paths, 5.0)
        attempts = proxy.conns - c0
        calls = len(out["glue"]) + len(out["lake"])
        bound = ATTEMPTS * TIMEOUT_MS / 1000 + BACKOFF_CAP_MS / 1000 + 0.5
        check_phase(tally, "slow", out, {504}, bound)
        tally.note(f"slow: {attempts} AWS connections for {calls} requests")
        tally.check("slow: retries bounded (<= max_attempts a request)",
                    calls and attempts <= ATTEMPTS * (calls + 2),
                    f"{attempts} for {calls}")
        tally.check("slow: no client thread stuck", done)

        proxy.delay = 0.0
        moto.send_signal(signal.SIGKILL)
        moto.wait()
        out, _ = run_load(b, paths, 2.0)
        fast = ATTEMPTS * CONNECT_MS / 1000 + BACKOFF_CAP_MS / 1000 + 0.5
        check_phase(tally, "stopped", out, {502, 503, 504}, fast)

        proxy.down()
        out, _ = run_load(b, paths, 2.0)
        check_phase(tally, "gone", out, {503}, fast)

        moto, mport = start_moto()
        seed(mport, token)
        proxy.upstream = mport
        proxy.up()
        t_up = time.monotonic()
        first = None
        while time.monotonic() - t_up < 30 and first is None:
            if all(b.get(paths[s]).status == 200 for s in ("glue", "lake")):
                first = time.monotonic() - t_up
            time.sleep(0.05)
        tally.note(f"back: glue and lake answer 200 "
                   f"{first * 1000:.0f} ms after the endpoint returned"
                   if first is not None else "back: never")
        # nothing remembers the outage (error_ttl_seconds: 0): the first
        # requests after it succeed, however slowly a loaded machine runs
        tally.check("back: glue and lake answer 200 once the endpoint is "
                    "back", first is not None and first < 2.0 + SLACK,
                    f"{first}")
        log = b.log_text()
        retries = re.findall(r"attempt (\d+) of (\d+) failed", log)
        tally.note(f"{len(retries)} retries logged, attempts numbered up to "
                   f"{max((int(a) for a, _ in retries), default=0)}")
        tally.check("retries were logged and bounded by max_attempts",
                    retries and all(int(a) < ATTEMPTS and int(n) == ATTEMPTS
                                    for a, n in retries), retries[:3])
    finally:
        b.stop()
        proxy.down()
        moto.kill()
        moto.wait()
    tally.finish()


if __name__ == "__main__":
    main()
