"""--confine-to-root for data sets (mlic train and eval, src/util/confine.h): every image path a
list, PAI CSV, COCO file or VOC split names must resolve under the data set's root. An escape
through '..', an absolute path, a file:// URL, a symbolic link out and a missing file fail the
load, the message naming the data-set file, the line and the path; the same data sets load without
the option, and a clean one loads with it (its paths resolved)."""
import json
import os
import subprocess

import numpy as np
import pytest
from PIL import Image

import st
from conftest import BUILD
from torch_models import random_resnet18

TOOL = os.path.join(BUILD, "tests", "tool_dataset")
CLASSES = ["cat", "dog", "bird", "fish"]
GOOD = ["a.png", "b.png", "sub/../c.png", "sub/link_in.png"]
TIMEOUT = 300


@pytest.fixture
def tree(tmp_path):
    """base/root: four images (one reached through '..', one through a link inside), link_out.png
    pointing to base/outside/img.png."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png", "c.png", "d.png"):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / name)
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(outside / "img.png")
    os.symlink(outside / "img.png", root / "link_out.png")
    os.symlink(root / "d.png", root / "sub" / "link_in.png")
    return {"root": root, "outside": outside}


def bad_paths(tree):
    """kind -> a path that leads outside the root, and the words of the refusal."""
    return {"dotdot": ("../outside/img.png", "leads outside the root"),
            "absolute": (str(tree["outside"] / "img.png"), "is an absolute path"),
            "symlink": ("link_out.png", "leads outside the root"),
            "file_url": ("file://" + str(tree["outside"] / "img.png"), "file:// URLs"),
            "missing": ("nope.png", "cannot open")}


def labels_of(i):
    return [CLASSES[i % 4], CLASSES[(i + 1) % 4]]


def write_list(path, paths):
    path.write_text("".join(f"{p}\t{','.join(labels_of(i))}\n" for i, p in enumerate(paths)))
    return path, {p: i + 1 for i, p in enumerate(paths)}


def write_pai(path, paths):
    rows = ["id,image,label"] + [
        f'{i},{json.dumps({"url": p})},{json.dumps({"option": labels_of(i)})}'
        for i, p in enumerate(paths)]
    path.write_text("\n".join(rows) + "\n")
    return path, {p: i + 2 for i, p in enumerate(paths)}


def write_coco(path, paths):
    doc = {"images": [{"id": i + 1, "file_name": p} for i, p in enumerate(paths)],
           "annotations": [{"id": 10 * i + k, "image_id": i + 1, "category_id": CLASSES.index(c) + 1}
                           for i in range(len(paths)) for k, c in enumerate(labels_of(i))],
           "categories": [{"id": i + 1, "name": c} for i, c in enumerate(CLASSES)]}
    text = json.dumps(doc, indent=1)
    path.write_text(text)
    # An image is on the line where its object opens: with indent=1 the "{" two lines above its
    # "file_name" (n is 0-based, so that is line n - 1).
    where = {}
    for n, line in enumerate(text.splitlines()):
        for p in paths:
            if line.strip() == f'"file_name": {json.dumps(p)}':
                where[p] = n - 1
    assert len(where) == len(paths)
    return path, where


WRITERS = {"list": ("data.txt", write_list), "pai_csv": ("data.csv", write_pai),
           "coco": ("coco.json", write_coco)}


def tool(path, *args):
    return subprocess.run([TOOL, str(path), *map(str, args)], capture_output=True, text=True,
                          timeout=TIMEOUT)


@pytest.mark.parametrize("fmt", WRITERS)
@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "file_url", "missing"])
def test_each_format_refuses_a_path_out_of_the_root(tree, fmt, kind):
    name, writer = WRITERS[fmt]
    bad, words = bad_paths(tree)[kind]
    paths = GOOD[:2] + [bad] + GOOD[2:]
    data, line = writer(tree["root"] / name, paths)
    r = tool(data, "--confine-to-root")
    assert r.returncode == 1, r.stdout
    msg = r.stderr.strip()
    assert msg.startswith(f"{data}:{line[bad]}: ") and f"'{bad}'" in msg, msg
    assert words in msg and (kind == "missing" or "--confine-to-root" in msg), msg
    r = tool(data)  # without the option a missing image fails only when it is read
    assert r.returncode == 0, r.stderr
    if kind == "missing":
        return
    got = [it["path"] for it in json.loads(r.stdout)["items"]]
    want = bad if kind in ("absolute", "file_url") else str(tree["root"] / bad)
    assert got[2] == want


@pytest.mark.parametrize("fmt", WRITERS)
def test_a_clean_data_set_loads_confined_with_resolved_paths(tree, fmt):
    name, writer = WRITERS[fmt]
    url = "http://127.0.0.1:9/x.png"  # URLs pass as in predict (never fetched here)
    data, _ = writer(tree["root"] / name, GOOD + [url])
    free = json.loads(tool(data).stdout)
    r = tool(data, "--confine-to-root")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["classes"] == free["classes"]
    assert [it["labels"] for it in got["items"]] == [it["labels"] for it in free["items"]]
    real = os.path.realpath(tree["root"])
    assert [it["path"] for it in got["items"]] == [
        os.path.join(real, p) for p in ("a.png", "b.png", "c.png", "d.png")] + [url]


def test_root_option_is_the_root_confined_to(tree):
    """--root decides the root: the list's own folder no longer counts."""
    data, _ = write_list(tree["root"] / "data.txt", ["img.png"])
    assert tool(data, "--root", tree["outside"], "--confine-to-root").returncode == 0
    r = tool(data, "--root", tree["root"], "--confine-to-root")
    assert r.returncode == 1 and "cannot open 'img.png'" in r.stderr, r.stderr


