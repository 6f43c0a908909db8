#!/usr/bin/env python3
"""The _dsb_secret prelude (core/jobs/prelude.py) tested as what it is: Python.

Usage: test_prelude.py PRELUDE [--moto SERVICES_DIR]
  Loads PRELUDE the way a job script runs it (its text first, then the
  job's code) and resolves env:, file: (with and without #key) and
  DSB_SECRET_MAP references.  With --moto, aws-sm: references too, through
  boto3 against the moto_server of SERVICES_DIR/moto.env
  (tests/scripts/moto.sh), as a job on EMR Serverless resolves them;
  without it those tests are skipped.
"""
import ast
import json
import os
import subprocess
import sys
import tempfile
import unittest
import uuid

PRELUDE = None
MOTO_SERVICES = None


def load():
    """The prelude's namespace, executed from its own file."""
    with open(PRELUDE, encoding="utf-8") as f:
        text = f.read()
    ns = {}
    exec(compile(text, PRELUDE, "exec"), ns)
    return ns


class Base(unittest.TestCase):
    def setUp(self):
        self.saved = dict(os.environ)
        os.environ.pop("DSB_SECRET_MAP", None)
        self.secret = load()["_dsb_secret"]
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        os.environ.clear()
        os.environ.update(self.saved)
        self.tmp.cleanup()

    def file(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path


class Source(unittest.TestCase):
    def test_is_python_that_defines_only_dsb_names(self):
        """It is prepended to the job's own code: it must not take names."""
        with open(PRELUDE, encoding="utf-8") as f:
            tree = ast.parse(f.read(), PRELUDE)
        names = []
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names += [a.asname or a.name for a in node.names]
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.append(node.name)
            elif isinstance(node, ast.Assign):
                names += [t.id for t in node.targets]
        self.assertIn("_dsb_secret", names)
        for name in names:
            self.assertTrue(name.startswith("_dsb_"), name)

    def test_runs_as_the_head_of_a_job_script(self):
        with open(PRELUDE, encoding="utf-8") as f:
            script = f.read() + "print(_dsb_secret('env:DSB_T_HEAD'))\n"
        env = dict(os.environ, DSB_T_HEAD="from-the-env")
        env.pop("DSB_SECRET_MAP", None)
        out = subprocess.run([sys.executable, "-c", script], env=env,
                             check=True, capture_output=True, text=True)
        self.assertEqual(out.stdout, "from-the-env\n")


class Env(Base):
    def test_value_of_the_variable(self):
        os.environ["DSB_T_PW"] = "pw from env"
        self.assertEqual(self.secret("env:DSB_T_PW"), "pw from env")

    def test_missing_variable_raises(self):
        os.environ.pop("DSB_T_NOPE", None)
        with self.assertRaises(KeyError):
            self.secret("env:DSB_T_NOPE")

    def test_hash_is_part_of_the_name(self):
        os.environ["DSB_T_X#k"] = "whole"
        self.assertEqual(self.secret("env:DSB_T_X#k"), "whole")


class File(Base):
    def test_text_without_one_trailing_newline(self):
        self.assertEqual(self.secret("file:" + self.file("a", "pw\n")), "pw")
        self.assertEqual(self.secret("file:" + self.file("b", "pw")), "pw")
        self.assertEqual(self.secret("file:" + self.file("c", "pw\n\n")),
                         "pw\n")

    def test_utf8(self):
        path = self.file("u", "p\u00e4ssw\u00f6rd\n")
        self.assertEqual(self.secret("file:" + path), "p\u00e4ssw\u00f6rd")

    def test_key_of_a_json_file(self):
        path = self.file("j.json", json.dumps({"password": "pj", "port": 5432,
                                               "user": "u"}) + "\n")
        self.assertEqual(self.secret("file:" + path + "#password"), "pj")
        self.assertEqual(self.secret("file:" + path + "#port"), "5432")

    def test_missing_key_raises(self):
        path = self.file("k.json", '{"password": "pj"}')
        with self.assertRaises(KeyError):
            self.secret("file:" + path + "#nope")

    def test_missing_file_raises(self):
        with self.assertRaises(FileNotFoundError):
            self.secret("file:" + os.path.join(self.tmp.name, "nope"))


class SecretMap(Base):
    """Local runs: the broker resolved the references into DSB_SECRET_n."""

    def test_mapped_references_come_from_the_environment(self):
        os.environ["DSB_SECRET_MAP"] = json.dumps({
            "aws-sm:prod/pg#password": "DSB_SECRET_0",
            "file:/nonexistent/secret": "DSB_SECRET_1"})
        os.environ["DSB_SECRET_0"] = "mapped-sm"
        os.environ["DSB_SECRET_1"] = "mapped-file"
        self.assertEqual(self.secret("aws-sm:prod/pg#password"), "mapped-sm")
        self.assertEqual(self.secret("file:/nonexistent/secret"),
                         "mapped-file")

    def test_the_map_wins(self):
        os.environ["DSB_T_BOTH"] = "direct"
        os.environ["DSB_SECRET_2"] = "mapped"
        os.environ["DSB_SECRET_MAP"] = '{"env:DSB_T_BOTH": "DSB_SECRET_2"}'
        self.assertEqual(self.secret("env:DSB_T_BOTH"), "mapped")

    def test_unmapped_references_resolve_directly(self):
        os.environ["DSB_SECRET_MAP"] = '{"env:OTHER": "DSB_SECRET_0"}'
        os.environ["DSB_T_OWN"] = "own"
        self.assertEqual(self.secret("env:DSB_T_OWN"), "own")


class Kinds(Base):
    def test_unknown_kind_raises(self):
        with self.assertRaisesRegex(ValueError, "unknown secret reference "
                                    "kind 'vault'"):
            self.secret("vault:x")


def moto_url():
    with open(os.path.join(MOTO_SERVICES, "moto.env")) as f:
        for line in f:
            if line.startswith("DSB_TEST_MOTO_URL="):
                return line.split("=", 1)[1].strip()
    raise RuntimeError("moto.env has no DSB_TEST_MOTO_URL")


class AwsSm(Base):
    """Jobs on EMR resolve aws-sm: themselves, with boto3."""

    def setUp(self):
        if not MOTO_SERVICES:
            self.skipTest("no --moto SERVICES_DIR")
        import boto3

        super().setUp()
        os.environ.update(AWS_ENDPOINT_URL=moto_url(), AWS_ACCESS_KEY_ID="t",
                          AWS_SECRET_ACCESS_KEY="t",
                          AWS_DEFAULT_REGION="us-east-1")
        for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
            os.environ.pop(k, None)
        self.sm = boto3.client("secretsmanager")
        self.prefix = "dsb-prelude-%s/" % uuid.uuid4().hex[:12]

    def put(self, name, value):
        self.sm.create_secret(Name=self.prefix + name, SecretString=value)
        return self.prefix + name

    def test_plain_secret(self):
        name = self.put("plain", "sm value")
        self.assertEqual(self.secret("aws-sm:" + name), "sm value")

    def test_key_of_a_json_secret(self):
        name = self.put("json", json.dumps({"password": "sm-pw", "port": 5432}))
        self.assertEqual(self.secret("aws-sm:" + name + "#password"), "sm-pw")
        self.assertEqual(self.secret("aws-sm:" + name + "#port"), "5432")

    def test_missing_secret_raises(self):
        with self.assertRaises(Exception) as cm:
            self.secret("aws-sm:" + self.prefix + "nope")
        self.assertIn("ResourceNotFound", str(cm.exception))


def main():
    global PRELUDE, MOTO_SERVICES
    args = sys.argv[1:]
    if "--moto" in args:
        i = args.index("--moto")
        MOTO_SERVICES = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        sys.exit(__doc__)
    PRELUDE = args[0]
    unittest.main(argv=[sys.argv[0], "-v"])


if __name__ == "__main__":
    main()
