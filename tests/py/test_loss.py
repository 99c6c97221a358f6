"""Losses on logits (src/train/loss.c) against PyTorch autograd in float64: BCEWithLogitsLoss,
torchvision's sigmoid_focal_loss and the official ASL AsymmetricLoss formula."""
import os
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

from conftest import BUILD

TOOL = os.path.join(BUILD, "tests", "tool_loss")


def run_tool(tmp_path, logits, targets, kind, **opts):
    n, k = logits.shape
    lp, tp, gp = (str(tmp_path / name) for name in ("x.f32", "t.f32", "g.f32"))
    logits.astype(np.float32).tofile(lp)
    targets.astype(np.float32).tofile(tp)
    args = [TOOL, str(n), str(k), lp, tp, gp, kind]
    for key, val in opts.items():
        if key == "pos_weight":
            pw = str(tmp_path / "pw.f32")
            val.astype(np.float32).tofile(pw)
            val = pw
        args.append(f"{key}={val}")
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return float(out.stdout), np.fromfile(gp, dtype=np.float32).reshape(n, k)


def asl_official(x, y, gamma_neg=4.0, gamma_pos=1.0, clip=0.05, eps=1e-8, detach=False):
    """The official Alibaba-MIIL/ASL AsymmetricLoss.forward, unreduced."""
    xs_pos = torch.sigmoid(x)
    xs_neg = 1 - xs_pos
    if clip is not None and clip > 0:
        xs_neg = (xs_neg + clip).clamp(max=1)
    loss = y * torch.log(xs_pos.clamp(min=eps)) + (1 - y) * torch.log(xs_neg.clamp(min=eps))
    if gamma_neg > 0 or gamma_pos > 0:
        with torch.set_grad_enabled(not detach):
            pt = xs_pos * y + xs_neg * (1 - y)
            w = torch.pow(1 - pt, gamma_pos * y + gamma_neg * (1 - y))
        loss = loss * w
    return -loss


def reference(logits, targets, kind, reduction="default", **o):
    x = torch.tensor(logits.astype(np.float32), dtype=torch.float64, requires_grad=True)
    y = torch.tensor(targets.astype(np.float32), dtype=torch.float64)
    if kind == "bce":
        pw = o.get("pos_weight")
        pw = None if pw is None else torch.tensor(pw.astype(np.float32), dtype=torch.float64)
        elem = F.binary_cross_entropy_with_logits(x, y, pos_weight=pw, reduction="none")
    elif kind == "focal":
        elem = sigmoid_focal_loss(x, y, alpha=o.get("alpha", 0.25), gamma=o.get("gamma", 2.0),
                                  reduction="none")
    else:
        elem = asl_official(x, y, o.get("gamma_neg", 4.0), o.get("gamma_pos", 1.0),
                            o.get("clip", 0.05), o.get("eps", 1e-8), bool(o.get("detach_weight", 0)))
    n, k = logits.shape
    if reduction == "default":
        reduction = "batch_mean" if kind == "asl" else "mean"
    div = {"mean": n * k, "batch_mean": n, "sum": 1}[reduction]
    loss = elem.sum() / div
    loss.backward()
    return loss.item(), x.grad.numpy()


def check(tmp_path, logits, targets, kind, reduction="default", **opts):
    tool_opts = dict(opts, reduction=reduction)
    loss, grad = run_tool(tmp_path, logits, targets, kind, **tool_opts)
    ref_loss, ref_grad = reference(logits, targets, kind, reduction, **opts)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert loss == pytest.approx(ref_loss, rel=1e-5, abs=1e-12)
    # Per element: 1e-5 relative, with an absolute floor far below the largest gradient for the
    # elements the reference itself computes with cancellation (1 - sigmoid(30) in float64).
    atol = 1e-5 * np.abs(ref_grad).max() * 1e-2 + 1e-30
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=atol)


def data(seed, n=16, k=10, scale=3.0):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, k)) * scale).astype(np.float32)
    targets = (rng.random((n, k)) < 0.3).astype(np.float32)
    return logits, targets


def edge_cases():
    """All-negative rows, all-positive rows and extreme logits in one batch."""
    rng = np.random.default_rng(7)
    extremes = np.array([100, -100, 1e4, -1e4, 30, -30, 0, 17], dtype=np.float32)
    logits = np.stack([rng.permutation(extremes) for _ in range(8)]).astype(np.float32)
    targets = (rng.random(logits.shape) < 0.5).astype(np.float32)
    targets[0] = 0
    targets[1] = 1
    targets[2:, 0] = 1
    targets[2:, 1] = 0
    return logits, targets


CASES = [
    ("bce", {}),
    ("focal", {}),
    ("focal", {"gamma": 0.0, "alpha": -1}),
    ("focal", {"gamma": 1.5, "alpha": 0.7}),
    ("asl", {}),
    ("asl", {"gamma_neg": 2.0, "gamma_pos": 0.0, "clip": 0.0}),
    ("asl", {"gamma_neg": 0.0, "gamma_pos": 0.0, "clip": 0.1}),
    ("asl", {"detach_weight": 1}),
]


@pytest.mark.parametrize("kind,opts", CASES)
def test_random(tmp_path, kind, opts):
    logits, targets = data(1)
    check(tmp_path, logits, targets, kind, **opts)


@pytest.mark.parametrize("kind,opts", CASES)
def test_extremes_and_constant_rows(tmp_path, kind, opts):
    logits, targets = edge_cases()
    check(tmp_path, logits, targets, kind, **opts)


def test_bce_pos_weight(tmp_path):
    logits, targets = data(2)
    pw = np.random.default_rng(3).uniform(0.2, 5.0, logits.shape[1]).astype(np.float32)
    check(tmp_path, logits, targets, "bce", pos_weight=pw)
    logits, targets = edge_cases()
    check(tmp_path, logits, targets, "bce", pos_weight=pw[: logits.shape[1]])


@pytest.mark.parametrize("reduction", ["mean", "batch_mean", "sum"])
@pytest.mark.parametrize("kind", ["bce", "focal", "asl"])
def test_reductions(tmp_path, kind, reduction):
    logits, targets = data(4, n=5, k=3)
    check(tmp_path, logits, targets, kind, reduction)


def test_soft_targets(tmp_path):
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((6, 4)).astype(np.float32) * 4
    targets = rng.random((6, 4)).astype(np.float32)
    check(tmp_path, logits, targets, "bce")
    check(tmp_path, logits, targets, "focal")
    check(tmp_path, logits, targets, "asl")
    # mixup's and CutMix's targets (train/mix.h): shares of two multi-hot rows
    lam = np.float64(0.3)
    hot = (rng.random((6, 4)) < 0.5).astype(np.float64)
    mixed = (lam * hot + (1 - lam) * hot[::-1]).astype(np.float32)
    for kind in ("bce", "asl"):
        check(tmp_path, logits, mixed, kind)


def test_rejects_bad_input(tmp_path):
    logits, targets = data(6, n=2, k=3)
    logits[1, 2] = np.nan
    with pytest.raises(subprocess.CalledProcessError) as e:
        run_tool(tmp_path, logits, targets, "bce")
    assert "logit (1, 2)" in e.value.stderr
    logits, targets = data(6, n=2, k=3)
    targets[0, 1] = 2
    with pytest.raises(subprocess.CalledProcessError) as e:
        run_tool(tmp_path, logits, targets, "asl")
    assert "target (0, 1)" in e.value.stderr
