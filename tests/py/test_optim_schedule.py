"""Learning-rate schedules (src/train/schedule.c) against torch.optim.lr_scheduler."""
import os
import subprocess
import warnings

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as S

from conftest import BUILD

TOOL = os.path.join(BUILD, "tests", "tool_optim")


def ours(kind, steps, **opts):
    args = [TOOL, "schedule", kind, str(steps)] + [f"{k}={v!r}" for k, v in opts.items()]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()
    vals = np.array([float(v) for v in out]).reshape(steps, 2)
    return vals[:, 0], vals[:, 1]


def torch_values(make, steps, lr, momentum=None):
    """lr (and momentum) of each step: read before the step, then scheduler.step()."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=0.9)
    sched = make(opt)
    lrs, moms = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()"
        for _ in range(steps):
            lrs.append(opt.param_groups[0]["lr"])
            moms.append(opt.param_groups[0]["momentum"])
            opt.step()
            sched.step()
    return np.array(lrs), np.array(moms)


def test_step():
    got, mom = ours("step", 40, lr=0.1, step_size=7, gamma=0.5)
    ref, _ = torch_values(lambda o: S.StepLR(o, step_size=7, gamma=0.5), 40, 0.1)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert np.all(mom == -1)


def test_cosine():
    got, _ = ours("cosine", 50, lr=0.2, total=50, min_lr=1e-3)
    ref, _ = torch_values(lambda o: S.CosineAnnealingLR(o, T_max=50, eta_min=1e-3), 50, 0.2)
    np.testing.assert_allclose(got, ref, rtol=1e-9)
    # Held at min_lr past the end instead of rising again as torch's periodic form does.
    beyond, _ = ours("cosine", 60, lr=0.2, total=50, min_lr=1e-3)
    np.testing.assert_allclose(beyond[50:], 1e-3, rtol=1e-12)


@pytest.mark.parametrize("total,opts", [
    (100, {}),
    (37, {"pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0}),
    (20, {"base_momentum": 0.8, "max_momentum": 0.9}),
])
def test_onecycle(total, opts):
    got, mom = ours("onecycle", total, lr=0.5, total=total, **opts)
    ref, ref_mom = torch_values(
        lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=total, **opts), total, 0.5)
    np.testing.assert_allclose(got, ref, rtol=1e-9)
    np.testing.assert_allclose(mom, ref_mom, rtol=1e-9)


def test_warmup_is_the_recipes_lambda_lr():
    """mlic train's --warmup-epochs with cosine is the warm-up PyTorch recipes write (the script
    behind issue 11's Corel-5k numbers): LambdaLR with (s + 1) / W, then cosine over the rest."""
    total, warmup, lr = 60, 12, 1e-3
    got, _ = ours("cosine", total, lr=lr, total=total, warmup=warmup)
    ref, _ = torch_values(lambda o: S.LambdaLR(o, lambda s: (s + 1) / warmup if s < warmup else
                                               0.5 * (1 + np.cos(np.pi * (s - warmup) /
                                                                 (total - warmup)))), total, lr)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert got[0] == pytest.approx(lr / warmup) and got[warmup - 1] == got[warmup] == lr


@pytest.mark.parametrize("kind,main,opts", [
    ("step", lambda o, t: S.StepLR(o, step_size=4, gamma=0.3), {"step_size": 4, "gamma": 0.3}),
    ("cosine", lambda o, t: S.CosineAnnealingLR(o, T_max=t, eta_min=0.01), {"min_lr": 0.01}),
    ("constant", lambda o, t: S.ConstantLR(o, factor=1.0, total_iters=0), {}),
])
def test_warmup_from_a_factor_as_sequential_lr(kind, main, opts):
    """A warm-up from factor f reaches the main schedule's start at its last step: LinearLR from
    f + (1 - f) / W over W - 1 steps, then the main schedule from step W."""
    total, warmup, factor = 30, 5, 0.1
    got, _ = ours(kind, total, lr=0.2, total=total, warmup=warmup, warmup_factor=factor, **opts)
    ref, _ = torch_values(lambda o: S.SequentialLR(o, [
        S.LinearLR(o, start_factor=factor + (1 - factor) / warmup, total_iters=warmup - 1),
        main(o, total - warmup)], milestones=[warmup]), total, 0.2)
    np.testing.assert_allclose(got, ref, rtol=1e-9)


def test_onecycle_after_warmup():
    """Warm-up scales OneCycleLR's starting lr; OneCycleLR then runs over the remaining steps."""
    total, warmup = 40, 6
    got, mom = ours("onecycle", total, lr=0.5, total=total, warmup=warmup, warmup_factor=0.2)
    ref, ref_mom = torch_values(lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=total - warmup),
                                total - warmup, 0.5)
    np.testing.assert_allclose(got[warmup:], ref, rtol=1e-9)
    np.testing.assert_allclose(mom[warmup:], ref_mom, rtol=1e-9)
    start = ref[0]
    np.testing.assert_allclose(got[:warmup],
                               start * (0.2 + 0.8 * np.arange(1, warmup + 1) / warmup), rtol=1e-12)
    np.testing.assert_allclose(mom[:warmup], ref_mom[0], rtol=1e-12)


@pytest.mark.parametrize("kind,opts,msg", [
    ("cosine", {"total": 5, "warmup": 5}, "total steps > warm-up steps"),
    ("step", {"step_size": 0}, "step_size > 0"),
    ("onecycle", {"total": 3}, "pct_start * steps > 1"),
])
def test_bad_config(kind, opts, msg):
    with pytest.raises(subprocess.CalledProcessError) as e:
        ours(kind, 3, **opts)
    assert msg in e.value.stderr
