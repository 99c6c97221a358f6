"""mlic quantize (docs/quantization.md): the int8 model file against a numpy re-computation, int8
logits against fp32 within an error model, determinism, the file's round trip, clear errors, and
apparel val mAP of the int8 model against fp32.

The models: test_precision's fitted resnet18 (and, for the error model, mobilenet_v2: depthwise
convolutions, ReLU6, s8 inputs) at crop 64: torchvision's initialisation, batch-norm statistics
measured on 48 apparel photos, head fitted to their labels; their outputs vary from photo to photo.

The error model (calibrated with --method minmax on the very photos tested, so nothing is
clipped and every error is a rounding): int8 stores each weight of a quantized convolution
(the batch-norm-folded one) as a multiple of its channel's step w_scale, off by at most half a
step, and each input of such a convolution as a multiple of its input_scale, off by at most half
of it; products are summed exactly in int32. Treating those errors as independent and uniform,
PyTorch runs the fp32 network with every such weight and input so perturbed (three draws), which
gives the logit deviation these roundings produce through this network (DEV_RMS, DEV_MAX).
oneDNN's AVX-512 int8 kernels without VNNI (Skylake-SP) halve the weights to keep their 16-bit
intermediate sums from saturating, so a weight step there is 2 w_scale; its VNNI, AMX and AVX2
kernels keep the full step (measured: the AVX2 run's errors match the VNNI run's). mlic's int8 logits
must differ from its fp32 ones by at most RMS_FACTOR * DEV_RMS in RMS and MAX_FACTOR * DEV_MAX at
most, and by more than 0, with that bound below the logits' own spread (outputs unrelated to the
fp32 ones, garbage, would differ by about 1.4 times that spread). These networks are far more
sensitive than trained ones (like bf16, docs/precision.md): int8 moves resnet18's logits by about
5% of their spread, mobilenet_v2's by about a third, and the error model predicts as much.
"""
import json
import os
import subprocess

import numpy as np
import pytest
import torch

import st
from apparel import DATA
from conftest import BUILD
from test_precision import fitted_model, photos, val_lines, write_model, CROP, NVAL

TOOL = os.path.join(BUILD, "tests", "tool_forward")
RMS_FACTOR, MAX_FACTOR = 2.0, 3.0

pytestmark = pytest.mark.skipif(not os.path.isdir(DATA), reason="apparel data set not present")


def run(*args, ok=True, env=None):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, **(env or {})))
    if ok:
        assert r.returncode == 0, r.stderr
    return r


def quantize(mlic, model, calib, out, *extra, ok=True):
    return run(mlic, "quantize", "--model", model, "--calib", calib, "--root", DATA, "--output",
               out, "--threads", "2", *extra, ok=ok)


def make_case(mlic, d, arch):
    net = fitted_model(arch)
    model = write_model(d, arch, net)
    calib = d / "calib.txt"  # the photos tested: minmax then clips nothing
    calib.write_text("".join(l + "\n" for l in val_lines()))
    q = str(d / "minmax.safetensors")
    quantize(mlic, model, calib, q, "--method", "minmax")
    x, _ = photos(val_lines())
    x.numpy().astype("<f4").tofile(str(d / "input.bin"))
    return {"arch": arch, "dir": d, "net": net, "model": model, "calib": str(calib), "q": q,
            "x": x}


@pytest.fixture(scope="module")
def case(mlic, tmp_path_factory):
    return make_case(mlic, tmp_path_factory.mktemp("quantize"), "resnet18")


@pytest.fixture(scope="module", params=["resnet18", "mobilenet_v2"])
def em_case(request, mlic, tmp_path_factory):
    if request.param == "resnet18":
        return request.getfixturevalue("case")
    return make_case(mlic, tmp_path_factory.mktemp(request.param), request.param)


def folded(sd, conv, bn):
    """The conv's weight with bn folded in, exactly as src/nn/graph_fold.c computes it (in double,
    rounded once to float32), and the per-channel factor s."""
    s = sd[bn + ".weight"].astype(np.float64) / np.sqrt(
        sd[bn + ".running_var"].astype(np.float64) + np.float64(np.float32(1e-5)))
    w = (sd[conv + ".weight"].astype(np.float64) * s[:, None, None, None]).astype(np.float32)
    return w, s


def bn_after(net):
    """conv name -> the batch norm registered right after it (the one the fold merges)."""
    mods, out = list(net.named_modules()), {}
    for i, (name, m) in enumerate(mods):
        if isinstance(m, torch.nn.Conv2d):
            out[name] = next(n for n, b in mods[i + 1:] if isinstance(b, torch.nn.BatchNorm2d))
    return out


def quantized_convs(tensors):
    return sorted(k[:-len(".weight_int8")] for k in tensors if k.endswith(".weight_int8"))


