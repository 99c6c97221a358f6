"""The training executor (src/train/train_graph.c) against PyTorch autograd.

For each arch, the same weights (torchvision's init with randomised batch-norm parameters and
running statistics) and the same batch go through tests/c/tool_train_step (float32) and through
torchvision's model in train mode (float64, the oracle): the loss, the logits, EVERY parameter's
gradient and the running statistics after the step must agree, for BCEWithLogitsLoss and for the
official ASL formula. MobileNetV2's dropout uses the mask the executor drew. Then a few SGD
(momentum, nesterov, weight decay) and AdamW steps must each make the update torch.optim makes
from the same state."""
import copy
import os
import subprocess
import types

import numpy as np
import pytest
import torch
import torchvision

import st
from conftest import BUILD
from test_loss import asl_official

TOOL = os.path.join(BUILD, "tests", "tool_train_step")
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


def make_optimizer(model, optim, o):
    """torch.optim's counterpart of mlic's: weight decay on weights, none on biases and
    batch-norm parameters."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": o["wd"]},
              {"params": no_decay, "weight_decay": 0.0}]
    if optim == "sgd":
        return torch.optim.SGD(groups, lr=o["lr"], momentum=o["momentum"],
                               nesterov=bool(o["nesterov"]))
    return torch.optim.AdamW(groups, lr=o["lr"], eps=o["eps"])


def torch_copy(model, masks, dtype):
    """A train-mode copy of model in dtype, its dropout drawing the given masks."""
    model = copy.deepcopy(model).to(dtype).train()
    if masks is not None:
        model.classifier[0] = MaskDropout(model.classifier[0].p, masks)
    return model


def f64(t):
    return t.detach().double().numpy().copy()


class Kink(torch.autograd.Function):
    """ReLU / ReLU6 with torch's derivative (1 strictly inside (lo, hi), else 0), except at the
    elements rec.flip names, whose derivative is taken from the other side of the kink."""

    @staticmethod
    def forward(ctx, z, rec):
        ctx.save_for_backward(z)
        ctx.rec = rec
        return z.clamp(rec.lo, rec.hi)

    @staticmethod
    def backward(ctx, g):
        z, = ctx.saved_tensors
        d = (z > ctx.rec.lo) & (z < ctx.rec.hi)
        if ctx.rec.flip is not None:
            d = d ^ ctx.rec.flip
        return g * d, None


class RecordedKink(torch.nn.Module):
    def __init__(self, hi, log):
        super().__init__()
        self.hi, self.log = hi, log

    def forward(self, z):
        rec = types.SimpleNamespace(z=z.detach(), lo=0.0, hi=self.hi, flip=None)
        self.log.append(rec)
        return Kink.apply(z, rec)


class Oracle:
    """One train-mode forward and backward of PyTorch on a copy of model in dtype: loss, logits,
    gradients and the state after the step (running statistics updated), as numpy float64; and
    each ReLU's input, so that the gradients with one derivative flipped can be had later."""

    def __init__(self, model, x, y, kind, masks=None, dtype=torch.float64):
        self.model = torch_copy(model, masks, dtype)
        self.kinks = []
        for mod in list(self.model.modules()):
            for name, child in list(mod.named_children()):
                if type(child) in (torch.nn.ReLU, torch.nn.ReLU6):
                    hi = 6.0 if type(child) is torch.nn.ReLU6 else float("inf")
                    setattr(mod, name, RecordedKink(hi, self.kinks))
        logits = self.model(torch.tensor(x, dtype=dtype))
        self.loss_t = loss_fn(kind)(logits, torch.tensor(y, dtype=dtype))
        # float64 keeps its graph for flip_effect's further backward passes
        self.loss_t.backward(retain_graph=dtype == torch.float64)
        self.loss, self.logits = self.loss_t.item(), f64(logits)
        self.grads = {n: f64(p.grad) for n, p in self.model.named_parameters()}
        self.state = {n: f64(v) for n, v in self.model.state_dict().items()
                      if not n.endswith("batches_tracked")}

    def flip_effect(self, rec, index):
        """How the gradients change when the derivative at element index of rec.z flips."""
        flip = torch.zeros(rec.z.numel(), dtype=torch.bool)
        flip[index] = True
        rec.flip = flip.reshape(rec.z.shape)
        self.model.zero_grad()
        self.loss_t.backward(retain_graph=True)
        rec.flip = None
        return {n: f64(p.grad) - self.grads[n] for n, p in self.model.named_parameters()}


def oracles(*args, **kw):
    """PyTorch in float64 (the answer) and in float32 (how far float32 rounding alone gets)."""
    return Oracle(*args, dtype=torch.float64, **kw), Oracle(*args, dtype=torch.float32, **kw)


