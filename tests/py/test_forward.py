"""Inference against PyTorch: random torchvision weights (batch norm statistics and affine
randomised too, so that folding matters) written as an mlic model file, run through
build/tests/tool_forward, compared with the torchvision model in eval mode."""
import os
import subprocess

import numpy as np
import pytest
import torch
import torchvision

from torch_models import randomise_bn, write_forward_case

from conftest import BUILD
TOOL = os.path.join(BUILD, "tests", "tool_forward")

PROB_TOL = 1e-4   # max abs difference of sigmoid probabilities
LOGIT_RTOL = 1e-4  # max abs difference of logits, relative to the largest logit (or 1)

# arch, num_classes, crop, batch
CASES = [
    ("resnet18", 5, 96, 3),
    ("resnet34", 13, 64, 2),
    ("resnet50", 5, 96, 2),
    ("resnet101", 13, 64, 2),
    ("mobilenet_v2", 13, 96, 3),
]


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def case(request, tmp_path_factory):
    arch, k, crop, n = request.param
    seed = sum(map(ord, arch))
    torch.manual_seed(seed)
    model = getattr(torchvision.models, arch)(num_classes=k)
    torch.manual_seed(seed)
    randomise_bn(model)
    x = torch.randn(n, 3, crop, crop)
    with torch.no_grad():
        head = model.fc if arch.startswith("resnet") else model.classifier[1]
        # Scale the head so logits land around [-3, 3]: sigmoid is then far from saturated and
        # the probability comparison means something.
        s = float(model(x).abs().max()) / 3.0
        head.weight /= s
        head.bias /= s
        want = model(x).double().numpy()
    d = tmp_path_factory.mktemp(arch)
    model_path, in_path = write_forward_case(d, arch, k, crop, model, x)
    return {"arch": arch, "k": k, "n": n, "model": model_path, "input": in_path, "dir": d,
            "want": want}


def forward(case, *args):
    assert os.path.exists(TOOL), "build/tests/tool_forward is missing: run make first"
    out = str(case["dir"] / ("out%d.bin" % len(os.listdir(str(case["dir"])))))
    r = subprocess.run([TOOL, case["model"], case["input"], out, str(case["n"])] + list(args),
                       capture_output=True, text=True, timeout=300)
    return r, (np.fromfile(out, "<f4").reshape(case["n"], case["k"]) if r.returncode == 0 else None)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def check(case, backend, extra=()):
    r, logits = forward(case, "--backend", backend, "--logits", *extra)
    assert r.returncode == 0, r.stderr
    want = case["want"]
    err = np.abs(logits - want).max() / max(1.0, np.abs(want).max())
    assert err < LOGIT_RTOL, "%s %s logits: relative error %g" % (case["arch"], backend, err)
    r, probs = forward(case, "--backend", backend, *extra)
    assert r.returncode == 0, r.stderr
    err = np.abs(probs - sigmoid(want)).max()
    assert err < PROB_TOL, "%s %s probs: max abs error %g" % (case["arch"], backend, err)


def test_ref(case):
    check(case, "ref")


def test_ref_in_smaller_batches(case):
    """The engine splits a run larger than max_batch; results must not change."""
    if case["n"] < 3:
        pytest.skip("only the batch-3 cases exercise a partial last chunk")
    check(case, "ref", ("--max-batch", "2", "--threads", "1"))


def test_onednn(case):
    r, _ = forward(case, "--backend", "onednn", "--logits")
    if r.returncode != 0 and "no oneDNN" in r.stderr:
        pytest.skip("this build has no oneDNN backend (make ONEDNN=0 or libdnnl-dev missing)")
    check(case, "onednn")
