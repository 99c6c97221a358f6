"""Hostile input, tried as an attacker would: special files (FIFOs, devices, folders, symbolic
links to them) named in a list or as the model or data set, lines far longer than the limit,
files whose content must not leak into error lines, paths escaping the root under
--confine-to-root, crafted model metadata (class counts that disagree with the head, NUL bytes in
class names, a denormal std) and numbers that underflow. Every case must end promptly with one
clear error (or one error line per bad input) naming the input."""
import base64
import json
import os
import subprocess

import numpy as np
import pytest
from PIL import Image

import st
from torch_models import random_resnet18

CLASSES = ["cat", "dog", "bird", "fish"]
CROP = 32
SECRET = "SECRET-TOKEN-4f9a"
# Far enough for any of these runs on a loaded CI machine; a hang is what they guard against.
TIMEOUT = 120


def meta(**over):
    m = {"format_version": 1, "arch": "resnet18", "classes": CLASSES, "thresholds": [0.5] * 4,
         "resize": 36, "crop": CROP, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    m.update(over)
    return m


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    net = random_resnet18(len(CLASSES))
    sd = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    model = d / "model.safetensors"
    st.save(str(model), sd, {"mlic": json.dumps(meta())})
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(d / "good.png")
    return {"dir": d, "model": str(model), "sd": sd}


def run(mlic, cmd, *args, **kw):
    return subprocess.run([mlic, cmd, *map(str, args)], capture_output=True, text=True,
                          timeout=TIMEOUT, **kw)


def results(path):
    """EV output -> [(path, dict)]."""
    out = []
    for line in path.read_text("utf-8").splitlines():
        p, js = line.split(", ", 1)
        out.append((p, json.loads(js)))
    return out


def special_files(d):
    """name -> path: a FIFO without a writer, a link to it, a folder, a character device."""
    os.mkfifo(d / "fifo.png")
    os.symlink(d / "fifo.png", d / "link_to_fifo.png")
    os.mkdir(d / "folder.png")
    return {"fifo.png": "FIFO", "link_to_fifo.png": "FIFO", "folder.png": "folder",
            "/dev/null": "character device"}


def test_special_files_in_a_list_get_error_lines_not_a_hang(mlic, work, tmp_path):
    kinds = special_files(tmp_path)
    (tmp_path / "good.png").write_bytes((work["dir"] / "good.png").read_bytes())
    lines = ["good.png", *kinds, "good.png"]
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.txt"
    r = run(mlic, "predict", "--model", work["model"], "--input", tmp_path / "list.txt",
            "--output", out, "--no-progress")
    assert r.returncode == 3, r.stderr
    res = results(out)
    assert [p for p, _ in res] == lines
    assert "probs" in res[0][1] and "probs" in res[-1][1]
    for (p, v), kind in zip(res[1:-1], kinds.values()):
        assert p in v["error"] and "not a regular file" in v["error"] and kind in v["error"], v


@pytest.mark.parametrize("what", ["model", "data", "info", "import"])
def test_a_fifo_as_model_or_data_set_fails_promptly(mlic, work, tmp_path, what):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "list.txt").write_text("good.png\n")
    if what == "model":
        r = run(mlic, "predict", "--model", fifo, "--input", tmp_path / "list.txt", "--output",
                tmp_path / "out.txt", "--no-progress")
    elif what == "data":
        r = run(mlic, "eval", "--model", work["model"], "--data", fifo)
    elif what == "info":
        r = run(mlic, "info", fifo)
    else:
        r = run(mlic, "import", "--arch", "resnet18", "--weights", work["model"], "--classes",
                fifo, "--output", tmp_path / "m.safetensors")
    assert r.returncode in (1, 2), r.stderr
    assert str(fifo) in r.stderr and "not a regular file" in r.stderr, r.stderr