def tensor_errors(got, want64, want32):
    """Each tensor of got must be within 2e-3 of its own scale (plus 2e-5 of the largest across
    all, for values that are zero in exact arithmetic) of float64 PyTorch, or within twice
    float32 PyTorch's own distance: at random init batch-norm networks amplify rounding with
    depth, and both float32 computations then miss the float64 answer alike. Returns those that
    are not, as (name, error, bound, scale, float32 PyTorch's error)."""
    assert set(got) == set(want64)
    bad = []
    for name, tol in tensor_bounds(want64, want32).items():
        want = want64[name]
        err = float(np.abs(np.asarray(got[name], np.float64).reshape(want.shape) - want).max())
        if not err <= tol:
            bad.append((name, err, tol, float(np.abs(want).max()),
                        float(np.abs(want32[name] - want).max())))
    return bad


def tensor_bounds(want64, want32):
    gmax = max(float(np.abs(v).max()) for v in want64.values())
    return {n: 2e-3 * float(np.abs(w).max()) + 2e-5 * gmax + 2 * float(np.abs(want32[n] - w).max())
            for n, w in want64.items()}


def check_tensors(got, want64, want32, what):
    bad = tensor_errors(got, want64, want32)
    assert not bad, "; ".join("%s %s: max error %g > %g (scale %g, float32 torch %g)" % (
        (what,) + b) for b in bad)


# An activation closer to a kink than this many times float32 PyTorch's largest error over its
# layer's activations may land on either side in a float32 computation.
KINK_MARGIN = 4


def check_gradients(got, o64, o32, what):
    """Gradients against the oracle's, allowing for the activations that sit within float32
    rounding of a ReLU kink (0, or 6 for ReLU6). The derivative jumps there, so the side a
    float32 computation takes is decided by its last bits (a reduction's order, the vector
    width), and one element taken on the other side moves whole gradient tensors (measured on
    mobilenet_v2: 3.6% of a pointwise layer's largest gradient, from one element of the next
    ReLU6). So when the plain check fails, the ambiguous elements are found (closer to a kink
    than KINK_MARGIN times float32 PyTorch's largest error in that layer), the change each
    makes to the gradients when flipped is computed, and the flips that best explain the
    difference are chosen greedily (each at most once); the gradients with those flipped must
    then pass the plain check."""
    bad = tensor_errors(got, o64.grads, o32.grads)
    if not bad:
        return
    names = list(o64.grads)
    got = {n: np.asarray(got[n], np.float64).reshape(o64.grads[n].shape) for n in names}
    # The choice is made on the tensors that fail, each weighed by its bound so that it fits the
    # check's measure (and kept in float32: one vector per candidate); the final check then
    # takes every tensor.
    bounds = tensor_bounds(o64.grads, o32.grads)
    focus = [b[0] for b in bad]
    vec = lambda d: np.concatenate([d[n].ravel() / bounds[n] for n in focus]).astype(np.float32)
    candidates = []
    for rec, rec32 in zip(o64.kinks, o32.kinks):
        margin = KINK_MARGIN * float((rec.z - rec32.z.double()).abs().max())
        near = ((rec.z - rec.lo).abs() <= margin) | ((rec.z - rec.hi).abs() <= margin)
        candidates += [(rec, int(i)) for i in torch.nonzero(near.flatten()).flatten()]
    want, chosen = {n: o64.grads[n].copy() for n in names}, []
    if candidates:
        e = np.stack([vec(o64.flip_effect(rec, i)) for rec, i in candidates])
        gram = (e @ e.T).astype(np.float64)
        dots = (e @ vec({n: got[n] - want[n] for n in names})).astype(np.float64)
        while True:
            gain = 2 * (dots - gram[:, chosen].sum(1)) - np.diag(gram)
            gain[chosen] = -np.inf
            best = int(np.argmax(gain))
            if gain[best] <= 0:
                break
            chosen.append(best)
        for i in chosen:
            effect = o64.flip_effect(*candidates[i])
            for n in names:
                want[n] += effect[n]
    check_tensors(got, want, o32.grads, "%s (with %d of the %d activations near a kink flipped)"
                  % (what, len(chosen), len(candidates)))


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
    o64, o32 = oracles(model, x, y, kind, masks)
    assert abs(out["loss"][0] - o64.loss) <= 1e-5 * max(1.0, abs(o64.loss))
    check_tensors({"logits": out["logits"]}, {"logits": o64.logits}, {"logits": o32.logits},
                  "forward")
    check_gradients({k[5:]: v for k, v in out.items() if k.startswith("grad.")}, o64, o32,
                    "gradient of")
    running = lambda d: {k: v for k, v in d.items() if "running" in k}
    check_tensors(running(out), running(o64.state), running(o32.state), "after the step,")


def load_state(model, state):
    sd = model.state_dict()
    with torch.no_grad():
        for name, v in state.items():
            sd[name].copy_(torch.tensor(v.reshape(sd[name].shape)))
    return model