def test_weights_and_scales_equal_numpy(case):
    t, meta = st.load(case["q"])
    m = json.loads(meta["mlic"])
    assert m["precision"] == "int8" and m["calibration"].startswith("minmax")
    sd = {k: v for k, v in t.items() if not k.endswith(("_int8", "_scale"))}
    convs = quantized_convs(t)
    # every convolution but the first (conv1 reads the image)
    assert len(convs) == 19 and "conv1" not in convs
    bns = bn_after(case["net"])
    for c in convs:
        w, _ = folded(sd, c, bns[c])
        amax = np.abs(w).reshape(w.shape[0], -1).max(axis=1)
        scale = np.where(amax > 0, amax / np.float32(127), np.float32(1)).astype(np.float32)
        q = np.clip(np.rint(w / scale[:, None, None, None]), -127, 127).astype(np.int8)
        assert t[c + ".weight_scale"].dtype == np.float32
        assert np.array_equal(t[c + ".weight_scale"], scale), c
        assert np.array_equal(t[c + ".weight_int8"], q), c
        assert t[c + ".input_scale"].shape == () and t[c + ".input_scale"] > 0
    # the fp32 state dict is kept as it was (mlic writes the step counters as 0)
    orig, _ = st.load(case["model"])
    assert sd.keys() == orig.keys()
    for k, v in orig.items():
        assert k.endswith("num_batches_tracked") or np.array_equal(sd[k], v), k


def perturbed_logits(net, tensors, x, gen, weight_steps):
    """The error model of the module's docstring: one draw."""
    import copy
    p = copy.deepcopy(net)
    mods, bns = dict(p.named_modules()), bn_after(net)
    sd = {k: v.numpy() for k, v in net.state_dict().items()}
    with torch.no_grad():
        for c in quantized_convs(tensors):
            _, s = folded(sd, c, bns[c])
            conv = mods[c]
            step = weight_steps * tensors[c + ".weight_scale"] / s  # in the unfolded weight's units
            u = torch.rand(conv.weight.shape, generator=gen, dtype=torch.float64) - 0.5
            conv.weight += (u * torch.tensor(step)[:, None, None, None]).float()
            in_step = float(tensors[c + ".input_scale"])
            conv.register_forward_pre_hook(
                lambda mod, i, st=in_step: (i[0] + st * (torch.rand(i[0].shape, generator=gen)
                                                         - 0.5),))
        return p(x).numpy()


def forward(case, model, env=None):
    out = str(case["dir"] / "out.bin")
    r = run(TOOL, model, case["dir"] / "input.bin", out, NVAL, "--backend", "onednn",
            "--logits", env=env)
    return r, np.fromfile(out, "<f4").reshape(NVAL, -1)


@pytest.mark.parametrize("isa", ["native", "AVX2"])
def test_int8_logits_within_the_error_model(em_case, isa):
    case = em_case
    env = {"ONEDNN_VERBOSE": "1"}
    if isa == "AVX2":
        env["ONEDNN_MAX_CPU_ISA"] = "AVX2"
    _, fp32 = forward(case, case["model"], env)
    r, int8 = forward(case, case["q"], env)
    assert "precision int8" in r.stderr
    convs = [l for l in r.stdout.splitlines() if ",exec," in l and ",convolution," in l]
    int8_convs = [l for l in convs if "src_u8" in l or "src_s8" in l]
    # the first convolution stays fp32; all others run oneDNN's int8 kernels, not its reference
    # loops
    tensors, _ = st.load(case["q"])
    assert len(int8_convs) == len(convs) - 1 == len(quantized_convs(tensors))
    assert all("wei_s8" in l and ",ref" not in l for l in int8_convs), "\n".join(convs[:5])
    halved = any(("avx512_core" in l and "vnni" not in l and "amx" not in l) for l in int8_convs)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        want = case["net"](case["x"]).numpy()
    devs = np.array([np.abs(perturbed_logits(case["net"], tensors, case["x"], gen,
                                             2 if halved else 1) - want) for _ in range(3)])
    dev_rms, dev_max = float(np.sqrt(np.mean(devs ** 2))), float(devs.max())
    assert RMS_FACTOR * dev_rms < want.std(), "too sensitive a model to tell int8 from garbage"
    err = int8 - fp32
    err_rms, err_max = float(np.sqrt(np.mean(err ** 2))), float(np.abs(err).max())
    assert err_max > 0, "int8 gave exactly the fp32 logits"
    print(case["arch"], isa, "halved" if halved else "full", "err rms/max", err_rms, err_max, "model", dev_rms,
          dev_max)
    assert err_rms <= RMS_FACTOR * dev_rms, (isa, err_rms, dev_rms)
    assert err_max <= MAX_FACTOR * dev_max, (isa, err_max, dev_max)


