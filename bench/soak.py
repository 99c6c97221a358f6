#!/usr/bin/python3
"""Soak (`make soak`, opt-in): long runs with the resident memory (VmRSS) sampled, to catch leaks
and lost lines that short tests cannot see.

1. Training: `mlic train` on synthetic images for several epochs; VmRSS read once a second and at
   the end of every epoch (when its "epoch N/M done" line appears). The per-epoch slope after the
   first epoch must be flat.
2. Prediction: the trained model (the smallest arch at a small crop, to keep the run affordable)
   over a list of --lines lines (default 1,000,000) mixing good images, missing paths and broken
   files (truncated, not an image, empty); VmRSS read once a second. Every line must be answered
   exactly once, in order, with a result for a good image and an error for the others, and the
   fitted RSS slope after the first tenth of the run (at least 10 s) must be flat.

"Flat": the fitted growth over the measured span is under max(8 MiB, 5% of the median RSS).
Writes bench/RESULTS-soak.md and exits non-zero if a check fails.
usage: soak.py [--lines N] [--epochs N] [--threads N] [--work DIR] [--mlic PATH]"""
import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MLIC = os.path.join(ROOT, "build", "mlic")
RESULTS = os.path.join(ROOT, "bench", "RESULTS-soak.md")
ARCH, CROP, RESIZE = "mobilenet_v2", 32, 36
MIB = 1024 * 1024


def rss(pid):
    """VmRSS in bytes, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class Sampler(threading.Thread):
    """(seconds since start, VmRSS) of pid once a second until it exits."""

    def __init__(self, pid, every=1.0):
        super().__init__(daemon=True)
        self.pid, self.every, self.samples, self.t0 = pid, every, [], time.monotonic()

    def run(self):
        while True:
            r = rss(self.pid)
            if r is None:
                return
            self.samples.append((time.monotonic() - self.t0, r))
            time.sleep(self.every)


def slope(points):
    """Least-squares slope and intercept of (x, y) points."""
    x = np.array([p[0] for p in points], dtype=np.float64)
    y = np.array([p[1] for p in points], dtype=np.float64)
    if len(x) < 2 or np.ptp(x) == 0:
        return 0.0, float(y.mean()) if len(y) else 0.0
    a, b = np.polyfit(x, y, 1)
    return float(a), float(b)


def flat(points, min_points):
    """(is flat, fitted growth over the span in bytes, median RSS); is flat is None when there are
    too few points to judge."""
    if len(points) < min_points:
        return None, 0.0, float(np.median([p[1] for p in points])) if points else 0.0
    a, _ = slope(points)
    span = points[-1][0] - points[0][0] if points else 0.0
    growth = a * span
    med = float(np.median([p[1] for p in points])) if points else 0.0
    return growth < max(8 * MIB, 0.05 * med), growth, med


def write_images(folder, n, seed=1):
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        name = f"{i}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(
            os.path.join(folder, name))
        labels = [c for c in "abcd" if rng.random() < 0.4] or ["a"]
        lines.append(f"{name}\t{','.join(labels)}")
    return lines


def train_soak(work, epochs, threads):
    d = os.path.join(work, "train")
    os.makedirs(d, exist_ok=True)
    lines = write_images(d, 256)
    with open(os.path.join(d, "train.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    model = os.path.join(work, "model.safetensors")
    cmd = [MLIC, "train", "--arch", ARCH, "--data", os.path.join(d, "train.txt"), "--output",
           model, "--crop", str(CROP), "--resize", str(RESIZE), "--batch-size", "16",
           "--epochs", str(epochs), "--threads", str(threads)]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    sampler = Sampler(p.pid)
    sampler.start()
    per_epoch, err = [], []
    for line in p.stderr:
        err.append(line)
        m = re.match(r"epoch (\d+)/\d+ done", line)
        if m:
            per_epoch.append((int(m.group(1)), rss(p.pid) or 0))
    p.wait()
    sampler.join()
    seconds = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("training failed:\n" + "".join(err))
    ok, growth, med = flat(per_epoch[1:], 3)
    return {"seconds": seconds, "per_epoch": per_epoch, "flat": ok, "growth": growth,
            "median": med, "peak": max(s[1] for s in sampler.samples), "model": model,
            "slope_per_epoch": slope(per_epoch[1:])[0]}


def predict_list(work, nlines):
    """The list: 8 good images, 4 broken files and missing paths, in a fixed repeating mix."""
    d = os.path.join(work, "predict")
    os.makedirs(d, exist_ok=True)
    good = [l.split("\t")[0] for l in write_images(d, 8, seed=2)]
    with open(os.path.join(d, "notimage.jpg"), "wb") as f:
        f.write(b"this is not an image\n" * 4)
    open(os.path.join(d, "empty.png"), "wb").close()
    with open(os.path.join(d, good[1]), "rb") as f:
        png = f.read()
    with open(os.path.join(d, "truncated.png"), "wb") as f:
        f.write(png[: len(png) // 2])
    with open(os.path.join(d, good[0]), "rb") as f:
        jpg = f.read()
    # Cut inside the header: libjpeg-turbo decodes a JPEG cut in its scan data (grey fill), so
    # that is not a broken input.
    with open(os.path.join(d, "truncated.jpg"), "wb") as f:
        f.write(jpg[:100])
    broken = ["notimage.jpg", "empty.png", "truncated.png", "truncated.jpg"]
    path = os.path.join(d, "list.txt")
    kinds = []
    nbroken = 0
    with open(path, "w") as f:
        for i in range(nlines):
            k = i % 16
            if k < 10:
                line, kind = good[(i * 7) % len(good)], "good"
            elif k < 13:
                line, kind = broken[nbroken % len(broken)], "broken"
                nbroken += 1
            else:
                line, kind = f"missing/{i}.jpg", "missing"
            f.write(line + "\n")
            kinds.append(kind)
    return path, kinds


def predict_soak(work, model, nlines, threads):
    lst, kinds = predict_list(work, nlines)
    out = os.path.join(work, "out.txt")
    for f in os.listdir(work):
        if f.startswith("out.txt"):
            os.remove(os.path.join(work, f))
    cmd = [MLIC, "predict", "--model", model, "--input", lst, "--output", out, "--no-progress",
           "--threads", str(threads)]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    sampler = Sampler(p.pid)
    sampler.start()
    _, err = p.communicate()
    sampler.join()
    seconds = time.monotonic() - t0
    if p.returncode != 3:
        sys.exit(f"predict exited {p.returncode} (3 expected: some inputs fail):\n{err}")
    # Every line answered once, in order: output line i names input line i, with a result for a
    # good image and an error for a missing or broken one.
    bad = 0
    n = 0
    with open(lst) as fin, open(out) as fout:
        for i, (src, res) in enumerate(zip(fin, fout)):
            label, _, body = res.partition(", ")
            is_error = body.startswith('{"error"')
            if label != src.rstrip("\n") or is_error != (kinds[i] != "good"):
                bad += 1
            n += 1
        extra = sum(1 for _ in fout)
    samples = sampler.samples
    # Start-up (model loading, the pipeline's buffers) is not steady state.
    steady = [s for s in samples if s[0] >= max(0.1 * seconds, 10.0)]
    ok, growth, med = flat(steady, 10)
    return {"seconds": seconds, "lines": n + extra, "expected": nlines, "mismatched": bad,
            "flat": ok, "growth": growth, "median": med, "peak": max(s[1] for s in samples),
            "slope": slope(steady)[0], "samples": len(samples), "summary": err.strip()}


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores: {cpu}, {platform.system()} {platform.release()}"


def commit():
    r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                       text=True)
    return r.stdout.strip() or "unknown"


def main():
    global MLIC
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "soak"))
    ap.add_argument("--mlic", default=MLIC, help="the binary (a copy keeps a rebuild out)")
    a = ap.parse_args()
    MLIC = a.mlic
    if not os.path.exists(MLIC):
        sys.exit("build/mlic is missing: run make first")
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    load0 = os.getloadavg()[0]
    tr = train_soak(a.work, a.epochs, a.threads)
    pr = predict_soak(a.work, tr["model"], a.lines, a.threads)
    load1 = os.getloadavg()[0]
    answered = pr["lines"] == pr["expected"] and pr["mismatched"] == 0
    passed = tr["flat"] is not False and pr["flat"] is not False and answered
    verdict = {True: "flat", False: "GROWING", None: "not judged (run too short)"}
    rows = "\n".join(f"| {e} | {r / MIB:.1f} |" for e, r in tr["per_epoch"])
    text = f"""## Soak (`make soak`)

