"""mlic train and eval on images served over HTTP by a server of the test's own (127.0.0.1, a
free port, counting every request), with and without --cache: the model bytes and the eval JSON
equal those of the same job on the local files; with a cache every image is fetched once however
many epochs read it; the cache stays within --cache-size; a damaged cache file is never used
(fetched again); an image the server lacks fails the run naming it."""
import http.server
import os
import subprocess
import threading

import pytest

from apparel import DATA, write_subset

# A tiny job (resnet18 at 32x32, 16 training images in two batches, one compute thread) so that
# the suite stays fast; its results depend only on the bytes read, which is what is compared.
BASE = ["--arch", "resnet18", "--crop", "32", "--batch-size", "8", "--threads", "1",
        "--workers", "2", "--seed", "5", "--lr", "0.05"]

pytestmark = pytest.mark.skipif(not os.path.isdir(DATA), reason="apparel data set not present")


class Server:
    """Serves DATA's files; records each request's path."""

    def __init__(self):
        requests, lock = [], threading.Lock()

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=DATA, **kw)

            def do_GET(self):
                with lock:
                    requests.append(self.path)
                super().do_GET()

            def log_message(self, *a):
                pass

        self.requests, self.lock = requests, lock
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def take(self):
        with self.lock:
            got = list(self.requests)
            self.requests.clear()
        return got

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """16 training images and 8 validation images; lists relative to DATA."""
    return write_subset(tmp_path_factory.mktemp("apparel"), (("train", 97, 16, 2), ("val", 25, 8, 4)))


def images(data):
    return {l.split("\t")[0] for n in ("train", "val") for l in open(data / (n + ".txt")).read().splitlines()}


def train(mlic, data, out, root, *extra, epochs=2, check=True):
    args = [mlic, "train", "--data", str(data / "train.txt"), "--val", str(data / "val.txt"),
            "--classes", str(data / "classes.txt"), "--root", root, "--output", str(out),
            "--epochs", str(epochs)] + BASE + [str(a) for a in extra]
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def local(mlic, data, tmp_path_factory):
    d = tmp_path_factory.mktemp("local")
    train(mlic, data, d / "m.safetensors", DATA)
    return (d / "m.safetensors").read_bytes()


def cache_files(d):
    return [p for p in d.iterdir() if not p.name.startswith(".")]


def test_remote_root_with_cache_fetches_each_image_once(mlic, data, server, local, tmp_path):
    server.take()
    cache = tmp_path / "cache"
    r = train(mlic, data, tmp_path / "m.safetensors", server.url, "--cache", cache)
    assert (tmp_path / "m.safetensors").read_bytes() == local
    got = server.take()
    # Two epochs, validation after each and the threshold tuning at the end read every image
    # several times; the server saw each once.
    assert sorted(got) == sorted("/" + p for p in images(data))
    assert len(cache_files(cache)) == len(images(data))
    assert "cache %s" % cache in r.stderr

    # A second run on the same cache fetches nothing; a damaged file (cut short, or a byte of its
    # body changed) is fetched again, and the result is the same.
    files = sorted(cache_files(cache))
    body = files[0].read_bytes()
    files[0].write_bytes(body[:-10])
    body = bytearray(files[1].read_bytes())
    body[-5] ^= 0x40
    files[1].write_bytes(bytes(body))
    train(mlic, data, tmp_path / "m2.safetensors", server.url, "--cache", cache)
    assert (tmp_path / "m2.safetensors").read_bytes() == local
    assert len(server.take()) == 2


def test_without_cache_reads_again_each_epoch(mlic, data, server, local, tmp_path):
    server.take()
    train(mlic, data, tmp_path / "m.safetensors", server.url)
    assert (tmp_path / "m.safetensors").read_bytes() == local
    got = server.take()
    assert len(got) > 2 * len(images(data))
    assert set(got) == {"/" + p for p in images(data)}


def test_cache_size_is_a_bound(mlic, data, server, local, tmp_path):
    sizes = sorted(os.path.getsize(os.path.join(DATA, p)) for p in images(data))
    bound = sum(sizes[:4]) + 4 * 200  # room for a few images and their headers
    cache = tmp_path / "cache"
    train(mlic, data, tmp_path / "m.safetensors", server.url, "--cache", cache,
          "--cache-size", bound)
    assert (tmp_path / "m.safetensors").read_bytes() == local
    held = sum(p.stat().st_size for p in cache_files(cache))
    assert 0 < held <= bound


def test_eval_remote_images_equal_local(mlic, data, server, local, tmp_path):
    model = tmp_path / "m.safetensors"
    model.write_bytes(local)
    args = [mlic, "eval", "--model", str(model), "--data", str(data / "val.txt"), "--json",
            "--threads", "1"]
    here = subprocess.run(args + ["--root", DATA], capture_output=True, text=True, timeout=300)
    assert here.returncode == 0, here.stderr
    there = subprocess.run(args + ["--root", server.url, "--cache", str(tmp_path / "c")],
                           capture_output=True, text=True, timeout=300)
    assert there.returncode == 0, there.stderr
    assert there.stdout == here.stdout


def test_missing_image_is_named(mlic, data, server, tmp_path):
    lst = tmp_path / "train.txt"
    lines = open(data / "train.txt").read().splitlines()
    lines[3] = "images/not-there.jpg\tblack,jeans"
    lst.write_text("\n".join(lines) + "\n")
    r = subprocess.run([mlic, "train", "--data", str(lst), "--classes", str(data / "classes.txt"),
                        "--root", server.url, "--output", str(tmp_path / "m.safetensors"),
                        "--epochs", "1"] + BASE, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    assert server.url + "images/not-there.jpg" in r.stderr and "404" in r.stderr
    assert not (tmp_path / "m.safetensors").exists()


def test_cache_usage_errors(mlic, data, tmp_path):
    common = [mlic, "train", "--data", str(data / "train.txt"), "--output",
              str(tmp_path / "m.safetensors")] + BASE
    r = subprocess.run(common + ["--cache-size", "1G"], capture_output=True, text=True)
    assert r.returncode == 2 and "--cache-size" in r.stderr
    r = subprocess.run(common + ["--cache", str(tmp_path / "c"), "--cache-size", "12Q"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "'12Q'" in r.stderr
    r = subprocess.run(common + ["--cache", str(tmp_path / "no" / "such" / "c")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and str(tmp_path / "no" / "such" / "c") in r.stderr
