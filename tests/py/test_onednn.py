"""The oneDNN backend against PyTorch in the situations test_forward.py leaves out: batches that
the engine cuts into chunks smaller than max_batch (each chunk size gets its own oneDNN plan),
a max_batch larger than the run, one thread, and input sizes that are no multiple of the SIMD
block or of the network's stride."""
import os
import subprocess

import numpy as np
import pytest
import torch
import torchvision

from torch_models import randomise_bn, write_forward_case

from conftest import BUILD
TOOL = os.path.join(BUILD, "tests", "tool_forward")
LOGIT_RTOL = 1e-4  # max abs logit difference relative to the largest logit (or 1)

# arch, num_classes, crop, images
CASES = [("resnet50", 3, 45, 5), ("mobilenet_v2", 6, 70, 5)]


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def case(request, tmp_path_factory):
    arch, k, crop, n = request.param
    torch.manual_seed(7)
    model = getattr(torchvision.models, arch)(num_classes=k)
    randomise_bn(model)
    x = torch.randn(n, 3, crop, crop)
    with torch.no_grad():
        want = model(x).double().numpy()
    d = tmp_path_factory.mktemp(arch)
    model_path, in_path = write_forward_case(d, arch, k, crop, model, x)
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