def test_error_lines_never_quote_file_content(mlic, work, tmp_path):
    (tmp_path / "secret.txt").write_text(f"{SECRET}\nroot:x:0:0\n")
    (tmp_path / "secret.bin").write_bytes(b"\x01\x02\x03\x04" + SECRET.encode())
    (tmp_path / "list.txt").write_text("secret.txt\nsecret.bin\n")
    out = tmp_path / "out.txt"
    r = run(mlic, "predict", "--model", work["model"], "--input", tmp_path / "list.txt",
            "--output", out, "--no-progress")
    assert r.returncode == 3, r.stderr
    text = out.read_text("utf-8")
    assert SECRET not in text and "root:x" not in text and "01 02 03" not in text, text
    res = results(out)
    assert "text" in res[0][1]["error"] and "unknown format" in res[1][1]["error"]


def test_confine_to_root(mlic, work, tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    png = (work["dir"] / "good.png").read_bytes()
    (root / "good.png").write_bytes(png)
    (outside / "img.png").write_bytes(png)
    os.symlink(outside / "img.png", root / "link_out.png")
    os.symlink(root / "good.png", root / "sub" / "link_in.png")
    inside = ["good.png", "sub/../good.png", "sub/link_in.png"]
    escaping = ["../outside/img.png", str(outside / "img.png"), "file://" + str(outside / "img.png"),
                "link_out.png", "sub/../../outside/img.png"]
    lst = tmp_path / "list.txt"
    lst.write_text("\n".join(inside + escaping) + "\n")
    for confine in (False, True):
        out = tmp_path / f"out{confine}.txt"
        extra = ["--confine-to-root"] if confine else []
        r = run(mlic, "predict", "--model", work["model"], "--input", lst, "--output", out,
                "--root", root, "--no-progress", *extra)
        res = results(out)
        assert [p for p, _ in res] == inside + escaping
        if not confine:
            assert r.returncode == 0, r.stderr
            continue
        assert r.returncode == 3, r.stderr
        assert all("probs" in v for _, v in res[:len(inside)])
        for p, v in res[len(inside):]:
            assert "--confine-to-root" in v["error"] and "probs" not in v, (p, v)


# Runs a command from a fresh, small interpreter and prints the command's peak RSS (KiB) on
# stderr: a child forked straight from the test process would count the test's own memory (the
# peak RSS survives exec).
PEAK_RSS = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"\\npeak-rss-kib {usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def rss_run(cmd, chunks):
    """Run cmd with stdin fed from the chunks; -> (returncode, stderr, peak RSS in bytes)."""
    p = subprocess.Popen(["/usr/bin/python3", "-c", PEAK_RSS, *cmd], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for chunk in chunks():
        p.stdin.write(chunk)
    p.stdin.close()
    err = p.stderr.read().decode()
    p.wait(timeout=TIMEOUT)
    err, _, peak = err.rpartition("peak-rss-kib ")
    return p.returncode, err, int(peak) * 1024


@pytest.mark.parametrize("image_type", ["url", "base64"])
def test_a_line_far_over_the_limit_gets_one_error_line_in_flat_memory(mlic, work, tmp_path,
                                                                      image_type):
    png = (work["dir"] / "good.png").read_bytes()
    good = base64.b64encode(png) if image_type == "base64" else str(work["dir"] / "good.png").encode()
    long_len = 1 << 30  # 1 GiB through a pipe: never on disk, never (we check) in memory
    limit = 1 << 20

    head = b"id7\t" if image_type == "base64" else b"x"

    def chunks():
        yield good + b"\n"
        yield head
        block = b"A" * (1 << 20)
        for _ in range(long_len >> 20):
            yield block
        yield b"\n" + good + b"\n"

    out = tmp_path / "out.txt"
    code, err, rss = rss_run([mlic, "predict", "--model", work["model"], "--input", "/dev/stdin",
                              "--output", str(out), "--image-type", image_type, "--no-progress",
                              "--max-line-bytes", str(limit), "--decode-threads", "2"], chunks)
    assert code == 3, err
    res = results(out)
    assert len(res) == 3
    assert "probs" in res[0][1] and "probs" in res[2][1]
    e = res[1][1]["error"]
    assert f"line 2 of the list is {len(head) + long_len} bytes long" in e, e
    assert f"over the limit of {limit}" in e, e
    assert res[1][0] == ("id7" if image_type == "base64" else "x" + "A" * 63 + "...")
    # The line is 1 GiB; a reader that held it would peak above that. Everything else the run
    # needs (the model, the libraries, buffers) is far below.
    print(f"peak RSS {rss >> 20} MiB for a {long_len >> 20} MiB line")
    assert rss < long_len // 4, rss


def test_crafted_class_counts_are_checked_against_the_head_first(mlic, work, tmp_path):
    # Two million names (with a duplicate at the end) against a head of four outputs: refused
    # by the shape check before any per-class work.
    many = [f"c{i}" for i in range(2_000_000)] + ["c0"]
    bad = tmp_path / "many.safetensors"
    st.save(str(bad), work["sd"], {"mlic": json.dumps(meta(classes=many, thresholds=[0.5] * len(many)))})
    r = run(mlic, "info", bad)
    assert r.returncode == 1
    assert "lists 2000001 classes" in r.stderr and "'fc.weight' has 4 outputs" in r.stderr, r.stderr


@pytest.mark.parametrize("field,value,needle", [
    ("classes", ["cat", "dog\u0000evil", "bird", "fish"], "NUL character"),
    ("std", [1e-40, 0.224, 0.225], "must be a positive normal number"),
    ("classes", ["cat", "dog", "bird", "dog"], "class 'dog' is listed twice (classes 2 and 4)"),
])
def test_crafted_metadata_is_refused(mlic, work, tmp_path, field, value, needle):
    bad = tmp_path / "bad.safetensors"
    st.save(str(bad), work["sd"], {"mlic": json.dumps(meta(**{field: value}))})
    r = run(mlic, "info", bad)
    assert r.returncode == 1 and needle in r.stderr, r.stderr


@pytest.mark.parametrize("fmt", ["coco", "pai_csv", "pai_csv_quoted"])
def test_a_nul_in_a_data_set_string_is_refused(mlic, work, tmp_path, fmt):
    """cJSON would cut "good.png\u0000../x" to "good.png": the data set is refused instead."""
    name = "good.png\u0000../../etc/passwd"
    path = tmp_path / "data.txt"
    if fmt == "coco":
        path.write_text(json.dumps({"images": [{"id": 1, "file_name": name}],
                                    "annotations": [{"image_id": 1, "category_id": 1}],
                                    "categories": [{"id": 1, "name": "cat"}]}))
    elif fmt == "pai_csv":
        path.write_text("1," + json.dumps({"url": name}) + ',{"option": ["cat"]}\n')
    else:
        field = json.dumps({"url": "good.png"}).replace('"', '""')
        label = json.dumps({"option": ["ca\u0000t"]}).replace('"', '""')
        path.write_text(f'1,"{field}","{label}"\n')
    r = run(mlic, "eval", "--model", work["model"], "--data", path, "--format",
            fmt.replace("_quoted", ""))
    assert r.returncode in (1, 2) and "NUL character" in r.stderr, r.stderr


@pytest.mark.parametrize("value,needle,list_needle", [
    ("1e-50", "is out of range (underflows", None),
    ("1e-40", "is out of range (underflows", None),  # a denormal float
    ("1e50", "is out of range (overflows", None),
    ("abc", "is not a number", "is missing or malformed"),
])
def test_numbers_out_of_range_say_so(mlic, tmp_path, value, needle, list_needle):
    r = run(mlic, "predict", "--model", "m", "--input", "l", "--output", "o", "--threshold", value)
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    r = run(mlic, "import", "--arch", "resnet18", "--weights", "w", "--classes", "c", "--output",
            "o", "--std", f"0.2,{value},0.2")
    assert r.returncode == 2 and f"number 2 {list_needle or needle}" in r.stderr, r.stderr
