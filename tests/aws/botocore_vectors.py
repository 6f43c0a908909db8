#!/usr/bin/env python3
"""Prints SigV4 test cases signed by botocore, as JSON, for test_botocore.c.

Each case gives the raw inputs (path and query values not yet encoded, as
dsbroker's AWS client receives them) and the Authorization header botocore
computes for the same request at a fixed time.  Run with the project venv:
    .venv/bin/python tests/aws/botocore_vectors.py
Throwaway example credentials only.
"""
import datetime
import json
import sys
from unittest import mock
from urllib.parse import quote

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

WHEN = datetime.datetime(2024, 2, 29, 23, 59, 58, tzinfo=datetime.timezone.utc)
AK = "AKIDEXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+token=="

CASES = [
    dict(name="sts-get-query", service="sts", region="us-east-1",
         scheme="https", host="sts.amazonaws.com", method="GET", path="/",
         query=[["Version", "2011-06-15"], ["Action", "GetCallerIdentity"]]),
    dict(name="get-query-reserved-chars", service="glue", region="eu-west-1",
         scheme="http", host="127.0.0.1:4566", method="GET", path="/",
         query=[["z", "last"], ["prefix", "a b+c/d=e%f&g"], ["a", "2"],
                ["a", "1"], ["key~", "~tilde*star"], ["empty", ""],
                ["utf8", "caf\u00e9"]]),
    dict(name="post-json-1.1-target", service="secretsmanager",
         region="us-west-2", scheme="https",
         host="secretsmanager.us-west-2.amazonaws.com", method="POST",
         path="/", headers=[["X-Amz-Target", "secretsmanager.GetSecretValue"],
                            ["Content-Type", "application/x-amz-json-1.1"]],
         body='{"SecretId": "prod/db"}'),
    dict(name="post-json-session-token", service="glue", region="us-east-1",
         scheme="http", host="127.0.0.1:5000", method="POST", path="/",
         headers=[["X-Amz-Target", "AWSGlue.GetTables"],
                  ["Content-Type", "application/x-amz-json-1.1"],
                  ["User-Agent", "dsbroker/0.1"],
                  ["X-Custom", "  spaced   out  value "]],
         body='{"DatabaseName": "sales", "MaxResults": 100}', token=TOKEN),
    dict(name="s3-get-list-objects", service="s3", region="us-east-1",
         scheme="http", host="127.0.0.1:5000", method="GET", path="/bucket",
         query=[["list-type", "2"], ["prefix", "dir one/a+b=c%d"],
                ["continuation-token", "1/abc+def=="], ["delimiter", "/"]],
         s3=True),
    dict(name="s3-put-payload-hash", service="s3", region="eu-central-1",
         scheme="https", host="s3.eu-central-1.amazonaws.com", method="PUT",
         path="/bucket/dir/a b+c=d%e.csv",
         headers=[["Content-Type", "text/csv"]],
         body="id,name\n1,alice\n", s3=True),
    dict(name="s3-get-range-token", service="s3", region="us-east-1",
         scheme="http", host="127.0.0.1:5000", method="GET",
         path="/bucket/key with spaces/\u00fcber.csv",
         headers=[["Range", "bytes=0-99"]], s3=True, token=TOKEN),
    dict(name="emr-serverless-path", service="emr-serverless",
         region="us-east-1", scheme="https",
         host="emr-serverless.us-east-1.amazonaws.com", method="GET",
         path="/applications/00f1 x/jobruns/abc=1",
         query=[["states", "RUNNING"], ["states", "PENDING"]]),
]


def wire_path(raw):
    return quote(raw, safe="/-_.~")


def wire_query(pairs):
    return "&".join(quote(k, safe="-_.~") + "=" + quote(v, safe="-_.~")
                    for k, v in pairs)


def sign(case):
    url = "%s://%s%s" % (case["scheme"], case["host"], wire_path(case["path"]))
    if case.get("query"):
        url += "?" + wire_query(case["query"])
    body = case.get("body", "").encode("utf-8")
    headers = dict(case.get("headers", []))
    req = AWSRequest(method=case["method"], url=url, headers=headers,
                     data=body or None)
    creds = Credentials(AK, SK, case.get("token"))
    cls = S3SigV4Auth if case.get("s3") else SigV4Auth
    with mock.patch("botocore.auth.get_current_datetime", return_value=WHEN):
        cls(creds, case["service"], case["region"]).add_auth(req)
    out = dict(case)
    out.update(access_key=AK, secret_key=SK, when=int(WHEN.timestamp()),
               expected=req.headers["Authorization"],
               amz_date=req.headers["X-Amz-Date"])
    return out


def main():
    json.dump([sign(c) for c in CASES], sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
