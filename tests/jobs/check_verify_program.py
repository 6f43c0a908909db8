#!/usr/bin/env python3
"""A verification program (core/verify.h dsb_verify_code) parses to exactly
the statements the broker writes: those of PRELUDE (core/jobs/prelude.py)
and VERIFY (core/verify.py), then one call
`_dsb_verify(_dsb_vjson.loads("<literal>"))` whose literal decodes to the
JSON in EXPECTED.  So no catalog text in a table's snippet, path or
options became a statement: it is data inside that one string.

usage: check_verify_program.py PROGRAM PRELUDE VERIFY EXPECTED
Exits 1 with the reason on the first mismatch (run by tests/unit/test_verify.c).
"""
import ast
import json
import sys


def fail(why):
    print("check_verify_program: " + why)
    sys.exit(1)


def body(path):
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read()).body


def main():
    program, prelude, verify, expected = sys.argv[1:5]
    got = body(program)
    fixed = body(prelude) + body(verify)
    if len(got) != len(fixed) + 1:
        fail(f"{len(got)} statements, expected {len(fixed) + 1}")
    for i, (a, b) in enumerate(zip(got, fixed)):
        if ast.dump(a) != ast.dump(b):
            fail(f"statement {i} is not the broker's: {ast.dump(a)[:200]}")
    last = got[-1]
    ok = (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
          and isinstance(last.value.func, ast.Name)
          and last.value.func.id == "_dsb_verify"
          and len(last.value.args) == 1 and not last.value.keywords)
    inner = last.value.args[0] if ok else None
    ok = ok and (isinstance(inner, ast.Call)
                 and ast.dump(inner.func) == ast.dump(
                     ast.parse("_dsb_vjson.loads", mode="eval").body)
                 and len(inner.args) == 1 and not inner.keywords
                 and isinstance(inner.args[0], ast.Constant)
                 and isinstance(inner.args[0].value, str))
    if not ok:
        fail("the last statement is not _dsb_verify(_dsb_vjson.loads(STR))")
    with open(expected, encoding="utf-8") as f:
        want = json.load(f)
    if json.loads(inner.args[0].value) != want:
        fail("the tables in the program are not the context's: %r != %r"
             % (json.loads(inner.args[0].value), want))


if __name__ == "__main__":
    main()
