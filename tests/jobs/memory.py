#!/usr/bin/env python3
"""Bounded memory of /result and /logs (docs/jobs.md, "Reading output and
logs"): the real `dsbroker serve` with the stand-in spark-submit; a
finished job is given ~1000 MB of CSV output and a ~1000 MB stdout.log
(written directly into its directory), then four clients read
`/result?limit=10` and `/logs?lines=5` at once, several times each.  The
broker's peak RSS (VmHWM, reset through /proc/PID/clear_refs before the
reads, and sampled VmRSS) may grow by at most 64 MB over its RSS before
them; the numbers are printed.  Reading whole files would take ~1 GB a
request.  Prints "N passed, N failed"; exit 77 (skip) without 3 GB of
free disk.  The files are removed at the end.
"""
import json
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "faults"))
import faultlib as fl  # noqa: E402

SIZE = 1000 << 20          # bytes of each big file (under 1 GiB)
BLOCK = 4 << 20            # written this much at a time
CLIENTS, ROUNDS = 4, 5
LIMIT_MB = 64


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def write_big(path, first, line_of):
    """`first`, then lines line_of(0), line_of(1), ... (about BLOCK bytes
    of them) again and again up to SIZE bytes; the last line."""
    lines, n = [], 0
    while n < BLOCK:
        lines.append(line_of(len(lines)))
        n += len(lines[-1])
    block = "".join(lines)
    with open(path, "w", encoding="ascii") as f:
        f.write(first)
        for _ in range(SIZE // len(block)):
            f.write(block)
    return lines[-1]


def csv_row(i):
    return f"{i},name-{i:09d},a value with some text in it {i % 977}\n"


def log_line(i):
    return f"2026-01-01 00:00:00 INFO line {i:012d} of the job's stdout\n"


class Sampler(threading.Thread):
    """The broker's VmRSS every 5 ms while it runs; the highest seen."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, status_kb(self.pid, "VmRSS"))
            time.sleep(0.005)


def wait_job(b, jid):
    def final():
        j = b.get(f"/v1/jobs/{jid}").json() or {}
        return j if j.get("state") not in ("pending", "running") else None
    return fl.wait_until(final, 30) or {}


def reader(b, jid, want_log, bad):
    for _ in range(ROUNDS):
        r = b.get(f"/v1/jobs/{jid}/result?limit=10", capture=False)
        j = r.json() or {}
        if r.status != 200 or len(j.get("rows", [])) != 10 or \
                not j.get("truncated") or j.get("columns") != ["id", "name",
                                                               "note"]:
            bad.append(f"result: {r!r}")
        r = b.get(f"/v1/jobs/{jid}/logs?lines=5", capture=False)
        out = (r.json() or {}).get("stdout", "")
        if r.status != 200 or out.count("\n") != 5 or \
                not out.endswith(want_log):
            bad.append(f"logs: {r!r}")


def main():
    tally = fl.Tally("jobs_memory")
    base = os.path.join(fl.BUILD, "test-jobs")
    os.makedirs(base, exist_ok=True)
    if shutil.disk_usage(base).free < 3 * (1 << 30):
        fl.skip("jobs_memory", f"less than 3 GB free in {base}")
    work = tempfile.mkdtemp(prefix="memory-", dir=base)
    try:
        run(tally, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tally.finish()


def run(tally, work):
    fake = os.path.join(fl.SOURCE, "tests", "jobs", "fake-spark-submit.sh")
    yaml = (f"listen: 127.0.0.1:0\nstate_dir: {work}/state\n"
            "log_level: warn\nexecutors:\n  - name: local\n"
            "    type: local-spark\n    networks: [local, public]\n"
            f"    spark_submit: {fake}\n")
    b = fl.Broker(work, {"broker.yaml": yaml})  # the build's plugins
    b.start()
    try:
        measure(tally, b)
    finally:
        b.stop()


def measure(tally, b):
    sid = (b.post("/v1/sessions").json() or {}).get("id")
    r = b.post(f"/v1/sessions/{sid}/jobs", {"code": "x=1", "args": ["ok"]})
    jid = (r.json() or {}).get("id")
    job = wait_job(b, jid)
    if not tally.check("the job succeeded", job.get("state") == "succeeded",
                       json.dumps(job)[:500]):
        return
    out_dir, job_dir = job["output"]["uri"], job["local"]["dir"]
    bad = []
    for _ in range(2):  # warm-up on the small files
        b.get(f"/v1/jobs/{jid}/result?limit=10", capture=False)
        b.get(f"/v1/jobs/{jid}/logs?lines=5", capture=False)
    t0 = time.monotonic()
    for name in os.listdir(out_dir):
        os.unlink(os.path.join(out_dir, name))
    write_big(os.path.join(out_dir, "part-00000.csv"), "id,name,note\n",
              csv_row)
    last = write_big(os.path.join(job_dir, "stdout.log"), "", log_line)
    tally.note(f"wrote {2 * SIZE >> 20} MB in {time.monotonic() - t0:.1f} s")
    pid = b.proc.pid
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    before = status_kb(pid, "VmRSS")
    sampler = Sampler(pid)
    sampler.start()
    t0 = time.monotonic()
    threads = [threading.Thread(target=reader, args=(b, jid, last, bad))
               for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    took = time.monotonic() - t0
    sampler.stop.set()
    sampler.join()
    hwm = status_kb(pid, "VmHWM")
    peak = max(hwm, sampler.peak)
    growth = (peak - before) / 1024
    tally.note(f"{CLIENTS} clients x {ROUNDS} rounds of /result?limit=10 and "
               f"/logs?lines=5 in {took:.2f} s")
    tally.note(f"broker RSS before the reads: {before / 1024:.1f} MB; "
               f"peak during them: VmHWM {hwm / 1024:.1f} MB, sampled VmRSS "
               f"{sampler.peak / 1024:.1f} MB; growth {growth:.1f} MB "
               f"(limit {LIMIT_MB} MB)")
    tally.check("every read answered as expected", not bad, "; ".join(bad[:3]))
    tally.check(f"RSS growth under {LIMIT_MB} MB", growth < LIMIT_MB,
                f"{growth:.1f} MB")


if __name__ == "__main__":
    main()
