"""mlic report, checked in a real browser: a small resnet18 trained on apparel photos, its log,
and its evaluation on 41 photos, rendered by headless Chromium (tests/py/browser.py). The page
must load without console errors or any network request, hold the numbers mlic eval --json
prints for the same data (two decimals, as eval's table), draw the expected series and points,
read with JavaScript off, and sort its tables with it on. A screenshot is kept in
build/test-artefacts/report.png for whoever changes the page to look at. Bad inputs (a log of
another run, unknown classes, an empty data set) fail with a clear message; missing parts leave
a page that says what is missing."""
import base64
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
from html.parser import HTMLParser

import numpy as np
import pytest

from apparel import DATA, write_subset
from browser import CHROMIUM, Browser
from conftest import BUILD

ARTEFACTS = os.path.join(BUILD, "test-artefacts")
TRAIN = ["--arch", "resnet18", "--crop", "32", "--batch-size", "16", "--threads", "1",
         "--workers", "1", "--seed", "3", "--lr", "0.05", "--epochs", "3"]

pytestmark = [
    pytest.mark.skipif(not os.path.isdir(DATA), reason="apparel data set not present"),
]
needs_browser = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed: scripts/deps.sh test installs it; the "
    "browser checks of the report are skipped")


def run(mlic, *args, timeout=300):
    return subprocess.run([mlic, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def work(mlic, tmp_path_factory):
    d = write_subset(tmp_path_factory.mktemp("report"), (("train", 37, 48, 1),))
    lines = open(f"{DATA}/val.txt").read().splitlines()[::6]  # 41 images, every class present
    (d / "val.txt").write_text("\n".join(lines) + "\n")
    r = run(mlic, "train", "--data", d / "train.txt", "--val", d / "val.txt", "--classes",
            d / "classes.txt", "--root", DATA, "--output", d / "m.safetensors", "--log",
            d / "log.jsonl", "--report", d / "train.html", *TRAIN)
    assert r.returncode == 0, r.stderr
    assert f"report written to {d / 'train.html'}" in r.stderr
    common = ["--model", d / "m.safetensors", "--data", d / "val.txt", "--root", DATA]
    r = run(mlic, "report", *common, "--log", d / "log.jsonl", "--output", d / "report.html")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(d / "report.html")
    r = run(mlic, "eval", *common, "--json")
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    paths = [ln.split("\t")[0] for ln in lines]
    (d / "paths.txt").write_text("\n".join(paths) + "\n")
    r = run(mlic, "predict", "--model", d / "m.safetensors", "--input", d / "paths.txt",
            "--output", d / "probs.jsonl", "--format", "jsonl", "--root", DATA)
    assert r.returncode == 0, r.stderr
    probs = np.array([json.loads(l)["probs"] for l in (d / "probs.jsonl").read_text().splitlines()],
                     np.float32)
    classes = open(f"{DATA}/classes.txt").read().split()
    targets = np.array([[c in ln.split("\t")[1].split(",") for c in classes] for ln in lines])
    log = [json.loads(l) for l in (d / "log.jsonl").read_text().splitlines()]
    return {"dir": d, "eval": ev, "probs": probs, "targets": targets, "classes": classes,
            "log": log, "common": common}


class Dom(HTMLParser):
    """Elements by id and class, with their attributes and text (all that the checks need)."""

    def __init__(self, html):
        super().__init__()
        self.elements, self.stack = [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        el = {"tag": tag, "attrs": dict(attrs), "text": "", "children": [],
              "parent": self.stack[-1] if self.stack else None}
        if self.stack:
            self.stack[-1]["children"].append(el)
        self.elements.append(el)
        if tag not in ("img", "br", "meta", "input", "link", "hr"):  # HTML's void elements
            self.stack.append(el)

    def handle_endtag(self, tag):
        if any(e["tag"] == tag for e in self.stack):
            while self.stack.pop()["tag"] != tag:
                pass

    def handle_data(self, data):
        for el in self.stack:
            el["text"] += data

    def by_id(self, ident):
        found = [e for e in self.elements if e["attrs"].get("id") == ident]
        assert len(found) == 1, f"{len(found)} elements with id {ident}"
        return found[0]

    def find(self, root, pred):
        out = []
        todo = list(root["children"])
        while todo:
            e = todo.pop(0)
            if pred(e):
                out.append(e)
            todo.extend(e["children"])
        return out


def has_class(name):
    return lambda e: name in e["attrs"].get("class", "").split()


def fmt2(v):
    return "-" if v is None else f"{v:.2f}"


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    with Browser() as b:
        yield b


def load(browser, path, **kw):
    browser.load(path, **kw)
    url = "file://" + os.path.abspath(path)
    return browser.problems(url), Dom(browser.dom())


def check_numbers(dom, ev, classes):
    for key in ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1"):
        card = dom.by_id("m-" + key)
        assert dom.find(card, has_class("v"))[0]["text"] == fmt2(ev[key]), key
    table = dom.by_id("classes")
    rows = dom.find(table, lambda e: e["tag"] == "tr" and "data-class" in e["attrs"])
    assert [r["attrs"]["data-class"] for r in rows] == classes
    for row in rows:
        name = row["attrs"]["data-class"]
        assert dom.find(row, has_class("ap"))[0]["text"] == fmt2(ev["per_class"][name]), name
        assert dom.find(row, has_class("thr"))[0]["text"] == f"{ev['thresholds'][name]:.4g}", name


@needs_browser
def test_page_is_clean_and_self_contained(work, browser):
    page = work["dir"] / "report.html"
    problems, dom = load(browser, page)
    assert problems == []
    html = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html), "an external resource"
    assert os.path.getsize(page) < 1 << 20  # mailable: thumbnails are bounded
    os.makedirs(ARTEFACTS, exist_ok=True)
    shot = os.path.join(ARTEFACTS, "report.png")
    browser.screenshot(shot)
    with open(shot, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    assert width == 1366 and height > 2000, (width, height)  # the whole page, not the viewport


@needs_browser
def test_numbers_match_eval_json_with_javascript_off(work, browser):
    problems, dom = load(browser, work["dir"] / "report.html", javascript=False)
    assert problems == []
    check_numbers(dom, work["eval"], work["classes"])
    # The model's own thresholds, and its SHA-256.
    import hashlib
    digest = hashlib.sha256((work["dir"] / "m.safetensors").read_bytes()).hexdigest()
    assert dom.by_id("sha256")["text"] == digest
    final = work["log"][-1]
    rows = dom.find(dom.by_id("model-thresholds"), lambda e: "data-class" in e["attrs"])
    assert [float(dom.find(r, has_class("thr"))[0]["attrs"]["data-v"]) for r in rows] == \
        pytest.approx(final["thresholds"], rel=1e-6)


@needs_browser
def test_command_line_dump_dom_and_screenshot(work, tmp_path):
    """The same through chromium's own --dump-dom and --screenshot, as a user would check."""
    base = [CHROMIUM, "--headless", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}"] + (["--no-sandbox"] if os.geteuid() == 0
                                                           else [])
    url = "file://" + str(work["dir"] / "report.html")
    r = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    check_numbers(Dom(r.stdout), work["eval"], work["classes"])
    shot = tmp_path / "shot.png"
    r = subprocess.run(base + ["--window-size=1366,900", f"--screenshot={shot}", url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_browser
def test_charts_have_the_expected_series_and_points(work, browser):
    _, dom = load(browser, work["dir"] / "report.html")
    epochs = [e for e in work["log"] if "epoch" in e]
    series = lambda chart: {g["attrs"]["data-series"]: int(g["attrs"]["data-points"])
                            for g in dom.find(dom.by_id(chart), has_class("series"))}
    assert series("chart-loss") == {"train loss": 3, "val loss": 3}
    assert series("chart-val") == {"mAP": 3, "CF1": 3, "OF1": 3}
    assert series("chart-lr") == {"learning rate": 3} and series("chart-speed") == {"images/s": 3}
    # One dot per point, each with its value as hover text.
    dots = dom.find(dom.by_id("chart-val"), lambda e: e["tag"] == "circle")
    assert len(dots) == 9
    assert f"mAP, epoch 2: {epochs[1]['map']:.6g}" in [d["text"] for d in dots]
    best = dom.find(dom.by_id("chart-val"), has_class("mark"))
    assert len(best) == 1 and best[0]["text"] == "best epoch"
    assert dom.by_id("t-best")["text"].startswith(str(work["log"][-1]["best_epoch"]))
    seconds = sum(e["seconds"] for e in epochs)  # each line's is its epoch's wall time
    assert dom.by_id("t-time")["text"].startswith(f"{seconds:.0f} s")

    ev, probs, targets = work["eval"], work["probs"], work["targets"]
    with_pos = [c for c in range(len(work["classes"])) if targets[:, c].any()]
    assert series("chart-ap") == {"AP": len(with_pos)}
    bars = dom.find(dom.by_id("chart-ap"), lambda e: e["tag"] == "rect")
    aps = sorted((ev["per_class"][work["classes"][c]] for c in with_pos), reverse=True)
    assert [b["text"].split(": AP ")[1].split(",")[0] for b in bars] == [f"{a:.2f}" for a in aps]
    table = {r["attrs"]["data-class"]: r for r in
             dom.find(dom.by_id("classes"), lambda e: "data-class" in e["attrs"])}
    for c in with_pos:
        name = work["classes"][c]
        pts = series(f"pr-{c}")
        assert pts == {name: len(np.unique(probs[:, c]))}, name  # one per distinct score
        op = dom.find(dom.by_id(f"pr-{c}"), has_class("op"))[0]["attrs"]
        row = table[name]
        assert f"{float(op['data-recall']):.2f}" == dom.find(row, has_class("r"))[0]["text"]
        assert f"{float(op['data-precision']):.2f}" == dom.find(row, has_class("p"))[0]["text"]


@needs_browser
def test_confusion_and_worst_images(work, browser):
    _, dom = load(browser, work["dir"] / "report.html")
    probs, targets, classes = work["probs"], work["targets"], work["classes"]
    thr = np.array([work["eval"]["thresholds"][c] for c in classes], np.float32)
    pred = probs >= thr
    table = dom.by_id("confusion")
    rows = dom.find(table, lambda e: e["tag"] == "tr")[1:]
    for a, row in enumerate(rows):
        cells = dom.find(row, lambda e: e["tag"] == "td")
        for b, cell in enumerate(cells[:len(classes)]):
            if a == b:
                continue
            want = int((pred[:, a] & ~targets[:, a] & targets[:, b]).sum())
            assert cell["text"] == (str(want) if want else ""), (classes[a], classes[b])
    fp_images = int((pred & ~targets).any(1).sum())
    fn_images = int((~pred & targets).any(1).sum())
    for kind, total in (("fp", fp_images), ("fn", fn_images)):
        cards = dom.find(dom.by_id(kind), has_class("ex"))
        assert len(cards) == min(total, 12), kind
        imgs = [c for card in cards for c in dom.find(card, lambda e: e["tag"] == "img")]
        assert len(imgs) == len(cards)
        assert all(i["attrs"]["src"].startswith("data:image/jpeg;base64,") for i in imgs)
    # The worst false positive is the highest score of an absent class above its threshold.
    wrong = np.where(pred & ~targets, probs, -1)
    first = dom.find(dom.by_id("fp"), has_class("ex"))[0]
    assert first["attrs"]["data-class"] == classes[int(np.unravel_index(wrong.argmax(),
                                                                         wrong.shape)[1])]


@needs_browser
def test_fits_a_laptop_screen_and_prints(work, browser):
    page = work["dir"] / "report.html"
    load(browser, page, width=1280, height=800)
    assert browser.evaluate("document.documentElement.scrollWidth") <= 1280
    browser.call("Emulation.setEmulatedMedia", {"media": "print"}, session=True)
    try:
        assert browser.evaluate("getComputedStyle(document.querySelector('nav')).display") == \
            "none"
        pdf = browser.call("Page.printToPDF", {}, session=True)["data"]
        assert base64.b64decode(pdf)[:5] == b"%PDF-"
    finally:
        browser.call("Emulation.setEmulatedMedia", {"media": ""}, session=True)


@needs_browser
def test_classes_without_positives(mlic, work, browser, tmp_path):
    """Data that never labels 'red': no AP, no bar and no curve for it, and the page says so."""
    lines = [ln for ln in (work["dir"] / "val.txt").read_text().splitlines()
             if "red" not in ln.split("\t")[1].split(",")]
    data = tmp_path / "nored.txt"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "nored.html"
    r = run(mlic, "report", "--model", work["dir"] / "m.safetensors", "--data", data, "--root",
            DATA, "--output", out, "--examples", 2)
    assert r.returncode == 0, r.stderr
    problems, dom = load(browser, out)
    assert problems == []
    row = dom.find(dom.by_id("classes"), lambda e: e["attrs"].get("data-class") == "red")[0]
    assert dom.find(row, has_class("ap"))[0]["text"] == "-"
    assert dom.find(row, has_class("pos"))[0]["text"] == "0"
    bars = dom.find(dom.by_id("chart-ap"), lambda e: e["tag"] == "rect")
    assert len(bars) == 6 and not any(b["text"].startswith("red:") for b in bars)
    assert not [e for e in dom.elements if e["attrs"].get("id") == "pr-2"]
    assert "1 class without positives in this data (no AP): red." in dom.by_id("evaluation")["text"]
    assert all(len(dom.find(dom.by_id(k), has_class("ex"))) <= 2 for k in ("fp", "fn"))


@needs_browser
def test_tables_sort_on_click(work, browser):
    load(browser, work["dir"] / "report.html")
    order = "Array.from(document.querySelectorAll('#classes tbody tr')).map(r => r.dataset.class)"
    browser.evaluate("document.querySelector('#classes thead th:nth-child(2)').click()")
    aps = work["eval"]["per_class"]
    assert browser.evaluate(order) == sorted(work["classes"], key=lambda c: -aps[c])
    browser.evaluate("document.querySelector('#classes thead th:nth-child(2)').click()")
    assert browser.evaluate(order) == sorted(work["classes"], key=lambda c: aps[c])
    assert browser.problems("file://" + str(work["dir"] / "report.html")) == []


@needs_browser
def test_the_checker_catches_errors_and_requests(browser, tmp_path):
    """The checks above can fail: a page that logs an error, throws, or loads an image from a
    server (one this test runs on 127.0.0.1) is caught."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for body, piece in (("<script>console.error('deliberate')</script>", "deliberate"),
                            ("<script>null.x</script>", "exception"),
                            (f"<img src='http://127.0.0.1:{port}/pixel.png'>",
                             f"http://127.0.0.1:{port}/pixel.png")):
            page = tmp_path / "bad.html"
            page.write_text(f"<!DOCTYPE html><html><body><p>x</p>{body}</body></html>")
            problems, _ = load(browser, page)
            assert any(piece in p for p in problems), (piece, problems)
        assert hits == ["/pixel.png"]
        page.write_text("<!DOCTYPE html><html><body><p>fine</p><script>console.log('ok')"
                        "</script><img src='data:image/gif;base64,R0lGODlhAQABAAAAACw='></body>"
                        "</html>")
        assert load(browser, page)[0] == []
    finally:
        server.shutdown()
        server.server_close()


@needs_browser
def test_eval_and_train_write_the_same_page(mlic, work, browser, tmp_path):
    out = tmp_path / "eval.html"
    r = run(mlic, "eval", *work["common"], "--report", out)
    assert r.returncode == 0, r.stderr
    problems, dom = load(browser, out)
    assert problems == []
    check_numbers(dom, work["eval"], work["classes"])
    assert "No training log" in dom.by_id("training")["text"]
    # train --report: the model just trained, its log and its evaluation on --val (the same
    # images as above).
    problems, dom = load(browser, work["dir"] / "train.html")
    assert problems == []
    check_numbers(dom, work["eval"], work["classes"])
    assert dom.by_id("t-epochs")["text"].startswith("3")


@needs_browser
def test_missing_parts_are_named(mlic, work, browser, tmp_path):
    d = work["dir"]
    out = tmp_path / "bare.html"
    r = run(mlic, "report", "--model", d / "m.safetensors", "--output", out)
    assert r.returncode == 0, r.stderr
    problems, dom = load(browser, out)
    assert problems == []
    assert "No training log: give --log" in dom.by_id("training")["text"]
    assert "No evaluation: give --data" in dom.by_id("evaluation")["text"]
    # A run that has not finished: its epochs, and a note.
    log = tmp_path / "unfinished.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in work["log"][:2]))
    r = run(mlic, "report", "--model", d / "m.safetensors", "--log", log, "--output", out)
    assert r.returncode == 0, r.stderr
    problems, dom = load(browser, out)
    assert problems == [] and "no final line" in dom.by_id("training")["text"]
    assert dom.by_id("t-epochs")["text"].startswith("2")
    log.write_text("")
    r = run(mlic, "report", "--model", d / "m.safetensors", "--log", log, "--output", out)
    assert r.returncode == 0, r.stderr
    assert "The log holds no epoch yet" in out.read_text()
    # train --report without --val: the training curves, no validation metrics, no evaluation.
    r = run(mlic, "train", "--data", d / "train.txt", "--classes", d / "classes.txt", "--root",
            DATA, "--output", tmp_path / "noval.safetensors", "--log", tmp_path / "noval.jsonl",
            "--report", out, *TRAIN[:-1], "1")
    assert r.returncode == 0, r.stderr
    problems, dom = load(browser, out)
    assert problems == []
    assert "No validation metrics" in dom.by_id("training")["text"]
    assert "No evaluation: give --data" in dom.by_id("evaluation")["text"]
    assert {g["attrs"]["data-series"] for g in dom.find(dom.by_id("chart-loss"),
                                                         has_class("series"))} == {"train loss"}


def expect_failure(r, *pieces):
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("mlic report: "), r.stderr
    for p in pieces:
        assert p in r.stderr, f"{p!r} not in: {r.stderr}"


def test_bad_inputs(mlic, work, tmp_path):
    d, out = work["dir"], tmp_path / "r.html"
    base = ["--model", d / "m.safetensors", "--output", out]
    # A log of another run: other classes, another arch, or unreadable.
    final = dict(work["log"][-1])
    for change, piece in ((lambda c: c["classes"].__setitem__(2, "green"), "its class 3 is 'green'"),
                          (lambda c: c["classes"].pop(), "it trained 6 classes, the model has 7"),
                          (lambda c: c.__setitem__("arch", "resnet50"), "it trained a resnet50")):
        final["config"] = json.loads(json.dumps(work["log"][-1]["config"]))
        change(final["config"])
        log = tmp_path / "other.jsonl"
        log.write_text("".join(json.dumps(e) + "\n" for e in work["log"][:-1] + [final]))
        expect_failure(run(mlic, "report", *base, "--log", log), str(log), "another run",
                       piece, "HINT")
    log.write_text(json.dumps(work["log"][0]) + "\nnot json\n")
    expect_failure(run(mlic, "report", *base, "--log", log), f"{log}:2", "not a JSON object")
    expect_failure(run(mlic, "report", *base, "--log", tmp_path / "none.jsonl"), "none.jsonl")
    # Data with classes the model lacks; an empty data set.
    paths = (d / "paths.txt").read_text().split()
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{paths[0]}\tblack,purple\n")
    expect_failure(run(mlic, "report", *base, "--data", bad, "--root", DATA), str(bad),
                   "1 class the model does not know", "'purple'")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    expect_failure(run(mlic, "report", *base, "--data", empty), str(empty), "no images")
    assert not out.exists()
    # An image that cannot be read fails the evaluation, naming it.
    gone = tmp_path / "gone.txt"
    gone.write_text(f"{tmp_path}/absent.jpg\tblack\n")
    expect_failure(run(mlic, "report", *base, "--data", gone), "absent.jpg")


@pytest.mark.parametrize("args, piece", [
    ([], "missing --model"),
    (["--model", "m"], "missing --output"),
    (["--model", "m", "--output", "o", "--examples", "-1"], "--examples"),
    (["--model", "m", "--output", "o", "--backend", "gpu"], "--backend"),
    (["--model", "m", "--output", "o", "--bogus"], "'--bogus'"),
])
def test_usage_errors(mlic, args, piece):
    r = run(mlic, "report", *args)
    assert r.returncode == 2 and piece in r.stderr, r.stderr
    r = run(mlic, "report", "--help")
    assert r.returncode == 0 and "usage: mlic report" in r.stdout
