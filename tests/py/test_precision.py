"""bf16 inference (--precision, docs/precision.md) against the fp32 engine, on resnet18, resnet50
and mobilenet_v2 models that have learnt something from real photos, with a tolerance from an
error model propagated through each network; the errors bf16 gives where it cannot run.

The models: torchvision's initialisation, every batch norm's statistics measured on 48 apparel
photos (as training leaves them), and the classifier head fitted to those photos' labels. Their
outputs vary from photo to photo, unlike a random network's.

The error model: bf16 keeps 8 significant bits, so each value it stores (a weight, the input, a
convolution's or the linear layer's output) is the exact one times (1 + d) with |d| <= u = 2^-8,
while products are accumulated in fp32 (negligible next to u). Treating the d as independent and
uniform, we propagate them through the very network being tested: PyTorch runs it in fp32 with
every weight, the input and every conv/linear output so perturbed (three draws). That gives the
logit deviation this network's depth and conditioning produce from bf16's rounding (DEV_RMS over
all logits, DEV_MAX the largest). mlic's bf16 logits must differ from its fp32 ones by at most
RMS_FACTOR * DEV_RMS in RMS and MAX_FACTOR * DEV_MAX at most (real rounding is deterministic, not
random, so it may align a little worse than the draws), and by more than 0 (a silent fp32 run
would give exactly the fp32 logits). The RMS bound is checked to be far below the logits' own
spread, so garbage (a wrong layout or data type) cannot pass. ONEDNN_VERBOSE must show every
convolution running a bf16 kernel.
"""
import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

import st
from apparel import DATA
from conftest import BUILD, ROOT
from test_python_pkg import sanitized
from torch_models import MEAN, STD

TOOL = os.path.join(BUILD, "tests", "tool_forward")
U = 2.0 ** -8
RMS_FACTOR, MAX_FACTOR = 2.0, 3.0
CROP, NTRAIN, NVAL = 64, 48, 24
ARCHS = ["resnet18", "resnet50", "mobilenet_v2"]

pytestmark = pytest.mark.skipif(not os.path.isdir(DATA), reason="apparel data set not present")


def classes():
    return open(os.path.join(DATA, "classes.txt")).read().split()


def photos(lines):
    """(images as the network's (n, 3, CROP, CROP) input, labels as (n, K) 0/1)."""
    names = classes()
    xs, ys = [], []
    for line in lines:
        path, labels = line.split("\t")
        im = Image.open(os.path.join(DATA, path)).convert("RGB").resize((CROP, CROP),
                                                                         Image.BILINEAR)
        xs.append(((np.asarray(im, np.float32) / 255 - MEAN) / STD).transpose(2, 0, 1))
        ys.append([c in labels.split(",") for c in names])
    return (torch.tensor(np.stack(xs), dtype=torch.float32),
            torch.tensor(ys, dtype=torch.float32))


def val_lines():
    return open(os.path.join(DATA, "val.txt")).read().splitlines()[::10][:NVAL]


def head_of(net):
    return net.fc if hasattr(net, "fc") else net.classifier[1]


def fitted_model(arch):
    """The model described in the module's docstring, in eval mode."""
    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(num_classes=len(classes()))
    x, y = photos(open(os.path.join(DATA, "train.txt")).read().splitlines()[::37][:NTRAIN])
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batches
    net.train()
    with torch.no_grad():
        for i in range(0, NTRAIN, 16):
            net(x[i:i + 16])
    net.eval()
    head, feats = head_of(net), []
    hook = head.register_forward_hook(lambda mod, i, o: feats.append(i[0].detach()))
    with torch.no_grad():
        net(x)
    hook.remove()
    opt = torch.optim.AdamW(head.parameters(), lr=0.01, weight_decay=1.0)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(head(feats[0]), y).backward()
        opt.step()
    return net


def perturbed_logits(net, x, gen):
    """net's fp32 logits with every weight, the input and every conv/linear output multiplied
    by (1 + d), d uniform in [-U, U]: the error model."""
    def jitter(t):
        return t * (1 + U * (2 * torch.rand(t.shape, generator=gen) - 1))

    p = copy.deepcopy(net)
    with torch.no_grad():
        for m in p.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.copy_(jitter(m.weight))
                m.register_forward_hook(lambda mod, i, o: jitter(o))
        return p(jitter(x)).numpy()


