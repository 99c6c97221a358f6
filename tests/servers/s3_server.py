"""moto's S3 (and IAM, STS) server for the object-storage tests, with signature checking on.

Run with the test venv's python (scripts/test_venv.sh makes build/venv-s3):

    build/venv-s3/bin/python3 tests/servers/s3_server.py [--part-min-size N]

Listens on 127.0.0.1 on a free port. Once ready it prints one JSON line on stdout:
{"endpoint": "http://127.0.0.1:PORT", "access_key_id": ..., "secret_access_key": ...,
 "role_arn": ..., "region": "us-east-1"}: an IAM user allowed everything and a role it may assume.
From then on every request must be signed with known credentials (moto's
INITIAL_NO_AUTH_ACTION_COUNT is set to 0 through its /moto-api/reset-auth): a wrong secret gets
403 SignatureDoesNotMatch, an unknown key 403 InvalidAccessKeyId. It serves until its stdin
closes (the test that started it exits) or it gets SIGTERM.
"""
import argparse
import json
import os
import signal
import sys
import threading
import urllib.request

REGION = "us-east-1"

ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part-min-size", type=int, default=None,
                    help="moto's S3_UPLOAD_PART_MIN_SIZE (bytes): the smallest part but the last")
    args = ap.parse_args()
    if args.part_min_size is not None:
        os.environ["S3_UPLOAD_PART_MIN_SIZE"] = str(args.part_min_size)
    # Set-up requests run before authentication is switched on.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "setup")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "setup")
    import logging
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    iam = boto3.client("iam", endpoint_url=endpoint, region_name=REGION,
                       aws_access_key_id="setup", aws_secret_access_key="setup")
    iam.create_user(UserName="mlic-test")
    iam.put_user_policy(UserName="mlic-test", PolicyName="all", PolicyDocument=ALLOW_ALL)
    key = iam.create_access_key(UserName="mlic-test")["AccessKey"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
    role = iam.create_role(RoleName="mlic-reader", AssumeRolePolicyDocument=trust)["Role"]
    iam.put_role_policy(RoleName="mlic-reader", PolicyName="all", PolicyDocument=ALLOW_ALL)
    # text/plain: werkzeug would swallow a form body before moto reads it.
    req = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                 headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(req) as r:
        assert json.loads(r.read())["status"] == "ok"
    print(json.dumps({"endpoint": endpoint, "access_key_id": key["AccessKeyId"],
                      "secret_access_key": key["SecretAccessKey"], "role_arn": role["Arn"],
                      "region": REGION}), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    server.stop()


if __name__ == "__main__":
    main()
