"""mlic export: the ONNX file run by ONNX Runtime gives mlic's probabilities and logits for every
arch, declares what the docs say (opset 13, dynamic batch, "logits" and "probs", classes and
thresholds in metadata_props) and imports back into the identical model; the torchvision export
loads into torchvision with strict=True and gives mlic's logits."""
import json
import os
import subprocess

import numpy as np
import pytest
import torch
import torchvision

import st
from conftest import BUILD, ROOT
from torch_models import MEAN, STD, randomise_bn

TOOL = os.path.join(BUILD, "tests", "tool_forward")
ORT_PY = os.path.join(ROOT, "build", "bench", "ortenv", "bin", "python3")
ARCHS = ["resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v2"]
# Two float32 implementations of one network (different kernels and summation orders) differ by
# rounding of about 2^-24 relative per operation, growing with depth but staying orders of
# magnitude below 1e-4 for logits scaled to |logit| <= 3 (make_model) even through ResNet-101's
# hundred layers; probabilities move at most a quarter as much (the sigmoid's slope is <= 1/4).
LOGIT_ATOL = 1e-4
PROB_ATOL = 1e-4
K, CROP = 5, 64
CLASSES = ["person", "dog, brown", "caf\u00e9", "a \"quoted\" name", "tab\there"]
THRESHOLDS = [0.5, 0.25, 0.75, 0.125, 0.5]


@pytest.fixture(scope="session")
def ort_python():
    """ONNX Runtime's venv, made by scripts/ortenv.sh when missing (PyPI)."""
    r = subprocess.run([os.path.join(ROOT, "scripts", "ortenv.sh")], capture_output=True,
                       text=True, timeout=900)
    if r.returncode != 0:
        pytest.skip("no ONNX Runtime venv (scripts/ortenv.sh: %s)" % r.stderr.strip())
    return ORT_PY


def export_onnx(mlic, model_path, onnx_path):
    """mlic export --onnx; skips the test on a build without ONNX support (make ONNX=0), after
    checking that such a build says so."""
    r = export(mlic, "--model", model_path, "--onnx", onnx_path)
    if r.returncode == 1 and "this build has no ONNX writer" in r.stderr:
        assert "HINT: install protobuf-c-compiler" in r.stderr and not os.path.exists(onnx_path)
        pytest.skip("built without ONNX support (make ONNX=0)")
    assert r.returncode == 0, r.stderr
    return r


def make_model(tmp_path, arch):
    """A random torchvision arch with batch norms that matter and logits around [-3, 3], saved
    as an mlic model (per-class thresholds, awkward class names): (torch model, model path, x)."""
    torch.manual_seed(sum(map(ord, arch)))
    model = getattr(torchvision.models, arch)(num_classes=K)
    randomise_bn(model)
    x = torch.randn(3, 3, CROP, CROP)
    with torch.no_grad():
        head = model.fc if arch.startswith("resnet") else model.classifier[1]
        s = float(model(x).abs().max()) / 3.0
        head.weight /= s
        head.bias /= s
    meta = {"format_version": 1, "arch": arch, "classes": CLASSES, "thresholds": THRESHOLDS,
            "resize": CROP, "crop": CROP, "mean": MEAN, "std": STD}
    path = tmp_path / "model.safetensors"
    st.save(str(path), st.state_dict_numpy(model), {"mlic": json.dumps(meta)})
    return model, path, x


