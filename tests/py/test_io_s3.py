"""The I/O layer (src/io/) against a real S3-protocol server (moto, signature checking on),
through tests/c/tool_io: get/put/size/range/list/delete, multipart uploads, many fetches in
flight, random reads, STS AssumeRole, oss:// through an OSS endpoint, -D spellings, path-style
and virtual-hosted URLs, the credentials order, and what a failure says (the object, the status,
S3's code, never a secret)."""
import hashlib
import os
import subprocess

import pytest

from conftest import BUILD
from s3_fixtures import s3, s3_server, s3_proxy, start_s3_server  # noqa: F401

TOOL = os.path.join(BUILD, "tests", "tool_io")


def io(env, *args, data=None, timeout=120):
    return subprocess.run([TOOL, *map(str, args)], input=data, capture_output=True, env=env,
                          timeout=timeout)


def put(s3, url, data):
    """Through mlic (fast: no boto3 start-up); test_put_through_mlic_get_through_boto3 checks
    that this agrees with boto3."""
    r = io(s3.env(), "put", url, "-", data=data)
    assert r.returncode == 0, r.stderr


def no_secret(r, *secrets):
    for s in secrets:
        assert s.encode() not in r.stdout + r.stderr


def test_put_through_mlic_get_through_boto3(s3):
    body = os.urandom(100_000)
    r = io(s3.env(), "put", f"{s3.url}/a/b.bin", "-", data=body)
    assert r.returncode == 0, r.stderr
    assert s3.get(f"{s3.url}/a/b.bin") == body
    r = io(s3.env(), "get", f"{s3.url}/a/b.bin")
    assert r.returncode == 0 and r.stdout == body
    r = io(s3.env(), "size", f"{s3.url}/a/b.bin")
    assert r.stdout.decode().strip() == str(len(body))
    r = io(s3.env(), "put", f"{s3.url}/empty", "-", data=b"")
    assert r.returncode == 0 and s3.get(f"{s3.url}/empty") == b""
    assert io(s3.env(), "get", f"{s3.url}/empty").stdout == b""


def test_wrong_secret_is_403_naming_the_object_not_the_secret(s3):
    s3.put(f"{s3.url}/k.txt", b"x")
    wrong = "Wr0ngSecretThatMustNotBePrinted/abc"
    r = io(s3.env(AWS_SECRET_ACCESS_KEY=wrong), "get", f"{s3.url}/k.txt")
    err = r.stderr.decode()
    assert r.returncode == 1
    assert f"{s3.url}/k.txt" in err and "403" in err and "SignatureDoesNotMatch" in err
    assert "AWS_ACCESS_KEY_ID" in err  # where the credentials came from
    no_secret(r, wrong, s3.secret_access_key)
    assert r.stdout == b""


def test_unknown_key_missing_object_missing_bucket(s3):
    r = io(s3.env(AWS_ACCESS_KEY_ID="AKIAUNKNOWN0000000000"), "get", f"{s3.url}/k")
    assert r.returncode == 1 and b"403 InvalidAccessKeyId" in r.stderr and f"{s3.url}/k".encode() in r.stderr
    r = io(s3.env(), "get", f"{s3.url}/missing.jpg")
    assert r.returncode == 1 and b"404 NoSuchKey" in r.stderr and f"{s3.url}/missing.jpg".encode() in r.stderr
    assert b"after" not in r.stderr  # a 404 is not retried
    r = io(s3.env(), "get", "s3://no-such-bucket-mlic/k")
    assert r.returncode == 1 and b"NoSuchBucket" in r.stderr and b"s3://no-such-bucket-mlic/k" in r.stderr
    r = io(s3.env(), "size", f"{s3.url}/missing.jpg")
    assert r.returncode == 1 and b"404" in r.stderr and f"{s3.url}/missing.jpg".encode() in r.stderr
    no_secret(r, s3.secret_access_key)


def test_range_reads(s3):
    body = bytes(range(256)) * 40
    s3.put(f"{s3.url}/r.bin", body)
    for off, n in [(0, 10), (1000, 500), (len(body) - 5, 100), (len(body), 10), (len(body) + 7, 3)]:
        r = io(s3.env(), "range", f"{s3.url}/r.bin", off, n)
        assert r.returncode == 0, r.stderr
        assert r.stdout == body[off:off + n], (off, n)