def test_deterministic_and_round_trips(mlic, case, tmp_path):
    again = tmp_path / "again.safetensors"
    quantize(mlic, case["model"], case["calib"], again, "--method", "minmax")
    assert open(again, "rb").read() == open(case["q"], "rb").read()
    # a bare list of image paths, as mlic predict reads, calibrates the same: labels are unused
    bare = tmp_path / "bare.txt"
    bare.write_text("".join(l.split("\t")[0] + "\n" for l in open(case["calib"])))
    assert "\t" not in bare.read_text()
    quantize(mlic, case["model"], bare, tmp_path / "bare.safetensors", "--method", "minmax")
    assert open(tmp_path / "bare.safetensors", "rb").read() == open(case["q"], "rb").read()
    info = json.loads(run(mlic, "info", case["q"], "--json").stdout)
    assert info["precision"] == "int8"
    assert json.loads(run(mlic, "info", case["model"], "--json").stdout)["precision"] == "fp32"
    assert "precision:   int8" in run(mlic, "info", case["q"]).stdout
    # exported, the int8 model is the fp32 state dict it was made from
    run(mlic, "export", "--model", case["q"], "--torchvision", tmp_path / "tv.safetensors")
    tv, _ = st.load(str(tmp_path / "tv.safetensors"))
    orig, _ = st.load(case["model"])
    assert tv.keys() == orig.keys()
    assert all(np.array_equal(tv[k], orig[k]) for k in orig if not k.endswith("batches_tracked"))


def test_bad_inputs(mlic, case, tmp_path):
    r = run(mlic, "quantize", "--model", case["model"], "--output", tmp_path / "o", ok=False)
    assert r.returncode == 2 and "missing --calib" in r.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    r = quantize(mlic, case["model"], empty, tmp_path / "o", ok=False)
    assert r.returncode == 1 and "empty.txt" in r.stderr, r.stderr
    r = quantize(mlic, case["q"], case["calib"], tmp_path / "o", ok=False)
    assert r.returncode == 1 and "int8 already" in r.stderr and "HINT" in r.stderr, r.stderr
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    lst = tmp_path / "bad.txt"
    lst.write_text("%s\n" % broken)
    r = quantize(mlic, case["model"], lst, tmp_path / "o", ok=False)
    assert r.returncode == 1 and "broken.jpg" in r.stderr, r.stderr
    assert not os.path.exists(tmp_path / "o")
    r = quantize(mlic, case["model"], case["calib"], tmp_path / "o", "--method", "entropy",
                 ok=False)
    assert r.returncode == 2 and "entropy" in r.stderr
    data = ["--data", os.path.join(DATA, "val.txt")]
    r = run(mlic, "eval", "--model", case["q"], *data, "--backend", "ref", ok=False)
    assert r.returncode == 1 and "int8 model" in r.stderr and "HINT" in r.stderr, r.stderr
    r = run(mlic, "eval", "--model", case["q"], *data, "--precision", "bf16", ok=False)
    assert r.returncode == 1 and "bf16 for an int8 model" in r.stderr, r.stderr


def test_apparel_val_map_within_half_a_point(mlic, case, tmp_path):
    # the default calibration (percentile) on 48 training photos; all 244 val photos evaluated
    calib = tmp_path / "train48.txt"
    calib.write_text("".join(l + "\n" for l in open(os.path.join(DATA, "train.txt"))
                             .read().splitlines()[::37][:48]))
    q = tmp_path / "q.safetensors"
    quantize(mlic, case["model"], calib, q)
    maps = {}
    for name, model in (("fp32", case["model"]), ("int8", q)):
        r = run(mlic, "eval", "--model", model, "--data", os.path.join(DATA, "val.txt"), "--json")
        maps[name] = json.loads(r.stdout)["mAP"]
    print("apparel val mAP", maps)
    assert maps["fp32"] > 30, maps  # the model has learnt something, so a broken int8 shows
    assert abs(maps["int8"] - maps["fp32"]) <= 0.5, maps
    # predict runs the int8 model unchanged: one line per input
    lst, out = tmp_path / "list.txt", tmp_path / "out.jsonl"
    lst.write_text("".join(l.split("\t")[0] + "\n" for l in val_lines()) + "missing.jpg\n")
    r = run(mlic, "predict", "--model", q, "--input", lst, "--root", DATA, "--output", out,
            "--format", "jsonl", ok=False)
    assert r.returncode == 3 and "1 of %d inputs failed" % (NVAL + 1) in r.stderr, r.stderr
    assert len(open(out).read().splitlines()) == NVAL + 1
    # and sharded between two processes, the same probabilities
    out2 = tmp_path / "out2.jsonl"
    r = run(mlic, "predict", "--model", q, "--input", lst, "--root", DATA, "--output", out2,
            "--format", "jsonl", "--workers", "2", ok=False)
    assert r.returncode == 3, r.stderr
    one = [json.loads(l) for l in open(out)]
    two = [json.loads(l) for l in open(out2)]
    assert [l.get("probs") is None for l in one] == [l.get("probs") is None for l in two]
    for a, b in zip(one, two):
        if a.get("probs") is not None:
            assert np.allclose(a["probs"], b["probs"], atol=1e-6), (a, b)
