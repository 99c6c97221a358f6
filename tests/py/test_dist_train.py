"""Data-parallel mlic train under mpirun (docs/distributed.md, "Training"), on 16 apparel photos
(resnet18 at 32x32, one compute thread per rank):
- with --sync-bn, 2 ranks with batch 4 follow one process with batch 8 (same seed, so the same
  global batches) within float32 rounding: the loss and every weight after an epoch;
- without --sync-bn the ranks still train and stay bit-identical (--check-weights compares a
  checksum of every rank's weights after every step); they differ from one process by far more;
- rank 0 alone writes the log, the model and the checkpoint;
- kill -9 of the whole job, then --resume as ONE process with batch 8 (the same global batch)
  ends bit-identical to a 2-rank run stopped cleanly after the same epoch and resumed the same
  way; a resume with another global batch is refused with a hint;
- ranks that start from different weights stop with an error naming the checksums."""
import json
import os
import shutil
import struct
import subprocess
import time

import numpy as np
import pytest
import torch
import torchvision

import st
from apparel import DATA, write_subset
from dist_fixtures import MPI_ENV, MPIRUN, mpi_skip_reason, mpirun_cmd, run
from test_resume import kill_job

# Direct convolutions: Winograd's rounding (~1e-5) depends on the batch size, which would hide
# the 1e-7 agreement of 2 ranks of batch B with one process of batch 2B checked here.
BASE = ["--arch", "resnet18", "--crop", "32", "--threads", "1", "--workers", "1", "--seed", "3",
        "--lr", "0.05", "--epochs", "3", "--conv", "direct"]

