"""A full disk during mlic predict and mlic train: the run fails with an error naming the file and
the system's reason, never leaves a torn output or checkpoint (files are written to a temporary
or part file and renamed), and keeps the work it finished: once there is room again, --resume ends
with exactly the bytes of an uninterrupted run.

Two ways to fill the disk: a small tmpfs mounted for the test (needs root and a kernel that lets
this process mount: "No space left on device"), and a file size limit (ulimit -f, with SIGXFSZ
ignored so that write() fails with "File too large"), which needs no privilege."""
import json
import os
import resource
import signal
import subprocess

import pytest

import st
from dist_fixtures import leftovers, make_work, predict_cmd, run, write_train_images

PREDICT = ("--batch-size", 2, "--threads", 1, "--decode-threads", 1)
TRAIN = ["--arch", "mobilenet_v2", "--crop", "32", "--resize", "36", "--batch-size", "4",
         "--threads", "1", "--workers", "1", "--seed", "3", "--epochs", "2"]


class Tmpfs:
    """A tmpfs of `size` bytes on folder (root only); resize() makes room again."""

    def __init__(self, folder, size):
        self.folder = str(folder)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", self.folder],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("cannot mount a tmpfs here (%s); the ulimit -f variant covers a full disk"
                        % r.stderr.strip())

    def resize(self, size):
        subprocess.run(["mount", "-o", f"remount,size={size}", self.folder], check=True)

    def close(self):
        subprocess.run(["umount", "-l", self.folder], check=False)


def limited(max_bytes):
    """preexec_fn: files may not grow beyond max_bytes; the write fails instead of a signal."""
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return apply


def run_limited(cmd, mechanism, max_bytes):
    if mechanism == "ulimit":
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                              preexec_fn=limited(max_bytes))
    return run(cmd, timeout=300)


REASON = {"tmpfs": "No space left on device", "ulimit": "File too large"}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return make_work(str(tmp_path_factory.mktemp("disk_full")))


@pytest.fixture(scope="module")
def reference(mlic, work, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.txt"
    r = run(predict_cmd(mlic, work, out, *PREDICT))
    assert r.returncode == 3, r.stderr
    return out.read_bytes()


@pytest.mark.parametrize("mechanism", ["tmpfs", "ulimit"])
def test_predict_disk_full_keeps_finished_lines(mlic, work, reference, tmp_path, mechanism):
    d = tmp_path / "out"
    d.mkdir()
    room = len(reference) // 2  # half the output fits
    fs = Tmpfs(d, 4096 * (room // 4096)) if mechanism == "tmpfs" else None
    try:
        out = d / "out.txt"
        cmd = predict_cmd(mlic, work, out, *PREDICT)
        r = run_limited(cmd, mechanism, room)
        assert r.returncode == 1, r.stderr
        assert REASON[mechanism] in r.stderr and "out.txt.part-00000-of-00001" in r.stderr, r.stderr
        assert not out.exists()  # never a torn output
        part = d / "out.txt.part-00000-of-00001"
        assert part.exists() and part.stat().st_size > 0  # what was finished is kept
        if fs:
            fs.resize("16m")
        r = run(cmd + ["--resume"])
        assert r.returncode == 3, r.stderr
        assert out.read_bytes() == reference
        assert leftovers(d) == []
    finally:
        if fs:
            fs.close()


@pytest.fixture(scope="module")
def train_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("train_data")
    write_train_images(str(d), 32)
    return d


def train_cmd(mlic, data, folder):
    return [mlic, "train", "--data", str(data / "train.txt"), "--output",
            str(folder / "m.safetensors")] + TRAIN


@pytest.fixture(scope="module")
def straight(mlic, train_data, tmp_path_factory):
    d = tmp_path_factory.mktemp("straight")
    r = run(train_cmd(mlic, train_data, d))
    assert r.returncode == 0, r.stderr
    return d


@pytest.mark.parametrize("mechanism", ["tmpfs", "ulimit"])
def test_train_disk_full_keeps_the_last_checkpoint(mlic, train_data, straight, tmp_path,
                                                   mechanism):
    ckpt = (straight / "m.safetensors.ckpt").stat().st_size
    d = tmp_path / "out"
    d.mkdir()
    # tmpfs: room for one checkpoint but not for the next one's temporary file beside it.
    # ulimit: no file may reach a checkpoint's size.
    fs = Tmpfs(d, ckpt * 3 // 2) if mechanism == "tmpfs" else None
    try:
        cmd = train_cmd(mlic, train_data, d)
        r = run_limited(cmd, mechanism, ckpt // 2)
        assert r.returncode == 1, r.stderr
        assert REASON[mechanism] in r.stderr and "m.safetensors.ckpt" in r.stderr, r.stderr
        assert not (d / "m.safetensors").exists()
        assert leftovers(d) == []  # the temporary file is gone
        if mechanism == "tmpfs":
            # Epoch 1's checkpoint is whole, and a resume continues from it.
            meta = json.loads(st.load(str(d / "m.safetensors.ckpt"))[1]["mlic_checkpoint"])
            assert meta["epoch"] == 1
            fs.resize("256m")
        else:
            assert not (d / "m.safetensors.ckpt").exists()
        r = run(cmd + ["--resume"])
        assert r.returncode == 0, r.stderr
        for name in ("m.safetensors", "m.safetensors.ckpt"):
            assert (d / name).read_bytes() == (straight / name).read_bytes(), name
    finally:
        if fs:
            fs.close()
