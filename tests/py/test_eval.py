"""mlic eval against scikit-learn and PyTorch: a random torchvision resnet18 with the 7 apparel
classes, imported with `mlic import`, evaluated on 41 real photos of the apparel val split.

The metrics are checked near-exactly against sklearn computed on mlic's own probabilities (from
`mlic predict --format jsonl` on the same images, which eval must reproduce), and loosely
against sklearn on PyTorch's probabilities with torchvision's Resize + CenterCrop on PIL (JPEG
decoding differs slightly: mlic decodes at a DCT-reduced size, as predict does)."""
import json
import os
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import average_precision_score, precision_score, recall_score
from torchvision import transforms

import st
from torch_models import random_resnet18

DATA = "/work/shared/data/apparel"
RESIZE, CROP = 72, 64
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
STEP = 6  # every 6th line of val.txt: 41 images with every class present

pytestmark = pytest.mark.skipif(not os.path.exists(f"{DATA}/val.txt"),
                                reason="the apparel data set is not here")


def run(mlic, *args, timeout=120):
    return subprocess.run([mlic, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def work(mlic, tmp_path_factory):
    d = tmp_path_factory.mktemp("eval")
    classes = open(f"{DATA}/classes.txt").read().split()
    net = random_resnet18(len(classes))
    weights = d / "weights.safetensors"
    st.save(str(weights), net.state_dict())
    model = d / "model.safetensors"
    r = run(mlic, "import", "--arch", "resnet18", "--weights", weights, "--classes",
            f"{DATA}/classes.txt", "--output", model, "--resize", RESIZE, "--crop", CROP,
            "--threshold", "0.5")
    assert r.returncode == 0, r.stderr

    lines = open(f"{DATA}/val.txt").read().splitlines()[::STEP]
    data = d / "val.txt"
    data.write_text("\n".join(lines) + "\n")
    paths = [ln.split("\t")[0] for ln in lines]
    targets = np.zeros((len(lines), len(classes)), np.uint8)
    for i, ln in enumerate(lines):
        for name in ln.split("\t")[1].split(","):
            targets[i, classes.index(name)] = 1
    assert targets.sum(0).min() > 0
    return {"dir": d, "classes": classes, "net": net, "model": str(model), "data": str(data),
            "paths": paths, "targets": targets}


def sklearn_metrics(probs, targets, thresholds):
    pred = (probs >= np.asarray(thresholds)[None, :]).astype(np.uint8)
    k = targets.shape[1]
    ap = [average_precision_score(targets[:, c], probs[:, c]) * 100 if targets[:, c].any()
          else None for c in range(k)]
    cp = precision_score(targets, pred, average="macro", zero_division=0) * 100
    cr = recall_score(targets, pred, average="macro", zero_division=0) * 100
    op = precision_score(targets, pred, average="micro", zero_division=0) * 100
    orr = recall_score(targets, pred, average="micro", zero_division=0) * 100
    f1 = lambda p, r: 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {"mAP": np.mean([a for a in ap if a is not None]), "CP": cp, "CR": cr,
            "CF1": f1(cp, cr), "OP": op, "OR": orr, "OF1": f1(op, orr), "per_class": ap}


def predict_probs(mlic, work, tmp_path, *extra):
    lst = tmp_path / "paths.txt"
    lst.write_text("\n".join(work["paths"]) + "\n")
    out = tmp_path / "out.jsonl"
    r = run(mlic, "predict", "--model", work["model"], "--input", lst, "--output", out,
            "--format", "jsonl", "--root", DATA, *extra)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["path"] for row in rows] == work["paths"]
    return np.array([row["probs"] for row in rows], np.float64)


def torch_probs(work):
    tf = transforms.Compose([transforms.Resize(RESIZE), transforms.CenterCrop(CROP),
                             transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    x = torch.stack([tf(Image.open(os.path.join(DATA, p)).convert("RGB"))
                     for p in work["paths"]])
    with torch.no_grad():
        return torch.sigmoid(work["net"](x)).numpy().astype(np.float64)


def check_metrics(got, want, classes, tol):
    for key in ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1"):
        assert got[key] == pytest.approx(want[key], abs=tol), key
    assert list(got["per_class"]) == classes
    for name, ap in zip(classes, want["per_class"]):
        if ap is None:
            assert got["per_class"][name] is None, name
        else:
            assert got["per_class"][name] == pytest.approx(ap, abs=tol), name


def eval_json(mlic, work, *extra):
    r = run(mlic, "eval", "--model", work["model"], "--data", work["data"], "--root", DATA,
            "--json", *extra)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["num_images"] == len(work["paths"])
    return got


@pytest.fixture(scope="module")
def probs(mlic, work, tmp_path_factory):
    return predict_probs(mlic, work, tmp_path_factory.mktemp("predict"))


def test_eval_matches_sklearn_on_mlic_probs(mlic, work, probs):
    # Near-median thresholds, so that predictions are mixed and P/R/F1 are not degenerate.
    t = float(np.round(np.median(probs), 3))
    for extra, thresholds in (([], [0.5] * 7), (["--threshold", t], [t] * 7)):
        got = eval_json(mlic, work, "--batch-size", 8, "--decode-threads", 3, *extra)
        want = sklearn_metrics(probs, work["targets"], thresholds)
        check_metrics(got, want, work["classes"], 1e-4)
    assert 0 < want["OP"] < 100 and 0 < want["OR"] < 100


def test_predict_probs_match_pytorch(work, probs):
    ref = torch_probs(work)
    np.testing.assert_allclose(probs, ref, atol=0.015, rtol=0)
    got = sklearn_metrics(probs, work["targets"], [0.5] * 7)
    want = sklearn_metrics(ref, work["targets"], [0.5] * 7)
    for c, (a, b) in enumerate(zip(got["per_class"], want["per_class"])):
        assert a == pytest.approx(b, abs=1.5), work["classes"][c]
    assert got["mAP"] == pytest.approx(want["mAP"], abs=0.5)


def test_per_class_thresholds_and_class_mapping(mlic, work, probs, tmp_path):
    """Per-class thresholds from the model file; a data set that labels only some of the model's
    classes, read from PAI's CSV: its classes map by name and the rest have no AP."""
    tensors, meta = st.load(work["model"])
    m = json.loads(meta["mlic"])
    thresholds = [float(np.round(np.quantile(probs[:, c], 0.6), 4)) for c in range(7)]
    m["thresholds"] = thresholds
    model = tmp_path / "thresholds.safetensors"
    st.save(str(model), tensors, {"mlic": json.dumps(m)})

    keep = [i for i in range(len(work["paths"])) if not work["targets"][i, 2]]  # no "red"
    csv = tmp_path / "val.csv"
    with open(csv, "w") as f:
        for n, i in enumerate(keep):
            labels = [work["classes"][c] for c in np.flatnonzero(work["targets"][i])]
            f.write(f'{n},{{"url": "{work["paths"][i]}"}},{{"option": {json.dumps(labels)}}}\n')
    r = run(mlic, "eval", "--model", model, "--data", csv, "--root", DATA, "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["num_images"] == len(keep)
    want = sklearn_metrics(probs[keep], work["targets"][keep], thresholds)
    assert want["per_class"][2] is None
    check_metrics(got, want, work["classes"], 1e-4)


def test_table_output(mlic, work, probs):
    r = run(mlic, "eval", "--model", work["model"], "--data", work["data"], "--root", DATA)
    assert r.returncode == 0, r.stderr
    want = sklearn_metrics(probs, work["targets"], [0.5] * 7)
    assert f"{want['mAP']:.2f}" in r.stdout
    for name, ap in zip(work["classes"], want["per_class"]):
        line = next(ln for ln in r.stdout.splitlines() if ln.split()[:1] == [name])
        assert line.split()[1] == f"{ap:.2f}", line
    assert f"{len(work['paths'])} images" in r.stdout


def expect_failure(r, code, *pieces):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("mlic eval: "), r.stderr
    for p in pieces:
        assert p in r.stderr, f"{p!r} not in: {r.stderr}"


def test_unknown_class_names(mlic, work, tmp_path):
    lst = tmp_path / "other.txt"
    lst.write_text(f"{work['paths'][0]}\tblack,purple\n{work['paths'][1]}\tgreen\n")
    r = run(mlic, "eval", "--model", work["model"], "--data", lst, "--root", DATA)
    expect_failure(r, 1, str(lst), "2 classes the model does not know", "'green'", "'purple'",
                   "'black', 'blue', 'red'")


def test_bad_data_file_names_the_line(mlic, work, tmp_path):
    lst = tmp_path / "bad.txt"
    lst.write_text(f"{work['paths'][0]}\tblack,jeans\n{work['paths'][1]}\tblack,jeans\n"
                   f"{work['paths'][2]}\tblack,socks\n")
    r = run(mlic, "eval", "--model", work["model"], "--data", lst, "--root", DATA, "--classes",
            f"{DATA}/classes.txt")
    expect_failure(r, 1, f"{lst}:3", "socks")
    r = run(mlic, "eval", "--model", work["model"], "--data", tmp_path / "none.txt")
    expect_failure(r, 1, "none.txt")


def test_missing_or_broken_image(mlic, work, tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    for name in ("absent.jpg", "broken.jpg"):
        lst = tmp_path / "list.txt"
        lst.write_text(f"{DATA}/{work['paths'][0]}\tblack\n{name}\tblue\n")
        r = run(mlic, "eval", "--model", work["model"], "--data", lst)
        expect_failure(r, 1, name)


@pytest.mark.parametrize("args, piece", [
    ([], "missing --model"),
    (["--model", "m"], "missing --data"),
    (["--model", "m", "--data", "d", "--threshold", "2"], "--threshold"),
    (["--model", "m", "--data", "d", "--batch-size", "0"], "--batch-size"),
    (["--model", "m", "--data", "d", "--format", "xml"], "xml"),
    (["--model", "m", "--data", "d", "--bogus"], "'--bogus'"),
])
def test_usage_errors(mlic, args, piece):
    expect_failure(run(mlic, "eval", *args), 2, piece)


def test_help(mlic):
    r = run(mlic, "eval", "--help")
    assert r.returncode == 0 and "usage: mlic eval" in r.stdout
