#!/usr/bin/env python3
"""Secret scan over what the test suites captured.

  scan.py init DIR   empty DIR (the CTest fixture `canary` setup)
  scan.py selftest   the scanner finds a planted base64 canary and fails on
                     an empty capture set
  scan.py scan DIR   grep every file under DIR (but DIR/canaries) for every
                     canary listed in DIR/canaries/*.txt (one a line), also
                     base64-, URL-, JSON- and hex-encoded; exit 1 on a hit,
                     or when there was nothing to scan or no canary.

Tests register canaries (distinctive random values used as passwords,
tokens, AWS keys, Secrets Manager values) and leave their captures (broker
logs, response bodies, contexts, job records) under DIR.
"""
import base64
import binascii
import json
import os
import shutil
import sys
import urllib.parse


def encodings(value):
    """(form, bytes) pairs that would reveal value."""
    raw = value.encode()
    forms = {"plain": raw,
             "url": urllib.parse.quote(value, safe="").encode(),
             "url+": urllib.parse.quote_plus(value).encode(),
             "json": json.dumps(value)[1:-1].encode(),
             "hex": binascii.hexlify(raw)}
    for pad in range(3):  # base64 of value at any alignment in a longer blob
        b = base64.b64encode(b"\0" * pad + raw)
        forms[f"base64/{pad}"] = b[4 if pad else 0:-4]
        forms[f"base64url/{pad}"] = base64.urlsafe_b64encode(
            b"\0" * pad + raw)[4 if pad else 0:-4]
    return {k: v for k, v in forms.items() if len(v) >= 8}


def canaries(root):
    found = set()
    d = os.path.join(root, "canaries")
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        with open(os.path.join(d, name), encoding="utf-8") as f:
            found.update(line.strip() for line in f if len(line.strip()) >= 8)
    return sorted(found)


def files(root):
    for top, dirs, names in os.walk(root):
        if top == root and "canaries" in dirs:
            dirs.remove("canaries")
        for n in sorted(names):
            yield os.path.join(top, n)


def scan(root):
    values = canaries(root)
    needles = [(v, form, b) for v in values for form, b in
               encodings(v).items()]
    n_files = n_bytes = 0
    hits = []
    kinds = {}
    for path in files(root):
        with open(path, "rb") as f:
            data = f.read()
        n_files += 1
        n_bytes += len(data)
        kind = os.path.basename(path).split("-")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
        for v, form, b in needles:
            if b in data:
                hits.append((path, v, form))
    for path, v, form in hits:
        print(f"HIT {form} form of canary {v[:14]}... in {path}")
    print("captures by kind: " + ", ".join(f"{k} {n}" for k, n in
                                          sorted(kinds.items())))
    print(f"scanned {n_files} files, {n_bytes} bytes for {len(values)} "
          f"canaries ({len(needles)} encoded forms), {len(hits)} hits")
    if not values or not n_files or not n_bytes:
        print("FAIL: nothing to scan (no canary registered or no capture): "
              "did the suites run with DSB_CANARY_DIR set?")
        return 1
    return 1 if hits else 0


def selftest():
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "canaries"))
        with open(os.path.join(d, "canaries", "t.txt"), "w") as f:
            f.write("dsbcanary-selftest-5f3a9c\n")
        empty = scan(d)
        with open(os.path.join(d, "log"), "wb") as f:
            f.write(b"Authorization: Basic " +
                    base64.b64encode(b"u:dsbcanary-selftest-5f3a9c"))
        planted = scan(d)
    ok = empty == 1 and planted == 1
    print(f"selftest: empty capture set fails: {empty == 1}, planted base64 "
          f"canary found: {planted == 1}")
    return 0 if ok else 1


def main():
    if sys.argv[1:] == ["selftest"]:
        return selftest()
    if len(sys.argv) != 3 or sys.argv[1] not in ("init", "scan"):
        print(__doc__, file=sys.stderr)
        return 2
    root = sys.argv[2]
    if sys.argv[1] == "init":
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(os.path.join(root, "canaries"))
        print(f"canary dir {root} emptied")
        return 0
    return scan(root)


if __name__ == "__main__":
    sys.exit(main())
