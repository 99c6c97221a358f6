"""mlic import / mlic info against PyTorch: a torchvision state dict goes in, the model file comes
back out through torch's load_state_dict(strict=True) with every tensor unchanged."""
import json
import os
import subprocess

import numpy as np
import pytest
import torch
import torchvision

import st

CLASSES = ["cat", "dog", "bird", "fish", "horse"]


def random_state_dict(arch, num_classes=5, seed=0):
    """A torchvision model's state dict with random weights and random batch-norm statistics
    (left at their init, running_mean 0 / var 1 would not show a mix-up)."""
    torch.manual_seed(seed)
    model = getattr(torchvision.models, arch)(num_classes=num_classes)
    rng = np.random.default_rng(seed)
    sd = st.state_dict_numpy(model)
    for k, v in sd.items():
        if k.endswith("running_mean"):
            sd[k] = rng.normal(size=v.shape).astype(np.float32)
        elif k.endswith("running_var"):
            sd[k] = rng.uniform(0.5, 2.0, size=v.shape).astype(np.float32)
        elif k.endswith("num_batches_tracked"):
            sd[k] = np.array(int(rng.integers(1, 1000)), dtype=np.int64)
    return model, sd


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    """(weights path, state dict) of a 5-class mobilenet_v2, shared by the error cases."""
    d = tmp_path_factory.mktemp("mobilenet")
    _, sd = random_state_dict("mobilenet_v2")
    path = str(d / "weights.safetensors")
    st.save(path, sd)
    return path, sd


def write_classes(path, names, newline="\n"):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(newline.join(names) + newline)
    return str(path)


def run(mlic, *args):
    return subprocess.run([mlic, *map(str, args)], capture_output=True, text=True, timeout=120)


