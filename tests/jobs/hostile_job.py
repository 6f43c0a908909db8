"""A hostile job (tests/jobs/test_hostile.c): tries what a job must not be
able to do and writes into $DSB_OUTPUT, as JSON lines, what each attempt got:
sizes, counts and error names only, never what it read (so no answer the
test keeps holds a secret, whether the attempt worked or not).

argv: broker_pid signal csv secret_file conf_dir state_db other_job marker
Then it leaves a child in a session of its own (setsid), whose command line
holds marker, and waits (at most 20 s) for a file "go" in its working
directory before it ends.
"""
import json
import os
import subprocess
import sys
import time


def attempt(fn):
    try:
        return "ok:%s" % (fn(),)
    except Exception as e:  # what failed is the finding
        return "error:%s" % type(e).__name__


def size(path):
    with open(path, "rb") as f:
        return len(f.read())


def open_fds():
    """Descriptors above 2 open in this process (fstat opens none)."""
    n = 0
    for fd in range(3, 1024):
        try:
            os.fstat(fd)
            n += 1
        except OSError:
            pass
    return n


def main():
    pid, sig, csv, secret, conf, db, other, marker = sys.argv[1:9]
    pid, sig = int(pid), int(sig)
    found = {
        "uid": "ok:%d" % os.getuid(),
        "inherited_fds": attempt(open_fds),
        "env": ",".join(sorted(os.environ)),
        "csv": attempt(lambda: size(csv)),
        "proc_environ": attempt(lambda: size("/proc/%d/environ" % pid)),
        "proc_cmdline": attempt(lambda: size("/proc/%d/cmdline" % pid)),
        "secret_file": attempt(lambda: size(secret)),
        "conf_dir": attempt(lambda: len(os.listdir(conf))),
        "state_db": attempt(lambda: size(db)),
        "other_job": attempt(lambda: len(os.listdir(other))),
        "signal": attempt(lambda: os.kill(pid, sig)),
    }
    child = subprocess.Popen(["setsid", sys.executable, "-c",
                              "import time; time.sleep(600)", marker])
    found["setsid_child"] = "ok:%d" % child.pid
    out = os.environ["DSB_OUTPUT"]
    os.makedirs(out)
    with open(os.path.join(out, "part-0.jsonl"), "w") as f:
        for probe, outcome in found.items():
            f.write(json.dumps({"probe": probe, "outcome": outcome}) + "\n")
    for _ in range(400):
        if os.path.exists("go"):
            break
        time.sleep(0.05)


main()
