"""Shared by test_dist.py and test_resume.py: a tiny random resnet18 model, ~200 small PNG/JPEG
inputs with some failing lines, and helpers to run mlic predict as one process, as --workers N or
under mpirun."""
import base64
import json
import os
import shutil
import subprocess

import numpy as np
import torch
import torchvision
from PIL import Image

import st

from conftest import BUILD
CLASSES = ["a", "b", "c", "d", "e"]
MPIRUN = shutil.which("mpirun")
MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def mpi_built():
    """Whether build/mlic was built with MPI (make MPI=1, the default when OpenMPI is found)."""
    try:
        with open(os.path.join(BUILD, "config.stamp")) as f:
            return "-DMLIC_HAVE_MPI=1" in f.read()
    except OSError:
        return False


def mpi_skip_reason():
    if not MPIRUN:
        return "mpirun is missing (install openmpi-bin libopenmpi-dev, then rebuild)"
    if not mpi_built():
        return "build/mlic was built without MPI (make MPI=1 needs libopenmpi-dev)"
    return None


def make_work(d, n=200):
    """Model and inputs in folder d; returns a dict of paths and the list's lines."""
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=len(CLASSES)).eval()
    meta = {"format_version": 1, "arch": "resnet18", "classes": CLASSES, "thresholds": [0.5] * 5,
            "resize": 36, "crop": 32, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    model = os.path.join(d, "model.safetensors")
    st.save(model, net.state_dict(), {"mlic": json.dumps(meta)})
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(d, "img"), exist_ok=True)
    lines, b64 = [], []
    for i in range(n):
        h, w = (int(x) for x in rng.integers(24, 64, 2))
        px = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        name = f"img/{i}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(px).save(os.path.join(d, name))
        lines.append(name)
        if i % 50 == 7:
            lines.append("img/missing.png")  # fails: no such file
        if i == 120:
            lines.append("")  # fails: an empty line
        if i < 60:
            data = base64.b64encode(open(os.path.join(d, name), "rb").read()).decode()
            b64.append(data if i % 3 else f"id{i}\t{data}")  # most lines without an ID
    with open(os.path.join(d, "corrupt.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not really a jpeg")
    lines.insert(33, "corrupt.jpg")
    b64.insert(10, "not base64 !!")
    url_list = os.path.join(d, "list.txt")
    with open(url_list, "w") as f:
        f.write("\n".join(lines))  # no final newline: the last line still counts
    b64_list = os.path.join(d, "b64.txt")
    with open(b64_list, "w") as f:
        f.write("\n".join(b64) + "\n")
    return {"dir": d, "model": model, "list": url_list, "lines": lines, "b64": b64_list,
            "b64_lines": b64}


def predict_cmd(mlic, work, out, *extra, lst=None):
    return [mlic, "predict", "--model", work["model"], "--input", lst or work["list"], "--output",
            str(out), "--no-progress", *map(str, extra)]


def mpirun_cmd(np_, cmd):
    return [MPIRUN, "-np", str(np_), "--oversubscribe", "--allow-run-as-root"] + cmd


def run(cmd, timeout=120):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=MPI_ENV)


def leftovers(folder):
    """Part, journal or temporary files left in folder."""
    return sorted(f for f in os.listdir(folder) if ".part-" in f or ".tmp" in f)


def write_train_images(folder, n, seed=1):
    """n random 40x40 PNG images with random labels from a, b, c, and their list train.txt."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
            os.path.join(folder, f"{i}.png"))
        labels = [c for c in "abc" if rng.random() < 0.5] or ["a"]
        lines.append(f"{i}.png\t{','.join(labels)}")
    path = os.path.join(folder, "train.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path
