#!/usr/bin/env python3
"""A full state disk.

The state dir is a 2 MiB tmpfs (mounted here; needs root or CAP_SYS_ADMIN,
else the test is skipped with the reason).  With sessions stored, a filler
file takes every free block; selection writes go on until they fail.
Expected: failures are 507 problems saying the disk is full; reads (sources,
listings, sessions — also ones whose idle clock is due an update) keep
answering 200; the store passes integrity_check; once space is freed writes
work again, and after a restart every acknowledged selection is there.
"""
import errno
import os
import sqlite3
import subprocess
import time

import faultlib as fl

SIZE = "2m"
TABLES = [f"t{i:03d}" for i in range(100)]


def mount_tmpfs(path):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700",
                        "dsb-faults", path], capture_output=True, text=True)
    return r.returncode == 0, (r.stderr or r.stdout).strip()


def fill(path):
    """Writes path until the file system is full; returns bytes written."""
    n, chunk = 0, b"\0" * 4096
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                n += f.write(chunk)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
    return n


def conf(work, state):
    data = os.path.join(fl.SOURCE, "tests/fixtures/confd-http/data/"
                        "catalog.json")
    token = fl.canary("bearer")
    extra = ("auth:\n  enabled: true\n  tokens:\n    - name: disk\n"
             "      token: env:DSB_FAULT_TOKEN\n      scopes: [admin]\n")
    files = {"broker.yaml": fl.broker_yaml(state, extra),
             "main.yaml": f"name: main\nplugin: fixture\nnetwork: local\n"
                          f"data_file: {data}\n"}
    return files, token


def select(b, sid, table):
    return b.post(f"/v1/sessions/{sid}/selections",
                  {"source": "main", "database": "big", "schema": "s",
                   "table": table})


def seed(b, acked):
    sids = []
    for i in range(6):
        sid = b.post("/v1/sessions").json()["id"]
        sids.append(sid)
        for t in TABLES[i * 3:i * 3 + 3]:
            if select(b, sid, t).status == 201:
                acked.add((sid, t))
    return sids


def age_sessions(db, sids):
    """Makes the sessions' idle clock due, so reading them writes."""
    con = sqlite3.connect(db)
    con.executemany("UPDATE dsb_sessions SET touched_ms = touched_ms - "
                    "3600000 WHERE id = ?", [(s,) for s in sids])
    con.commit()
    con.close()


def write_until_full(b, sid, acked):
    failures = []
    for t in TABLES[18:]:
        r = select(b, sid, t)
        if r.status == 201:
            acked.add((sid, t))
        else:
            failures.append(r)
            if len(failures) >= 5:
                break
    return failures


def check_full(tally, failures, acked_while_full):
    tally.note(f"writes acknowledged on the full disk before the first "
               f"failure: {acked_while_full}; failures: "
               f"{[f.status for f in failures]}")
    tally.check("writes fail once the disk is full", failures, "none failed")
    bad = [f for f in failures if f.status != 507 or
           "disk is full" not in ((f.json() or {}).get("detail", "") +
                                  (f.json() or {}).get("title", ""))]
    tally.check("each failure is a 507 problem saying the disk is full",
                failures and not bad, bad[:2])
    if failures:
        tally.note(f"problem: {failures[0].body[:300]}")


def check_reads(tally, b, sids):
    paths = ["/healthz", "/v1/sources", "/v1/sources/main/databases",
             "/v1/sources/main/databases/big/schemas/s/tables/t001"]
    paths += [f"/v1/sessions/{s}" for s in sids]
    paths += [f"/v1/sessions/{sids[0]}/context"]
    bad = [(p, r) for p in paths for r in [b.get(p)] if r.status != 200]
    tally.check(f"reads answer 200 on the full disk ({len(paths)} routes, "
                f"incl. sessions due an idle-clock write)", not bad, bad[:3])


def main():
    tally = fl.Tally("faults_disk_full")
    work = fl.workdir("disk")
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    ok, why = mount_tmpfs(mnt)
    if not ok:
        fl.skip("faults_disk_full", f"cannot mount a {SIZE} tmpfs on {mnt} "
                f"({why}); run as root or with CAP_SYS_ADMIN")
    state = os.path.join(mnt, "state")
    db = os.path.join(state, "dsbroker.db")
    files, token = conf(work, state)
    b = fl.Broker(work, files, plugin_dir=os.path.join(
        os.environ.get("DSB_TEST_PLUGIN_DIR",
                       os.path.join(fl.BUILD, "tests/plugins")), "good"),
        env={"DSB_FAULT_TOKEN": token}, token=token)
    acked = set()
    try:
        b.start()
        sids = seed(b, acked)
        b.stop()
        age_sessions(db, sids[:3])
        b.start()
        filler = os.path.join(mnt, "filler")
        tally.note(f"filled the {SIZE} tmpfs with {fill(filler)} bytes")
        n0 = len(acked)
        failures = write_until_full(b, sids[-1], acked)
        check_full(tally, failures, len(acked) - n0)
        r = b.post("/v1/sessions")
        tally.check("creating a session on the full disk is a 507", r.status
                    == 507, r)
        check_reads(tally, b, sids)
        tally.check("integrity_check on the full disk",
                    fl.integrity_check(db) == "ok")
        os.unlink(filler)
        r = select(b, sids[-1], "t099")
        tally.check("writes work again once space is freed (no restart)",
                    r.status == 201, r)
        if r.status == 201:
            acked.add((sids[-1], "t099"))
        b.stop()
        tally.check("integrity_check after freeing space",
                    fl.integrity_check(db) == "ok")
        b.start()
        have = {(s, i["table"]) for s in sids for i in
                (b.get(f"/v1/sessions/{s}/selections").json() or
                 {"items": []})["items"]}
        print(f"acknowledged {len(acked)} selections, found "
              f"{len(acked & have)} after freeing space and restarting")
        tally.check("every acknowledged selection survived",
                    acked <= have, f"missing {sorted(acked - have)[:5]}")
    finally:
        b.stop()
        subprocess.run(["umount", "-l", mnt])
    tally.finish()


if __name__ == "__main__":
    main()
