"""mlic predict end to end: probabilities against PyTorch (torchvision resnet18 and transforms on
the same images), the EasyVision and JSON-lines formats parsed back, error lines, base64 and
http inputs (a local server), EasyVision's -D spelling, exit codes and the atomic output."""
import base64
import functools
import http.server
import io
import json
import os
import socket
import subprocess
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

import st
from torch_models import random_resnet18

CLASSES = ["cat", 'say "hi"', "back\\slash\ttab", "猫 ünï"]
THRESHOLDS = [0.3, 0.5, 0.6, 0.9]
RESIZE, CROP = 72, 64
SMALL_CROP = 32
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
KEYS = ["class_probs", "classes", "predictions", "class_names", "probs"]
NIMG = 6


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A random resnet18 with 4 classes saved as an mlic model, and NIMG PNG images."""
    d = tmp_path_factory.mktemp("predict")
    net = random_resnet18(len(CLASSES))
    meta = {"format_version": 1, "arch": "resnet18", "classes": CLASSES, "thresholds": THRESHOLDS,
            "resize": RESIZE, "crop": CROP, "mean": MEAN, "std": STD}
    model = d / "model.safetensors"
    st.save(str(model), net.state_dict(), {"mlic": json.dumps(meta)})
    # The same network on 32x32 crops: a quarter of the work, for the long list.
    small = d / "small.safetensors"
    st.save(str(small), net.state_dict(), {"mlic": json.dumps(dict(meta, crop=SMALL_CROP))})

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:RESIZE, 0:RESIZE]
    for i in range(NIMG):
        # Smooth colour fields plus noise: images with content at every scale, at the resize
        # size so that preprocessing is a crop and the comparison tests inference.
        base = np.stack([np.sin(xx / (5 + i) + c) * np.cos(yy / (7 + c)) for c in range(3)], -1)
        px = np.clip(128 + 90 * base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(px).save(d / f"img{i}.png")
    return {"dir": d, "model": str(model), "small": str(small), "net": net}


def torch_probs(work, path, resize=RESIZE, crop=CROP):
    """PyTorch's sigmoid outputs for one image file, with torchvision's eval preprocessing."""
    cache = work.setdefault("cache", {})
    key = (path, resize, crop)
    if key not in cache:
        tf = transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(crop),
                                 transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
        x = tf(Image.open(path).convert("RGB")).unsqueeze(0)
        with torch.no_grad():
            cache[key] = torch.sigmoid(work["net"](x))[0].numpy().astype(np.float64)
    return cache[key]


def run(mlic, *args, timeout=120):
    return subprocess.run([mlic, "predict", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def ordered(pairs):
    return pairs  # keep key order: json.loads(..., object_pairs_hook=ordered) gives [(k, v)...]


def parse_ev(text):
    """-> [(path, [(key, value), ...])]: each line split at its first ', '."""
    out = []
    assert text.endswith("\n")
    for line in text.splitlines():
        path, js = line.split(", ", 1)
        out.append((path, json.loads(js, object_pairs_hook=ordered)))
    return out


def check_result(pairs, expect_probs, thresholds):
    """One successful result against PyTorch's probabilities and the thresholds."""
    assert [k for k, _ in pairs] == KEYS
    r = dict(pairs)
    probs = np.array(r["probs"])
    np.testing.assert_allclose(probs, expect_probs, atol=1e-4, rtol=0)
    assert [k for k, _ in r["class_probs"]] == CLASSES
    assert [v for _, v in r["class_probs"]] == r["probs"]
    pos = [i for i, p in enumerate(r["probs"]) if p >= thresholds[i]]
    assert r["classes"] == pos
    assert r["predictions"] == [i in pos for i in range(len(CLASSES))]
    assert r["class_names"] == [CLASSES[i] for i in pos]
    # Round-trip precision: at least 7 significant digits.
    for p in r["probs"]:
        assert p == 0 or abs(float(f"{p:.7g}") - p) <= abs(p) * 1e-6


def write_list(path, lines, end="\n"):
    path.write_bytes((("\n".join(lines)) + end).encode())
    return path


def test_probs_match_pytorch_ref_and_default_backend(mlic, work, tmp_path):
    d = work["dir"]
    names = [f"img{i}.png" for i in range(NIMG)]
    lst = write_list(tmp_path / "list.txt", [str(d / n) for n in names])
    for backend in ("ref", "auto"):
        out = tmp_path / f"out_{backend}.txt"
        r = run(mlic, "--model", work["model"], "--input", lst, "--output", out,
                "--backend", backend, "--batch-size", 4)
        assert r.returncode == 0, r.stderr
        res = parse_ev(out.read_text(encoding="utf-8"))
        assert [p for p, _ in res] == [str(d / n) for n in names]
        for (path, pairs) in res:
            check_result(pairs, torch_probs(work, path), THRESHOLDS)
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]


