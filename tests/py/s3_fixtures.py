"""The S3-protocol server of the object-storage tests: moto in server mode with signature checking
on (tests/servers/s3_server.py), run from the test venv (build/venv-s3, made by
scripts/test_venv.sh from `make test`), on 127.0.0.1 on a free port, stopped when the tests end.

Use from any test file:

    from s3_fixtures import s3, s3_server, s3_proxy   # noqa: F401 (pytest finds fixtures by name)

    def test_something(mlic, s3, tmp_path):
        s3.put(f"{s3.url}/photos/1.jpg", jpeg_bytes)          # s3.url == "s3://<fresh bucket>"
        r = subprocess.run([mlic, "predict", ..., "--input", f"{s3.url}/list.txt"],
                           env=s3.env(), capture_output=True, text=True)
        assert s3.get(f"{s3.url}/out.txt") == expected
        assert s3.secret_access_key not in r.stderr

- `s3_server` (one per session) and `s3` (the same server, with a bucket of its own for the
  test: s3.bucket, s3.url) expose: endpoint ("http://127.0.0.1:PORT"), access_key_id,
  secret_access_key, role_arn (an IAM role the user may assume through STS), region.
- `s3.env(**extra)`: os.environ without any AWS_*/OSS_*/ALIBABA_CLOUD_* variable, plus
  AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, OSS_ENDPOINT,
  OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET for this server (so s3:// and oss:// both reach
  it), HOME pointed at an empty folder (no ~/.aws or ~/.ossutilconfig of the machine leaks in),
  then extra (a value of None removes the variable).
- `s3.put_files({key: local path})`: many files into the test's bucket in one process.
- `s3.put(url, data)`, `s3.get(url)` (bytes, or None when there is no such object),
  `s3.ls(prefix_url)` ({key: size}), `s3.rm(url)`, `s3.mb(bucket)`, `s3.uploads(url)` (open
  multipart upload ids), `s3.parts(url, upload_id)` ([(number, size, etag)]): boto3 in the venv
  through tests/servers/s3_admin.py. oss:// URLs are accepted and mean the same bucket.
- `start_s3_server(part_min_size=None)`: a server of your own (a context manager), e.g. with
  moto's S3_UPLOAD_PART_MIN_SIZE lowered for multipart tests.

- `s3_proxy` (per test): tests/servers/fault_proxy.py in front of the server, for the test's
  bucket: proxy.env(**extra) is s3.env with both endpoints pointing at the proxy;
  proxy.set(latency_ms=0, rules=[...]) sets its faults (see fault_proxy.py); proxy.state();
  proxy.log() (the requests it saw: method, path, host, header names, fault); proxy.s3 is the
  `s3` handle underneath (its put/get go straight to the server).

When the venv cannot be made (no PyPI), the tests that use these fixtures are skipped, loudly.
"""
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

import pytest

from conftest import ROOT

VENV_PY = os.path.join(ROOT, "build", "venv-s3", "bin", "python3")
SERVERS = os.path.join(ROOT, "tests", "servers")
_CRED_PREFIXES = ("AWS_", "OSS_", "ALIBABA_CLOUD_")
_bucket_numbers = itertools.count(1)


def venv_reason():
    """Why the S3 tests cannot run, or None."""
    if not os.path.exists(VENV_PY):
        return "no S3 test venv (build/venv-s3): run scripts/test_venv.sh (needs PyPI)"
    r = subprocess.run([VENV_PY, "-c", "import moto.server, boto3"], capture_output=True)
    return None if r.returncode == 0 else "the S3 test venv has no moto[server]: rerun scripts/test_venv.sh"


_UPLOAD = """
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                  region_name=os.environ["AWS_REGION"])
for line in sys.stdin.read().splitlines():
    bucket, key, path = line.split("\\t")
    s3.upload_file(path, bucket, key)
"""


