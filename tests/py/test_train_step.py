"""The training executor (src/train/train_graph.c) against PyTorch autograd.

For each arch, the same weights (torchvision's init with randomised batch-norm parameters and
running statistics) and the same batch go through tests/c/tool_train_step (float32) and through
torchvision's model in train mode (float64, the oracle): the loss, the logits, EVERY parameter's
gradient and the running statistics after the step must agree, for BCEWithLogitsLoss and for the
official ASL formula. MobileNetV2's dropout uses the mask the executor drew. Then a few SGD
(momentum, nesterov, weight decay) and AdamW steps must leave the same weights as torch.optim."""
import os
import copy
import subprocess

import numpy as np
import pytest
import torch
import torchvision

import st
from conftest import ROOT
from test_loss import asl_official

TOOL = os.path.join(ROOT, "build", "tests", "tool_train_step")
K = 5
RESIDUAL_GAMMA = 0.2

# arch -> (batch, size). Batch norm needs a few values per channel in layer4: with 1x1 maps and
# a batch of 2, its input gradient is zero in exact arithmetic and float32 noise otherwise.
CASES = {
    "resnet18": (3, 64),
    "resnet34": (2, 48),
    "resnet50": (2, 64),
    "resnet101": (2, 64),
    "mobilenet_v2": (3, 64),
}


class MaskDropout(torch.nn.Module):
    """Dropout with given masks (one per call), scaled as torch's inverted dropout."""

    def __init__(self, p, masks):
        super().__init__()
        self.p, self.masks, self.calls = p, masks, 0

    def forward(self, x):
        m = self.masks[self.calls]
        self.calls += 1
        return x * torch.tensor(m.reshape(x.shape), dtype=x.dtype) / (1 - self.p)


def make_model(arch, seed):
    torch.manual_seed(seed)
    model = getattr(torchvision.models, arch)(num_classes=K)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                c = mod.num_features
                mod.weight.copy_(1 + 0.2 * torch.randn(c, generator=g))
                mod.bias.copy_(0.1 * torch.randn(c, generator=g))
                mod.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                mod.running_var.copy_(1 + 0.3 * torch.rand(c, generator=g))
            if isinstance(mod, torch.nn.Linear):
                mod.bias.copy_(0.1 * torch.randn(mod.out_features, generator=g))
        # Damp each residual branch's last batch norm, as zero_init_residual does, so the deep
        # nets are well conditioned (at torchvision's plain init, batch-norm nets amplify
        # rounding errors with depth and float32 PyTorch itself misses float64 by percents).
        for name, mod in model.named_modules():
            last_bn = getattr(mod, "bn3", None) or getattr(mod, "bn2", None)
            if isinstance(mod, torchvision.models.resnet.BasicBlock) or \
                    isinstance(mod, torchvision.models.resnet.Bottleneck):
                last_bn.weight.mul_(RESIDUAL_GAMMA)
            if isinstance(mod, torchvision.models.mobilenetv2.InvertedResidual) and \
                    mod.use_res_connect:
                mod.conv[-1].weight.mul_(RESIDUAL_GAMMA)
    return model


def make_batch(n, size, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3, size, size)).astype(np.float32)
    y = (rng.random((n, K)) < 0.4).astype(np.float32)
    y[0, :] = 0
    y[0, 1] = 1
    return x, y


def run_tool(tmp_path, arch, model, x, y, **opts):
    assert os.path.exists(TOOL), "build/tests/tool_train_step is missing: run make first"
    w, b, o = (str(tmp_path / n) for n in ("w.safetensors", "b.safetensors", "o.safetensors"))
    st.save(w, st.state_dict_numpy(model))
    st.save(b, {"input": x, "targets": y})
    args = [TOOL, arch, w, b, o] + ["%s=%s" % kv for kv in opts.items()]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return st.load(o)[0]


def loss_fn(kind):
    if kind == "bce":
        return torch.nn.BCEWithLogitsLoss()
    return lambda x, y: asl_official(x, y).sum() / x.shape[0]