pytestmark = [
    pytest.mark.skipif(not os.path.isdir(DATA), reason="apparel data set not present"),
    pytest.mark.skipif(mpi_skip_reason() is not None, reason=str(mpi_skip_reason())),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """16 training images (two global batches of 8) and 16 validation images."""
    return write_subset(tmp_path_factory.mktemp("apparel"), (("train", 37, 16, 1), ("val", 10, 16, 3)))


def train_cmd(mlic, data, folder, batch, *extra):
    return [mlic, "train", "--data", str(data / "train.txt"), "--val", str(data / "val.txt"),
            "--classes", str(data / "classes.txt"), "--root", DATA,
            "--output", str(folder / "m.safetensors"), "--log", str(folder / "log.jsonl"),
            "--batch-size", str(batch)] + BASE + [str(a) for a in extra]


def checked(r):
    assert r.returncode == 0, r.stderr
    return r


def log(folder):
    return [json.loads(l) for l in (folder / "log.jsonl").read_text().splitlines()]


def weights(path):
    tensors, _ = st.load(str(path))
    return {k: v for k, v in tensors.items() if not k.startswith(("data.", "optim."))}


def checkpoint_epoch(path):
    """The epochs a checkpoint holds, from its header alone (None while there is none)."""
    try:
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
    except (OSError, ValueError, struct.error):
        return None
    return json.loads(header["__metadata__"]["mlic_checkpoint"])["epoch"]


def rel_l2(a, b):
    num = sum(float(((a[k].astype(np.float64) - b[k]) ** 2).sum()) for k in a)
    return (num / sum(float((a[k].astype(np.float64) ** 2).sum()) for k in a)) ** 0.5


@pytest.fixture(scope="module")
def one(mlic, data, tmp_path_factory):
    """One process, batch 8: epoch 1 (two steps)."""
    d = tmp_path_factory.mktemp("one")
    checked(run(train_cmd(mlic, data, d, 8, "--stop-after-epochs", 1)))
    return d


@pytest.fixture(scope="module")
def two_sync(mlic, data, tmp_path_factory):
    """2 ranks, batch 4 each, --sync-bn: epoch 1."""
    d = tmp_path_factory.mktemp("two_sync")
    r = checked(run(mpirun_cmd(2, train_cmd(mlic, data, d, 4, "--sync-bn", "--check-weights",
                                            "--stop-after-epochs", 1))))
    return d, r


@pytest.fixture(scope="module")
def two_plain(mlic, data, tmp_path_factory):
    """2 ranks, batch 4 each, batch norm on each rank's own batch: epoch 1."""
    d = tmp_path_factory.mktemp("two_plain")
    r = checked(run(mpirun_cmd(2, train_cmd(mlic, data, d, 4, "--check-weights",
                                            "--stop-after-epochs", 1))))
    return d, r


def test_sync_bn_two_ranks_follow_one_process(one, two_sync, two_plain):
    (two, r), (plain, _) = two_sync, two_plain
    assert "2 ranks, each 4 images of every global batch of 8" in r.stderr
    a, b = weights(one / "m.safetensors.ckpt"), weights(two / "m.safetensors.ckpt")
    assert a.keys() == b.keys()
    # One step's rounding differences (the order of float32 sums over the batch) grow over the
    # steps; after two they are ~1e-7 of the weights.
    assert rel_l2(a, b) < 1e-5
    for k in a:
        scale = float(np.abs(a[k]).max()) or 1.0
        assert np.abs(a[k] - b[k]).max() <= 1e-4 * scale, k
    la, lb = log(one)[0], log(two)[0]
    assert la["step"] == lb["step"] == 2
    assert lb["train_loss"] == pytest.approx(la["train_loss"], rel=1e-5)
    assert lb["val_loss"] == pytest.approx(la["val_loss"], rel=1e-4)
    ca, _ = st.load(str(one / "m.safetensors.ckpt"))
    cb, _ = st.load(str(two / "m.safetensors.ckpt"))
    assert np.array_equal(ca["data.order"], cb["data.order"])
    # Per-rank batch statistics make a visibly different run: the test can tell them apart.
    assert rel_l2(a, weights(plain / "m.safetensors.ckpt")) > 100 * rel_l2(a, b)


def test_without_sync_bn_ranks_train_and_stay_identical(mlic, data, two_plain):
    d, r = two_plain
    # --check-weights compared the ranks' checksums after every step: a difference fails the run.
    assert "stopped after epoch 1" in r.stderr
    entries = log(d)
    assert len(entries) == 1 and entries[0]["epoch"] == 1  # rank 0 alone writes the log
    assert np.isfinite(entries[0]["train_loss"]) and entries[0]["step"] == 2
    checked(run(mpirun_cmd(2, train_cmd(mlic, data, d, 4, "--check-weights", "--resume"))))
    entries = log(d)
    assert [e.get("epoch") for e in entries] == [1, 2, 3, None] and entries[3]["final"]
    assert entries[2]["train_loss"] < entries[0]["train_loss"]
    tensors, meta = st.load(str(d / "m.safetensors"))
    assert json.loads(meta["mlic"])["classes"] == (data / "classes.txt").read_text().split()


def test_kill_then_resume_with_another_number_of_ranks(mlic, data, two_sync, tmp_path):
    # The reference: the cleanly stopped 2-rank run, resumed as one process with batch 8.
    ref = tmp_path / "ref"
    ref.mkdir()
    shutil.copy(two_sync[0] / "m.safetensors.ckpt", ref / "m.safetensors.ckpt")
    checked(run(train_cmd(mlic, data, ref, 8, "--resume")))
    # The same 2-rank run, killed during epoch 2, resumed the same way.
    job = tmp_path / "job"
    job.mkdir()
    p = subprocess.Popen(mpirun_cmd(2, train_cmd(mlic, data, job, 4, "--sync-bn")),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, env=MPI_ENV)
    deadline = time.time() + 120
    while checkpoint_epoch(job / "m.safetensors.ckpt") is None and p.poll() is None:
        assert time.time() < deadline, "no checkpoint after 120 s"
        time.sleep(0.02)
    kill_job(p.pid)
    p.wait()
    assert checkpoint_epoch(job / "m.safetensors.ckpt") == 1, "the job was not killed in epoch 2"
    r = checked(run(train_cmd(mlic, data, job, 8, "--resume")))
    assert "resumed from" in r.stderr and "after epoch 1 (step 2)" in r.stderr
    for name in ("m.safetensors.ckpt", "m.safetensors"):
        a, meta_a = st.load(str(ref / name))
        b, meta_b = st.load(str(job / name))
        assert a.keys() == b.keys()
        for k in a:
            assert np.array_equal(a[k], b[k]), (name, k)
        assert meta_a == meta_b
    strip = lambda e: {k: v for k, v in e.items() if k not in ("seconds", "images_per_s")}
    assert [strip(e) for e in log(ref)] == [strip(e) for e in log(job)[-3:]]


def test_resume_with_another_global_batch_is_refused(mlic, data, two_sync, tmp_path):
    shutil.copy(two_sync[0] / "m.safetensors.ckpt", tmp_path / "m.safetensors.ckpt")
    r = run(train_cmd(mlic, data, tmp_path, 4, "--resume"))
    assert r.returncode == 1
    assert "global batch of 8" in r.stderr and "ranks x --batch-size = 8" in r.stderr, r.stderr


def test_ranks_with_different_weights_stop(mlic, data, tmp_path):
    """Two ranks fine-tuning from different files (no shared file system, say) must not train."""
    files = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        path = tmp_path / f"w{seed}.safetensors"
        st.save(str(path), torchvision.models.resnet18().state_dict())
        files.append(path)
    cmd = [MPIRUN, "--oversubscribe", "--allow-run-as-root"]
    for i, path in enumerate(files):
        cmd += (["-np", "1"] + train_cmd(mlic, data, tmp_path, 4, "--pretrained", path) +
                ([":"] if i == 0 else []))
    r = run(cmd)
    assert r.returncode != 0
    assert "the weights differ between ranks at the start" in r.stderr, r.stderr
    assert not (tmp_path / "m.safetensors").exists()


def test_an_image_failing_on_one_rank_stops_all(mlic, data, tmp_path):
    lines = (data / "train.txt").read_text().splitlines()
    lines[11] = "images/missing.jpg\tblack,jeans"
    bad = tmp_path / "train.txt"
    bad.write_text("\n".join(lines) + "\n")
    cmd = train_cmd(mlic, data, tmp_path, 4)
    cmd[cmd.index("--data") + 1] = str(bad)
    r = run(mpirun_cmd(2, cmd), timeout=60)  # a rank left waiting would hang until the timeout
    assert r.returncode != 0
    assert "missing.jpg" in r.stderr, r.stderr
    assert "of 2 failed (its own message says why)" in r.stderr, r.stderr
