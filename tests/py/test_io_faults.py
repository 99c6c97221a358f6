"""Retries through tests/servers/fault_proxy.py in front of moto: 503 SlowDown and 500 bursts,
connections reset or cut mid-body, Range replies cut short and slow replies are retried with
back-off until the bytes are right; a 4xx fails at once; too many faults fail with a message
naming the object and the attempts. Many fetches in flight under faults still give each path
exactly one result."""
import hashlib
import os
import subprocess

from conftest import BUILD
from s3_fixtures import s3, s3_server, s3_proxy  # noqa: F401

TOOL = os.path.join(BUILD, "tests", "tool_io")


def io(env, *args, data=None):
    return subprocess.run([TOOL, *map(str, args)], input=data, capture_output=True, env=env,
                          timeout=120)


def put(s3, url, data):
    r = io(s3.env(), "put", url, "-", data=data)
    assert r.returncode == 0, r.stderr


def fetched(proxy, path):
    return [e for e in proxy.log() if e["path"].split("?")[0].endswith(path)]


def test_transient_faults_are_retried(s3_proxy):
    s3 = s3_proxy.s3
    body = os.urandom(300_000)
    put(s3, f"{s3.url}/obj.bin", body)
    for action in ("slowdown", "internal", "reset", "cut", "status:503"):
        s3_proxy.set(rules=[{"action": action, "method": "GET", "count": 3}])
        r = io(s3_proxy.env(), "get", f"{s3.url}/obj.bin")
        assert r.returncode == 0, (action, r.stderr)
        assert r.stdout == body, action
        assert s3_proxy.state()["applied"] == 3, action


def test_too_many_faults_fail_naming_the_object_and_cause(s3_proxy):
    s3 = s3_proxy.s3
    put(s3, f"{s3.url}/obj.bin", b"abc")
    s3_proxy.set(rules=[{"action": "slowdown", "count": 10}])
    r = io(s3_proxy.env(), "get", f"{s3.url}/obj.bin")
    err = r.stderr.decode()
    assert r.returncode == 1
    assert f"{s3.url}/obj.bin" in err and "503 SlowDown" in err and "after 4 attempts" in err
    assert s3_proxy.state()["applied"] == 4  # the first try and 3 retries
    assert s3.secret_access_key not in err


def test_4xx_fails_at_once(s3_proxy):
    s3 = s3_proxy.s3
    put(s3, f"{s3.url}/obj.bin", b"abc")
    for status in (400, 403, 404):
        s3_proxy.set(rules=[{"action": f"status:{status}", "count": 5}])
        r = io(s3_proxy.env(), "get", f"{s3.url}/obj.bin")
        assert r.returncode == 1 and f"HTTP {status}".encode() in r.stderr
        assert f"{s3.url}/obj.bin".encode() in r.stderr
        assert s3_proxy.state()["applied"] == 1, status


def test_truncated_range_reply_is_retried_not_short(s3_proxy):
    s3 = s3_proxy.s3
    body = os.urandom(100_000)
    put(s3, f"{s3.url}/r.bin", body)
    s3_proxy.set(rules=[{"action": "truncate_range", "method": "GET", "count": 2}])
    r = io(s3_proxy.env(), "range", f"{s3.url}/r.bin", 1000, 50_000)
    assert r.returncode == 0, r.stderr
    assert r.stdout == body[1000:51000]
    assert s3_proxy.state()["applied"] == 2
    s3_proxy.set(rules=[{"action": "truncate_range", "method": "GET", "count": 9}])
    r = io(s3_proxy.env(), "range", f"{s3.url}/r.bin", 1000, 50_000)
    assert r.returncode == 1 and b"cut short" in r.stderr and f"{s3.url}/r.bin".encode() in r.stderr


