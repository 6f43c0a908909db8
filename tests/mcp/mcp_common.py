"""What the MCP test scripts share: stopping a broker and checking that its
log holds no sanitizer report (in the ASan/UBSan build a leak or an error
shows only there, the process' exit status is not the test's)."""
import os
import re
import shutil

import faultlib as fl

REPORT = re.compile(r"(Leak|Address|UndefinedBehavior|Thread)Sanitizer|"
                    r"runtime error:")


def stop_checked(t, broker, what):
    paths = list(broker.logs)
    broker.stop()
    text = "".join(open(p, errors="replace").read() for p in paths)
    m = REPORT.search(text)
    t.check(f"{what}: no sanitizer report in the broker's log", not m,
            text[max(0, m.start() - 200):m.start() + 2000] if m else "")


def keep(kind, text):
    """text as a capture of kind for the secret scan."""
    dst = fl.capture_path(kind)
    if dst:
        with open(dst, "w", encoding="utf-8") as f:
            f.write(text)


def fixture_broker(name, env=None, mcp_yaml="", token=None, files=None):
    """A started broker on tests/fixtures/confd-http (the fixture plugins,
    the stand-in spark-submit), broker.yaml extended by mcp_yaml, files
    ({name: text}) added to conf.d; returns it and its work directory."""
    work = fl.workdir(name)
    env = dict({"DSB_TEST_STATE_DIR": os.path.join(work, "state"),
                "DSB_TEST_FIXTURE_PASSWORD": fl.canary("fixture-password"),
                "DSB_TEST_SPARK_SUBMIT": os.path.join(
                    fl.SOURCE, "tests", "jobs", "fake-spark-submit.sh")},
               **(env or {}))
    b = fl.Broker(work, {}, env=env, token=token, plugin_dir=os.path.join(
        fl.BUILD, "tests", "plugins", "http"))
    shutil.copytree(os.path.join(fl.SOURCE, "tests", "fixtures", "confd-http"),
                    b.conf, dirs_exist_ok=True)
    with open(os.path.join(b.conf, "broker.yaml"), "a") as f:
        f.write(mcp_yaml)
        if fl.store_pg():
            f.write(fl.pg_state("mcp_state"))
    for fname, text in (files or {}).items():
        with open(os.path.join(b.conf, fname), "w") as f:
            f.write(text)
    return b.start(), work
