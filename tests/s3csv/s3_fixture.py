#!/usr/bin/env python3
"""Uploads the s3csv test tree to moto_server through the real S3 API.

Usage: s3_fixture.py SERVICES_DIR DATA_DIR
  SERVICES_DIR/moto.env gives DSB_TEST_MOTO_URL (tests/scripts/moto.sh).
  DATA_DIR/comma/** goes to s3://dsb-s3csv/data/v1/ (1,500+ objects: more
  than one ListObjectsV2 page) and to s3://dsb-s3csv-flat/ (no prefix);
  DATA_DIR/semi/** to s3://dsb-s3csv-semi/eu-data/.  An empty directory
  becomes a folder marker (an empty object whose key ends in "/"), as the
  S3 console creates them.
Dummy credentials, region us-east-1, loopback only.
"""
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3

TREES = {"comma": [("dsb-s3csv", "data/v1/"), ("dsb-s3csv-flat", "")],
         "semi": [("dsb-s3csv-semi", "eu-data/")]}


def moto_url(services):
    with open(os.path.join(services, "moto.env")) as f:
        for line in f:
            if line.startswith("DSB_TEST_MOTO_URL="):
                return line.split("=", 1)[1].strip()
    raise SystemExit("moto.env has no DSB_TEST_MOTO_URL")


def files(root):
    """(path, key) of every file; (None, "dir/") for an empty directory."""
    for d, dirs, names in os.walk(root):
        if not dirs and not names and d != root:
            yield None, os.path.relpath(d, root).replace(os.sep, "/") + "/"
        for n in names:
            path = os.path.join(d, n)
            yield path, os.path.relpath(path, root).replace(os.sep, "/")


def main():
    s3 = boto3.client("s3", endpoint_url=moto_url(sys.argv[1]),
                      region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")

    def put(bucket, prefix, item):
        path, key = item
        body = b""
        if path:
            with open(path, "rb") as f:
                body = f.read()
        s3.put_object(Bucket=bucket, Key=prefix + key, Body=body,
                      ContentType="text/csv" if path else
                      "application/x-directory")

    for tree, targets in TREES.items():
        todo = list(files(os.path.join(sys.argv[2], tree)))
        for bucket, prefix in targets:
            s3.create_bucket(Bucket=bucket)
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda it: put(bucket, prefix, it), todo))
            n = sum(p["KeyCount"] for p in s3.get_paginator(
                "list_objects_v2").paginate(Bucket=bucket))
            if n != len(todo):
                raise SystemExit("%s holds %d objects, not %d" %
                                 (bucket, n, len(todo)))
            print("s3_fixture: %d objects in s3://%s/%s" % (n, bucket,
                                                             prefix))


if __name__ == "__main__":
    main()
