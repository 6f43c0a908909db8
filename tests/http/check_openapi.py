#!/usr/bin/env python3
"""Every route `dsbroker routes` prints is in docs/openapi.yaml, and every
path/method there is served; every problem code the core can answer with
(core/broker.c err_codes, dsb_reply_problem calls, core/http/respond.c's
own) is in the Problem schema's code enum.
Usage: check_openapi.py OPENAPI DSBROKER [SOURCE_DIR]"""
import glob
import os
import re
import subprocess
import sys

METHODS = {"get", "post", "put", "delete", "patch", "head", "options"}


def spec_routes(path):
    try:
        import yaml
        doc = yaml.safe_load(open(path, encoding="utf-8"))
        assert doc["openapi"].startswith("3.1")
        return {(m.upper(), p) for p, ops in doc["paths"].items()
                for m in ops if m in METHODS}
    except ImportError:  # no PyYAML: read the block layout of paths:
        out, cur, inside = set(), None, False
        for line in open(path, encoding="utf-8"):
            if line.startswith("paths:"):
                inside = True
            elif inside and line[:1] not in (" ", "\n"):
                break
            elif inside and line.startswith("  /"):
                cur = line.strip().rstrip(":")
            elif inside and line.startswith("    ") and line[4] != " ":
                key = line.strip().split(":")[0]
                if key in METHODS:
                    out.add((key.upper(), cur))
        return out


def served(binary):
    text = subprocess.run([binary, "routes"], check=True, capture_output=True,
                          text=True).stdout
    return {tuple(line.split()[:2]) for line in text.splitlines() if line}


def spec_codes(path):
    for line in open(path, encoding="utf-8"):
        m = re.match(r"\s+code: \{type: string, enum: \[(.*)\]\}", line)
        if m:
            return {c.strip() for c in m.group(1).split(",")}
    return set()


def core_codes(src):
    text = "".join(open(f, encoding="utf-8").read() for f in
                   glob.glob(os.path.join(src, "core", "**", "*.c"),
                             recursive=True))
    table = open(os.path.join(src, "core", "broker.c"),
                 encoding="utf-8").read()
    table = table[table.index("err_codes[]"):]
    table = table[:table.index("};")]
    codes = set(re.findall(r'\{"([a-z_]+)", \d+\}', table)) - {"ok"}
    codes |= set(re.findall(r'dsb_reply_problem\(\s*\w+,\s*[^,]+,\s*'
                            r'"([a-z_]+)"', text))
    codes |= set(re.findall(r'\*code = "([a-z_]+)"', text))
    return codes


def main():
    spec, srv = spec_routes(sys.argv[1]), served(sys.argv[2])
    bad = False
    if len(sys.argv) > 3:
        codes, enum = core_codes(sys.argv[3]), spec_codes(sys.argv[1])
        for c in sorted(codes - enum):
            print(f"problem code not in openapi.yaml's enum: {c}")
            bad = True
        print(f"{len(codes)} problem codes in core, {len(enum)} documented")
    for m, p in sorted(srv - spec):
        print(f"served but not in openapi.yaml: {m} {p}")
        bad = True
    for m, p in sorted(spec - srv):
        print(f"in openapi.yaml but not served: {m} {p}")
        bad = True
    print(f"{len(srv)} routes served, {len(spec)} documented")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
