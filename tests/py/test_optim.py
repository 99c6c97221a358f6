"""Optimizers over flat buffers (src/train/optim.c) against torch.optim.SGD / AdamW and
torch.nn.utils.clip_grad_norm_, fed the same weights and gradients for several steps."""
import os
import subprocess

import numpy as np
import pytest
import torch

from conftest import BUILD

TOOL = os.path.join(BUILD, "tests", "tool_optim")
NO_DECAY, DECAY, FROZEN = 0, 1, 2
F32 = lambda v: float(np.float32(v))  # the tool parses its options as float32


def problem(seed, n=300, steps=6, grad_scale=1.0):
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal(n).astype(np.float32)
    grads = (rng.standard_normal((steps, n)) * grad_scale).astype(np.float32)
    roles = np.full(n, DECAY, dtype=np.uint8)
    roles[40:70] = NO_DECAY  # a bias
    roles[100:110] = FROZEN  # running statistics
    roles[200:230] = NO_DECAY
    return w0, grads, roles


def run_tool(tmp_path, w0, grads, roles, kind, lrs, **opts):
    steps, n = grads.shape
    paths = {name: str(tmp_path / name) for name in ("w0", "g", "r", "out")}
    w0.tofile(paths["w0"])
    grads.tofile(paths["g"])
    roles.tofile(paths["r"])
    args = [TOOL, str(n), str(steps), paths["w0"], paths["g"], paths["r"], paths["out"], kind,
            "lr=" + ",".join(repr(float(v)) for v in lrs)]
    args += [f"{k}={v}" for k, v in opts.items()]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    norms = [float(v) for v in out.stdout.split()]
    return np.fromfile(paths["out"], dtype=np.float32).reshape(steps, n), norms


def run_torch(w0, grads, roles, kind, lrs, wd=None, clip=0.0, momenta=None, **opts):
    """The same problem with the decayed and undecayed elements as two parameter groups."""
    if wd is None:  # PyTorch's defaults, which the tool's defaults must equal
        wd = 0.0 if kind == "sgd" else 0.01
    idx = {r: np.flatnonzero(roles == r) for r in (DECAY, NO_DECAY)}
    params = {r: torch.tensor(w0[i], requires_grad=True) for r, i in idx.items()}
    groups = [{"params": [params[DECAY]], "weight_decay": F32(wd)},
              {"params": [params[NO_DECAY]], "weight_decay": 0.0}]
    if kind == "sgd":
        opt = torch.optim.SGD(groups, lr=lrs[0], momentum=F32(opts.get("momentum", 0.0)),
                              dampening=F32(opts.get("dampening", 0.0)),
                              nesterov=bool(opts.get("nesterov", 0)))
    else:
        opt = torch.optim.AdamW(groups, lr=lrs[0], betas=(F32(opts.get("beta1", 0.9)),
                                F32(opts.get("beta2", 0.999))), eps=F32(opts.get("eps", 1e-8)))
    history, norms = [], []
    for s, g in enumerate(grads):
        for r, p in params.items():
            p.grad = torch.tensor(g[idx[r]])
        if clip:
            norms.append(float(torch.nn.utils.clip_grad_norm_(list(params.values()), F32(clip))))
        for group in opt.param_groups:
            group["lr"] = lrs[min(s, len(lrs) - 1)]
            if momenta is not None:
                m = F32(momenta[min(s, len(momenta) - 1)])
                if kind == "sgd":
                    group["momentum"] = m
                else:
                    group["betas"] = (m, group["betas"][1])
        opt.step()
        w = w0.copy()
        for r, p in params.items():
            w[idx[r]] = p.detach().numpy()
        history.append(w)
    return np.stack(history), norms


def compare(tmp_path, kind, lrs, seed=0, grad_scale=1.0, **opts):
    w0, grads, roles = problem(seed, grad_scale=grad_scale)
    tool_opts = dict(opts)
    if "momenta" in tool_opts:
        tool_opts["momenta"] = ",".join(repr(float(v)) for v in opts["momenta"])
    ours, norms = run_tool(tmp_path, w0, grads, roles, kind, lrs, **tool_opts)
    ref, ref_norms = run_torch(w0, grads, roles, kind, lrs, **opts)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)
    frozen = roles == FROZEN
    assert np.array_equal(ours[:, frozen], np.broadcast_to(w0[frozen], ours[:, frozen].shape))
    expected_norms = np.sqrt((grads[:, ~frozen].astype(np.float64) ** 2).sum(1))
    np.testing.assert_allclose(norms, expected_norms, rtol=1e-6)
    if ref_norms:
        np.testing.assert_allclose(norms, ref_norms, rtol=1e-5)
    return ours


LRS = [0.1, 0.05, 0.08, 0.02, 0.1, 0.03]


@pytest.mark.parametrize("opts", [
    {},
    {"momentum": 0.9},
    {"momentum": 0.9, "wd": 1e-2},
    {"momentum": 0.9, "nesterov": 1, "wd": 5e-3},
    {"momentum": 0.5, "dampening": 0.3, "wd": 1e-3},
    {"wd": 0.1},
])
def test_sgd(tmp_path, opts):
    compare(tmp_path, "sgd", LRS, **opts)


@pytest.mark.parametrize("opts", [
    {},
    {"wd": 0.05},
    {"wd": 0.0},
    {"beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "wd": 0.3},
])
def test_adamw(tmp_path, opts):
    compare(tmp_path, "adamw", [1e-3, 2e-3, 5e-3, 1e-2, 3e-3, 1e-3], **opts)


@pytest.mark.parametrize("kind,opts", [
    ("sgd", {"momentum": 0.9, "wd": 1e-3}),
    ("adamw", {"wd": 0.05}),
])
def test_clip_grad_norm(tmp_path, kind, opts):
    # Gradient norms of ~170: clipping to 5 is active on every step; to 1e6 it never is.
    compare(tmp_path, kind, LRS, grad_scale=10.0, clip=5.0, **opts)
    compare(tmp_path, kind, LRS, grad_scale=10.0, clip=1e6, **opts)


@pytest.mark.parametrize("kind,opts", [
    ("sgd", {"momentum": 0.9, "nesterov": 1, "wd": 1e-3}),
    ("adamw", {"wd": 0.05}),
])
def test_resume_from_state(tmp_path, kind, opts):
    w0, grads, roles = problem(3)
    straight, _ = run_tool(tmp_path, w0, grads, roles, kind, LRS, **opts)
    resumed, _ = run_tool(tmp_path, w0, grads, roles, kind, LRS, restart_at=3, **opts)
    np.testing.assert_array_equal(straight, resumed)


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_momentum_cycling(tmp_path, kind):
    """One-cycle varies SGD's momentum / AdamW's beta1 between steps."""
    momenta = [0.95, 0.93, 0.9, 0.87, 0.85, 0.9]
    opts = {"momentum": 0.9} if kind == "sgd" else {}
    compare(tmp_path, kind, LRS if kind == "sgd" else [1e-3] * 6, momenta=momenta, **opts)


def test_non_finite_gradient_refused(tmp_path):
    w0, grads, roles = problem(4, steps=2)
    grads[1, 5] = np.inf
    with pytest.raises(subprocess.CalledProcessError) as e:
        run_tool(tmp_path, w0, grads, roles, "sgd", [0.1])
    assert "step 2" in e.value.stderr and "infinite" in e.value.stderr
