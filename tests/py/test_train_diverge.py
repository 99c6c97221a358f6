"""mlic train on mobilenet_v2 at --crop 32 --batch-size 2: the last batch norms see 1x1 maps, 2
values per channel, where each passes up to |gamma| / sqrt(eps) = 316x the gradient on (the
closed form is checked in tests/c/test_batchnorm_two_values.c). Such a run diverges in PyTorch
too (torchvision's mobilenet_v2, SGD lr 0.01: step 1 gradient norm 1.1e9, step 2 NaN), so the run
must stop with an error that says where and why, and clipping the gradient must let it train.

Whether the default settings diverge is chaotic: over 2 values a batch norm's output is the sign
of their difference, so rounding decides it (seed 0 diverges at step 2 with AVX-512 kernels and
trains with ONEDNN_MAX_CPU_ISA=AVX2). The error is checked on a run made to overflow by a margin
no rounding changes: --lr 1e30 turns the first step's gradient into weights of ~1e27 and more,
whose products overflow float in the second step's backward."""
import json
import math
import subprocess

import pytest

from dist_fixtures import write_train_images

ARGS = ["--arch", "mobilenet_v2", "--crop", "32", "--batch-size", "2", "--seed", "0",
        "--threads", "1", "--workers", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_train_images(str(tmp_path_factory.mktemp("diverge")), 8)


def train(mlic, data, out, *extra):
    return subprocess.run([mlic, "train", "--data", data, "--output", str(out)] + ARGS +
                          [str(a) for a in extra], capture_output=True, text=True, timeout=300)


def test_divergence_names_the_batch_norm_and_the_way_out(mlic, data, tmp_path):
    r = train(mlic, data, tmp_path / "m.safetensors", "--epochs", 1, "--lr", 1e30)
    assert r.returncode == 1, r.stderr
    err = r.stderr.strip().splitlines()[-1]
    assert "batch 2: the gradient is not finite" in err, err
    norm = float(err.split("the previous step's gradient norm ")[1].split(")")[0])
    assert math.isfinite(norm) and norm > 0, err  # step 1's, which trained
    assert "it first went non-finite at features." in err, err
    assert "features.18.1: 2 per channel (batch 2 x 1x1 map)" in err, err
    assert "316x |gamma| per layer" in err and "HINT: clip with --max-grad-norm" in err, err
    assert not (tmp_path / "m.safetensors").exists()


def test_clipped_gradient_trains(mlic, data, tmp_path):
    log = tmp_path / "log.jsonl"
    r = train(mlic, data, tmp_path / "m.safetensors", "--epochs", 2, "--max-grad-norm", 1,
              "--log", log)
    assert r.returncode == 0, r.stderr
    epochs = [e for e in map(json.loads, log.read_text().splitlines()) if "epoch" in e]
    assert len(epochs) == 2, epochs
    assert all(math.isfinite(e["train_loss"]) for e in epochs), epochs
    assert (tmp_path / "m.safetensors").stat().st_size > 0