def test_jsonl_threshold_root_and_file_urls(mlic, work, tmp_path):
    d = work["dir"]
    odd = 'we"ird, ü\\name.png'  # quote, comma-space, backslash, non-ASCII
    (d / odd).write_bytes((d / "img1.png").read_bytes())
    lines = ["img0.png", odd, "file://" + str(d / "img2.png"),
             "file://" + str(d / "img3.png").replace("img3", "%69mg3")]
    lst = write_list(tmp_path / "list.txt", lines, end="")  # no final newline: still 4 lines
    out = tmp_path / "out.jsonl"
    r = run(mlic, "--model", work["model"], "--input", lst, "--output", out, "--format", "jsonl",
            "--threshold", "0.55", "--root", d)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x, object_pairs_hook=ordered) for x in out.read_text("utf-8").splitlines()]
    assert len(rows) == 4
    expect = ["img0.png", "img1.png", "img2.png", "img3.png"]
    for row, line, img in zip(rows, lines, expect):
        assert [k for k, _ in row] == ["path"] + KEYS
        assert row[0][1] == line
        check_result(row[1:], torch_probs(work, str(d / img)), [0.55] * len(CLASSES))


def test_error_lines_and_exit_code(mlic, work, tmp_path):
    d = work["dir"]
    buf = io.BytesIO()
    Image.open(d / "img0.png").save(buf, "JPEG")
    (tmp_path / "corrupt.jpg").write_bytes(buf.getvalue()[:2] + b"\x00garbage" * 50)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image\n")
    (tmp_path / "good.png").write_bytes((d / "img4.png").read_bytes())
    lines = ["good.png", "missing.png", "empty.png", "corrupt.jpg", "notes.txt", "", "good.png\r"]
    lst = write_list(tmp_path / "list.txt", lines)
    out = tmp_path / "out.txt"
    r = run(mlic, "--model", work["model"], "--input", lst, "--output", out)
    assert r.returncode == 3, r.stderr
    assert "mlic predict: 5 of 7 inputs failed" in r.stderr
    res = parse_ev(out.read_text("utf-8"))
    assert [p for p, _ in res] == [x.rstrip("\r") for x in lines]
    for i in (0, 6):
        check_result(res[i][1], torch_probs(work, str(d / "img4.png")), THRESHOLDS)
    errors = {p: dict(v)["error"] for p, v in res[1:6]}
    assert all([k for k, _ in v] == ["error"] for _, v in res[1:6])
    assert "missing.png" in errors["missing.png"] and "No such file" in errors["missing.png"]
    assert "empty" in errors["empty.png"]
    assert "corrupt.jpg" in errors["corrupt.jpg"]
    assert "notes.txt" in errors["notes.txt"]
    assert "line 6" in errors[""] and "empty" in errors[""]