class S3Server:
    def __init__(self, info, home):
        self.endpoint = info["endpoint"]
        self.access_key_id = info["access_key_id"]
        self.secret_access_key = info["secret_access_key"]
        self.role_arn = info["role_arn"]
        self.region = info["region"]
        self.home = home
        self.bucket = None
        self.url = None

    def env(self, **extra):
        e = {k: v for k, v in os.environ.items() if not k.startswith(_CRED_PREFIXES)}
        e.update(AWS_ENDPOINT_URL=self.endpoint, AWS_ACCESS_KEY_ID=self.access_key_id,
                 AWS_SECRET_ACCESS_KEY=self.secret_access_key, AWS_REGION=self.region,
                 OSS_ENDPOINT=self.endpoint, OSS_ACCESS_KEY_ID=self.access_key_id,
                 OSS_ACCESS_KEY_SECRET=self.secret_access_key, HOME=self.home)
        for k, v in extra.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = str(v)
        return e

    def admin(self, *args, data=None, check=True):
        r = subprocess.run([VENV_PY, os.path.join(SERVERS, "s3_admin.py"), *map(str, args)],
                           input=data, capture_output=True, env=self.env(), timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"s3_admin {args}: {r.stderr.decode(errors='replace')}")
        return r

    def mb(self, bucket):
        self.admin("mb", bucket)

    def put(self, url, data):
        self.admin("put", url, "-", data=bytes(data))

    def put_files(self, files):
        """files: {key: local path}, into this handle's bucket, all in one process."""
        text = "".join(f"{self.bucket}\t{k}\t{p}\n" for k, p in files.items())
        r = subprocess.run([VENV_PY, "-c", _UPLOAD], input=text, capture_output=True, text=True,
                           env=self.env(), timeout=300)
        assert r.returncode == 0, r.stderr

    def get(self, url):
        r = self.admin("get", url, check=False)
        if r.returncode == 3:
            return None
        assert r.returncode == 0, r.stderr.decode(errors="replace")
        return r.stdout

    def ls(self, prefix_url):
        out = self.admin("ls", prefix_url).stdout.decode()
        return {k: int(s) for k, s in (line.split("\t") for line in out.splitlines())}

    def rm(self, url):
        self.admin("rm", url)

    def uploads(self, url):
        return self.admin("uploads", url).stdout.decode().split()

    def parts(self, url, upload_id):
        out = self.admin("parts", url, upload_id).stdout.decode()
        return [(int(n), int(s), e) for n, s, e in (line.split("\t") for line in out.splitlines())]

    def with_bucket(self):
        """A copy of this server's handle with a fresh bucket (s3.bucket, s3.url)."""
        other = S3Server.__new__(S3Server)
        other.__dict__.update(self.__dict__)
        other.bucket = f"mlic-test-{os.getpid()}-{next(_bucket_numbers)}"
        other.url = f"s3://{other.bucket}"
        other.mb(other.bucket)
        return other


@contextlib.contextmanager
def start_s3_server(part_min_size=None):
    reason = venv_reason()
    if reason:
        pytest.skip(reason)
    cmd = [VENV_PY, os.path.join(SERVERS, "s3_server.py")]
    if part_min_size is not None:
        cmd += ["--part-min-size", str(part_min_size)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CRED_PREFIXES)}
    with tempfile.TemporaryDirectory(prefix="mlic-s3-home-") as home:
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
        try:
            line = p.stdout.readline()
            if not line:
                raise AssertionError("the S3 test server did not start: "
                                     + p.stderr.read().decode(errors="replace"))
            yield S3Server(json.loads(line), home)
        finally:
            p.stdin.close()  # the server's signal to stop
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class FaultProxy:
    def __init__(self, endpoint, log_path, s3):
        self.endpoint = endpoint
        self.log_path = log_path
        self.s3 = s3

    def env(self, **extra):
        return self.s3.env(**{"AWS_ENDPOINT_URL": self.endpoint, "OSS_ENDPOINT": self.endpoint,
                              **extra})

    def _control(self, body=None):
        req = urllib.request.Request(f"{self.endpoint}/__fault__", data=body,
                                     method="POST" if body is not None else "GET")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def set(self, latency_ms=0, rules=()):
        return self._control(json.dumps({"latency_ms": latency_ms, "rules": list(rules)}).encode())

    def state(self):
        return self._control()

    def log(self):
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path) as f:
            return [json.loads(line) for line in f]


@contextlib.contextmanager
def start_fault_proxy(s3, log_path):
    p = subprocess.Popen([sys.executable, os.path.join(SERVERS, "fault_proxy.py"), "--upstream",
                          s3.endpoint, "--log", str(log_path)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = p.stdout.readline()
        if not line:
            raise AssertionError("the fault proxy did not start: "
                                 + p.stderr.read().decode(errors="replace"))
        yield FaultProxy(json.loads(line)["endpoint"], str(log_path), s3)
    finally:
        p.stdin.close()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.fixture
def s3_proxy(s3, tmp_path):
    with start_fault_proxy(s3, tmp_path / "proxy-log.jsonl") as proxy:
        yield proxy


@pytest.fixture(scope="session")
def s3_server():
    with start_s3_server() as server:
        yield server


@pytest.fixture
def s3(s3_server):
    return s3_server.with_bucket()
