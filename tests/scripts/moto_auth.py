#!/usr/bin/env python3
"""Turns a fresh moto_server into one that checks credentials like AWS.

Usage: moto_auth.py URL ENV_FILE
  Wipes the server's state, creates two IAM users with access keys through
  the real IAM API, then switches on moto's IAM access control
  (POST /moto-api/reset-auth 0, the server-mode form of
  INITIAL_NO_AUTH_ACTION_COUNT=0): from then on every request must be
  signed (SigV4, verified) with a key of a user whose policy allows the
  action, or it gets InvalidClientTokenId, SignatureDoesNotMatch or
  AccessDenied (403, XML body).
    dsb-admin   secretsmanager:*                 (tests create secrets)
    dsb-reader  secretsmanager:GetSecretValue    (what the broker needs)
  Appends their keys to ENV_FILE (created 0600) as
  DSB_TEST_MOTO_AUTH_{ADMIN,READER}_{KEY_ID,SECRET}.  These are keys of
  moto's local IAM, valid on this server only.  Prints nothing secret.
  Checks that an unknown key is refused before returning.
Region us-east-1, account 123456789012, loopback only.
"""
import json
import os
import sys
import urllib.request

import boto3
import botocore.exceptions

REGION = "us-east-1"
USERS = {
    "ADMIN": ("dsb-admin", "secretsmanager:*"),
    "READER": ("dsb-reader", "secretsmanager:GetSecretValue"),
}


def moto_api(url, path, data):
    # Not a form: werkzeug would swallow a form-encoded body.
    req = urllib.request.Request(url + path, data=data, method="POST",
                                 headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def client(url, service, key_id, secret):
    return boto3.client(service, endpoint_url=url, region_name=REGION,
                        aws_access_key_id=key_id,
                        aws_secret_access_key=secret)


def create_users(url):
    iam = client(url, "iam", "bootstrap", "bootstrap")
    keys = {}
    for role, (name, action) in USERS.items():
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="dsb-test",
                            PolicyDocument=json.dumps({
                                "Version": "2012-10-17",
                                "Statement": [{"Effect": "Allow",
                                               "Action": action,
                                               "Resource": "*"}]}))
        k = iam.create_access_key(UserName=name)["AccessKey"]
        keys[role] = (k["AccessKeyId"], k["SecretAccessKey"])
    return keys


def check_enforced(url):
    sm = client(url, "secretsmanager", "AKIADSBUNKNOWN000000", "x")
    try:
        sm.list_secrets()
    except botocore.exceptions.ClientError as e:
        if e.response["ResponseMetadata"]["HTTPStatusCode"] == 403:
            return
        raise
    sys.exit("moto_auth: access control is not enforced")


def main():
    url, env_file = sys.argv[1:3]
    moto_api(url, "/moto-api/reset-auth", b"inf")
    moto_api(url, "/moto-api/reset", b"")
    keys = create_users(url)
    fd = os.open(env_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        for role, (key_id, secret) in keys.items():
            f.write(f"DSB_TEST_MOTO_AUTH_{role}_KEY_ID={key_id}\n")
            f.write(f"DSB_TEST_MOTO_AUTH_{role}_SECRET={secret}\n")
    moto_api(url, "/moto-api/reset-auth", b"0")
    check_enforced(url)


if __name__ == "__main__":
    main()