def test_list_and_delete(s3):
    keys = ["d/a.jpg", "d/b c.jpg", "d/ü+&=.jpg", "d/sub/x.jpg", "e/other.jpg"]
    for i, k in enumerate(keys):
        put(s3, f"{s3.url}/{k}", b"x" * i)
    r = io(s3.env(), "list", f"{s3.url}/d/")
    assert r.returncode == 0, r.stderr
    got = [line.split("\t") for line in r.stdout.decode().splitlines()]
    want = sorted((f"{s3.url}/{k}", str(i)) for i, k in enumerate(keys) if k.startswith("d/"))
    assert [tuple(g) for g in got] == want
    r = io(s3.env(), "delete", f"{s3.url}/d/a.jpg")
    assert r.returncode == 0 and s3.get(f"{s3.url}/d/a.jpg") is None
    assert io(s3.env(), "delete", f"{s3.url}/d/a.jpg").returncode == 0  # gone already: fine


@pytest.fixture(scope="module")
def small_parts():
    """A server whose multipart minimum is 1 KiB, so that parts can be small."""
    with start_s3_server(part_min_size=1024) as server:
        yield server


def test_multipart_upload_resume_compose(small_parts, tmp_path):
    s3 = small_parts.with_bucket()
    data = os.urandom(5 * 1024 + 123)
    f = tmp_path / "f.bin"
    f.write_bytes(data)
    r = io(s3.env(), "mpu", f"{s3.url}/whole.bin", f, 1024)
    assert r.returncode == 0, r.stderr
    assert s3.get(f"{s3.url}/whole.bin") == data
    # Two parts, then the process stops: the store keeps them; resume uploads only the rest.
    r = io(s3.env(), "mpu", f"{s3.url}/resumed.bin", f, 1024, 2)
    assert r.returncode == 0, r.stderr
    upload_id = r.stdout.decode().strip()
    assert s3.uploads(f"{s3.url}/resumed.bin") == [upload_id]
    assert [p[0] for p in s3.parts(f"{s3.url}/resumed.bin", upload_id)] == [1, 2]
    assert s3.get(f"{s3.url}/resumed.bin") is None
    r = io(s3.env(), "mpu-resume", f"{s3.url}/resumed.bin", f, 1024)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == ["kept", "2", "uploaded", "4"]
    assert s3.get(f"{s3.url}/resumed.bin") == data
    assert s3.uploads(f"{s3.url}/resumed.bin") == []
    r = io(s3.env(), "compose", f"{s3.url}/both.bin", f"{s3.url}/whole.bin", f"{s3.url}/resumed.bin")
    assert r.returncode == 0, r.stderr
    assert s3.get(f"{s3.url}/both.bin") == data + data
    # An open upload is found and aborted; aborting none is fine.
    io(s3.env(), "mpu", f"{s3.url}/open.bin", f, 1024, 1)
    assert io(s3.env(), "abort", f"{s3.url}/open.bin").stdout.strip() == b"1"
    assert s3.uploads(f"{s3.url}/open.bin") == []
    assert io(s3.env(), "abort", f"{s3.url}/open.bin").stdout.strip() == b"0"


def test_many_in_flight_one_line_per_path(s3, tmp_path):
    bodies = {f"{s3.url}/m/{i}.bin": os.urandom(1000 + i) for i in range(40)}
    for url, b in bodies.items():
        put(s3, url, b)
    local = tmp_path / "local.bin"
    local.write_bytes(b"local bytes")
    paths = list(bodies) + [f"{s3.url}/m/missing.bin", str(local), "ftp://x/y"]
    for n in (0, 1, 7):
        r = io(s3.env(), "many", n, *paths)
        assert r.returncode == 0, r.stderr
        lines = [line.split("\t") for line in r.stdout.decode().splitlines()]
        assert sorted(p for p, *_ in lines) == sorted(paths)  # each exactly once
        for p, a, b in lines:
            if p in bodies:
                assert (int(a), b) == (len(bodies[p]), hashlib.sha256(bodies[p]).hexdigest())
            elif p == str(local):
                assert int(a) == 11
            else:
                assert a == "ERROR" and p in b


