"""mlic_predict_image (encoded bytes in, probabilities out) gives exactly the probabilities that
mlic predict writes for the same images, since both prepare them with the same code and decode
options; and the version macros agree with the library and the CLI."""
import json
import os
import subprocess

import pytest
from PIL import Image

import st
from apparel import DATA
from conftest import BUILD
from torch_models import random_resnet18

TOOL = os.path.join(BUILD, "tests", "tool_predict_image")
K = 4


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A random resnet18 whose preprocessing is not the default (resize 72, crop 64), a few
    apparel photos (JPEG, one converted to PNG) and a file that is no image."""
    d = tmp_path_factory.mktemp("predict_image")
    meta = {"format_version": 1, "arch": "resnet18", "classes": ["c%d" % i for i in range(K)],
            "thresholds": [0.5] * K, "resize": 72, "crop": 64, "mean": [0.5, 0.4, 0.3],
            "std": [0.2, 0.25, 0.3]}
    model = str(d / "model.safetensors")
    st.save(model, st.state_dict_numpy(random_resnet18(K)), {"mlic": json.dumps(meta)})
    names = sorted(os.listdir(os.path.join(DATA, "images")))[:4]
    images = [os.path.join(DATA, "images", n) for n in names]
    png = d / "photo.png"
    Image.open(images[0]).convert("RGB").save(png)
    junk = d / "junk.jpg"
    junk.write_bytes(b"\xff\xd8 not really a jpeg")
    return {"model": model, "images": images + [str(png)], "junk": str(junk), "dir": d}


@pytest.mark.parametrize("backend", ["ref", "onednn"])
def test_probs_equal_mlic_predict(mlic, case, tmp_path, backend):
    lst, out = tmp_path / "list.txt", tmp_path / "out.jsonl"
    lst.write_text("".join(p + "\n" for p in case["images"]))
    r = subprocess.run([mlic, "predict", "--model", case["model"], "--input", str(lst), "--output",
                        str(out), "--format", "jsonl", "--batch-size", "1", "--threads", "1",
                        "--backend", backend],
                       capture_output=True, text=True, timeout=300)
    if backend == "onednn" and "no oneDNN" in r.stderr:
        pytest.skip("built without oneDNN")
    assert r.returncode == 0, r.stderr
    want = [json.loads(line)["probs"] for line in out.read_text().splitlines()]
    r = subprocess.run([TOOL, case["model"], "--backend", backend, *case["images"]],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = [[float(v) for v in line.split()] for line in r.stdout.splitlines()]
    assert len(got) == len(want) == len(case["images"])
    # Both print each float32 with 9 significant digits, which reads back exactly: equal text is
    # equal bits.
    assert got == want
    assert len({tuple(p) for p in got}) == len(got)  # different images, different outputs


def test_bad_bytes_fail_naming_the_image(case):
    r = subprocess.run([TOOL, case["model"], case["junk"], case["images"][0]],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    bad, good = r.stdout.splitlines()
    assert bad.startswith("error: decoding the image: "), bad
    assert len(good.split()) == K  # the engine is still usable after a failed image
    empty = case["dir"] / "empty.png"
    empty.write_bytes(b"")
    r = subprocess.run([TOOL, case["model"], str(empty)], capture_output=True, text=True)
    assert r.stdout == "error: the image is empty (0 bytes)\n"


def test_version_macros_match_library_and_cli(mlic):
    r = subprocess.run([TOOL, "--version"], capture_output=True, text=True)
    text, number, linked = r.stdout.split()
    major, minor, patch = map(int, text.split("."))
    assert int(number) == int(linked) == major * 10000 + minor * 100 + patch
    assert subprocess.run([mlic, "--version"], capture_output=True, text=True).stdout == \
        "mlic %s\n" % text
