"""demo/gen_shapes: the `make demo` data set is complete, decodable, deterministic, and its
colour labels agree with the pixels (checked with PIL, independently of mlic's decoders)."""
import os
import subprocess

import numpy as np
import pytest
from PIL import Image

from conftest import BUILD

GEN = os.path.join(BUILD, "demo", "gen_shapes")
SHAPES = ["circle", "square", "triangle", "stripes"]
COLOURS = ["red", "green", "blue", "yellow"]
COUNTS = {"train": 48, "val": 12, "test": 10}
SIZE = 64


def colour_masks(rgb):
    """Pixels that are unmistakably one colour: the background is grey-ish and never this far
    from neutral."""
    a = rgb.astype(int)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    return {
        "red": r - np.maximum(g, b) > 90,
        "green": g - np.maximum(r, b) > 70,
        "blue": b - np.maximum(r, g) > 80,
        "yellow": np.minimum(r, g) - b > 100,
    }


def generate(out, seed):
    assert os.path.exists(GEN), "build/demo/gen_shapes is missing: run make first"
    args = [GEN, "--out", str(out), "--size", str(SIZE), "--seed", str(seed)]
    for split, n in COUNTS.items():
        args += ["--" + split, str(n)]
    subprocess.run(args, check=True, capture_output=True)


def read_list(path):
    with open(path) as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    return [(name, labels.split(",")) for name, labels in rows]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("shapes")
    generate(out, 7)
    return out


def test_lists_and_images(dataset):
    with open(dataset / "classes.txt") as f:
        assert f.read().split("\n") == SHAPES + COLOURS + [""]
    seen = set()
    names = []
    for split, n in COUNTS.items():
        rows = read_list(dataset / (split + ".txt"))
        assert len(rows) == n
        for name, labels in rows:
            assert name.startswith("images/") and name.endswith(".jpg")
            assert labels == sorted(set(labels), key=(SHAPES + COLOURS).index)
            shapes = [l for l in labels if l in SHAPES]
            colours = [l for l in labels if l in COLOURS]
            assert 1 <= len(shapes) <= 3 and 1 <= len(colours) <= 3, labels
            with Image.open(dataset / name) as im:
                assert im.format == "JPEG" and im.size == (SIZE, SIZE)
                im.convert("RGB").load()
            seen.update(labels)
            names.append(name)
    assert len(set(names)) == len(names)
    assert seen == set(SHAPES + COLOURS)
    assert sorted(os.listdir(dataset / "images")) == sorted(n[len("images/"):] for n in names)
    assert not [f for f in os.listdir(dataset) if f.endswith(".tmp")]


def test_colour_labels_match_pixels(dataset):
    for split in COUNTS:
        for name, labels in read_list(dataset / (split + ".txt")):
            rgb = np.asarray(Image.open(dataset / name).convert("RGB"))
            for colour, mask in colour_masks(rgb).items():
                frac = mask.mean()
                if colour in labels:
                    assert frac > 0.005, (name, colour, frac)
                else:
                    assert frac < 0.001, (name, colour, frac)


def test_labels_co_occur(dataset):
    """Each shape favours one colour, so the label matrix is correlated, not independent."""
    rows = [l for split in COUNTS for _, l in read_list(dataset / (split + ".txt"))]
    y = np.array([[c in l for c in SHAPES + COLOURS] for l in rows], dtype=float)
    assert y.sum(1).mean() > 2.5
    corr = np.corrcoef(y.T)[:4, 4:]
    assert corr.max() > 0.3


def test_same_seed_same_bytes(dataset, tmp_path):
    generate(tmp_path / "again", 7)
    generate(tmp_path / "other", 8)
    files = ["classes.txt", "train.txt", "val.txt", "test.txt"]
    files += ["images/" + f for f in sorted(os.listdir(dataset / "images"))]
    for f in files:
        assert (dataset / f).read_bytes() == (tmp_path / "again" / f).read_bytes(), f
    assert (dataset / "train.txt").read_bytes() != (tmp_path / "other" / "train.txt").read_bytes()


def test_bad_arguments_are_refused(tmp_path):
    assert os.path.exists(GEN), "build/demo/gen_shapes is missing: run make first"
    for args in (["--train", "5"], ["--out", str(tmp_path), "--size", "8"],
                 ["--out", str(tmp_path), "--train", "x"], ["--out", str(tmp_path), "--bogus", "1"]):
        r = subprocess.run([GEN] + args, capture_output=True, text=True)
        assert r.returncode == 2 and "gen_shapes:" in r.stderr and "usage" in r.stderr
