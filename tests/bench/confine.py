#!/usr/bin/env python3
"""What confinement costs a local job: from just before POST
/v1/sessions/{id}/jobs to the first line of the job's own output (the job
prints time.time_ns() first), on a `dsbroker serve` with two local-spark
executors that differ only in isolation (bwrap, none), alternated in the
same run.  The stand-in spark-submit (tests/jobs/fake-spark-submit.sh) runs
the job with python3, so this is the broker's part plus bwrap, setpriv and
env, not Spark's own start.  Prints each mode's median and p90 and the added
median (goal: <= 50 ms).  Not a CTest test.

  tests/bench/confine.py [BUILD_DIR] [REPETITIONS]
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
JOB = "import time\nprint(time.time_ns(), flush=True)\n"


def broker_yaml(tmp, fake):
    executors = "".join(
        "  - name: %s\n    type: local-spark\n    networks: [local]\n"
        "    spark_submit: %s\n    isolation: %s\n" % (name, fake, iso)
        for name, iso in (("bwrap", "bwrap"), ("none", "none")))
    return ("listen: 127.0.0.1:0\nstate_dir: %s/state\nlog_level: warn\n"
            "executors:\n%sdefault_executor: bwrap\n" % (tmp, executors))


def start(build, tmp):
    conf = os.path.join(tmp, "conf.d")
    os.mkdir(conf)
    fake = os.path.join(ROOT, "tests", "jobs", "fake-spark-submit.sh")
    with open(os.path.join(conf, "broker.yaml"), "w") as f:
        f.write(broker_yaml(tmp, fake))
    port_file = os.path.join(tmp, "port")
    env = dict(os.environ, PATH="/usr/local/bin:/usr/bin:/bin")
    proc = subprocess.Popen(
        [os.path.join(build, "bin", "dsbroker"), "-c", conf, "serve",
         "--port-file", port_file], env=env, stderr=subprocess.DEVNULL)
    for _ in range(500):
        if os.path.exists(port_file) and open(port_file).read().strip():
            return proc, "http://127.0.0.1:%s" % open(port_file).read().strip()
        time.sleep(0.01)
    proc.kill()
    sys.exit("the broker did not start")


def call(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def one_job(base, session, executor):
    """ms from just before the submit to the job's first printed line."""
    t0 = time.time_ns()
    job = call(base, "POST", "/v1/sessions/%s/jobs" % session,
               {"code": JOB, "executor": executor, "args": ["python"]})
    for _ in range(1000):
        state = call(base, "GET", "/v1/jobs/" + job["id"])["state"]
        if state not in ("pending", "running", "cancelling"):
            break
        time.sleep(0.02)
    if state != "succeeded":
        sys.exit("job %s on %s: %s" % (job["id"], executor, state))
    logs = call(base, "GET", "/v1/jobs/%s/logs?lines=5" % job["id"])
    first = int(logs["stdout"].split("\n")[0])
    return (first - t0) / 1e6


def report(name, ms):
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    print("%-6s n=%d  median %.1f ms  p90 %.1f ms  min %.1f ms" %
          (name, len(ms), statistics.median(ms), p90, ms[0]))


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                            os.path.join(ROOT, "build"))
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    tmp = tempfile.mkdtemp(prefix="dsb-confine-bench.")
    os.chmod(tmp, 0o755)
    proc, base = start(build, tmp)
    try:
        session = call(base, "POST", "/v1/sessions")["id"]
        ready = {e["name"]: e["ready"] for e in
                 call(base, "GET", "/v1/executors")["items"]}
        if not ready["bwrap"]:
            sys.exit("this machine cannot confine jobs: see GET /v1/executors")
        times = {"bwrap": [], "none": []}
        one_job(base, session, "bwrap")  # warm caches once
        one_job(base, session, "none")
        for i in range(reps):
            order = ("bwrap", "none") if i % 2 == 0 else ("none", "bwrap")
            for executor in order:
                times[executor].append(one_job(base, session, executor))
        print("job start to the job's first output line, %d each, "
              "alternated (load %.1f)" % (reps, os.getloadavg()[0]))
        report("none", times["none"])
        report("bwrap", times["bwrap"])
        print("added by confinement (median): %.1f ms (goal: <= 50 ms)" %
              (statistics.median(times["bwrap"]) -
               statistics.median(times["none"])))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


main()