def torch_steps(model, x, y, kind, masks=None, steps=1, optim=None, dtype=torch.float64, **o):
    """Train-mode steps on a copy of model in dtype; returns (losses, logits of the first step,
    gradients of the first step, the state dict after the last step), as numpy float64."""
    model = copy.deepcopy(model).to(dtype).train()
    if masks is not None:
        model.classifier[0] = MaskDropout(model.classifier[0].p, masks)
    xt, yt = torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype)
    opt = None
    if optim is not None:
        decay = [p for p in model.parameters() if p.ndim > 1]
        no_decay = [p for p in model.parameters() if p.ndim <= 1]
        groups = [{"params": decay, "weight_decay": o["wd"]},
                  {"params": no_decay, "weight_decay": 0.0}]
        if optim == "sgd":
            opt = torch.optim.SGD(groups, lr=o["lr"], momentum=o["momentum"],
                                  nesterov=bool(o["nesterov"]))
        else:
            opt = torch.optim.AdamW(groups, lr=o["lr"], eps=o["eps"])
    f64 = lambda t: t.detach().double().numpy().copy()
    losses, logits0, grads0 = [], None, None
    for s in range(steps):
        model.zero_grad()
        logits = model(xt)
        loss = loss_fn(kind)(logits, yt)
        loss.backward()
        losses.append(loss.item())
        if s == 0:
            logits0 = f64(logits)
            grads0 = {n: f64(p.grad) for n, p in model.named_parameters()}
        if opt is not None:
            opt.step()
    state = {n: f64(v) for n, v in model.state_dict().items() if not n.endswith("batches_tracked")}
    return losses, logits0, grads0, state


def oracles(*args, **kw):
    """PyTorch in float64 (the answer) and in float32 (how far float32 rounding alone gets)."""
    return (torch_steps(*args, dtype=torch.float64, **kw),
            torch_steps(*args, dtype=torch.float32, **kw))


def check_tensors(got, want64, want32, what):
    """Each tensor of got within 2e-3 of its own scale (plus 2e-5 of the largest across all, for
    values that are zero in exact arithmetic) of float64 PyTorch, or within twice float32
    PyTorch's own distance: at random init batch-norm networks amplify rounding with depth, and
    both float32 computations then miss the float64 answer alike."""
    gmax = max(float(np.abs(v).max()) for v in want64.values())
    assert set(got) == set(want64), what
    for name, want in want64.items():
        g = np.asarray(got[name], np.float64).reshape(want.shape)
        scale = float(np.abs(want).max())
        err, err32 = float(np.abs(g - want).max()), float(np.abs(want32[name] - want).max())
        tol = 2e-3 * scale + 2e-5 * gmax + 2 * err32
        assert err <= tol, "%s %s: max error %g > %g (scale %g, float32 torch %g)" % (
            what, name, err, tol, scale, err32)


def assert_near(got, want, what, tol):
    want = np.asarray(want, np.float64)
    err = float(np.abs(np.asarray(got, np.float64).reshape(want.shape) - want).max())
    assert err <= tol * float(np.abs(want).max()), "%s: max error %g" % (what, err)


def masks_of(out, steps):
    keys = sorted(k for k in out if k.startswith("mask."))
    return [out["mask.classifier.0.%d" % s] for s in range(steps)] if keys else None


# every graph with BCE; ASL (whose gradient differs) on one resnet and on mobilenet_v2
@pytest.mark.parametrize("arch,kind", [(a, "bce") for a in CASES] +
                         [("resnet18", "asl"), ("mobilenet_v2", "asl")])
def test_gradients_match_torch(tmp_path, arch, kind):
    n, size = CASES[arch]
    model = make_model(arch, 7)
    x, y = make_batch(n, size, 11)
    out = run_tool(tmp_path, arch, model, x, y, loss=kind, threads=1)
    masks = masks_of(out, 1)
    if arch == "mobilenet_v2":
        assert masks is not None and 0 < masks[0].mean() < 1
    (losses, logits, grads, state), (_, logits32, grads32, state32) = oracles(model, x, y, kind,
                                                                              masks)
    assert abs(out["loss"][0] - losses[0]) <= 1e-5 * max(1.0, abs(losses[0]))
    check_tensors({"logits": out["logits"]}, {"logits": logits}, {"logits": logits32}, "forward")
    check_tensors({k[5:]: v for k, v in out.items() if k.startswith("grad.")}, grads, grads32,
                  "gradient of")
    running = lambda d: {k: v for k, v in d.items() if "running" in k}
    check_tensors(running(out), running(state), running(state32), "after the step,")