def mlic_forward(model_path, x, tmp_path, logits):
    inp, out = tmp_path / "x.bin", tmp_path / "y.bin"
    x.numpy().astype("<f4").tofile(str(inp))
    r = subprocess.run([TOOL, str(model_path), str(inp), str(out), str(x.shape[0])] +
                       (["--logits"] if logits else []), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return np.fromfile(str(out), "<f4").reshape(x.shape[0], -1)


def run_ort(ort_python, onnx_path, x, tmp_path):
    inp = tmp_path / "ort_x.bin"
    x.numpy().astype("<f4").tofile(str(inp))
    prefix = str(tmp_path / "ort")
    r = subprocess.run([ort_python, os.path.join(ROOT, "tests", "py", "ort_run.py"),
                        str(onnx_path), str(inp), str(x.shape[0]), prefix],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout.strip().splitlines()[-1])
    outs = {name: np.fromfile("%s.%s.bin" % (prefix, name), "<f4").reshape(x.shape[0], -1)
            for name, _ in info["outputs"]}
    return info, outs


def export(mlic, *args):
    return subprocess.run([mlic, "export", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("arch", ARCHS)
def test_onnx_export_matches_mlic_and_imports_back(mlic, ort_python, tmp_path, arch):
    _, model_path, x = make_model(tmp_path, arch)
    onnx_path = tmp_path / "model.onnx"
    r = export_onnx(mlic, model_path, onnx_path)
    assert "wrote %s (ONNX, %s, %d classes)" % (onnx_path, arch, K) in r.stderr

    want_logits = mlic_forward(model_path, x, tmp_path, logits=True)
    want_probs = mlic_forward(model_path, x, tmp_path, logits=False)
    info, got = run_ort(ort_python, onnx_path, x, tmp_path)
    assert info["input"] == ["input", ["N", 3, CROP, CROP]]
    assert info["outputs"] == [["logits", ["N", K]], ["probs", ["N", K]]]
    assert info["producer"] == "mlic"
    assert json.loads(info["metadata"]["classes"]) == CLASSES
    assert json.loads(info["metadata"]["thresholds"]) == THRESHOLDS
    scale = float(np.abs(want_logits).max())
    assert 1.0 < scale < 3.5  # the outputs are spread, not all near 0, and as make_model scales
    np.testing.assert_allclose(got["logits"], want_logits, rtol=0, atol=LOGIT_ATOL)
    np.testing.assert_allclose(got["probs"], want_probs, rtol=0, atol=PROB_ATOL)
    # The batch dimension is dynamic: one image runs too, with the same numbers.
    _, one = run_ort(ort_python, onnx_path, x[1:2], tmp_path)
    np.testing.assert_allclose(one["probs"], want_probs[1:2], rtol=0, atol=PROB_ATOL)

    # Back into mlic: the classes, thresholds and preprocessing come from the metadata, and the
    # model is the one exported, every tensor bit for bit.
    back = tmp_path / "back.safetensors"
    r = subprocess.run([mlic, "import", "--onnx", str(onnx_path), "--output", str(back)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    t0, m0 = st.load(str(model_path))
    t1, m1 = st.load(str(back))
    assert json.loads(m1["mlic"]) == json.loads(m0["mlic"])
    assert sorted(t1) == sorted(t0)
    for name in t0:
        if name.endswith("num_batches_tracked"):  # torch's shape (1,) here, mlic writes ()
            assert int(t1[name].sum()) == int(t0[name].sum()) == 0
            continue
        assert t1[name].dtype == t0[name].dtype and np.array_equal(t1[name], t0[name]), name
    # And from a model mlic wrote, a second round trip gives the very same bytes.
    export_onnx(mlic, back, onnx_path)
    again = tmp_path / "again.safetensors"
    r = subprocess.run([mlic, "import", "--onnx", str(onnx_path), "--output", str(again)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert again.read_bytes() == back.read_bytes()


def test_onnx_export_passes_the_onnx_checker(mlic, tmp_path):
    """Debian's onnx package (no runtime) checks the file against the ONNX spec."""
    onnx = pytest.importorskip("onnx")
    _, model_path, _ = make_model(tmp_path, "mobilenet_v2")
    onnx_path = tmp_path / "model.onnx"
    export_onnx(mlic, model_path, onnx_path)
    m = onnx.load(str(onnx_path))
    onnx.checker.check_model(m, full_check=True)
    assert [(o.domain, o.version) for o in m.opset_import] == [("", 13)]
    props = {p.key: p.value for p in m.metadata_props}
    assert json.loads(props["mlic"])["arch"] == "mobilenet_v2"
    # torchvision's names on the initializers, the batch norms kept (not folded).
    names = {t.name for t in m.graph.initializer}
    assert "features.0.1.running_var" in names and "classifier.1.weight" in names
    assert sum(n.op_type == "BatchNormalization" for n in m.graph.node) == 52


@pytest.mark.parametrize("arch", ARCHS)
def test_torchvision_export_loads_strict_and_matches(mlic, tmp_path, arch):
    _, model_path, x = make_model(tmp_path, arch)
    out = tmp_path / "tv.safetensors"
    r = export(mlic, "--model", model_path, "--torchvision", out)
    assert r.returncode == 0, r.stderr
    classes = tmp_path / "tv.classes.txt"
    assert classes.read_text(encoding="utf-8").split("\n") == CLASSES + [""]
    tensors, meta = st.load(str(out))
    assert not meta  # a plain state dict: no __metadata__
    net = getattr(torchvision.models, arch)(num_classes=K)
    want_keys = list(net.state_dict())
    assert list(tensors) == want_keys  # torchvision's order, num_batches_tracked included
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()}, strict=True)
    net.eval()
    with torch.no_grad():
        got = net(x).numpy()
    want = mlic_forward(model_path, x, tmp_path, logits=True)
    assert 1.0 < float(np.abs(want).max()) < 3.5
    np.testing.assert_allclose(got, want, rtol=0, atol=LOGIT_ATOL)


def test_export_usage_and_errors(mlic, tmp_path):
    r = export(mlic, "--help")
    assert r.returncode == 0 and "--torchvision" in r.stdout
    assert export(mlic, "--onnx", tmp_path / "a.onnx").returncode == 2
    r = export(mlic, "--model", tmp_path / "m")
    assert r.returncode == 2 and "--onnx and/or --torchvision" in r.stderr
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    r = export(mlic, "--model", bad, "--torchvision", tmp_path / "tv.safetensors")
    assert r.returncode == 1 and str(bad) in r.stderr
    assert not (tmp_path / "tv.safetensors").exists()
    # --classes-out puts the list where asked.
    _, model_path, _ = make_model(tmp_path, "resnet18")
    r = export(mlic, "--model", model_path, "--torchvision", tmp_path / "w", "--classes-out",
               tmp_path / "names.txt")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "names.txt").read_text(encoding="utf-8") == "".join(
        c + "\n" for c in CLASSES)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["bad.safetensors", "model.safetensors", "names.txt", "w"])


def test_import_of_an_export_with_or_without_metadata(mlic, tmp_path):
    """With --classes, an mlic export is matched by structure like any export (the arch found,
    the given preprocessing used); without, preprocessing options are refused as ambiguous, and
    a file with no "mlic" metadata asks for --classes."""
    _, model_path, _ = make_model(tmp_path, "resnet34")
    onnx_path = tmp_path / "model.onnx"
    export_onnx(mlic, model_path, onnx_path)
    classes = tmp_path / "classes.txt"
    classes.write_text("".join("k%d\n" % i for i in range(K)))
    out = tmp_path / "byclasses.safetensors"
    r = subprocess.run([mlic, "import", "--onnx", str(onnx_path), "--classes", str(classes),
                        "--crop", "96", "--resize", "128", "--output", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "(resnet34, %d classes)" % K in r.stderr
    t0, _ = st.load(str(model_path))
    t1, m1 = st.load(str(out))
    meta = json.loads(m1["mlic"])
    assert meta["classes"] == ["k%d" % i for i in range(K)] and meta["crop"] == 96
    assert all(np.array_equal(t1[n], t0[n]) for n in t0 if not n.endswith("tracked"))

    r = subprocess.run([mlic, "import", "--onnx", str(onnx_path), "--crop", "96", "--output",
                        str(tmp_path / "x.safetensors")], capture_output=True, text=True)
    assert r.returncode == 2 and "give --classes to set them" in r.stderr
    r = subprocess.run([mlic, "import", "--onnx", str(onnx_path), "--arch", "resnet18",
                        "--output", str(tmp_path / "x.safetensors")], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 1 and "--arch resnet18, but its metadata says resnet34" in r.stderr

    # A torch.onnx.export file has no "mlic" metadata.
    torch_onnx = tmp_path / "torch.onnx"
    net = torchvision.models.resnet18(num_classes=K)
    randomise_bn(net)  # fresh batch norms fold to equal zero biases, which torch shares
    torch.onnx.export(net, torch.randn(1, 3, CROP, CROP), str(torch_onnx), opset_version=13,
                      training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
    r = subprocess.run([mlic, "import", "--onnx", str(torch_onnx), "--output",
                        str(tmp_path / "x.safetensors")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 1 and "no class list given" in r.stderr and "--classes" in r.stderr
    assert not (tmp_path / "x.safetensors").exists()


def test_export_to_a_missing_folder_fails_cleanly(mlic, tmp_path):
    _, model_path, _ = make_model(tmp_path, "resnet18")
    target = tmp_path / "absent" / "tv.safetensors"
    r = export(mlic, "--model", model_path, "--torchvision", target)
    assert r.returncode == 1 and str(target) in r.stderr
    r = export(mlic, "--model", model_path, "--onnx", tmp_path / "absent" / "m.onnx")
    if "no ONNX writer" not in r.stderr:
        assert r.returncode == 1 and "absent/m.onnx" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