def run_import(mlic, tmp_path, weights, classes=CLASSES, arch="mobilenet_v2", *extra):
    cls = write_classes(tmp_path / "classes.txt", classes)
    out = tmp_path / "model.safetensors"
    r = run(mlic, "import", "--arch", arch, "--weights", weights, "--classes", cls, "--output", out,
            *extra)
    return r, str(out)


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v2"])
def test_import_round_trips_through_pytorch(mlic, tmp_path, arch):
    model, sd = random_state_dict(arch)
    weights = str(tmp_path / "w.safetensors")
    st.save(weights, sd)
    # CRLF line ends and blank lines in the class list are tolerated.
    cls = write_classes(tmp_path / "c.txt", CLASSES[:2] + ["", "  "] + CLASSES[2:], newline="\r\n")
    out = str(tmp_path / "m.safetensors")
    r = run(mlic, "import", "--arch", arch, "--weights", weights, "--classes", cls,
            "--output", out, "--resize", "288", "--crop=256", "--mean", "0.5,0.25,0.125",
            "--std", "0.2, 0.3, 0.4", "--threshold", "0.3")
    assert r.returncode == 0, r.stderr

    tensors, meta = st.load(out)
    fresh = getattr(torchvision.models, arch)(num_classes=5)
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    assert list(tensors) == list(fresh.state_dict()), "tensors not in state-dict order"
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            assert tensors[k].dtype == np.int64 and tensors[k].shape == ()
            continue
        assert tensors[k].dtype == np.float32, k
        np.testing.assert_array_equal(tensors[k], v, err_msg=k)

    m = json.loads(meta["mlic"])
    assert m["format_version"] == 1 and m["arch"] == arch and m["classes"] == CLASSES

    r = run(mlic, "info", out, "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["arch"] == arch
    assert info["classes"] == CLASSES and info["num_classes"] == 5
    np.testing.assert_array_equal(np.float32(info["thresholds"]), np.float32([0.3] * 5))
    assert info["resize"] == 288 and info["crop"] == 256 and info["input"] == [3, 256, 256]
    np.testing.assert_array_equal(np.float32(info["mean"]), np.float32([0.5, 0.25, 0.125]))
    np.testing.assert_array_equal(np.float32(info["std"]), np.float32([0.2, 0.3, 0.4]))
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
    assert info["file_size"] == os.path.getsize(out)

    r = run(mlic, "info", out)
    assert r.returncode == 0, r.stderr
    assert arch in r.stdout and all(c in r.stdout for c in CLASSES)


def test_half_precision_weights_are_widened(mlic, tmp_path, mobilenet):
    _, sd = mobilenet
    half = {k: (v.astype(np.float16) if v.dtype == np.float32 else v) for k, v in sd.items()}
    weights = str(tmp_path / "half.safetensors")
    st.save(weights, half)
    r, out = run_import(mlic, tmp_path, weights)
    assert r.returncode == 0, r.stderr
    tensors, _ = st.load(out)
    for k, v in half.items():
        if v.dtype == np.float16:
            np.testing.assert_array_equal(tensors[k], torch.from_numpy(v).float().numpy(), err_msg=k)


def test_unicode_class_names(mlic, tmp_path, mobilenet):
    names = ["猫", "chien é", "a,b", "quote\"d", "tab\there"]
    r, out = run_import(mlic, tmp_path, mobilenet[0], names)
    assert r.returncode == 0, r.stderr
    info = json.loads(run(mlic, "info", "--json", out).stdout)
    assert info["classes"] == names


def expect_failure(r, code, *pieces):
    assert r.returncode == code, (r.returncode, r.stderr)
    assert r.stderr.startswith("mlic "), r.stderr
    for p in pieces:
        assert p in r.stderr, f"{p!r} not in: {r.stderr}"


def test_missing_tensor(mlic, tmp_path, mobilenet):
    sd = dict(mobilenet[1])
    del sd["features.3.conv.1.0.weight"]
    weights = str(tmp_path / "w.safetensors")
    st.save(weights, sd)
    r, out = run_import(mlic, tmp_path, weights)
    expect_failure(r, 1, "mlic import:", weights, "missing", "'features.3.conv.1.0.weight'")
    assert not os.path.exists(out)


def test_unexpected_tensor(mlic, tmp_path, mobilenet):
    sd = dict(mobilenet[1])
    sd["features.99.weight"] = np.zeros(3, np.float32)
    weights = str(tmp_path / "w.safetensors")
    st.save(weights, sd)
    r, _ = run_import(mlic, tmp_path, weights)
    expect_failure(r, 1, "unexpected", "'features.99.weight'")


def test_prefixed_names_get_a_hint(mlic, tmp_path, mobilenet):
    weights = str(tmp_path / "w.safetensors")
    st.save(weights, {"module." + k: v for k, v in mobilenet[1].items()})
    r, _ = run_import(mlic, tmp_path, weights)
    expect_failure(r, 1, "missing", "HINT", "'module.'")


def test_wrong_shape(mlic, tmp_path, mobilenet):
    sd = dict(mobilenet[1])
    sd["features.1.conv.1.weight"] = np.zeros((16, 32, 3, 3), np.float32)
    weights = str(tmp_path / "w.safetensors")
    st.save(weights, sd)
    r, _ = run_import(mlic, tmp_path, weights)
    expect_failure(r, 1, "'features.1.conv.1.weight'", "expected shape [16, 32, 1, 1]",
                   "got [16, 32, 3, 3]")


def test_wrong_arch(mlic, tmp_path, mobilenet):
    r, _ = run_import(mlic, tmp_path, mobilenet[0], CLASSES, "resnet18")
    expect_failure(r, 1, "resnet18", "missing", "--arch")


def test_class_count_mismatch(mlic, tmp_path, mobilenet):
    r, _ = run_import(mlic, tmp_path, mobilenet[0], CLASSES[:4])
    expect_failure(r, 1, "'classifier.1.weight'", "5 outputs", "4 classes", "HINT")


def test_corrupt_file(mlic, tmp_path, mobilenet):
    data = open(mobilenet[0], "rb").read()
    weights = str(tmp_path / "truncated.safetensors")
    open(weights, "wb").write(data[: len(data) - 1000])
    r, _ = run_import(mlic, tmp_path, weights)
    expect_failure(r, 1, weights, "outside the data section")

    bad = bytearray(data)
    bad[8] = ord("[")  # the header's opening brace
    open(weights, "wb").write(bytes(bad))
    r, _ = run_import(mlic, tmp_path, weights)
    expect_failure(r, 1, weights, "not valid JSON")


def test_not_a_safetensors_file(mlic, tmp_path):
    weights = str(tmp_path / "photo.jpg")
    open(weights, "wb").write(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200))
    r, _ = run_import(mlic, tmp_path, weights)
    expect_failure(r, 1, weights, "not a safetensors file")

    r, _ = run_import(mlic, tmp_path, str(tmp_path / "nonexistent.safetensors"))
    expect_failure(r, 1, "nonexistent.safetensors", "No such file")


