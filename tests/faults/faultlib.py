"""Shared pieces of the fault tests: a real `dsbroker serve` on 127.0.0.1,
an HTTP client that keeps every response body for the secret scan, and the
pass/fail tally each script ends with ("N passed, N failed").

Environment (set by CTest, see tests/faults/CMakeLists.txt):
  DSB_BUILD_DIR, DSB_SOURCE_DIR, DSB_TEST_SERVICES, DSB_TEST_PLUGIN_DIR
  DSB_CANARY_DIR  optional: response bodies, broker logs and contexts are
                  copied there and the canary values used are registered
                  (tests/secrets-scan/scan.py greps them afterwards).
"""
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(os.environ.get("DSB_BUILD_DIR", os.path.join(os.getcwd(), "..")))
SOURCE = os.path.abspath(os.environ.get("DSB_SOURCE_DIR",
                        os.path.dirname(os.path.dirname(
                            os.path.dirname(os.path.abspath(__file__))))))
SERVICES = os.environ.get("DSB_TEST_SERVICES", os.path.join(BUILD,
                                                            "test-services"))
CANARY_DIR = os.environ.get("DSB_CANARY_DIR")


class Tally:
    """ok/FAIL lines, then the closing "N passed, N failed" line."""

    def __init__(self, name):
        self.name, self.passed, self.failed = name, 0, 0
        self.t0 = time.monotonic()

    def check(self, what, cond, detail=""):
        if cond:
            self.passed += 1
            print(f"ok   {what}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {what}: {detail}", flush=True)
        return cond

    def note(self, msg):
        print(f"     {msg}", flush=True)

    def finish(self):
        took = time.monotonic() - self.t0
        print(f"{self.name}: {self.passed} passed, {self.failed} failed "
              f"({took:.1f} s)", flush=True)
        sys.exit(1 if self.failed or not self.passed else 0)


def skip(name, why):
    """Exit code 77 is CTest's SKIP_RETURN_CODE for these tests."""
    print(f"{name}: SKIPPED: {why}", flush=True)
    print(f"{name}: 0 passed, 0 failed (skipped)", flush=True)
    sys.exit(77)


def canary(kind):
    """A distinctive random value, registered for the secret scan."""
    value = f"dsbcanary-{kind}-{secrets.token_hex(12)}"
    register_canary(value)
    return value


def register_canary(value):
    if not CANARY_DIR:
        return
    os.makedirs(os.path.join(CANARY_DIR, "canaries"), exist_ok=True)
    path = os.path.join(CANARY_DIR, "canaries", f"{os.getpid()}.txt")
    with open(path, "a", encoding="utf-8") as f:
        f.write(value + "\n")


def capture_path(name):
    """A fresh file under DSB_CANARY_DIR/captures (None without it)."""
    if not CANARY_DIR:
        return None
    d = os.path.join(CANARY_DIR, "captures")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, f"{name}-{os.getpid()}-{time.monotonic_ns()}")


def load_env(name):
    """KEY=VALUE lines of DSB_TEST_SERVICES/NAME.env (None if absent)."""
    path = os.path.join(SERVICES, f"{name}.env")
    if not os.path.exists(path):
        return None
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k:
                env[k] = v
    return env


def wait_until(cond, timeout, interval=0.02):
    """Polls cond() until it is true or timeout seconds pass; its last
    value.  For waiting on observed events instead of sleeping."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)


def tcp_connect(port, host="127.0.0.1"):
    """What a TCP connection to host:port does right now: "accepted",
    "refused" or "error" (a timeout, an unreachable host)."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "error"
    return "accepted"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, body, elapsed, headers):
        self.status, self.body, self.elapsed = status, body, elapsed
        self.headers = headers

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self):
        return f"{self.status} {self.body[:300]!r} ({self.elapsed:.3f} s)"


class Endpoint:
    """An HTTP endpoint on 127.0.0.1:port (a broker, or a load balancer in
    front of several) called with the bearer token, one connection a
    request."""

    def __init__(self, port=None, token=None):
        self.port, self.token = port, token

    def request(self, method, path, body=None, timeout=30, capture=True):
        headers = {"Connection": "close"}
        if body is not None:
            body = json.dumps(body)
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        t0 = time.monotonic()
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read().decode("utf-8", "replace")
            resp = Response(r.status, data, time.monotonic() - t0,
                            dict(r.getheaders()))
        except (OSError, http.client.HTTPException) as e:
            resp = Response(0, f"{type(e).__name__}: {e}",
                            time.monotonic() - t0, {})
        finally:
            c.close()
        if capture and resp.status:
            dst = capture_path("body")
            if dst:
                with open(dst, "w", encoding="utf-8") as f:
                    f.write(resp.body)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)


