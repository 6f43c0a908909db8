#!/usr/bin/env python3
"""API property tests: schemathesis against docs/openapi.yaml.

The real `dsbroker serve` on 127.0.0.1 with real plugins: postgres.so on the
test PostgreSQL (tests/scripts/postgres.sh), s3csv.so on the repository's
sample CSV files, glue.so on the test moto_server; the local executor runs
tests/jobs/fake-spark-submit.sh (generated jobs must not start real Spark).

Three passes, each a line of the closing "N passed, N failed":
  1. auth off: every check schemathesis has (no 5xx, status codes, content
     types, headers and bodies as the spec says, bad input rejected, good
     input accepted), against the spec without its security requirements
     (the API as it is with auth off);
  2. auth on, with a token: every check, ignored_auth included (an operation
     that declares security must refuse a request without credentials);
  3. auth on, no token: every operation of the spec, its path parameters
     filled in, answers 401 unless the spec declares it open (health).
The role's password and the tokens are canaries; every request and response
schemathesis made is kept (HAR) for the secret scan.

Environment: as tests/faults (DSB_BUILD_DIR, DSB_SOURCE_DIR,
DSB_TEST_SERVICES, DSB_CANARY_DIR), plus DSB_PROPS_EXAMPLES (default 20,
the most cases per operation and phase) and DSB_PROPS_SEED.
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "faults"))
import faultlib as fl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
VENV_BIN = os.path.dirname(os.environ.get("DSB_VENV_PY", sys.executable))
SPEC = os.path.join(fl.SOURCE, "docs", "openapi.yaml")
EXAMPLES = os.environ.get("DSB_PROPS_EXAMPLES", "20")
SEED = os.environ.get("DSB_PROPS_SEED", "20261201")


def conf(work, pg, moto, auth):
    with open(pg["DSB_TEST_PG_PASSWORD_FILE"]) as f:
        fl.register_canary(f.read().strip())
    extra = (f"auth:\n  enabled: {'true' if auth else 'false'}\n"
             "  open_health: true\n  tokens:\n    - name: props\n"
             "      token: env:DSB_PROPS_TOKEN\n      scopes: [admin]\n"
             "limits:\n  threads: 4\n  max_body_bytes: 65536\n"
             f"aws:\n  endpoint_url: http://127.0.0.1:{moto['DSB_TEST_MOTO_PORT']}\n"
             "  timeout_ms: 10000\n  max_attempts: 1\n"
             "compat:\n  uploads_source: uploads\n  max_upload_bytes: 16384\n")
    os.makedirs(os.path.join(work, "uploads"), exist_ok=True)
    spark = os.path.join(fl.SOURCE, "tests", "jobs", "fake-spark-submit.sh")
    yaml = fl.broker_yaml(os.path.join(work, "state"), extra)
    yaml = yaml.replace("    s3a: true\n",
                        f"    spark_submit: {spark}\n")
    return {
        "broker.yaml": yaml,
        "pg.yaml": f"name: pg\nplugin: postgres\nnetwork: local\n"
                   f"host: 127.0.0.1\nport: {pg['PGPORT']}\ndbname: dsb\n"
                   f"user: {pg['PGUSER']}\n"
                   f"password: file:{pg['DSB_TEST_PG_PASSWORD_FILE']}\n"
                   "sslmode: disable\nconnect_timeout_ms: 2000\n",
        "csv.yaml": "name: csv\nplugin: s3csv\nnetwork: local\nroots: "
                    f"[\"file:{fl.SOURCE}/scripts/sample-data/\"]\n",
        "lake.yaml": "name: lake\nplugin: glue\nnetwork: public\n"
                     "region: us-east-1\n",
        "uploads.yaml": "name: uploads\nplugin: s3csv\nnetwork: local\n"
                        f"roots: [\"file:{work}/uploads/\"]\n",
    }


def aws_env():
    """Throwaway keys (moto does not check them); the secret is a canary."""
    return {"AWS_ACCESS_KEY_ID": "AKIDPROPSTEST", "AWS_REGION": "us-east-1",
            "AWS_SECRET_ACCESS_KEY": fl.canary("aws-secret")}


def spec_without_auth(work):
    """docs/openapi.yaml as the broker serves it with auth off: no security
    requirement anywhere (else schemathesis counts a request without a
    token as invalid data that should have been refused)."""
    import yaml
    with open(SPEC) as f:
        spec = yaml.safe_load(f)
    spec["security"] = []
    for item in spec["paths"].values():
        for op in item.values():
            if isinstance(op, dict):
                op.pop("security", None)
    path = os.path.join(work, "openapi-auth-off.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(spec, f, sort_keys=False)
    return path


def schemathesis(tally, name, broker, checks, token, work):
    report = os.path.join(work, f"report-{name}")
    spec = SPEC if token else spec_without_auth(work)
    cmd = [os.path.join(VENV_BIN, "schemathesis"), "--config-file",
           os.path.join(HERE, "schemathesis.toml"), "run", spec,
           "--url", f"http://127.0.0.1:{broker.port}",
           "--max-examples", EXAMPLES, "--seed", SEED,
           "--workers", "1", "--request-timeout", "20", "--no-color",
           "--phases", "examples,coverage,fuzzing",
           "--suppress-health-check", "all",
           "--report", "har", "--report-dir", report]
    if checks:
        cmd += ["--exclude-checks", ",".join(checks)]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    env = dict(os.environ, SCHEMATHESIS_HOOKS="", NO_COLOR="1")
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, env=env, cwd=work, timeout=900)
    out = r.stdout + r.stderr
    with open(os.path.join(work, f"schemathesis-{name}.txt"), "w") as f:
        f.write(out)
    summary = [ln for ln in out.splitlines()
               if re.search(r"\b(passed|failed|errors?)\b", ln)][-3:]
    for line in summary:
        tally.note(line.strip())
    if r.returncode != 0:
        print(out[-12000:], flush=True)
    keep_reports(report)
    tally.check(f"schemathesis {name}: exit 0", r.returncode == 0,
                f"exit {r.returncode}")


def keep_reports(report):
    for root, _, files in os.walk(report):
        for f in files:
            dst = fl.capture_path("schemathesis")
            if dst:
                shutil.copyfile(os.path.join(root, f), dst)


def spec_operations():
    """(method, path, open) for every operation of the spec."""
    import yaml
    with open(SPEC) as f:
        spec = yaml.safe_load(f)
    default_open = {} in (spec.get("security") or [{}])
    ops = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            sec = op.get("security", spec.get("security") or [])
            is_open = {} in sec if "security" in op else default_open
            ops.append((method.upper(), path, is_open))
    return ops


def no_token_everywhere(tally, broker):
    refused, wrong = 0, []
    for method, path, is_open in spec_operations():
        concrete = re.sub(r"\{[^}]+\}", "props-x", path)
        body = {} if method in ("POST", "PUT", "PATCH") else None
        r = broker.request(method, concrete, body=body)
        if is_open:
            if r.status in (401, 403):
                wrong.append(f"{method} {path}: {r.status} (declared open)")
        elif r.status != 401:
            wrong.append(f"{method} {path}: {r.status}")
        else:
            refused += 1
    tally.note(f"without a token: {refused} operations refused with 401")
    tally.check("no operation reachable without a token when auth is on",
                not wrong, "; ".join(wrong[:10]))


def run_pass(tally, name, pg, moto, auth, token, excluded, no_token=False):
    work = fl.workdir(f"props-{name}")
    env = dict(aws_env(), DSB_PROPS_TOKEN=token)
    b = fl.Broker(work, conf(work, pg, moto, auth),
                  plugin_dir=os.path.join(fl.BUILD, "lib", "dsbroker"),
                  env=env)
    b.start()
    try:
        if no_token:
            no_token_everywhere(tally, b)
        else:
            schemathesis(tally, name, b, excluded, token if auth else None,
                         work)
        tally.check(f"{name}: broker still running", b.proc.poll() is None,
                    f"exit {b.proc.returncode}")
    finally:
        logs = list(b.logs)
        b.stop()
    text = "".join(open(p, errors="replace").read() for p in logs)
    tally.check(f"{name}: no crash or sanitizer report in the log",
                "runtime error" not in text and "Sanitizer" not in text,
                text[-2000:])


def main():
    tally = fl.Tally("api_props")
    pg, moto = fl.load_env("postgres"), fl.load_env("moto")
    if not pg or not moto:
        fl.skip("api_props", "postgres or moto fixture not running")
    if not os.path.exists(os.path.join(VENV_BIN, "schemathesis")):
        tally.check("schemathesis installed in the venv", False,
                    "run scripts/setup.sh")
        tally.finish()
    token = fl.canary("props-token")
    passes = os.environ.get("DSB_PROPS_PASSES", "auth-off,auth-on,no-token")
    if "auth-off" in passes:
        run_pass(tally, "auth-off", pg, moto, False, token, [])
    if "auth-on" in passes:
        run_pass(tally, "auth-on", pg, moto, True, token, [])
    if "no-token" in passes:
        run_pass(tally, "no-token", pg, moto, True, token, [], no_token=True)
    tally.finish()


if __name__ == "__main__":
    main()