def test_stream_from_offset(s3):
    body = b"".join(b"line %d\n" % i for i in range(20000))
    s3.put(f"{s3.url}/list.txt", body)
    for off in (0, 1, 77777, len(body) - 1, len(body)):
        r = io(s3.env(), "stream", f"{s3.url}/list.txt", off)
        assert r.returncode == 0, r.stderr
        assert r.stdout == body[off:]


def test_sts_assume_role(s3_proxy):
    s3 = s3_proxy.s3
    s3.put(f"{s3.url}/k", b"through a role")
    # PAI's -Dbuckets form carries the role too (here with a relative path under it).
    for spelling, path in ((["--role-arn", s3.role_arn], f"{s3.url}/k"),
                           ([f"-Darn={s3.role_arn}"], f"{s3.url}/k"),
                           ([f"-Dbuckets={s3.url}/?role_arn={s3.role_arn}"], "k")):
        r = io(s3_proxy.env(), *spelling, "get", path)
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"through a role"
    log = s3_proxy.log()
    sts = [e for e in log if e["method"] == "POST" and e["path"] == "/"]
    gets = [e for e in log if e["method"] == "GET"]
    assert len(sts) == 3 and len(gets) == 3
    # The object was read with the role's session credentials, not the user's.
    assert all("x-amz-security-token" in e["headers"] for e in gets)
    assert all("x-amz-security-token" not in e["headers"] for e in sts)
    wrong = "NotTheSecret/xyz"
    r = io(s3_proxy.env(AWS_SECRET_ACCESS_KEY=wrong), "--role-arn", s3.role_arn, "get", f"{s3.url}/k")
    assert r.returncode == 1 and b"AssumeRole" in r.stderr and s3.role_arn.encode() in r.stderr
    assert b"403" in r.stderr
    no_secret(r, wrong, s3.secret_access_key)


def test_oss_through_oss_endpoint_and_d_spellings(s3):
    s3.put(f"{s3.url}/photos/1.jpg", b"jpeg bytes")
    oss_url = s3.url.replace("s3://", "oss://")
    env = s3.env(OSS_ENDPOINT=None, AWS_ENDPOINT_URL="http://127.0.0.1:9")  # s3:// goes nowhere
    r = io(env, f"-DossHost={s3.endpoint}", "get", f"{oss_url}/photos/1.jpg")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"jpeg bytes"
    # -Dbuckets: relative paths resolve against it; PAI's form carries the endpoint as host=.
    r = io(env, f"-Dbuckets={oss_url}/photos/?host={s3.endpoint}", "get", "1.jpg")
    assert r.returncode == 0 and r.stdout == b"jpeg bytes", r.stderr
    r = io(env, f"-Dbuckets={oss_url}/", f"-DossHost={s3.endpoint}", "put", "out/r.txt", "-", data=b"res")
    assert r.returncode == 0 and s3.get(f"{s3.url}/out/r.txt") == b"res", r.stderr
    # No endpoint for oss://: the message says how to give one.
    r = io(env, "get", f"{oss_url}/photos/1.jpg")
    assert r.returncode == 1 and b"-DossHost" in r.stderr and b"OSS_ENDPOINT" in r.stderr
    # An Alibaba RAM role is refused, naming the variables that carry a session token.
    r = io(env, f"-DossHost={s3.endpoint}", "-Darn=acs:ram::123:role/reader", "get", f"{oss_url}/photos/1.jpg")
    assert r.returncode == 1 and b"OSS_SESSION_TOKEN" in r.stderr and b"acs:ram::123:role/reader" in r.stderr


