"""mlic train --ema, --mixup, --cutmix and --crop-scale end to end on a few apparel photos (resnet18 at 32x32,
one step an epoch): the moving average in the checkpoint after every step, and the model file
at the end, equal the average computed here in numpy from the raw weights each step left (read
from the checkpoints of a run stopped and resumed after every epoch), with the decay's warm-up;
that resumed run ends with the bytes of an uninterrupted one; validation scores, and the best
model holds, the average; mixing and the crop scale train, change the result and are settings a
resume must share (a checkpoint from before --crop-scale counts as torchvision's 0.08); bad values
are refused."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import torchvision

import st
from apparel import DATA, write_subset

BASE = ["--arch", "resnet18", "--crop", "32", "--batch-size", "16", "--threads", "1",
        "--workers", "1", "--seed", "3", "--lr", "0.05"]
DECAY = 0.2  # small, so that four steps reach it: the warm-up gives 0.1, 0.18, then 0.2
STEPS = 4

pytestmark = pytest.mark.skipif(not os.path.isdir(DATA), reason="apparel data set not present")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """16 training images (one batch: one step an epoch) and 25 validation images."""
    return write_subset(tmp_path_factory.mktemp("apparel_ema"),
                        (("train", 37, 16, 1), ("val", 10, 25, 3)))


def train(mlic, data, out, *extra, val=False, check=True):
    args = [mlic, "train", "--data", str(data / "train.txt"), "--classes",
            str(data / "classes.txt"), "--root", DATA, "--output", str(out)] + BASE
    if val:
        args += ["--val", str(data / "val.txt")]
    r = subprocess.run(args + [str(a) for a in extra], capture_output=True, text=True,
                       timeout=300)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def names():
    """The weights buffer's layout: torchvision's state-dict order, less the batch counters."""
    sd = torchvision.models.resnet18(num_classes=7).state_dict()
    return [(k, v.numel()) for k, v in sd.items() if not k.endswith("num_batches_tracked")]


def flat(tensors):
    return np.concatenate([tensors[k].reshape(-1) for k, _ in names()]).astype(np.float32)


def split(buf):
    out, at = {}, 0
    for k, n in names():
        out[k] = buf[at:at + n]
        at += n
    assert at == buf.size
    return out


@pytest.fixture(scope="module")
def start(mlic, data, tmp_path_factory):
    """Starting weights known here: a trained model that --pretrained loads whole (same
    classes: the head is kept), running statistics included."""
    out = tmp_path_factory.mktemp("start") / "p.safetensors"
    train(mlic, data, out, "--epochs", 1)
    return out


@pytest.fixture(scope="module")
def stepwise(mlic, data, start, tmp_path_factory):
    """A run stopped after every epoch (one step) and resumed; the checkpoint of each."""
    d = tmp_path_factory.mktemp("stepwise")
    out = d / "m.safetensors"
    ckpts = []
    for e in range(STEPS):
        extra = ["--pretrained", start, "--epochs", STEPS, "--ema", DECAY]
        if e < STEPS - 1:
            extra += ["--stop-after-epochs", 1]
        if e:
            extra += ["--resume"]
        train(mlic, data, out, *extra)
        ckpts.append(st.load(str(out) + ".ckpt"))
    return out, ckpts


def test_average_equals_the_reference_after_every_step(start, stepwise):
    out, ckpts = stepwise
    avg = flat(st.load(str(start))[0])
    for t, (tensors, meta) in enumerate(ckpts):
        assert json.loads(meta["mlic_checkpoint"])["step"] == t + 1
        d = min(float(np.float32(DECAY)), (1.0 + t) / (10.0 + t))
        raw = flat(tensors)
        avg = avg + np.float32(1.0 - d) * (raw - avg)
        got = tensors["ema.weights"]
        assert got.dtype == np.float32 and got.shape == avg.shape
        # The same float32 operations in the same order; allow one rounding of each value.
        np.testing.assert_allclose(got, avg, rtol=2 ** -23, atol=1e-30, err_msg=f"step {t + 1}")
        assert not np.array_equal(got, raw)
    # Without --val the model file is the last average (the checkpoint keeps the raw weights).
    model = st.load(str(out))[0]
    for k, v in split(ckpts[-1][0]["ema.weights"]).items():
        np.testing.assert_array_equal(model[k].reshape(-1), v, err_msg=k)
    assert not np.array_equal(model["fc.weight"], ckpts[-1][0]["fc.weight"])
    # The running statistics are averaged too (timm's ModelEmaV2), not copied.
    assert not np.array_equal(model["bn1.running_mean"], ckpts[-1][0]["bn1.running_mean"])


def test_resumed_run_has_the_bytes_of_an_uninterrupted_one(mlic, data, start, stepwise, tmp_path):
    out, _ = stepwise
    straight = tmp_path / "m.safetensors"
    train(mlic, data, straight, "--pretrained", start, "--epochs", STEPS, "--ema", DECAY)
    assert straight.read_bytes() == out.read_bytes()
    with open(str(out) + ".ckpt", "rb") as f:
        assert (tmp_path / "m.safetensors.ckpt").read_bytes() == f.read()


def test_validation_scores_and_saves_the_average(mlic, data, start, tmp_path):
    out = tmp_path / "v.safetensors"
    train(mlic, data, out, "--pretrained", start, "--epochs", 1, "--ema", DECAY, "--log",
          tmp_path / "log.jsonl", val=True)
    log = [json.loads(l) for l in open(tmp_path / "log.jsonl")]
    assert log[0]["best"] and log[-1]["best_epoch"] == 1
    ckpt = st.load(str(out) + ".ckpt")[0]
    model = st.load(str(out))[0]
    for k, v in split(ckpt["ema.weights"]).items():
        np.testing.assert_array_equal(model[k].reshape(-1), v, err_msg=k)
    # The epoch's mAP is the saved model's (mAP does not depend on the thresholds tuned after).
    r = subprocess.run([mlic, "eval", "--model", str(out), "--data", str(data / "val.txt"),
                        "--root", DATA, "--threads", "1", "--batch-size", "16", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert abs(json.loads(r.stdout)["mAP"] - log[0]["map"]) < 1e-6


def test_mixing_trains_and_is_a_resume_setting(mlic, data, start, tmp_path):
    plain, mixed = tmp_path / "plain.safetensors", tmp_path / "mixed.safetensors"
    train(mlic, data, plain, "--pretrained", start, "--epochs", 2)
    r = train(mlic, data, mixed, "--pretrained", start, "--epochs", 2, "--mixup", 0.4,
              "--cutmix", 1)
    assert "epoch 2/2 done" in r.stderr
    a, b = st.load(str(plain))[0], st.load(str(mixed))[0]
    assert not np.array_equal(a["conv1.weight"], b["conv1.weight"])
    config = json.loads(st.load(str(mixed) + ".ckpt")[1]["mlic_checkpoint"])["config"]
    assert config["mixup"] == pytest.approx(0.4) and config["cutmix"] == 1 and config["ema"] == 0
    shutil.copy(str(mixed) + ".ckpt", tmp_path / "again.safetensors.ckpt")
    r = train(mlic, data, tmp_path / "again.safetensors", "--pretrained", start, "--epochs", 3,
              "--mixup", 0.2, "--cutmix", 1, "--resume", check=False)
    assert r.returncode == 1 and "mixup" in r.stderr and "--resume" in r.stderr


def test_crop_scale_trains_and_is_a_resume_setting(mlic, data, start, tmp_path):
    plain, narrow = tmp_path / "plain.safetensors", tmp_path / "narrow.safetensors"
    train(mlic, data, plain, "--pretrained", start, "--epochs", 1)
    train(mlic, data, narrow, "--pretrained", start, "--epochs", 1, "--crop-scale", 0.5)
    a, b = st.load(str(plain))[0], st.load(str(narrow))[0]
    assert not np.array_equal(a["conv1.weight"], b["conv1.weight"])
    for path, want in ((plain, 0.08), (narrow, 0.5)):
        config = json.loads(st.load(str(path) + ".ckpt")[1]["mlic_checkpoint"])["config"]
        assert config["crop_scale"] == pytest.approx(want)
    shutil.copy(str(narrow) + ".ckpt", tmp_path / "again.safetensors.ckpt")
    r = train(mlic, data, tmp_path / "again.safetensors", "--pretrained", start, "--epochs", 2,
              "--crop-scale", 0.35, "--resume", check=False)
    assert r.returncode == 1 and "crop_scale" in r.stderr and "--resume" in r.stderr
    # A checkpoint written before the setting existed lacks it: its run cropped as torchvision.
    tensors, meta = st.load(str(plain) + ".ckpt")
    header = json.loads(meta["mlic_checkpoint"])
    del header["config"]["crop_scale"]
    meta["mlic_checkpoint"] = json.dumps(header)
    for name, extra, ok in (("old", [], True), ("old_narrow", ["--crop-scale", 0.5], False)):
        st.save(str(tmp_path / f"{name}.safetensors.ckpt"), tensors, meta)
        r = train(mlic, data, tmp_path / f"{name}.safetensors", "--pretrained", start, "--epochs", 2,
                  "--resume", *extra, check=False)
        assert (r.returncode == 0) == ok, r.stderr
        if not ok:
            assert "crop_scale" in r.stderr


@pytest.mark.parametrize("flag,value,want", [("--ema", "1", "--ema 1"),
                                             ("--ema", "-0.5", "--ema -0.5"),
                                             ("--mixup", "-1", "--mixup -1"),
                                             ("--cutmix", "nan", "--cutmix 'nan'"),
                                             ("--crop-scale", "0", "--crop-scale 0"),
                                             ("--crop-scale", "1.5", "--crop-scale 1.5")])
def test_bad_values_are_refused(mlic, data, tmp_path, flag, value, want):
    r = train(mlic, data, tmp_path / "x.safetensors", "--epochs", 1, flag, value, check=False)
    assert r.returncode in (1, 2) and want in r.stderr, r.stderr
    assert not (tmp_path / "x.safetensors").exists()


def test_help_lists_the_options(mlic):
    out = subprocess.run([mlic, "train", "--help"], capture_output=True, text=True).stdout
    for flag in ("--ema DECAY", "--mixup A", "--cutmix A", "--crop-scale F"):
        assert flag in out
