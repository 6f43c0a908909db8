"""The context's code parses to exactly the statements the broker writes.

usage: check_code_ast.py CODE PRELUDE VARIABLE... [--in-strings TEXT...]

CODE must be, at top level, the statements of PRELUDE (core/jobs/prelude.py,
optional: only when a read needs credentials) and then one assignment per
VARIABLE, in order, whose value is a chain on `spark` of the reader's
attributes (read, format, option, schema, load, table) called with string
literals or _dsb_secret("literal") only.  So no catalog text became a
statement, a name, an attribute or anything but a string.  Each TEXT must
be inside one of those strings: the hostile text did reach the code.
Exits 1 with the reason on the first mismatch; run by tests/http/test_hostile.c.
"""
import ast
import sys

READER_ATTRS = {"read", "format", "option", "schema", "load", "table"}


def fail(why):
    print("check_code_ast: " + why)
    sys.exit(1)


def literal(node):
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def argument(node, strings):
    """A string literal, or _dsb_secret of one."""
    if literal(node):
        strings.append(node.value)
        return
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "_dsb_secret" and len(node.args) == 1
            and not node.keywords and literal(node.args[0])):
        strings.append(node.args[0].value)
        return
    fail("an argument that is not a string: " + ast.dump(node))


def reader_chain(node, strings):
    """spark.read.format("…").option("…", "…")….load("…") or spark.table."""
    while not isinstance(node, ast.Name):
        if isinstance(node, ast.Call):
            if node.keywords:
                fail("a keyword argument: " + ast.dump(node))
            for a in node.args:
                argument(a, strings)
            node = node.func
        elif isinstance(node, ast.Attribute):
            if node.attr not in READER_ATTRS:
                fail("an unexpected attribute ." + node.attr)
            node = node.value
        else:
            fail("an unexpected expression: " + ast.dump(node))
    if node.id != "spark":
        fail("a chain on " + node.id + ", not spark")


def strip_prelude(body, prelude):
    want = [ast.dump(s) for s in prelude]
    got = [ast.dump(s) for s in body[:len(want)]]
    return (body[len(want):], True) if got == want else (body, False)


def main(argv):
    if "--in-strings" in argv:
        k = argv.index("--in-strings")
        argv, texts = argv[:k], argv[k + 1:]
    else:
        texts = []
    if len(argv) < 3:
        fail(__doc__.splitlines()[2])
    code_path, prelude_path, variables = argv[0], argv[1], argv[2:]
    with open(code_path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), code_path)
    with open(prelude_path, encoding="utf-8") as f:
        prelude = ast.parse(f.read(), prelude_path).body
    body, has_prelude = strip_prelude(tree.body, prelude)
    if len(body) != len(variables):
        fail(f"{len(body)} statements after the prelude, want "
             f"{len(variables)}: " + ", ".join(type(s).__name__ for s in body))
    strings = []
    for stmt, var in zip(body, variables):
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id == var):
            fail(f"not an assignment to {var}: " + ast.dump(stmt))
        reader_chain(stmt.value, strings)
    for text in texts:
        if not any(text in s for s in strings):
            fail(f"{text!r} is in no string literal")
    print(f"check_code_ast: prelude {'yes' if has_prelude else 'no'}, "
          f"{len(variables)} DataFrame assignments, {len(strings)} string "
          f"literals, {len(texts)} texts found in them")


if __name__ == "__main__":
    main(sys.argv[1:])
