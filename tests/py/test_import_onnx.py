"""mlic import --onnx against PyTorch: torchvision models exported by torch.onnx.export (batch
norms folded into the convolutions, as an eval-mode export does, or kept) are imported, their
arch found by structure, and the model's logits match the torch model's; exports mlic cannot take
fail with a message naming what is wrong."""
import os
import subprocess

import numpy as np
import pytest
import torch
import torchvision

import st
from conftest import BUILD
from torch_models import MEAN, STD, randomise_bn

TOOL = os.path.join(BUILD, "tests", "tool_forward")
LOGIT_RTOL = 1e-4


def onnx_supported(mlic, tmp_path):
    r = subprocess.run([mlic, "import", "--onnx", str(tmp_path / "none.onnx"), "--classes",
                        str(tmp_path / "none.txt"), "--output", str(tmp_path / "m")],
                       capture_output=True, text=True)
    return "no ONNX reader" not in r.stderr


def make_model(arch, k, crop, seed):
    torch.manual_seed(seed)
    model = getattr(torchvision.models, arch)(num_classes=k)
    randomise_bn(model)
    x = torch.randn(2, 3, crop, crop)
    with torch.no_grad():
        head = model.fc if arch.startswith("resnet") else model.classifier[1]
        s = float(model(x).abs().max()) / 3.0  # logits around [-3, 3]
        head.weight /= s
        head.bias /= s
        want = model(x).double().numpy()
    return model, x, want


def export(model, x, path, keep_bn=False):
    mode = torch.onnx.TrainingMode.PRESERVE if keep_bn else torch.onnx.TrainingMode.EVAL
    torch.onnx.export(model, x, str(path), opset_version=13, training=mode,
                      do_constant_folding=not keep_bn, input_names=["input"],
                      output_names=["logits"])


def import_onnx(mlic, tmp_path, onnx_path, k, *extra):
    classes = tmp_path / "classes.txt"
    classes.write_text("".join("c%d\n" % i for i in range(k)))
    out = tmp_path / "model.safetensors"
    r = subprocess.run([mlic, "import", "--onnx", str(onnx_path), "--classes", str(classes),
                        "--output", str(out), *map(str, extra)], capture_output=True, text=True,
                       timeout=300)
    return r, out


def logits_of(model_path, x, tmp_path):
    inp, out = tmp_path / "x.bin", tmp_path / "y.bin"
    x.numpy().astype("<f4").tofile(str(inp))
    r = subprocess.run([TOOL, str(model_path), str(inp), str(out), str(x.shape[0]), "--logits"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return np.fromfile(str(out), "<f4").reshape(x.shape[0], -1)


@pytest.mark.parametrize("arch,keep_bn", [("resnet18", False), ("resnet18", True),
                                          ("mobilenet_v2", False), ("resnet50", False)])
def test_onnx_export_imports_and_matches_torch(mlic, tmp_path, arch, keep_bn):
    if not onnx_supported(mlic, tmp_path):
        pytest.skip("built without ONNX support (make ONNX=0)")
    k, crop = 6, 64
    model, x, want = make_model(arch, k, crop, sum(map(ord, arch)))
    path = tmp_path / "model.onnx"
    export(model, x, path, keep_bn)
    r, out = import_onnx(mlic, tmp_path, path, k, "--crop", crop, "--resize", crop)
    assert r.returncode == 0, r.stderr
    assert "(%s, %d classes)" % (arch, k) in r.stderr
    tensors, meta = st.load(str(out))
    assert set(tensors) == set(model.state_dict())  # torchvision's names
    got = logits_of(out, x, tmp_path)
    err = np.abs(got - want).max() / max(1.0, np.abs(want).max())
    assert err < LOGIT_RTOL, "%s: relative logit error %g" % (arch, err)


def test_onnx_arch_is_checked_and_bad_files_are_refused(mlic, tmp_path):
    if not onnx_supported(mlic, tmp_path):
        pytest.skip("built without ONNX support (make ONNX=0)")
    model, x, _ = make_model("resnet18", 4, 64, 1)
    path = tmp_path / "r18.onnx"
    export(model, x, path)
    r, _ = import_onnx(mlic, tmp_path, path, 4, "--arch", "resnet34")
    assert r.returncode == 1 and "not resnet34" in r.stderr and "HINT" in r.stderr
    r, _ = import_onnx(mlic, tmp_path, path, 5)
    assert r.returncode == 1 and "4 outputs" in r.stderr and "5 names" in r.stderr
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a protobuf" * 10)
    r, _ = import_onnx(mlic, tmp_path, junk, 4)
    assert r.returncode == 1 and "junk.onnx" in r.stderr
    r, _ = import_onnx(mlic, tmp_path, tmp_path / "missing.onnx", 4)
    assert r.returncode == 1 and "missing.onnx" in r.stderr
    r, _ = import_onnx(mlic, tmp_path, tmp_path, 4)  # a folder
    assert r.returncode == 1 and "not a regular file" in r.stderr

    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.fc = torch.nn.Linear(4, 4)

        def forward(self, t):
            return self.fc(torch.tanh(self.conv(t)).mean((2, 3)))

    odd = tmp_path / "odd.onnx"
    torch.onnx.export(Odd().eval(), x[:1], str(odd), opset_version=13)
    r, _ = import_onnx(mlic, tmp_path, odd, 4)
    assert r.returncode == 1 and "Tanh" in r.stderr
    r = subprocess.run([mlic, "import", "--onnx", str(path), "--weights", "w", "--classes", "c",
                        "--output", "o"], capture_output=True, text=True)
    assert r.returncode == 2 and "--onnx" in r.stderr