def test_voc_refuses_a_symbolic_link_out(tree):
    voc = tree["root"] / "VOC"
    (voc / "ImageSets" / "Main").mkdir(parents=True)
    (voc / "Annotations").mkdir()
    (voc / "JPEGImages").mkdir()
    ids = ["000001", "000002", "000003"]
    for i in ids:
        (voc / "Annotations" / f"{i}.xml").write_text(
            "<annotation><object><name>dog</name></object></annotation>")
        (voc / "JPEGImages" / f"{i}.jpg").write_bytes((tree["root"] / "a.png").read_bytes())
    split = voc / "ImageSets" / "Main" / "trainval.txt"
    split.write_text("\n".join(ids) + "\n")
    assert tool(voc, "--confine-to-root").returncode == 0
    img = voc / "JPEGImages" / "000002.jpg"
    # Out of the VOC tree, and out of its root (JPEGImages) but still inside the VOC folder.
    for target in (tree["outside"] / "img.png", voc / "Annotations" / "000002.xml"):
        os.remove(img)
        os.symlink(target, img)
        assert tool(voc).returncode == 0
        r = tool(voc, "--confine-to-root")
        assert r.returncode == 1
        assert r.stderr.startswith(f"{split}:2: '000002.jpg' leads outside the root"), r.stderr


# ---------------------------------------------------------------- mlic eval and mlic train


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("confine_model")
    net = random_resnet18(len(CLASSES))
    sd = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    meta = {"format_version": 1, "arch": "resnet18", "classes": CLASSES,
            "thresholds": [0.5] * 4, "resize": 36, "crop": 32, "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225]}
    path = d / "model.safetensors"
    st.save(str(path), sd, {"mlic": json.dumps(meta)})
    return str(path)


def run(mlic, cmd, *args):
    return subprocess.run([mlic, cmd, *map(str, args)], capture_output=True, text=True,
                          timeout=TIMEOUT)


def escapes(tree):
    return [bad_paths(tree)[k][0] for k in ("dotdot", "absolute", "symlink")]


def test_eval_confined(mlic, model, tree):
    root = tree["root"]
    for i, bad in enumerate(escapes(tree)):
        data, line = write_list(root / f"bad{i}.txt", GOOD + [bad])
        r = run(mlic, "eval", "--model", model, "--data", data, "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["num_images"] == 5
        r = run(mlic, "eval", "--model", model, "--data", data, "--json", "--confine-to-root")
        assert r.returncode == 1 and r.stdout == "", r.stdout
        assert f"{data}:{line[bad]}: '{bad}'" in r.stderr, r.stderr
        assert "--confine-to-root" in r.stderr
    data, _ = write_list(root / "clean.txt", GOOD)
    free = run(mlic, "eval", "--model", model, "--data", data, "--json")
    confined = run(mlic, "eval", "--model", model, "--data", data, "--json", "--confine-to-root")
    assert free.returncode == 0 and confined.returncode == 0, confined.stderr
    # The same images are read: the same figures.
    assert json.loads(confined.stdout) == json.loads(free.stdout)


def train_args(epochs=1):
    return ["--arch", "resnet18", "--crop", "32", "--batch-size", "2", "--epochs", epochs,
            "--threads", "1", "--workers", "1"]


TRAIN = train_args()


def test_train_confined_and_a_resume_setting(mlic, tree, tmp_path):
    root = tree["root"]
    clean, _ = write_list(root / "clean.txt", GOOD)
    data, line = write_list(root / "bad.txt", GOOD + escapes(tree))
    out = tmp_path / "m.safetensors"
    r = run(mlic, "train", "--data", data, "--output", out, *TRAIN)
    assert r.returncode == 0, r.stderr
    for flag in ("--data", "--val"):
        other = "--val" if flag == "--data" else "--data"
        r = run(mlic, "train", flag, data, other, clean, "--output", out, *TRAIN,
                "--confine-to-root")
        bad = escapes(tree)[0]
        assert r.returncode == 1, r.stderr
        assert f"{data}:{line[bad]}: '{bad}' leads outside the root" in r.stderr, r.stderr
    for i, bad in enumerate(escapes(tree)[1:]):
        one, line = write_list(root / f"one{i}.txt", GOOD + [bad])
        r = run(mlic, "train", "--data", one, "--output", out, *TRAIN, "--confine-to-root")
        assert r.returncode == 1 and f"{one}:{line[bad]}: '{bad}'" in r.stderr, r.stderr
    out = tmp_path / "c.safetensors"
    r = run(mlic, "train", "--data", clean, "--val", clean, "--output", out, *TRAIN,
            "--confine-to-root")
    assert r.returncode == 0, r.stderr
    r = run(mlic, "train", "--data", clean, "--val", clean, "--output", out, *train_args(2),
            "--resume")
    assert r.returncode == 1 and "confine_to_root" in r.stderr and "--resume" in r.stderr, r.stderr