def forward(case, precision, env=None, check=True):
    out = str(case["dir"] / ("%s.bin" % precision))
    r = subprocess.run([TOOL, case["model"], case["input"], out, str(NVAL), "--backend", "onednn",
                        "--logits", "--precision", precision],
                       capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, **(env or {})))
    if not check:
        return r, None
    assert r.returncode == 0, r.stderr
    return r, np.fromfile(out, "<f4").reshape(NVAL, -1)


def write_model(d, arch, net):
    meta = {"format_version": 1, "arch": arch, "classes": classes(),
            "thresholds": [0.5] * len(classes()), "resize": CROP, "crop": CROP, "mean": MEAN,
            "std": STD}
    path = str(d / "model.safetensors")
    st.save(path, st.state_dict_numpy(net), {"mlic": json.dumps(meta)})
    return path


@pytest.fixture(scope="module")
def auto_precision(tmp_path_factory):
    """What --precision auto picks on this machine."""
    d = tmp_path_factory.mktemp("auto")
    net = torchvision.models.resnet18(num_classes=len(classes())).eval()
    model, inp = write_model(d, "resnet18", net), str(d / "x.bin")
    np.zeros((1, 3, CROP, CROP), "<f4").tofile(inp)
    r = subprocess.run([TOOL, model, inp, str(d / "y.bin"), "1", "--precision", "auto"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stderr.split("precision ")[-1].strip()


@pytest.fixture(scope="module")
def bf16_cpu(auto_precision):
    if auto_precision != "bf16":
        pytest.skip("this CPU has neither AVX512_BF16 nor AMX (or ONEDNN_MAX_CPU_ISA caps it): "
                    "bf16 cannot run here; test_bf16_refused_without_the_instructions still runs")


@pytest.fixture(scope="module", params=ARCHS)
def case(request, tmp_path_factory):
    arch = request.param
    net = fitted_model(arch)
    x, _ = photos(val_lines())
    d = tmp_path_factory.mktemp(arch)
    x.numpy().astype("<f4").tofile(str(d / "input.bin"))
    with torch.no_grad():
        want = net(x).numpy()
    gen = torch.Generator().manual_seed(5)
    devs = np.array([np.abs(perturbed_logits(net, x, gen) - want) for _ in range(3)])
    return {"arch": arch, "dir": d, "model": write_model(d, arch, net),
            "input": str(d / "input.bin"), "want": want,
            "dev_rms": float(np.sqrt(np.mean(devs ** 2))), "dev_max": float(devs.max())}


def test_bf16_logits_within_the_error_model(case, bf16_cpu):
    _, fp32 = forward(case, "fp32")
    r, bf16 = forward(case, "bf16", env={"ONEDNN_VERBOSE": "1"})
    assert "precision bf16" in r.stderr
    # fp32 is the engine the parity tests hold to PyTorch; the reference here is that engine.
    assert np.abs(fp32 - case["want"]).max() < 1e-3 * max(1.0, np.abs(case["want"]).max())
    spread = case["want"].std()
    assert RMS_FACTOR * case["dev_rms"] < 0.5 * spread, \
        "the model is too sensitive for the test to tell bf16 from garbage"
    err = bf16 - fp32
    err_rms, err_max = float(np.sqrt(np.mean(err ** 2))), float(np.abs(err).max())
    assert err_max > 0, "bf16 gave exactly the fp32 logits: it did not compute in bf16"
    assert err_rms <= RMS_FACTOR * case["dev_rms"], \
        "%s: bf16 logit error %.4g RMS, the error model allows %.4g" % (
            case["arch"], err_rms, RMS_FACTOR * case["dev_rms"])
    assert err_max <= MAX_FACTOR * case["dev_max"], \
        "%s: bf16 logit error %.4g at most, the error model allows %.4g" % (
            case["arch"], err_max, MAX_FACTOR * case["dev_max"])
    convs = [l for l in r.stdout.splitlines() if ",exec," in l and ",convolution," in l]
    assert convs and all("src_bf16" in l and "wei_bf16" in l and ",ref" not in l for l in convs), \
        "not every convolution ran a bf16 kernel:\n" + "\n".join(convs[:5])


def test_fp32_runs_no_bf16_kernel(case):
    r, _ = forward(case, "fp32", env={"ONEDNN_VERBOSE": "1"})
    assert "precision fp32" in r.stderr
    assert "bf16" not in "\n".join(l for l in r.stdout.splitlines() if ",exec," in l)


def test_bf16_refused_without_the_instructions(case):
    # oneDNN capped at AVX2 is what a Zen 3 node has: bf16 is an error naming the lack, auto is
    # fp32, exactly.
    if case["arch"] != "resnet18":
        pytest.skip("one architecture is enough for the refusal")
    avx2 = {"ONEDNN_MAX_CPU_ISA": "AVX2"}
    r, _ = forward(case, "bf16", env=avx2, check=False)
    assert r.returncode != 0
    assert "neither AVX512_BF16 nor AMX" in r.stderr and "HINT" in r.stderr, r.stderr
    r, auto = forward(case, "auto", env=avx2)
    assert "precision fp32" in r.stderr
    _, fp32 = forward(case, "fp32", env=avx2)
    assert np.array_equal(auto, fp32)


def test_ref_backend_refuses_bf16(case):
    if case["arch"] != "resnet18":
        pytest.skip("one architecture is enough for the refusal")
    r = subprocess.run([TOOL, case["model"], case["input"], str(case["dir"] / "ref.bin"),
                        str(NVAL), "--backend", "ref", "--precision", "bf16"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "reference backend computes in fp32 only" in r.stderr, r.stderr


# ---- end to end: mlic predict, mlic eval and the Python package with --precision


def predict_probs(mlic, case, tmp_path, *extra):
    lst, out = tmp_path / "list.txt", tmp_path / ("out%d.jsonl" % len(os.listdir(tmp_path)))
    lst.write_text("".join(l.split("\t")[0] + "\n" for l in val_lines()))
    r = subprocess.run([mlic, "predict", "--model", case["model"], "--input", str(lst), "--root",
                        DATA, "--output", str(out), "--format", "jsonl", *extra],
                       capture_output=True, text=True, timeout=600)
    return r, (np.array([json.loads(l)["probs"] for l in open(out)]) if r.returncode == 0
               else None)


def test_predict_and_eval_end_to_end(mlic, case, bf16_cpu, tmp_path):
    if case["arch"] != "resnet18":
        pytest.skip("the end-to-end wiring is the same for every architecture")
    r, fp32 = predict_probs(mlic, case, tmp_path)
    assert r.returncode == 0, r.stderr
    r, bf16 = predict_probs(mlic, case, tmp_path, "--precision", "bf16")
    assert r.returncode == 0, r.stderr
    # A sigmoid's slope is at most 1/4: a logit error e moves a probability by at most e/4.
    diff = np.abs(bf16 - fp32).max()
    assert 0 < diff <= MAX_FACTOR * case["dev_max"] / 4, diff
    r, _ = predict_probs(mlic, case, tmp_path, "--precision", "fp16")
    assert r.returncode == 2 and "precision 'fp16' is not known" in r.stderr, r.stderr

    common = [mlic, "eval", "--model", case["model"], "--data", os.path.join(DATA, "val.txt"),
              "--json"]
    ev = {}
    for p in ("fp32", "bf16"):
        r = subprocess.run(common + ["--precision", p], capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stderr
        ev[p] = json.loads(r.stdout)
    assert ev["fp32"]["num_images"] == ev["bf16"]["num_images"] > 0
    if sanitized(BUILD):
        return  # a Python process cannot load a sanitizer build's library
    # The Python package: Model(precision=...) and evaluate(precision=...).
    code = ("import json, sys, mlic\n"
            "m = mlic.Model(sys.argv[1], precision='bf16')\n"
            "e = mlic.evaluate(sys.argv[1], sys.argv[2], precision='bf16', details=True)\n"
            "a = mlic.Model(sys.argv[1], precision='auto')\n"
            "try:\n"
            "    mlic.Model(sys.argv[1], precision='fp16')\n"
            "    bad = ''\n"
            "except mlic.Error as x:\n"
            "    bad = str(x)\n"
            "print(json.dumps([m.precision, e['precision'], e['mAP'], a.precision, bad]))\n")
    r = subprocess.run([sys.executable, "-c", code, case["model"], os.path.join(DATA, "val.txt")],
                       capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"),
                                MLIC_LIB=os.path.join(BUILD, "libmlic.so")))
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got[:2] == ["bf16", "bf16"] and got[3] == "bf16"
    assert abs(got[2] - ev["bf16"]["mAP"]) < 1e-5  # eval --json prints 6 decimals
    assert "precision 'fp16' is unknown" in got[4]
