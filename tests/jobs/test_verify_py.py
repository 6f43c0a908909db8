#!/usr/bin/env python3
"""The verifier of context reads (core/verify.py) tested as Python, with
stand-in Spark and Java objects: how errors are classified and described,
that secret values never reach a result, and what the header probe asks
Spark for.  The real thing runs in jobs_verify (tests/jobs/test_verify.c).

Usage: test_verify_py.py VERIFY_PY
"""
import sys
import unittest

NS = {}


class JavaObject:
    """A py4j-like Java throwable: getters and equals."""

    def __init__(self, cls, message, sqlstate=None, cause=None):
        self.cls, self.message = cls, message
        self.sqlstate, self.cause = sqlstate, cause

    def getCause(self):
        return self.cause

    def equals(self, other):
        return other is self

    def getClass(self):
        cls = self.cls

        class C:
            def getName(self):
                return cls
        return C()

    def getMessage(self):
        return self.message

    def getSQLState(self):
        return self.sqlstate


class Py4JError(Exception):
    def __init__(self, java):
        super().__init__("An error occurred while calling o42.load.")
        self.java_exception = java


class Captured(Exception):
    """pyspark.errors' captured exceptions: a condition, the Java origin."""

    def __init__(self, condition, message):
        super().__init__(message)
        self.condition = condition
        self._origin = None

    def getCondition(self):
        return self.condition


class Field:
    def __init__(self, name, type_):
        self.name, self.nullable = name, True
        self.dataType = type("T", (), {"simpleString": lambda s: type_})()


class Schema:
    def __init__(self, *names):
        self.fields = [Field(n, "string") for n in names]


class Reader:
    def __init__(self, log):
        self.log = log

    def format(self, f):
        self.log.append(("format", f))
        return self

    def option(self, k, v):
        self.log.append((k, v))
        return self

    def load(self, path):
        self.log.append(("load", path))
        return type("DF", (), {"schema": Schema("b", "a")})()


class Spark:
    def __init__(self):
        self.log = []

    @property
    def read(self):
        return Reader(self.log)


SECRET = "s3cr3t-Value-!"


def secret_fn(secrets):
    def secret(ref):
        secrets.append(SECRET)
        return SECRET
    return secret


class Errors(unittest.TestCase):
    def test_missing_relation_is_not_found_with_root_cause(self):
        root = JavaObject("org.postgresql.util.PSQLException",
                          'ERROR: relation "s.t" does not exist', "42P01")
        wrapper = JavaObject("java.sql.SQLException", "wrapped", None, root)
        e = NS["_dsb_verror"](Py4JError(wrapper), [])
        self.assertEqual(e["kind"], "not_found")
        self.assertEqual(e["class"], "org.postgresql.util.PSQLException")
        self.assertEqual(e["sqlstate"], "42P01")
        self.assertIn("does not exist", e["message"])

    def test_denied_and_other(self):
        root = JavaObject("org.postgresql.util.PSQLException",
                          "permission denied for table t", "42501")
        self.assertEqual(NS["_dsb_verror"](Py4JError(root), [])["kind"],
                         "denied")
        self.assertEqual(NS["_dsb_verror"](ValueError("x"), [])["kind"],
                         "error")

    def test_spark_condition_path_not_found(self):
        e = NS["_dsb_verror"](Captured("PATH_NOT_FOUND", "Path does not "
                                       "exist: file:/x"), [])
        self.assertEqual(e["kind"], "not_found")
        self.assertEqual(e["condition"], "PATH_NOT_FOUND")

    def test_secret_values_are_redacted_and_messages_bounded(self):
        root = JavaObject("org.postgresql.util.PSQLException",
                          "password " + SECRET + " refused " + "x" * 5000,
                          "28P01")
        e = NS["_dsb_verror"](Py4JError(root), [SECRET])
        self.assertNotIn(SECRET, e["message"])
        self.assertIn("[redacted]", e["message"])
        self.assertEqual(e["kind"], "denied")
        self.assertLess(len(e["message"]), 2100)


class OneTable(unittest.TestCase):
    def test_a_failing_snippet_is_the_tables_error_without_secrets(self):
        secrets = []
        t = {"variable": "t_df", "snippet":
             "pw = _dsb_secret('env:X')\nraise RuntimeError('bad ' + pw)\n"}
        r = NS["_dsb_vone"](Spark(), t, secret_fn(secrets), secrets)
        self.assertFalse(r["ok"])
        self.assertNotIn(SECRET, r["error"]["message"])
        self.assertEqual(r["error"]["class"], "RuntimeError")

    def test_header_probe_reads_names_without_inference(self):
        spark, secrets = Spark(), []
        t = {"variable": "t_df", "snippet": "t_df = spark.read.load('/p')\n",
             "format": "csv", "path": "/p", "probe": "header",
             "options": {"header": "true", "delimiter": ","},
             "secret_options": {"token": "env:T"}}
        r = NS["_dsb_vone"](spark, t, secret_fn(secrets), secrets)
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["resolved_by"], "header")
        self.assertEqual([f["name"] for f in r["schema"]], ["b", "a"])
        self.assertIn(("inferSchema", "false"), spark.log)
        self.assertIn(("token", SECRET), spark.log)
        self.assertEqual(spark.log[-1], ("load", "/p"))


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        exec(compile(f.read(), sys.argv[1], "exec"), NS)
    unittest.main(argv=sys.argv[:1])