@pytest.mark.parametrize("args,path,want", [
    ([], "s3://bkt/a b/c.jpg", "https://bkt.s3.example.com/a%20b/c.jpg"),
    (["--path-style"], "s3://bkt/k", "https://s3.example.com/bkt/k"),
    (["--s3-endpoint", "http://127.0.0.1:9000"], "s3://bkt/k", "http://127.0.0.1:9000/bkt/k"),
    (["--s3-endpoint", "localhost:9000"], "s3://bkt/k", "https://localhost:9000/bkt/k"),
    (["--region", "eu-west-1", "--s3-endpoint", ""], "s3://bkt/k", None),
    (["-DossHost=oss-cn-shanghai-internal.aliyuncs.com"], "oss://bkt/x/y.jpg",
     "https://bkt.s3.oss-cn-shanghai-internal.aliyuncs.com/x/y.jpg"),
])
def test_request_urls(args, path, want):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OSS_", "ALIBABA_"))}
    env["AWS_ENDPOINT_URL"] = "https://s3.example.com"
    r = io(env, *args, "url", path)
    if want is None:
        assert r.returncode == 2 and b"--s3-endpoint is empty" in r.stderr
    else:
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode().strip() == want


def test_aws_default_endpoint_by_region():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OSS_", "ALIBABA_"))}
    r = io(env, "--region", "eu-west-1", "url", "s3://bkt/k")
    assert r.stdout.decode().strip() == "https://bkt.s3.eu-west-1.amazonaws.com/k"


def test_credentials_order(s3, tmp_path):
    s3.put(f"{s3.url}/k", b"ok")
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    good, bad = (s3.access_key_id, s3.secret_access_key), ("AKIABAD0000000000000", "badsecret")

    def aws_file(default, other=None):
        text = "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % default
        if other:
            text += "[other]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % other
        (home / ".aws" / "credentials").write_text(text)

    def get(env_creds, *args):
        extra = {"HOME": home, "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}
        if env_creds:
            extra.update(AWS_ACCESS_KEY_ID=env_creds[0], AWS_SECRET_ACCESS_KEY=env_creds[1])
        r = io(s3.env(**extra), *args, "get", f"{s3.url}/k")
        for secret in (good[1], bad[1]):
            assert secret.encode() not in r.stderr
        return r.returncode

    aws_file(good)
    assert get(None) == 0                                   # the file alone
    aws_file(bad)
    assert get(good) == 0                                   # the environment over the file
    assert get(bad) == 1
    assert get(bad, "--access-key-id", good[0], "--access-key-secret", good[1]) == 0  # command line first
    aws_file(bad, good)
    assert get(None, "--profile", "other") == 0             # a profile
    assert get(None) == 1
    r = io(s3.env(HOME=home, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None, AWS_PROFILE="other"),
           "get", f"{s3.url}/k")
    assert r.returncode == 0, r.stderr
    # oss:// reads OSS_*, then ALIBABA_CLOUD_*, then ~/.ossutilconfig.
    oss = f"{s3.url.replace('s3://', 'oss://')}/k"
    base = dict(HOME=home, OSS_ACCESS_KEY_ID=None, OSS_ACCESS_KEY_SECRET=None)
    (home / ".ossutilconfig").write_text(
        "[Credentials]\nlanguage=EN\naccessKeyID=%s\naccessKeySecret=%s\n" % good)
    assert io(s3.env(**base), "get", oss).returncode == 0
    r = io(s3.env(**base, ALIBABA_CLOUD_ACCESS_KEY_ID=bad[0], ALIBABA_CLOUD_ACCESS_KEY_SECRET=bad[1]), "get", oss)
    assert r.returncode == 1 and b"ALIBABA_CLOUD_ACCESS_KEY_ID" in r.stderr
    r = io(s3.env(HOME=home, ALIBABA_CLOUD_ACCESS_KEY_ID=bad[0], ALIBABA_CLOUD_ACCESS_KEY_SECRET=bad[1]), "get", oss)
    assert r.returncode == 0, r.stderr                      # OSS_* over ALIBABA_CLOUD_*
    # A secret on the command line works but earns a note, which does not repeat it.
    r = io(s3.env(), "--access-key-id", good[0], "--access-key-secret", good[1], "get", f"{s3.url}/k")
    assert r.returncode == 0 and b"note: a secret on the command line" in r.stderr
    assert good[1].encode() not in r.stderr