class Broker(Endpoint):
    """`dsbroker -c CONF -P PLUGINS serve` with stderr in WORK/broker-N.log."""

    def __init__(self, work, files, plugin_dir=None, env=None, token=None):
        super().__init__(None, token)
        self.work, self.proc, self.starts = work, None, 0
        self.conf = os.path.join(work, "conf.d")
        self.plugin_dir = plugin_dir or os.path.join(BUILD, "lib", "dsbroker")
        self.env = dict(os.environ, **(env or {}))
        os.makedirs(self.conf, exist_ok=True)
        for name, text in files.items():
            with open(os.path.join(self.conf, name), "w",
                      encoding="utf-8") as f:
                f.write(text)
        self.logs = []

    def start(self, timeout=20):
        self.starts += 1
        portf = os.path.join(self.work, "port")
        if os.path.exists(portf):
            os.unlink(portf)
        log = os.path.join(self.work, f"broker-{self.starts}.log")
        self.logs.append(log)
        with open(log, "w") as lf:
            self.proc = subprocess.Popen(
                [os.path.join(BUILD, "bin", "dsbroker"), "-c", self.conf,
                 "-P", self.plugin_dir, "serve", "--port-file", portf],
                stdin=subprocess.DEVNULL, stdout=lf, stderr=lf, env=self.env)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if os.path.exists(portf) and open(portf).read().strip():
                self.port = int(open(portf).read())
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("the broker did not start:\n" + open(log).read())

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        return self.proc.returncode if self.proc else None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.keep_logs()

    def keep_logs(self):
        for log in self.logs:
            dst = capture_path("broker-log")
            if dst and os.path.exists(log):
                shutil.copyfile(log, dst)
        self.logs = []

    def log_text(self):
        return "".join(open(p, errors="replace").read() for p in self.logs
                       if os.path.exists(p))


class HAProxy:
    """haproxy -db in front of the replicas' ports, /readyz checked every
    200 ms (2 failures: down, 2 successes: up)."""

    def __init__(self, work, ports):
        self.port = free_port()
        self.cfg = os.path.join(work, "haproxy.cfg")
        servers = "".join(
            f"    server r{i + 1} 127.0.0.1:{p} check inter 200 fall 2 "
            f"rise 2\n" for i, p in enumerate(ports))
        with open(self.cfg, "w") as f:
            f.write("global\n    maxconn 4096\n"
                    "defaults\n    mode http\n    timeout connect 1s\n"
                    "    timeout client 60s\n    timeout server 60s\n"
                    "    retries 3\n    option redispatch 1\n"
                    "    retry-on conn-failure\n"
                    f"frontend front\n    bind 127.0.0.1:{self.port}\n"
                    "    default_backend replicas\n"
                    "backend replicas\n    balance roundrobin\n"
                    "    option httpchk GET /readyz\n" + servers)
        self.log = open(os.path.join(work, "haproxy.log"), "w")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.cfg],
                                     stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        up = wait_until(lambda: tcp_connect(self.port) == "accepted" or
                        self.proc.poll() is not None, 20)
        if not up or self.proc.poll() is not None:
            raise RuntimeError("haproxy did not start: " +
                               open(os.path.join(work, "haproxy.log")).read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        self.log.close()


def found_writes(endpoint, sessions, selected):
    """How many of the acknowledged sessions (ids) and selections ((id,
    table) pairs) endpoint still has: (sessions, selections)."""
    want = {}
    for sid, t in selected:
        want.setdefault(sid, set()).add(t)
    n_sessions = n_pairs = 0
    for sid in sessions:
        r = endpoint.get(f"/v1/sessions/{sid}/selections", capture=False)
        if r.status != 200:
            continue
        n_sessions += 1
        have = {i["table"] for i in r.json()["items"]}
        n_pairs += len(want.get(sid, set()) & have)
    return n_sessions, n_pairs


def context_of(broker, selections):
    """A new session with selections; returns its context (captured)."""
    sid = (broker.post("/v1/sessions").json() or {}).get("id")
    r = broker.post(f"/v1/sessions/{sid}/selections", selections)
    if r.status != 201:
        return r
    return broker.get(f"/v1/sessions/{sid}/context")


def workdir(name):
    base = os.path.join(BUILD, "test-faults")
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"{name}-", dir=base)


def broker_yaml(state_dir, extra=""):
    return (f"listen: 127.0.0.1:0\nstate_dir: {state_dir}\n"
            "log_level: info\nlog_format: json\n" + extra +
            "executors:\n  - name: local\n    type: local-spark\n"
            "    networks: [public, local, fixture-net, aurora-vpc]\n"
            "    master: local[1]\n    s3a: true\n")


def pg_admin(sql, db="postgres"):
    """sql as the fixture cluster's superuser (tests/scripts/postgres.sh
    psql over its socket)."""
    subprocess.run(["bash", os.path.join(SOURCE, "tests", "scripts",
                                         "postgres.sh"), "psql", SERVICES,
                    "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                   check=True, stdout=subprocess.DEVNULL)


def pg_state(prefix):
    """A new database of the fixture cluster for a state store, dropped
    when the script exits; broker.yaml's state: section for it (the
    broker's role over TCP, its password as a file: reference)."""
    import atexit
    pg = load_env("postgres")
    db = f"{prefix}_{secrets.token_hex(6)}"
    pg_admin(f"CREATE DATABASE {db} OWNER {pg['PGUSER']} TEMPLATE template0")

    def drop():
        try:
            pg_admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        except subprocess.CalledProcessError:
            pass  # a leftover database harms nothing
    atexit.register(drop)
    with open(pg["DSB_TEST_PG_PASSWORD_FILE"]) as f:
        register_canary(f.read().strip())
    return (f"state:\n  store: postgresql\n  url: \"host=127.0.0.1 "
            f"port={pg['PGPORT']} user={pg['PGUSER']} dbname={db}\"\n"
            f"  password: \"file:{pg['DSB_TEST_PG_PASSWORD_FILE']}\"\n")


def store_pg():
    """The script runs on state.store: postgresql (DSB_TEST_STORE_PG=1, the
    *_pg variants of the suites)."""
    return os.environ.get("DSB_TEST_STORE_PG") == "1"


def integrity_check(db_path):
    import sqlite3
    con = sqlite3.connect(db_path)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()
