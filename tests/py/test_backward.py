"""Training kernels (src/nn/kernels_train.h) against torch autograd in float64.

Each case writes random inputs and random starting gradients for tests/c/tool_backward, which runs
the kernel in float32; the expected result is start + torch's gradient, which also checks that
every gradient accumulates (+=). Shapes are those of the resnet / mobilenet_v2 layers at small
spatial sizes."""
import os
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import BUILD
TOOL = os.path.join(BUILD, "tests", "tool_backward")

RTOL = 1e-4


def run_tool(tmp_path, op, args, inputs, expect_rc=0):
    assert os.path.exists(TOOL), "build/tests/tool_backward is missing: run make first"
    for name, a in inputs.items():
        np.ascontiguousarray(a, dtype="<f4").tofile(str(tmp_path / (name + ".f32")))
    r = subprocess.run([TOOL, op, str(tmp_path)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == expect_rc, r.stderr
    return lambda name: np.fromfile(str(tmp_path / (name + ".f32")), dtype="<f4")


def f32(a):
    """The float32 values the tool sees, as float64 for the oracle."""
    return np.asarray(a, np.float32).astype(np.float64)


def t64(a, grad=False):
    return torch.tensor(f32(a), dtype=torch.float64, requires_grad=grad)


def assert_close(got, want, what):
    want = np.asarray(want, np.float64).ravel()
    got = np.asarray(got, np.float64).ravel()
    assert got.shape == want.shape, what
    scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
    err = np.abs(got - want)
    bad = err > RTOL * (np.abs(want) + scale)
    assert not bad.any(), "%s: %d of %d differ, worst %g at %d (got %g want %g)" % (
        what, bad.sum(), bad.size, err.max(), err.argmax(), got[err.argmax()], want[err.argmax()])


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# n, cin, hw, cout, k, stride, pad, groups, bias
CONV_CASES = [
    (2, 3, 19, 8, 7, 2, 3, 1, False),    # resnet stem, odd size
    (2, 3, 16, 8, 7, 2, 3, 1, False),    # resnet stem, even size
    (2, 8, 9, 8, 3, 1, 1, 1, False),     # basic block 3x3
    (2, 8, 9, 16, 3, 2, 1, 1, False),    # first 3x3 of a downsampling stage, odd
    (2, 8, 8, 16, 3, 2, 1, 1, True),     # same, even, with bias
    (2, 8, 23, 12, 1, 1, 0, 1, True),    # 1x1 over >= 512 pixels: x and dx used in place
    (2, 16, 7, 8, 1, 1, 0, 1, True),     # bottleneck / mobilenet 1x1 on a small map
    (3, 6, 5, 10, 1, 1, 0, 1, False),    # 1x1, channels not a multiple of 4
    (8, 4, 10, 8, 3, 1, 1, 1, True),     # 10x11 maps: samples batched 5 + 3
    (6, 8, 5, 12, 3, 2, 1, 4, False),    # grouped, stride 2, batched samples
    (2, 8, 8, 16, 1, 2, 0, 1, False),    # resnet downsample 1x1 stride 2
    (2, 8, 7, 16, 1, 2, 0, 1, False),    # same, odd size
    (2, 12, 9, 12, 3, 1, 1, 12, False),  # mobilenet depthwise 3x3 stride 1
    (2, 12, 10, 12, 3, 2, 1, 12, False),  # mobilenet depthwise 3x3 stride 2
    (2, 12, 9, 12, 3, 2, 1, 12, True),   # depthwise stride 2, odd size, bias
    (2, 8, 7, 12, 3, 1, 1, 4, True),     # grouped, not depthwise
    (2, 8, 1, 8, 3, 1, 1, 1, False),     # layer4 at a tiny input: 1x1 map, 3x3 kernel
    (2, 8, 2, 8, 3, 2, 1, 1, False),     # 2x2 map, 3x3 stride 2
    (2, 6, 1, 6, 3, 1, 1, 6, False),     # depthwise on a 1x1 map
    (1, 4, 5, 4, 5, 1, 0, 1, False),     # kernel as large as the input
]


@pytest.mark.parametrize("n,cin,hw,cout,k,stride,pad,groups,bias", CONV_CASES)
def test_conv(tmp_path, rng, n, cin, hw, cout, k, stride, pad, groups, bias):
    h, w = hw, hw + 1 if hw > 2 else hw
    x = rng.standard_normal((n, cin, h, w))
    wt = rng.standard_normal((cout, cin // groups, k, k)) / np.sqrt(cin // groups * k * k)
    b = rng.standard_normal(cout)
    xt, wtt = t64(x, True), t64(wt, True)
    bt = t64(b, True) if bias else None
    y = F.conv2d(xt, wtt, bt, stride=stride, padding=pad, groups=groups)
    dy = rng.standard_normal(tuple(y.shape))
    y.backward(t64(dy))
    dx0, dw0, db0 = rng.standard_normal(x.shape), rng.standard_normal(wt.shape), rng.standard_normal(cout)
    inputs = {"x": x, "weight": wt, "dy": dy, "dx": dx0, "dw": dw0}
    if bias:
        inputs["db"] = db0
    out = run_tool(tmp_path, "conv", [n, cin, h, w, cout, k, stride, pad, groups, int(bias)], inputs)
    assert_close(out("dx"), f32(dx0) + xt.grad.numpy(), "dx")
    assert_close(out("dw"), f32(dw0) + wtt.grad.numpy(), "dw")
    if bias:
        assert_close(out("db"), f32(db0) + bt.grad.numpy(), "db")


def test_conv_without_dx(tmp_path, rng):
    """The network's input needs no gradient: dx NULL still gives the weight gradient."""
    n, cin, h, w, cout = 2, 3, 11, 11, 8
    x, wt = rng.standard_normal((n, cin, h, w)), rng.standard_normal((cout, cin, 7, 7)) * 0.1
    wtt = t64(wt, True)
    y = F.conv2d(t64(x), wtt, None, stride=2, padding=3)
    dy = rng.standard_normal(tuple(y.shape))
    y.backward(t64(dy))
    out = run_tool(tmp_path, "conv", [n, cin, h, w, cout, 7, 2, 3, 1, 0],
                   {"x": x, "weight": wt, "dy": dy, "dw": np.zeros(wt.shape)})
    assert_close(out("dw"), wtt.grad.numpy(), "dw")
    assert not (tmp_path / "dx.f32").exists()


# n, c, h, w, mean, std
BN_CASES = [
    (4, 6, 5, 5, 0.0, 1.0),
    (2, 4, 3, 7, 5.0, 3.0),       # offset mean: the centring matters
    (8, 3, 1, 1, -2.0, 0.5),      # a 1x1 map (layer4 at a small input)
    (2, 16, 8, 8, 50.0, 0.1),     # mean large against the spread
    (3, 5, 2, 2, 0.0, 1e-4),      # variance near eps
]


@pytest.mark.parametrize("n,c,h,w,mean,std", BN_CASES)
def test_batchnorm_train(tmp_path, rng, n, c, h, w, mean, std):
    eps, momentum = 1e-5, 0.1
    x = mean + std * rng.standard_normal((n, c, h, w))
    gamma, beta = 1 + 0.3 * rng.standard_normal(c), rng.standard_normal(c)
    rmean, rvar = rng.standard_normal(c), 0.5 + rng.random(c)
    xt, gt, bt = t64(x, True), t64(gamma, True), t64(beta, True)
    rm, rv = t64(rmean), t64(rvar)
    y = F.batch_norm(xt, rm, rv, gt, bt, training=True, momentum=momentum, eps=eps)
    dy = rng.standard_normal(x.shape)
    y.backward(t64(dy))
    dx0, dg0, db0 = rng.standard_normal(x.shape), rng.standard_normal(c), rng.standard_normal(c)
    out = run_tool(tmp_path, "bn", [n, c, h, w, eps, momentum],
                   {"x": x, "gamma": gamma, "beta": beta, "running_mean": rmean,
                    "running_var": rvar, "dy": dy, "dx": dx0, "dgamma": dg0, "dbeta": db0})
    xd = f32(x)
    bmean, bvar = xd.mean(axis=(0, 2, 3)), xd.var(axis=(0, 2, 3))
    assert_close(out("y"), y.detach().numpy(), "y")
    assert_close(out("save_mean"), bmean, "save_mean")
    assert_close(out("save_invstd"), 1 / np.sqrt(bvar + eps), "save_invstd")
    assert_close(out("running_mean"), rm.numpy(), "running_mean")
    assert_close(out("running_var"), rv.numpy(), "running_var")
    assert_close(out("dx"), f32(dx0) + xt.grad.numpy(), "dx")
    assert_close(out("dgamma"), f32(dg0) + gt.grad.numpy(), "dgamma")
    assert_close(out("dbeta"), f32(db0) + bt.grad.numpy(), "dbeta")


def test_batchnorm_train_refuses_one_value_per_channel(tmp_path, rng):
    c = 3
    run_tool(tmp_path, "bn", [1, c, 1, 1, 1e-5, 0.1],
             {"x": rng.standard_normal(c), "gamma": np.ones(c), "beta": np.zeros(c),
              "running_mean": np.zeros(c), "running_var": np.ones(c), "dy": np.ones(c),
              "dx": np.zeros(c), "dgamma": np.zeros(c), "dbeta": np.zeros(c)}, expect_rc=2)
    with pytest.raises(ValueError):  # torch refuses the same input
        F.batch_norm(torch.zeros(1, c, 1, 1), torch.zeros(c), torch.ones(c), training=True)


def activation_input(rng, count):
    """Random values plus the points where the derivative jumps."""
    x = rng.uniform(-3, 9, count)
    x[:6] = [0.0, 6.0, -0.0, 1e-7, 6.0 - 1e-6, 6.0 + 1e-6]
    return x


@pytest.mark.parametrize("op", ["relu", "relu6"])
def test_activation(tmp_path, rng, op):
    count = 1000
    x = activation_input(rng, count)
    xt = t64(x, True)
    y = F.relu(xt) if op == "relu" else F.hardtanh(xt, 0.0, 6.0)
    assert torch.equal(y, F.relu6(xt)) or op == "relu"
    dy, dx0 = rng.standard_normal(count), rng.standard_normal(count)
    y.backward(t64(dy))
    out = run_tool(tmp_path, op, [count], {"y": y.detach().numpy(), "dy": dy, "dx": dx0})
    assert_close(out("dx"), f32(dx0) + xt.grad.numpy(), "dx")


def test_add(tmp_path, rng):
    count = 257
    a, b = t64(rng.standard_normal(count), True), t64(rng.standard_normal(count), True)
    dy, da0 = rng.standard_normal(count), rng.standard_normal(count)
    (a + b).backward(t64(dy))
    out = run_tool(tmp_path, "add", [count], {"dy": dy, "dx": da0})
    assert_close(out("dx"), f32(da0) + a.grad.numpy(), "dx")
    assert np.array_equal(a.grad.numpy(), b.grad.numpy())


# n, c, h, w, k, stride, pad, values
POOL_CASES = [
    (2, 3, 9, 9, 3, 2, 1, "normal"),    # resnet's max pool, odd size
    (2, 3, 8, 10, 3, 2, 1, "normal"),   # even sizes
    (2, 3, 9, 9, 3, 2, 1, "ties"),      # few distinct values: first-max rule
    (1, 2, 8, 8, 3, 2, 1, "negative"),  # all negative: padding (-inf) never wins
    (1, 2, 8, 8, 3, 2, 1, "constant"),  # every window tied
    (2, 2, 2, 2, 3, 2, 1, "ties"),      # tiny map
    (1, 3, 6, 6, 2, 2, 0, "ties"),      # non-overlapping windows
    (1, 2, 7, 7, 3, 1, 1, "ties"),      # stride 1, heavy overlap
    (2, 2, 8, 8, 3, 2, 1, "nan"),       # NaN wins, the last one of a window
]


@pytest.mark.parametrize("n,c,h,w,k,stride,pad,values", POOL_CASES)
def test_maxpool(tmp_path, rng, n, c, h, w, k, stride, pad, values):
    shape = (n, c, h, w)
    x = {"normal": lambda: rng.standard_normal(shape),
         "ties": lambda: rng.integers(0, 3, shape).astype(np.float64),
         "negative": lambda: -1 - rng.random(shape),
         "constant": lambda: np.full(shape, -2.0),
         "nan": lambda: np.where(rng.random(shape) < 0.15, np.nan, rng.standard_normal(shape))}[values]()
    xt = t64(x, True)
    y = F.max_pool2d(xt, k, stride, pad)
    dy = rng.standard_normal(tuple(y.shape))
    y.backward(t64(dy))
    dx0 = rng.standard_normal(shape)
    out = run_tool(tmp_path, "maxpool", [n, c, h, w, k, stride, pad], {"x": x, "dy": dy, "dx": dx0})
    assert_close(out("dx"), f32(dx0) + xt.grad.numpy(), "dx")


@pytest.mark.parametrize("n,c,h,w", [(2, 5, 3, 4), (3, 7, 1, 1), (1, 4, 7, 7)])
def test_global_avgpool(tmp_path, rng, n, c, h, w):
    xt = t64(rng.standard_normal((n, c, h, w)), True)
    y = F.adaptive_avg_pool2d(xt, 1)
    dy, dx0 = rng.standard_normal((n, c)), rng.standard_normal((n, c, h, w))
    y.backward(t64(dy).reshape(n, c, 1, 1))
    out = run_tool(tmp_path, "gap", [n, c, h, w], {"dy": dy, "dx": dx0})
    assert_close(out("dx"), f32(dx0) + xt.grad.numpy(), "dx")


@pytest.mark.parametrize("n,c,k,bias", [(3, 10, 4, True), (2, 64, 7, False), (1, 33, 1, True)])
def test_linear(tmp_path, rng, n, c, k, bias):
    x, wt, b = rng.standard_normal((n, c)), rng.standard_normal((k, c)) * 0.1, rng.standard_normal(k)
    xt, wtt = t64(x, True), t64(wt, True)
    bt = t64(b, True) if bias else None
    y = F.linear(xt, wtt, bt)
    dy = rng.standard_normal((n, k))
    y.backward(t64(dy))
    dx0, dw0, db0 = rng.standard_normal(x.shape), rng.standard_normal(wt.shape), rng.standard_normal(k)
    inputs = {"x": x, "weight": wt, "dy": dy, "dx": dx0, "dw": dw0}
    if bias:
        inputs["db"] = db0
    out = run_tool(tmp_path, "linear", [n, c, k, int(bias)], inputs)
    assert_close(out("dx"), f32(dx0) + xt.grad.numpy(), "dx")
    assert_close(out("dw"), f32(dw0) + wtt.grad.numpy(), "dw")
    if bias:
        assert_close(out("db"), f32(db0) + bt.grad.numpy(), "db")


def run_dropout(tmp_path, rng, count, p, seed, stream=0):
    x, dy, dx0 = rng.standard_normal(count), rng.standard_normal(count), rng.standard_normal(count)
    out = run_tool(tmp_path, "dropout", [count, p, seed, stream], {"x": x, "dy": dy, "dx": dx0})
    return x, dy, dx0, out("y"), out("mask"), out("dx")


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout(tmp_path, rng, p):
    count = 20000
    x, dy, dx0, y, mask, dx = run_dropout(tmp_path, rng, count, p, seed=7)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    kept = mask.mean()
    assert abs(kept - (1 - p)) < 4 * np.sqrt(p * (1 - p) / count), kept
    # torch's dropout given the same mask: y = x * mask / (1 - p), and its autograd gradient.
    xt = t64(x, True)
    yt = xt * t64(mask) / (1 - p)
    yt.backward(t64(dy))
    assert_close(y, yt.detach().numpy(), "y")
    assert_close(dx, f32(dx0) + xt.grad.numpy(), "dx")


def test_dropout_mask_follows_the_seed(tmp_path, rng):
    count = 4096
    masks = {}
    for seed, stream in [(7, 0), (7, 0), (8, 0), (7, 1)]:
        d = tmp_path / ("%d_%d_%d" % (seed, stream, len(masks)))
        d.mkdir()
        masks.setdefault((seed, stream), []).append(run_dropout(d, rng, count, 0.5, seed, stream)[4])
    assert np.array_equal(masks[(7, 0)][0], masks[(7, 0)][1])
    assert not np.array_equal(masks[(7, 0)][0], masks[(8, 0)][0])
    assert not np.array_equal(masks[(7, 0)][0], masks[(7, 1)][0])


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_dropout_extremes(tmp_path, rng, p):
    count = 100
    x, dy, dx0, y, mask, dx = run_dropout(tmp_path, rng, count, p, seed=3)
    want = F.dropout(t64(x), p=p, training=True).numpy()  # p 0 and 1 are deterministic in torch
    assert_close(y, want, "y")
    assert_close(dx, f32(dx0) + (f32(dy) if p == 0 else 0), "dx")