Made by bench/soak.py on {time.strftime('%Y-%m-%d')} at commit {commit()}, {machine()}; {a.threads}
threads; 1-minute load average {load0:.1f} before, {load1:.1f} after (other work on the machine
slows the runs, not their memory). Result: **{'PASS' if passed else 'FAIL'}**. "Flat" means the
fitted RSS growth over the measured span is under max(8 MiB, 5% of the median RSS).

### Prediction

`mlic predict` with {ARCH} at crop {CROP} over {pr['expected']:,} lines (per 16 lines: 10 good
images (8 files, PNG and JPEG), 3 broken files (in turn: not an image, empty, truncated PNG, JPEG
cut in its header), 3 missing paths); VmRSS sampled once a second ({pr['samples']} samples).

- duration: {pr['seconds']:.0f} s ({pr['expected'] / pr['seconds']:.0f} lines/s); mlic's summary:
  `{pr['summary'].splitlines()[-1] if pr['summary'] else ''}`
- every line answered exactly once, in order, errors exactly for the bad lines:
  **{'yes' if answered else 'NO'}** ({pr['lines']:,} output lines, {pr['mismatched']} mismatched)
- RSS: median {pr['median'] / MIB:.1f} MiB, peak {pr['peak'] / MIB:.1f} MiB; slope after the
  first tenth (at least 10 s) {pr['slope'] / 1024 * 60:+.1f} KiB/min, fitted growth {pr['growth'] / MIB:+.2f} MiB:
  **{verdict[pr['flat']]}**

### Training

`mlic train` with {ARCH} at crop {CROP}, 256 images, batch 16, {a.epochs} epochs, in
{tr['seconds']:.0f} s; VmRSS at the end of each epoch:

| epoch | RSS MiB |
|---|---|
{rows}

Peak {tr['peak'] / MIB:.1f} MiB. Slope from epoch 2 on {tr['slope_per_epoch'] / 1024:+.1f} KiB/epoch,
fitted growth {tr['growth'] / MIB:+.2f} MiB: **{verdict[tr['flat']]}**.
"""
    with open(RESULTS, "w") as f:
        f.write(text)
    print(text)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