def check_optimizer_steps(tmp_path, arch, model, x, y, optim, o, steps=3, **tool_opts):
    """Optimizer steps of tool_train_step. Each step is checked from the state the tool reached
    before it: its loss, gradients and running statistics against PyTorch from those weights,
    and its update against torch.optim fed the same gradients (its state carried over from the
    earlier steps).

    Why not compare chained steps of both: a trajectory is not a continuous function of
    rounding. The ReLU/ReLU6 derivative jumps at 0 (and 6), so an activation within rounding
    distance of a kink flips in or out of the gradient depending on its last bit; that step's
    update, the momentum that carries it, and every later loss then jump. Measured on
    mobilenet_v2 with test_optimizer_steps_match_torch's settings: float64 PyTorch started from
    weights perturbed by 6e-8 (a float32 rounding) moved the third loss by about 1e-7 in 9 of 12
    trials and by 9.6e-6, 9.6e-6 and -5.5e-5 in the other three; float32 PyTorch so perturbed
    missed float64 by up to 1.6e-3. mlic's third loss moves with the vector width its build
    uses for its omp-simd reductions (-5.5e-5 with SSE2, -3.7e-5 with AVX2, +1.0e-5 with
    AVX-512), each a correct float32 answer: no tolerance taken from one machine's numbers
    holds. From a common state, a loss is one forward pass (continuous in rounding), and
    gradients are one backward pass, checked by check_gradients."""
    f32 = {k: float(np.float32(v)) for k, v in o.items()}
    keys = [k for k in st.state_dict_numpy(model) if not k.endswith("batches_tracked")]
    # Each run repeats the earlier steps exactly (same weights, batch and dropout seed), so
    # runs[s] holds the state after s + 1 steps and the gradients of step s + 1.
    runs = [run_tool(tmp_path, arch, model, x, y, optim=optim, steps=s + 1, grad_step=s,
                     **o, **tool_opts) for s in range(steps)]
    masks = masks_of(runs[-1], steps)
    start = {k: v.astype(np.float64) for k, v in st.state_dict_numpy(model).items() if k in keys}
    stepped = torch_copy(model, None, torch.float64)
    opt = make_optimizer(stepped, optim, f32)
    for s, out in enumerate(runs):
        assert np.array_equal(out["loss"][:s], runs[-1]["loss"][:s])
        reached = {k: np.asarray(out[k], np.float64) for k in keys}
        at = load_state(copy.deepcopy(model), start)
        step_masks = None if masks is None else masks[s:s + 1]
        o64, o32 = oracles(at, x, y, "bce", step_masks)
        what = "step %d:" % (s + 1)
        assert abs(out["loss"][s] - o64.loss) <= 1e-5 * max(1.0, abs(o64.loss)), \
            (what, out["loss"][s], o64.loss, o32.loss)
        check_gradients({k[5:]: v for k, v in out.items() if k.startswith("grad.")}, o64, o32,
                        what + " gradient of")
        running = lambda d: {k: d[k] - start[k] for k in d if "running" in k}
        check_tensors(running(reached), running(o64.state), running(o32.state),
                      what + " update of")
        # torch.optim fed mlic's gradients from mlic's weights: what is left is the update's own
        # float32 arithmetic, a few roundings each within half an ulp of the stored weight or of
        # terms no larger than the tensor's largest update.
        load_state(stepped, start)
        for name, p in stepped.named_parameters():
            p.grad = torch.tensor(out["grad." + name], dtype=torch.float64).reshape(p.shape)
        opt.step()
        for name, p in stepped.named_parameters():
            want, got = f64(p) - start[name], reached[name] - start[name]
            err = np.abs(got - want.reshape(got.shape))
            tol = 2.0 ** -23 * np.abs(reached[name]) + 1e-5 * float(np.abs(want).max())
            assert (err <= tol).all(), "%s update of %s: max error %g (%g over the bound)" % (
                what, name, err.max(), (err - tol).max())
        start = reached


# AdamW on resnet18 only: the optimizer works on the flat buffers alike for every graph, and
# test_optim.py checks it against torch.optim in detail.
@pytest.mark.parametrize("arch,optim", [("resnet18", "sgd"), ("mobilenet_v2", "sgd"),
                                        ("resnet18", "adamw")])
def test_optimizer_steps_match_torch(tmp_path, arch, optim):
    n, size = CASES[arch]
    # Small learning rates keep the three steps where batch-norm networks on a batch of 2 or 3
    # are well conditioned. AdamW's eps is large because Adam turns a gradient that is zero up
    # to rounding into a full-size step of random sign.
    o = {"lr": 0.01, "momentum": 0.9, "nesterov": 1, "wd": 1e-3} if optim == "sgd" else \
        {"lr": 1e-3, "wd": 0.01, "eps": 1e-3}
    check_optimizer_steps(tmp_path, arch, make_model(arch, 3), *make_batch(n, size, 5), optim, o,
                          threads=1)


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