def test_timeout_per_attempt(s3_proxy):
    s3 = s3_proxy.s3
    put(s3, f"{s3.url}/slow.bin", b"late bytes")
    # The first attempt takes 4 s against a 1 s timeout: abandoned, the retry gets the bytes.
    s3_proxy.set(rules=[{"action": "delay:4000", "count": 1}])
    r = io(s3_proxy.env(), "--timeout", "1", "get", f"{s3.url}/slow.bin")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"late bytes"
    s3_proxy.set(rules=[{"action": "delay:3000", "count": 9}])
    r = io(s3_proxy.env(), "--timeout", "1", "--retries", "1", "get", f"{s3.url}/slow.bin")
    assert r.returncode == 1 and b"after 2 attempts" in r.stderr and b"imed out" in r.stderr


def test_put_and_multipart_complete_survive_faults(s3_proxy, tmp_path):
    s3 = s3_proxy.s3
    body = os.urandom(50_000)
    s3_proxy.set(rules=[{"action": "slowdown", "method": "PUT", "count": 2}])
    r = io(s3_proxy.env(), "put", f"{s3.url}/p.bin", "-", data=body)
    assert r.returncode == 0, r.stderr
    assert s3.get(f"{s3.url}/p.bin") == body
    # The store completes the upload but the reply is lost: the retry finds the upload gone and
    # recognises the object by its multipart ETag.
    f = tmp_path / "f.bin"
    f.write_bytes(os.urandom(6 << 20))
    s3_proxy.set(rules=[{"action": "cut", "method": "POST", "path": "uploadId=", "count": 1}])
    r = io(s3_proxy.env(), "mpu", f"{s3.url}/m.bin", f, 5 << 20)
    assert r.returncode == 0, r.stderr
    assert s3_proxy.state()["applied"] == 1
    assert s3.get(f"{s3.url}/m.bin") == f.read_bytes()


def test_many_under_faults_and_latency(s3_proxy):
    s3 = s3_proxy.s3
    bodies = {f"{s3.url}/m/{i}.bin": os.urandom(2000 + i) for i in range(60)}
    for url, b in bodies.items():
        put(s3, url, b)
    # Two faults per object at most, fewer than its attempts, so which objects fail does not
    # depend on the order the requests arrive in.
    s3_proxy.set(latency_ms=20, rules=[
        {"action": action, "path": rf"/m/{tens}{i}\.bin$", "count": 2}
        for action, tens in (("slowdown", 1), ("cut", 2), ("reset", 3)) for i in range(3)
    ] + [{"action": "status:403", "path": r"/m/59\.bin", "count": 1}])
    r = io(s3_proxy.env(), "many", 0, *bodies)
    assert r.returncode == 0, r.stderr
    lines = [line.split("\t") for line in r.stdout.decode().splitlines()]
    assert sorted(p for p, *_ in lines) == sorted(bodies)  # each exactly once
    for p, a, b in lines:
        if p.endswith("/59.bin"):
            assert a == "ERROR" and "403" in b and p in b
        else:
            assert (int(a), b) == (len(bodies[p]), hashlib.sha256(bodies[p]).hexdigest()), p
    assert s3_proxy.state()["applied"] == 19


def test_cancel_stops_a_transfer_and_a_back_off(s3_proxy):
    s3 = s3_proxy.s3
    put(s3, f"{s3.url}/c.bin", b"never")
    paths = [f"{s3.url}/c.bin"] * 3
    # A reply that would take a minute, and a back-off after failures: the cancel flag ends both
    # (the subprocess timeout, far below the minute, is what fails the test otherwise).
    for rules in ([{"action": "delay:60000", "count": 9}], [{"action": "slowdown", "count": 99}]):
        s3_proxy.set(rules=rules)
        r = subprocess.run([TOOL, "--cancel-after", "1", "--retries", "50", "get", paths[0]],
                           capture_output=True, env=s3_proxy.env(), timeout=30)
        assert r.returncode == 1 and b"cancelled" in r.stderr and paths[0].encode() in r.stderr
        r = subprocess.run([TOOL, "--cancel-after", "1", "--retries", "50", "many", "0", *paths],
                           capture_output=True, env=s3_proxy.env(), timeout=30)
        assert r.returncode == 1 and b"cancelled" in r.stderr and r.stdout == b""
