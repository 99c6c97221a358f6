"""The oneDNN backend against PyTorch in the situations test_forward.py leaves out: batches that
the engine cuts into chunks smaller than max_batch (each chunk size gets its own oneDNN plan),
a max_batch larger than the run, one thread, and input sizes that are no multiple of the SIMD
block or of the network's stride."""
import json
import os
import subprocess

import numpy as np
import pytest
import torch
import torchvision

import st

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "build", "tests", "tool_forward")
LOGIT_RTOL = 1e-4  # max abs logit difference relative to the largest logit (or 1)

# arch, num_classes, crop, images
CASES = [("resnet50", 3, 45, 5), ("mobilenet_v2", 6, 70, 5)]


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def case(request, tmp_path_factory):
    arch, k, crop, n = request.param
    torch.manual_seed(7)
    model = getattr(torchvision.models, arch)(num_classes=k)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    model.eval()
    x = torch.randn(n, 3, crop, crop)
    with torch.no_grad():
        want = model(x).double().numpy()
    d = tmp_path_factory.mktemp(arch)
    meta = {"format_version": 1, "arch": arch, "classes": ["c%d" % i for i in range(k)],
            "thresholds": [0.5] * k, "resize": crop, "crop": crop,
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    model_path = str(d / "model.safetensors")
    st.save(model_path, st.state_dict_numpy(model), {"mlic": json.dumps(meta)})
    in_path = str(d / "input.bin")
    x.numpy().astype("<f4").tofile(in_path)
    return {"k": k, "n": n, "model": model_path, "input": in_path, "dir": d, "want": want}


def run_onednn(case, *args):
    assert os.path.exists(TOOL), "build/tests/tool_forward is missing: run make first"
    out = str(case["dir"] / ("out%d.bin" % len(os.listdir(str(case["dir"])))))
    r = subprocess.run([TOOL, case["model"], case["input"], out, str(case["n"]), "--backend",
                        "onednn", "--logits"] + list(args),
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0 and "no oneDNN" in r.stderr:
        pytest.skip("this build has no oneDNN backend")
    assert r.returncode == 0, r.stderr
    return np.fromfile(out, "<f4").reshape(case["n"], case["k"])


def assert_close(case, got):
    want = case["want"]
    err = np.abs(got - want).max() / max(1.0, np.abs(want).max())
    assert err < LOGIT_RTOL, "relative logit error %g" % err


@pytest.mark.parametrize("max_batch", [2, 3])
def test_chunks_smaller_than_max_batch(case, max_batch):
    # 5 images in chunks of 2, 2, 1 or 3, 2: the last chunk runs a plan built on first use.
    assert_close(case, run_onednn(case, "--max-batch", str(max_batch)))


def test_max_batch_larger_than_run(case):
    assert_close(case, run_onednn(case, "--max-batch", "8"))


def test_one_thread(case):
    assert_close(case, run_onednn(case, "--threads", "1", "--max-batch", "2"))