# AdamW on mobilenet_v2 is left out: its first step moves every weight by about lr, whatever the
# gradient's size, so weights whose gradient is zero up to rounding (a batch norm's bias before
# a convolution and another batch norm) move in a random direction, and float32 PyTorch itself
# then misses float64 by 0.2% at the second step. test_optim.py checks AdamW itself.
@pytest.mark.parametrize("arch,optim", [("resnet18", "sgd"), ("mobilenet_v2", "sgd"),
                                        ("resnet18", "adamw")])
def test_optimizer_steps_match_torch(tmp_path, arch, optim):
    n, size = CASES[arch]
    model = make_model(arch, 3)
    x, y = make_batch(n, size, 5)
    # Small learning rates: three large steps on a batch of 2 or 3 move batch-norm networks far
    # enough that float32 rounding alone shifts the third loss by 0.1%. AdamW's eps is large
    # because Adam turns a gradient that is zero up to rounding into a full-size step of random
    # sign.
    o = {"lr": 0.01, "momentum": 0.9, "nesterov": 1, "wd": 1e-3} if optim == "sgd" else \
        {"lr": 1e-3, "wd": 0.01, "eps": 1e-3}
    w0 = {k: v.copy() for k, v in st.state_dict_numpy(model).items()}
    out = run_tool(tmp_path, arch, model, x, y, optim=optim, steps=3, threads=1, **o)
    f32 = {k: float(np.float32(v)) for k, v in o.items()}
    (losses, _, _, state), (losses32, _, _, state32) = oracles(model, x, y, "bce", masks_of(out, 3),
                                                        steps=3, optim=optim, **f32)
    err, err32 = np.abs(out["loss"] - losses), np.abs(np.array(losses32) - losses)
    assert (err <= 1e-5 + 2 * err32).all(), (out["loss"], losses, losses32)
    # compare what the steps changed, so the check is as strict on small updates
    delta = lambda d: {k: d[k] - w0[k] for k in state}
    check_tensors(delta(out), delta(state), delta(state32), "update of")


def test_freeze_backbone_only_the_head_learns(tmp_path):
    """--freeze-backbone: only the head gets gradients (as torch with requires_grad=False on the
    rest and the backbone's batch norms in eval mode); running statistics stay."""
    n, size = CASES["resnet18"]
    model = make_model("resnet18", 4)
    x, y = make_batch(n, size, 6)
    out = run_tool(tmp_path, "resnet18", model, x, y, freeze=1, optim="sgd", lr=0.1, threads=1)
    assert sorted(k for k in out if k.startswith("grad.")) == ["grad.fc.bias", "grad.fc.weight"]
    m = model.double()
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    m.fc.weight.requires_grad_(True)
    m.fc.bias.requires_grad_(True)
    logits = m(torch.tensor(x, dtype=torch.float64))
    loss = torch.nn.BCEWithLogitsLoss()(logits, torch.tensor(y, dtype=torch.float64))
    loss.backward()
    assert_near(out["grad.fc.weight"], m.fc.weight.grad.numpy(), "fc.weight grad", 1e-4)
    assert_near(out["grad.fc.bias"], m.fc.bias.grad.numpy(), "fc.bias grad", 1e-4)
    sd = st.state_dict_numpy(model)
    for name in sd:
        if not name.startswith("fc.") and not name.endswith("num_batches_tracked"):
            np.testing.assert_array_equal(out[name], sd[name].astype(np.float32), err_msg=name)


def test_eval_forward_matches_torch_eval(tmp_path):
    n, size = CASES["mobilenet_v2"]
    model = make_model("mobilenet_v2", 9)
    x, y = make_batch(n, size, 2)
    out = run_tool(tmp_path, "mobilenet_v2", model, x, y, eval=1)
    with torch.no_grad():
        want = model.double().eval()(torch.tensor(x, dtype=torch.float64)).numpy()
    assert_near(out["logits"], want, "eval logits", 1e-4)
    sd = st.state_dict_numpy(model)
    np.testing.assert_array_equal(out["features.1.conv.2.running_mean"],
                                  sd["features.1.conv.2.running_mean"])


def test_threads_do_not_change_results(tmp_path):
    n, size = CASES["mobilenet_v2"]
    model = make_model("mobilenet_v2", 1)
    x, y = make_batch(n, size, 1)
    a = run_tool(tmp_path, "mobilenet_v2", model, x, y, threads=1, optim="sgd", momentum=0.9)
    b = run_tool(tmp_path, "mobilenet_v2", model, x, y, threads=2, optim="sgd", momentum=0.9)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
