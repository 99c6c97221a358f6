"""The I/O layer (src/io/) against a real S3-protocol server (moto, signature checking on),
through tests/c/tool_io: get/put/size/range/list/delete, path-style and virtual-hosted URLs,
and what a failure says (naming the object, never a secret)."""
import os
import subprocess

import pytest

from conftest import BUILD
from s3_fixtures import s3, s3_server  # noqa: F401

TOOL = os.path.join(BUILD, "tests", "tool_io")


def io(env, *args, data=None):
    return subprocess.run([TOOL, *map(str, args)], input=data, capture_output=True, env=env,
                          timeout=120)


def test_put_through_mlic_get_through_boto3(s3):
    body = os.urandom(100_000)
    r = io(s3.env(), "put", f"{s3.url}/a/b.bin", "-", data=body)
    assert r.returncode == 0, r.stderr
    assert s3.get(f"{s3.url}/a/b.bin") == body
    r = io(s3.env(), "get", f"{s3.url}/a/b.bin")
    assert r.returncode == 0 and r.stdout == body
    r = io(s3.env(), "size", f"{s3.url}/a/b.bin")
    assert r.stdout.decode().strip() == str(len(body))


def test_wrong_secret_is_403_naming_the_object_not_the_secret(s3):
    s3.put(f"{s3.url}/k.txt", b"x")
    wrong = "Wr0ngSecretThatMustNotBePrinted/abc"
    r = io(s3.env(AWS_SECRET_ACCESS_KEY=wrong), "get", f"{s3.url}/k.txt")
    err = r.stderr.decode()
    assert r.returncode == 1
    assert f"{s3.url}/k.txt" in err and "403" in err and "SignatureDoesNotMatch" in err
    assert wrong not in err and s3.secret_access_key not in err
    assert r.stdout == b""
