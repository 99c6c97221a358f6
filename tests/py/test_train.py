"""mlic train end to end on a small subset of the apparel photos (resnet18 at 32x32): it trains,
writes the model, the checkpoint and the log, the loss goes down, a run stopped after an epoch and
resumed ends bit-identical to an uninterrupted one, and fine-tuning from a torchvision state dict
with a frozen backbone changes only the head. Initialisation is compared with torchvision's."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import torch
import torchvision

import st
from apparel import DATA, write_subset
from conftest import BUILD

TOOL = os.path.join(BUILD, "tests", "tool_train_step")
# One compute thread: on a busy two-core machine OpenMP's spinning barriers slow a tiny network
# down many times over (results do not depend on the thread count, test_train_step checks).
BASE = ["--arch", "resnet18", "--crop", "32", "--batch-size", "16", "--threads", "1",
        "--workers", "1", "--seed", "3", "--lr", "0.05"]

pytestmark = pytest.mark.skipif(not os.path.isdir(DATA), reason="apparel data set not present")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """48 training images (every 37th: all seven classes) and 25 validation images."""
    return write_subset(tmp_path_factory.mktemp("apparel"), (("train", 37, 48, 1), ("val", 10, 25, 3)))


def train(mlic, data, out, *extra, check=True):
    args = [mlic, "train", "--data", str(data / "train.txt"), "--val", str(data / "val.txt"),
            "--classes", str(data / "classes.txt"), "--root", DATA, "--output", str(out)]
    r = subprocess.run(args + BASE + [str(a) for a in extra], capture_output=True, text=True,
                       timeout=300)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def load_log(path):
    return [json.loads(l) for l in open(path).read().splitlines()]


@pytest.fixture(scope="module")
def straight(mlic, data, tmp_path_factory):
    """An uninterrupted 2-epoch run."""
    d = tmp_path_factory.mktemp("straight")
    r = train(mlic, data, d / "m.safetensors", "--epochs", 2, "--log", d / "log.jsonl")
    return d, r


def test_trains_and_writes_model_log_checkpoint(straight):
    d, r = straight
    assert "epoch 2/2 done" in r.stderr and "val loss" in r.stderr
    tensors, meta = st.load(str(d / "m.safetensors"))
    info = json.loads(meta["mlic"])
    classes = open(os.path.join(DATA, "classes.txt")).read().split()
    assert info["classes"] == classes and info["crop"] == 32 and info["resize"] == 37
    assert tensors["fc.weight"].shape == (7, 512)
    assert all(0 <= t <= 1 for t in info["thresholds"])
    log = load_log(d / "log.jsonl")
    assert [e.get("epoch") for e in log[:2]] == [1, 2] and log[2]["final"]
    assert log[1]["step"] == 2 * 3  # 48 images, batches of 16
    assert log[1]["train_loss"] < log[0]["train_loss"]
    assert 0 <= log[1]["map"] <= 100 and log[2]["best_epoch"] in (1, 2)
    assert np.allclose(log[2]["thresholds"], info["thresholds"])
    ckpt, cmeta = st.load(str(d / "m.safetensors.ckpt"))
    state = json.loads(cmeta["mlic_checkpoint"])
    assert state["epoch"] == 2 and state["step"] == 6
    assert sorted(ckpt["data.order"]) == list(range(48))
    assert ckpt["optim.state"].size == sum(v.size for k, v in tensors.items()
                                           if not k.endswith("batches_tracked"))


def test_resume_is_bit_identical(mlic, data, straight, tmp_path):
    d, _ = straight
    out = tmp_path / "m.safetensors"
    r = train(mlic, data, out, "--epochs", 2, "--stop-after-epochs", 1, "--log", tmp_path / "l")
    assert "stopped after epoch 1" in r.stderr
    assert json.loads(st.load(str(out) + ".ckpt")[1]["mlic_checkpoint"])["epoch"] == 1
    r = train(mlic, data, out, "--epochs", 2, "--resume", "--log", tmp_path / "l")
    assert "resumed from" in r.stderr
    for name in ("m.safetensors", "m.safetensors.ckpt"):
        a, ma = st.load(str(d / name))
        b, mb = st.load(str(tmp_path / name))
        assert ma == mb, name
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=name + ": " + k)
    assert len(load_log(tmp_path / "l")) == 3


def test_resume_refuses_other_settings(mlic, data, straight, tmp_path):
    d, _ = straight
    shutil.copy(d / "m.safetensors.ckpt", tmp_path / "m.safetensors.ckpt")
    r = train(mlic, data, tmp_path / "m.safetensors", "--epochs", 3, "--resume", "--lr", "0.01",
              check=False)
    assert r.returncode == 1
    assert "lr" in r.stderr and "0.05" in r.stderr and "--resume" in r.stderr


def test_jitter_option_changes_augmentation_and_is_a_resume_setting(mlic, data, straight, tmp_path):
    d, _ = straight
    out = tmp_path / "m.safetensors"
    train(mlic, data, out, "--epochs", 2, "--jitter", 0)
    a, b = st.load(str(d / "m.safetensors"))[0], st.load(str(out))[0]
    assert not np.array_equal(a["conv1.weight"], b["conv1.weight"])
    r = train(mlic, data, tmp_path / "r.safetensors", "--epochs", 1, "--jitter", -0.5, check=False)
    assert r.returncode == 1 and "jitter" in r.stderr
    shutil.copy(d / "m.safetensors.ckpt", tmp_path / "c.safetensors.ckpt")
    r = train(mlic, data, tmp_path / "c.safetensors", "--epochs", 3, "--resume", "--jitter", 0,
              check=False)
    assert r.returncode == 1 and "jitter" in r.stderr


def test_pretrained_frozen_backbone_changes_only_the_head(mlic, data, tmp_path):
    torch.manual_seed(0)
    sd = st.state_dict_numpy(torchvision.models.resnet18())  # an ImageNet-shaped head
    st.save(str(tmp_path / "w.safetensors"), sd)
    out = tmp_path / "m.safetensors"
    r = train(mlic, data, out, "--epochs", 1, "--pretrained", tmp_path / "w.safetensors",
              "--freeze-backbone")
    assert "head re-initialised" in r.stderr
    got = st.load(str(out))[0]
    for k, v in sd.items():
        if not k.startswith("fc.") and not k.endswith("num_batches_tracked"):
            np.testing.assert_array_equal(got[k], v, err_msg=k)
    assert got["fc.weight"].shape == (7, 512)
    bound = 1 / np.sqrt(512)
    assert np.abs(got["fc.weight"]).max() < bound + 0.1


def test_usage_errors(mlic, data, tmp_path):
    r = subprocess.run([mlic, "train", "--data", str(data / "train.txt")], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "--arch" in r.stderr
    r = subprocess.run([mlic, "train", "--arch", "vgg16", "--data", str(data / "train.txt"),
                        "--root", DATA, "--output", str(tmp_path / "m")], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "vgg16" in r.stderr
    r = subprocess.run([mlic, "train", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--freeze-backbone" in r.stdout


@pytest.mark.parametrize("arch", ["resnet18", "resnet50", "mobilenet_v2"])
def test_init_matches_torchvision_statistics(tmp_path, arch):
    """From-scratch weights have torchvision's distributions (not its numbers: other generator)."""
    batch = {"input": np.zeros((2, 3, 32, 32), np.float32), "targets": np.zeros((2, 4), np.float32)}
    st.save(str(tmp_path / "b.safetensors"), batch)
    r = subprocess.run([TOOL, arch, "-", str(tmp_path / "b.safetensors"),
                        str(tmp_path / "o.safetensors"), "init=5", "eval=1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got = st.load(str(tmp_path / "o.safetensors"))[0]
    torch.manual_seed(0)
    want = st.state_dict_numpy(getattr(torchvision.models, arch)(num_classes=4))
    for k, w in want.items():
        if k.endswith("num_batches_tracked"):
            continue
        g = got[k]
        if np.all(w == w.flat[0]):  # norms, running statistics, zero biases
            np.testing.assert_array_equal(g, w, err_msg=k)
            continue
        if w.size < 256:  # the head's bias: nn.Linear's uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))
            fan_in = want[k.replace("bias", "weight")].shape[1]
            assert np.abs(g).max() <= 1 / np.sqrt(fan_in) and g.std() > 0, k
            continue
        assert abs(g.std() - w.std()) < 0.1 * w.std(), (k, g.std(), w.std())
        assert abs(g.mean()) < 0.1 * w.std() + 1e-6, k


def test_conv_option_direct(mlic, data, straight, tmp_path):
    """--conv direct runs the 3x3 convolutions without Winograd: other rounding (at 32 px a few
    steps amplify it into visibly different weights; test_train_onednn.py bounds the per-step
    difference), the same training."""
    d, _ = straight
    out = tmp_path / "m.safetensors"
    train(mlic, data, out, "--epochs", 2, "--conv", "direct", "--log", tmp_path / "log.jsonl")
    a, b = st.load(str(d / "m.safetensors"))[0], st.load(str(out))[0]
    w = "layer1.0.conv1.weight"  # 3x3 stride 1: Winograd by default
    assert not np.array_equal(a[w], b[w])
    la, lb = load_log(d / "log.jsonl"), load_log(tmp_path / "log.jsonl")
    assert abs(la[0]["train_loss"] - lb[0]["train_loss"]) < 0.02 * la[0]["train_loss"]
    assert lb[1]["train_loss"] < lb[0]["train_loss"]
    r = train(mlic, data, tmp_path / "x.safetensors", "--conv", "fast", check=False)
    assert r.returncode == 2 and "--conv" in r.stderr