def test_base64_inputs(mlic, work, tmp_path):
    d = work["dir"]
    b64 = [base64.b64encode((d / f"img{i}.png").read_bytes()).decode() for i in range(3)]
    lines = ["first\t" + b64[0], b64[1], "bad\t" + b64[2][:40] + "!*" + b64[2][42:],
             "", "trunc\t" + b64[2][:-3], "weird \"id\"\t" + b64[2]]
    lst = write_list(tmp_path / "list.txt", lines)
    for fmt in ("ev", "jsonl"):
        out = tmp_path / f"out.{fmt}"
        r = run(mlic, "--model", work["model"], "--input", lst, "--output", out,
                "--image-type", "base64", "--format", fmt)
        assert r.returncode == 3, r.stderr
        assert "3 of 6 inputs failed" in r.stderr
        if fmt == "ev":
            res = parse_ev(out.read_text("utf-8"))
        else:
            rows = [json.loads(x, object_pairs_hook=ordered) for x in out.read_text().splitlines()]
            res = [(row[0][1], row[1:]) for row in rows]
        assert [p for p, _ in res] == ["first", "2", "bad", "4", "trunc", 'weird "id"']
        check_result(res[0][1], torch_probs(work, str(d / "img0.png")), THRESHOLDS)
        check_result(res[1][1], torch_probs(work, str(d / "img1.png")), THRESHOLDS)
        check_result(res[5][1], torch_probs(work, str(d / "img2.png")), THRESHOLDS)
        assert "base64" in dict(res[2][1])["error"]
        assert "empty" in dict(res[3][1])["error"]
        assert [k for k, _ in res[4][1]] == ["error"]


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the work folder; /flaky/NAME answers 503 twice before serving NAME. Counts hits."""
    hits = {}

    def do_GET(self):
        n = self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.path.startswith("/flaky/"):
            if n <= 2:
                self.send_error(503)
                return
            self.path = self.path[len("/flaky"):]
        super().do_GET()

    def log_message(self, *args):
        pass


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_http_inputs(mlic, work, tmp_path):
    d = work["dir"]
    _Handler.hits = {}
    handler = functools.partial(_Handler, directory=str(d))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        dead = f"http://127.0.0.1:{_free_port()}/img0.png"
        lines = [f"{base}/img0.png", f"{base}/nothing.png", dead, f"{base}/img5.png",
                 f"{base}/flaky/img3.png"]
        lst = write_list(tmp_path / "list.txt", lines)
        out = tmp_path / "out.txt"
        t0 = time.time()
        r = run(mlic, "--model", work["model"], "--input", lst, "--output", out, "--timeout", 2,
                timeout=60)
        assert time.time() - t0 < 30
    finally:
        server.shutdown()
        server.server_close()
    assert r.returncode == 3, r.stderr
    assert "2 of 5 inputs failed" in r.stderr
    res = parse_ev(out.read_text())
    assert [p for p, _ in res] == lines
    check_result(res[0][1], torch_probs(work, str(d / "img0.png")), THRESHOLDS)
    check_result(res[3][1], torch_probs(work, str(d / "img5.png")), THRESHOLDS)
    check_result(res[4][1], torch_probs(work, str(d / "img3.png")), THRESHOLDS)
    # A 5xx is tried again (3 retries), a 4xx is final.
    assert _Handler.hits["/flaky/img3.png"] == 3
    assert _Handler.hits["/nothing.png"] == 1
    e404, edead = dict(res[1][1])["error"], dict(res[2][1])["error"]
    assert "404" in e404 and lines[1] in e404
    assert dead in edead


def test_easyvision_spelling_matches(mlic, work, tmp_path):
    d = work["dir"]
    lst = write_list(tmp_path / "list.txt", [f"img{i}.png" for i in (0, 1)])
    (d / "list.txt").write_bytes(lst.read_bytes())
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    r1 = run(mlic, "--model", work["model"], "--input", d / "list.txt", "--output", a,
             "--image-type", "url")
    r2 = run(mlic, f"-Dmodel_path={work['model']}", f"-Dinput_oss_file={d / 'list.txt'}",
             f"-Doutput_oss_file={b}", "-Dimage_type=url", "-Dnum_worker=1",
             "-Dmodel_type=multilabel_classifier", "-DcpuRequired=800", "-DgpuRequired=100",
             "-DenableDynamicCluster=true")
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    assert a.read_bytes() == b.read_bytes()
    # PAI's resource options mean nothing here; -DossHost, -Darn and -Dbuckets (object storage)
    # are tested in test_predict_store.py.
    for opt in ("cpuRequired", "gpuRequired", "enableDynamicCluster"):
        assert f"-D{opt}" in r2.stderr and "ignored" in r2.stderr


@pytest.mark.parametrize("args,needle", [
    (["-Dmodel_type=classifier"], "model_type"),
    (["-Dnum_worker=0"], "-Dnum_worker"),
    (["-Dfoo=1"], "-Dfoo"),
    (["--format", "xml"], "ev or jsonl"),
    (["--threshold", "1.5"], "--threshold"),
    (["--batch-size", "0"], "--batch-size"),
])
def test_bad_usage_exits_2(mlic, work, tmp_path, args, needle):
    lst = write_list(tmp_path / "list.txt", ["img0.png"])
    r = run(mlic, "--model", work["model"], "--input", lst, "--output", tmp_path / "o.txt", *args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr
    assert not (tmp_path / "o.txt").exists()


def test_missing_model_option_exits_2(mlic, tmp_path):
    r = run(mlic, "--input", tmp_path / "list.txt", "--output", tmp_path / "o.txt")
    assert r.returncode == 2 and "--model" in r.stderr


def test_run_failures_exit_1_without_temp_files(mlic, work, tmp_path):
    lst = write_list(tmp_path / "list.txt", [str(work["dir"] / "img0.png")])
    r = run(mlic, "--model", tmp_path / "nope.safetensors", "--input", lst, "--output",
            tmp_path / "o.txt")
    assert r.returncode == 1 and "nope.safetensors" in r.stderr
    outdir = tmp_path / "no" / "such" / "dir"
    r = run(mlic, "--model", work["model"], "--input", lst, "--output", outdir / "o.txt")
    assert r.returncode == 1 and "no/such/dir" in r.stderr
    r = run(mlic, "--model", work["model"], "--input", tmp_path / "absent.txt", "--output",
            tmp_path / "o.txt")
    assert r.returncode == 1 and "absent.txt" in r.stderr
    assert sorted(os.listdir(tmp_path)) == ["list.txt"]


def test_long_list_keeps_order(mlic, work, tmp_path):
    d = work["dir"]
    lines = [f"missing{i}.png" if i % 37 == 5 else f"img{i % NIMG}.png" for i in range(300)]
    lst = write_list(tmp_path / "list.txt", lines)
    out = tmp_path / "out.txt"
    r = run(mlic, "--model", work["small"], "--input", lst, "--output", out, "--root", d,
            "--batch-size", 7, "--decode-threads", 3, "--progress", timeout=300)
    nbad = sum(1 for x in lines if x.startswith("missing"))
    assert r.returncode == 3, r.stderr
    assert f"{nbad} of 300 inputs failed" in r.stderr
    assert "300/300" in r.stderr  # the progress line, with the counted total
    res = parse_ev(out.read_text())
    assert [p for p, _ in res] == lines
    for path, pairs in res:
        if path.startswith("missing"):
            assert path in dict(pairs)["error"]
        else:
            check_result(pairs, torch_probs(work, str(d / path), RESIZE, SMALL_CROP), THRESHOLDS)
