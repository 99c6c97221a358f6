"""The I/O layer on plain http:// URLs (a local server without Range support, as simple web
servers are): whole gets, many in flight, range reads and streams served from a full reply,
sizes by HEAD, a 404 naming the URL, and writes refused."""
import functools
import hashlib
import http.server
import os
import subprocess
import threading

import pytest

from conftest import BUILD

TOOL = os.path.join(BUILD, "tests", "tool_io")


def io(*args, data=None):
    return subprocess.run([TOOL, *map(str, args)], input=data, capture_output=True, timeout=120)


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def web(tmp_path):
    handler = functools.partial(Quiet, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_get_range_stream_size_many(web):
    root, base = web
    body = os.urandom(200_000)
    (root / "a.bin").write_bytes(body)
    assert io("get", f"{base}/a.bin").stdout == body
    assert io("size", f"{base}/a.bin").stdout.strip() == str(len(body)).encode()
    # The server ignores Range (200 with the whole body): the bytes asked for are cut from it.
    for off, n in [(0, 5), (150_000, 10_000), (len(body) - 3, 10), (len(body) + 1, 4)]:
        r = io("range", f"{base}/a.bin", off, n)
        assert r.returncode == 0 and r.stdout == body[off:off + n], (off, n, r.stderr)
    r = io("stream", f"{base}/a.bin", 12345)
    assert r.returncode == 0 and r.stdout == body[12345:]
    files = {}
    for i in range(20):
        files[f"{base}/f{i}.bin"] = os.urandom(500 + i)
        (root / f"f{i}.bin").write_bytes(files[f"{base}/f{i}.bin"])
    paths = list(files) + [f"{base}/missing.bin"]
    r = io("many", 4, *paths)
    lines = [line.split("\t") for line in r.stdout.decode().splitlines()]
    assert sorted(p for p, *_ in lines) == sorted(paths)
    for p, a, b in lines:
        if p in files:
            assert (int(a), b) == (len(files[p]), hashlib.sha256(files[p]).hexdigest())
        else:
            assert a == "ERROR" and "HTTP 404" in b and p in b


def test_http_failures(web):
    root, base = web
    r = io("get", f"{base}/nope.jpg")
    assert r.returncode == 1 and f"GET {base}/nope.jpg: HTTP 404".encode() in r.stderr
    r = io("put", f"{base}/x", "-", data=b"x")
    assert r.returncode == 1 and b"does not write to http(s) URLs" in r.stderr
    r = io("list", f"{base}/")
    assert r.returncode == 1 and b"cannot be listed" in r.stderr