def test_classes_file_problems(mlic, tmp_path, mobilenet):
    out = tmp_path / "m.safetensors"
    missing = tmp_path / "no_classes.txt"
    r = run(mlic, "import", "--arch", "mobilenet_v2", "--weights", mobilenet[0], "--classes",
            missing, "--output", out)
    expect_failure(r, 1, "mlic import:", str(missing), "No such file")

    r, _ = run_import(mlic, tmp_path, mobilenet[0], ["a", "b", "c", "b", "e"])
    expect_failure(r, 1, "'b'", "twice")

    r, _ = run_import(mlic, tmp_path, mobilenet[0], ["", " "])
    expect_failure(r, 1, "no class names")


@pytest.mark.parametrize("args, piece", [
    ([], "missing --weights (or --onnx)"),
    (["--weights", "w", "--classes", "c", "--output", "o"], "missing --arch"),
    (["--arch", "resnet18", "--weights", "w", "--classes", "c"], "missing --output"),
    (["--arch", "vgg16", "--weights", "w", "--classes", "c", "--output", "o"], "vgg16"),
    (["--arch", "resnet18", "--weights", "w", "--classes", "c", "--output", "o", "--bogus"],
     "'--bogus'"),
    (["--arch", "resnet18", "--weights", "w", "--classes", "c", "--output", "o", "--mean", "1,2"],
     "--mean"),
    (["--arch", "resnet18", "--weights", "w", "--classes", "c", "--output", "o", "--crop", "x"],
     "--crop"),
    (["--arch", "resnet18", "--weights", "w", "--classes", "c", "--output", "o", "--threshold",
      "1.5"], "threshold"),
    (["--arch", "resnet18", "--weights", "w", "--classes", "c", "--output", "o", "--crop", "300"],
     "resize"),
    (["--arch", "resnet18", "--weights", "w", "--classes", "c", "--output", "o", "--std",
      "0.2,0,0.2"], "std"),
    (["--arch"], "--arch needs a value"),
])
def test_import_usage_errors(mlic, args, piece):
    expect_failure(run(mlic, "import", *args), 2, "mlic import:", piece)


def test_help(mlic):
    for cmd in ("import", "info"):
        r = run(mlic, cmd, "--help")
        assert r.returncode == 0 and "usage: mlic " + cmd in r.stdout


def test_info_errors(mlic, tmp_path, mobilenet):
    expect_failure(run(mlic, "info"), 2, "mlic info:", "no model file")
    expect_failure(run(mlic, "info", "a", "b"), 2, "one model file")
    expect_failure(run(mlic, "info", "--yaml", "a"), 2, "'--yaml'")
    expect_failure(run(mlic, "info", tmp_path / "none.safetensors"), 1, "none.safetensors")
    # A plain state dict is a safetensors file but no model.
    expect_failure(run(mlic, "info", mobilenet[0]), 1, mobilenet[0], "\"mlic\" metadata",
                   "mlic import")


def test_info_rejects_tampered_models(mlic, tmp_path, mobilenet):
    r, out = run_import(mlic, tmp_path, mobilenet[0])
    assert r.returncode == 0, r.stderr
    tensors, meta = st.load(out)
    good = json.loads(meta["mlic"])
    bad = str(tmp_path / "bad.safetensors")

    def check(tensors, change, *pieces):
        st.save(bad, tensors, {"mlic": json.dumps({**good, **change})})
        expect_failure(run(mlic, "info", bad), 1, bad, *pieces)

    check(tensors, {"format_version": 2}, "format_version 2", "upgrade")
    check(tensors, {"classes": CLASSES[:4], "thresholds": [0.5] * 4}, "'classifier.1.weight'",
          "5 outputs", "4 classes")
    check(tensors, {"thresholds": [0.5] * 4}, "thresholds")
    check(tensors, {"arch": "vgg16"}, "vgg16")
    check(tensors, {"std": [0.2, 0.2]}, "std")
    check(tensors, {"std": [0.2, -0.2, 0.2]}, "std[1]")
    check(tensors, {"crop": 8}, "crop 8")
    check(tensors, {"classes": ["a", "b", "a", "c", "d"]}, "'a'", "twice")
    check(tensors, {"classes": ["a", "b\nc", "d", "e", "f"]}, "newline")
    nan = dict(tensors)
    nan["classifier.1.bias"] = np.array([0, 0, np.nan, 0, 0], np.float32)
    check(nan, {}, "'classifier.1.bias'", "NaN")
    i64 = dict(tensors)
    i64["classifier.1.bias"] = np.zeros(5, np.int64)
    check(i64, {}, "'classifier.1.bias'", "I64")
