"""The Python package (python/, docs/python.md), installed by pip into a fresh virtual
environment: Model.predict on paths, bytes, PIL images and numpy arrays gives mlic predict's
probabilities exactly; threads sharing a Model get the same results; mlic.train writes the same
model bytes as mlic train, and a Ctrl-C leaves a checkpoint that resume=True finishes with those
bytes again; mlic.evaluate equals mlic eval --json; bad inputs raise mlic.Error subclasses with
mlic's message and hint; python -m mlic runs the CLI; train, evaluate and predict_file reach an
S3-protocol store through their storage option and cache its images under cache."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

import st
from apparel import DATA, write_subset
from conftest import BUILD, ROOT
from s3_fixtures import s3, s3_server  # noqa: F401  (fixtures, found by name)
from torch_models import random_resnet18

def sanitized(build):
    """A sanitizer build's library (make check-asan): `make install` there would rebuild it with
    the plain flags, and a Python process cannot load it (the sanitizer runtime must come first)."""
    lib = os.path.join(build, "libmlic.so")
    return os.path.exists(lib) and any(s in open(lib, "rb").read() for s in (b"__asan_init", b"__tsan_init"))


pytestmark = [pytest.mark.skipif(not os.path.isdir(DATA), reason="apparel data set not present"),
              pytest.mark.skipif(sanitized(BUILD), reason="a sanitizer build (make check-asan)")]

K = 4
# tests/api and test_c_api train with the same settings (one epoch of resnet18 at crop 32).
TRAIN_FLAGS = ["--arch", "resnet18", "--epochs", "2", "--batch-size", "16", "--crop", "32",
               "--threads", "1", "--workers", "1", "--seed", "3", "--lr", "0.05"]
TRAIN_KW = "arch='resnet18', epochs=2, batch_size=16, crop=32, threads=1, workers=1, seed=3, lr=0.05"


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv (system site packages: Debian's numpy and PIL) with the package installed
    by pip from python/, offline; the build folder under test supplies libmlic.so."""
    d = tmp_path_factory.mktemp("venv")
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(d)],
                   check=True, timeout=300)
    py = str(d / "bin" / "python")
    env = dict(os.environ, MLIC_BUILD_DIR=BUILD)
    env.pop("MLIC_LIB", None)
    r = subprocess.run([py, "-m", "pip", "install", "--no-index", "-q", os.path.join(ROOT, "python")],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return py


def run_py(venv, code, *args, check=True, timeout=600, env=None):
    """Runs code in the venv (from a neutral folder, so that python/mlic is not imported)."""
    r = subprocess.run([venv, "-c", textwrap.dedent(code), *map(str, args)], capture_output=True,
                       text=True, timeout=timeout, cwd="/", env=env)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A random resnet18 (resize 72, crop 64, thresholds around the outputs), four apparel JPEGs
    and two PNGs of equal size."""
    d = tmp_path_factory.mktemp("pypkg")
    meta = {"format_version": 1, "arch": "resnet18", "classes": ["c%d" % i for i in range(K)],
            "thresholds": [0.3, 0.5, 0.5, 0.7], "resize": 72, "crop": 64,
            "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]}
    model = str(d / "model.safetensors")
    st.save(model, st.state_dict_numpy(random_resnet18(K)), {"mlic": json.dumps(meta)})
    names = sorted(os.listdir(os.path.join(DATA, "images")))[:4]
    jpgs = [os.path.join(DATA, "images", n) for n in names]
    pngs = []
    for i, j in enumerate(jpgs[:2]):
        p = str(d / ("photo%d.png" % i))
        Image.open(j).convert("RGB").resize((90, 70)).save(p)
        pngs.append(p)
    return {"model": model, "jpgs": jpgs, "pngs": pngs, "dir": d}


def cli_probs(mlic, model, images, out, backend="auto"):
    lst = out.with_suffix(".txt")
    lst.write_text("".join(p + "\n" for p in images))
    r = subprocess.run([mlic, "predict", "--model", model, "--input", str(lst), "--output",
                        str(out), "--format", "jsonl", "--batch-size", "1", "--threads", "1",
                        "--backend", backend], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return [json.loads(l) for l in out.read_text().splitlines()]


PREDICT_ALL = """
    import json, sys
    import numpy as np
    from PIL import Image
    import mlic
    model, backend, jpgs, pngs = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split(",")
    m = mlic.Model(model, backend=backend, threads=1)
    t = lambda p: ["%.9g" % v for v in p]
    out = {"classes": m.classes, "thresholds": [float(v) for v in m.thresholds], "arch": m.arch}
    out["path"] = [t(m.predict(p)) for p in jpgs + pngs]
    out["bytes"] = [t(m.predict(open(p, "rb").read())) for p in jpgs + pngs]
    out["list"] = [t(r) for r in m.predict(jpgs + pngs)]
    out["pil"] = [t(m.predict(Image.open(p))) for p in pngs]
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in pngs]
    out["numpy"] = [t(m.predict(a)) for a in arrays]
    out["batch"] = [t(r) for r in m.predict(np.stack(arrays))]
    out["mixed"] = [t(r) for r in m.predict([pngs[0], Image.open(pngs[1]), arrays[0]])]
    out["labels"] = m.labels(jpgs + pngs)
    out["label_one"] = m.labels(jpgs[0])
    out["median"] = float(np.median(m.predict(jpgs + pngs)[:, 0]))  # c0 above it on half the images
    out["labels_median"] = m.labels(jpgs + pngs, threshold=out["median"])
    out["shape"] = list(m.predict(jpgs[0]).shape) + list(m.predict(jpgs[:2]).shape)
    print(json.dumps(out))
"""


@pytest.mark.parametrize("backend", ["ref", "onednn"])
def test_predict_equals_mlic_predict(mlic, venv, case, tmp_path, backend):
    want = cli_probs(mlic, case["model"], case["jpgs"] + case["pngs"], tmp_path / "o.jsonl",
                     backend)
    wp = [["%.9g" % v for v in w["probs"]] for w in want]
    r = run_py(venv, PREDICT_ALL, case["model"], backend, ",".join(case["jpgs"]),
               ",".join(case["pngs"]), check=False)
    if backend == "onednn" and "oneDNN" in r.stderr:
        pytest.skip("built without oneDNN")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["classes"] == ["c0", "c1", "c2", "c3"] and got["arch"] == "resnet18"
    assert got["thresholds"] == [float(np.float32(t)) for t in (0.3, 0.5, 0.5, 0.7)]
    # Each float printed with 9 significant digits reads back exactly: equal text, equal bits.
    assert got["path"] == wp and got["bytes"] == wp and got["list"] == wp
    png_want = wp[len(case["jpgs"]):]
    assert got["pil"] == png_want and got["numpy"] == png_want and got["batch"] == png_want
    assert got["mixed"] == [png_want[0], png_want[1], png_want[0]]
    assert len({tuple(p) for p in wp}) == len(wp)  # different images, different outputs
    thr = got["thresholds"]
    want_labels = [[c for c, p, t in zip(got["classes"], w["probs"], thr)
                    if np.float32(p) >= np.float32(t)] for w in want]
    assert got["labels"] == want_labels and got["label_one"] == want_labels[0]
    # One threshold for all classes, the median of c0: labels that differ by image.
    med = np.float32(got["median"])
    want_med = [[c for c, p in zip(got["classes"], w["probs"]) if np.float32(p) >= med]
                for w in want]
    assert got["labels_median"] == want_med and len(set(map(tuple, want_med))) > 1
    assert got["shape"] == [K, 2, K]


THREADS = """
    import json, sys, threading
    import mlic
    model, images = sys.argv[1], sys.argv[2].split(",")
    m = mlic.Model(model, threads=1)
    alone = m.predict(images).tolist()
    results, errors = [], []
    def work(i):
        try:
            for r in range(3):
                order = images[i % len(images):] + images[:i % len(images)]
                got = m.predict(order).tolist()
                results.append(got[len(images) - i % len(images):] + got[:len(images) - i % len(images)])
        except Exception as e:
            errors.append(repr(e))
    ts = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    m.close()
    print(json.dumps({"alone": alone, "results": results, "errors": errors}))
"""


def test_threads_sharing_a_model_agree(venv, case):
    images = case["jpgs"] + case["pngs"]
    got = json.loads(run_py(venv, THREADS, case["model"], ",".join(images)).stdout)
    assert got["errors"] == []
    assert len(got["results"]) == 18
    for r in got["results"]:
        assert r == got["alone"]


ERRORS = """
    import json, sys
    import numpy as np
    import mlic
    model, d = sys.argv[1], sys.argv[2]
    out = {}
    def catch(name, fn):
        try:
            fn()
            out[name] = None
        except mlic.Error as e:
            out[name] = [type(e).__name__, e.message, e.hint, e.status, str(e)]
    catch("missing_model", lambda: mlic.Model(d + "/nope.safetensors"))
    m = mlic.Model(model)
    catch("junk_bytes", lambda: m.predict(b"\\xff\\xd8 not a jpeg"))
    catch("missing_image", lambda: m.predict(d + "/nope.jpg"))
    catch("bad_array", lambda: m.predict(np.zeros((4, 4), np.uint8)))
    catch("float_array", lambda: m.predict(np.zeros((4, 4, 3), np.float32)))
    catch("not_image", lambda: m.predict(42))
    catch("list_item", lambda: m.predict([np.zeros((4, 4, 3), np.uint8), b"junk"]))
    catch("bad_backend", lambda: mlic.Model(model, backend="gpu9"))
    catch("bad_arch", lambda: mlic.train(d + "/t.txt", d + "/o.safetensors", "resnet7", batch_size=1))
    catch("small_data", lambda: mlic.train(d + "/t.txt", d + "/o.safetensors", "resnet18"))
    catch("bad_optimizer", lambda: mlic.train(d + "/t.txt", d + "/o.safetensors", "resnet18", optimizer="adam"))
    catch("missing_data", lambda: mlic.evaluate(model, d + "/none.txt"))
    catch("missing_list", lambda: mlic.predict_file(model, d + "/none.txt", d + "/out.txt"))
    catch("dataset", lambda: mlic.Dataset(d + "/none.txt"))
    out["after"] = len(m.predict(np.zeros((4, 4, 3), np.uint8)))  # still usable
    print(json.dumps(out))
"""


def test_bad_inputs_raise_mlic_errors(venv, case, tmp_path):
    (tmp_path / "t.txt").write_text(case["pngs"][0] + "\tc0\n")
    got = json.loads(run_py(venv, ERRORS, case["model"], tmp_path).stdout)
    name, msg, hint, status, text = got["missing_model"]
    assert name == "FileError" and status == "MLIC_ERR_IO" and "nope.safetensors" in msg
    name, msg, hint, status, text = got["junk_bytes"]
    assert name == "DecodeError" and msg.startswith("decoding the image"), msg
    name, msg = got["missing_image"][:2]
    assert name == "FileError" and "nope.jpg" in msg
    assert got["bad_array"][0] == "InvalidArgument" and "(4, 4)" in got["bad_array"][1]
    assert "(H, W, 3) uint8" in got["bad_array"][2]
    assert got["float_array"][0] == "InvalidArgument" and "float32" in got["float_array"][1]
    assert got["not_image"][0] == "InvalidArgument" and "int" in got["not_image"][1]
    assert got["list_item"][0] == "DecodeError" and got["list_item"][1].startswith("image 2 of 2")
    assert got["bad_backend"][0] == "InvalidArgument" and "gpu9" in got["bad_backend"][1]
    assert got["bad_arch"] and "resnet7" in got["bad_arch"][1], got["bad_arch"]
    name, msg, hint = got["small_data"][:3]
    assert name == "InvalidArgument" and "fewer than one batch of 32" in msg and "batch" in hint
    assert got["bad_optimizer"][0] == "InvalidArgument" and "adam" in got["bad_optimizer"][1]
    for k in ("missing_data", "missing_list", "dataset"):
        assert got[k] and "none.txt" in got[k][1], (k, got[k])
    # Messages with mlic's "HINT: " carry it apart, and str() has both.
    with_hint = [v for v in got.values() if isinstance(v, list) and v[2]]
    assert with_hint and all(("HINT: " + v[2]) in v[4] for v in with_hint)
    assert got["after"] == K


def test_python_m_mlic_runs_the_cli(mlic, venv):
    r = subprocess.run([venv, "-m", "mlic", "--version"], capture_output=True, text=True, cwd="/")
    want = subprocess.run([mlic, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == want.stdout and r.stdout.startswith("mlic ")
    r = subprocess.run([venv, "-m", "mlic", "eval"], capture_output=True, text=True, cwd="/")
    assert r.returncode == 2 and "--model" in r.stderr


@pytest.fixture(scope="module")
def apparel(tmp_path_factory):
    return write_subset(tmp_path_factory.mktemp("apparel_py"), (("train", 37, 48, 1), ("val", 10, 25, 3)))


def cli_train(mlic, data, out, *extra):
    r = subprocess.run([mlic, "train", "--data", str(data / "train.txt"), "--val",
                        str(data / "val.txt"), "--classes", str(data / "classes.txt"), "--root",
                        DATA, "--output", str(out), *TRAIN_FLAGS, *extra], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


TRAIN = """
    import json, sys
    import mlic
    d, root, out, mode = sys.argv[1:5]
    kw = dict(val=d + "/val.txt", classes=d + "/classes.txt", root=root, %s)
    records = []
    if mode == "callback":
        mlic.train(d + "/train.txt", out, callback=records.append, **kw)
    elif mode == "iter":
        records = list(mlic.train_iter(d + "/train.txt", out, **kw))
    elif mode == "stop":
        try:
            mlic.train(d + "/train.txt", out, callback=lambda r: r["kind"] != "step" or r["step"] < 3, **kw)
        except mlic.Cancelled as e:
            records.append({"cancelled": e.message})
        mlic.train(d + "/train.txt", out, resume=True, **kw)
    elif mode == "sigint":
        # Python leaves SIGINT ignored when it starts so (a non-interactive shell's background
        # job, such as a CI runner's): install the handler an interactive Ctrl-C meets.
        import signal; signal.signal(signal.SIGINT, signal.default_int_handler)
        def cb(r):
            if r["kind"] == "step" and r["step"] == 2:
                print("STEP2", flush=True)
            if r["kind"] == "step" and r["step"] >= 2:
                import time; time.sleep(0.5)
        try:
            mlic.train(d + "/train.txt", out, callback=cb, **kw)
            print(json.dumps({"finished": True}))
        except KeyboardInterrupt as e:
            print(json.dumps({"cancelled": isinstance(e, mlic.Cancelled), "message": getattr(e, "message", "")}))
        sys.exit(0)
    print(json.dumps(records))
""" % TRAIN_KW


def test_train_equals_mlic_train(mlic, venv, apparel, tmp_path):
    want = cli_train(mlic, apparel, tmp_path / "cli.safetensors")
    for mode in ("callback", "iter"):
        out = tmp_path / (mode + ".safetensors")
        records = json.loads(run_py(venv, TRAIN, apparel, DATA, out, mode).stdout)
        assert out.read_bytes() == want, mode
        kinds = [r["kind"] for r in records]
        assert kinds.count("epoch") == 2 and kinds.count("step") == 6
        epochs = [r for r in records if r["kind"] == "epoch"]
        assert [r["epoch"] for r in epochs] == [1, 2] and all("val_mAP" in r for r in epochs)
        steps = [r for r in records if r["kind"] == "step"]
        assert steps[-1]["step"] == 6 and steps[-1]["batches"] == 3 and steps[0]["lr"] > 0


def test_train_stopped_then_resumed_equals_uninterrupted(mlic, venv, apparel, tmp_path):
    want = cli_train(mlic, apparel, tmp_path / "cli.safetensors")
    out = tmp_path / "stop.safetensors"
    records = json.loads(run_py(venv, TRAIN, apparel, DATA, out, "stop").stdout)
    assert records and "checkpoint" in records[0]["cancelled"], records
    assert out.read_bytes() == want


def test_ctrl_c_leaves_a_resumable_checkpoint(mlic, venv, apparel, tmp_path):
    """A real SIGINT to a Python program training: mlic.Cancelled (a KeyboardInterrupt) naming
    the checkpoint, and resuming gives the uninterrupted model's bytes. The run is six small
    steps that do not wait for the signal: on a loaded machine they may all end before it lands
    (a plain KeyboardInterrupt then follows a finished run), so up to three runs are made for one
    that is interrupted."""
    want = cli_train(mlic, apparel, tmp_path / "cli.safetensors")
    out = tmp_path / "int.safetensors"
    for _ in range(3):
        for f in (out, str(out) + ".ckpt"):
            if os.path.exists(f):
                os.remove(f)
        p = subprocess.Popen([venv, "-c", textwrap.dedent(TRAIN), str(apparel), DATA, str(out),
                              "sigint"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd="/")
        try:
            assert p.stdout.readline() == "STEP2\n"
            p.send_signal(signal.SIGINT)
            stdout, stderr = p.communicate(timeout=300)
        finally:
            p.kill()
        assert p.returncode == 0, stderr
        got = json.loads(stdout)
        if got.get("cancelled"):
            break
    assert got.get("cancelled") is True and "checkpoint" in got["message"], got
    assert os.path.exists(str(out) + ".ckpt")
    r = run_py(venv, TRAIN.replace('mode == "callback"', 'mode in ("callback", "resume")').replace(
        "callback=records.append, **kw", "callback=records.append, resume=mode == 'resume', **kw"),
        apparel, DATA, out, "resume")
    assert out.read_bytes() == want



def test_train_ema_and_mixing_equal_mlic_train(mlic, venv, apparel, tmp_path):
    """ema, mixup, cutmix and crop_scale reach the library as the CLI's flags do (float fields:
    the same rounding of 0.9, 0.4 and 0.3 on both paths)."""
    want = cli_train(mlic, apparel, tmp_path / "cli.safetensors", "--ema", "0.9", "--mixup", "0.4",
                     "--cutmix", "1", "--crop-scale", "0.3")
    out = tmp_path / "py.safetensors"
    run_py(venv, TRAIN.replace("%s)" % TRAIN_KW,
                               "%s, ema=0.9, mixup=0.4, cutmix=1.0, crop_scale=0.3)" % TRAIN_KW),
           apparel, DATA, out, "callback")
    assert out.read_bytes() == want
    assert want != cli_train(mlic, apparel, tmp_path / "plain.safetensors")

EVALUATE = """
    import json, sys
    import mlic
    model, d, root = sys.argv[1:4]
    r = mlic.evaluate(model, d + "/val.txt", classes=d + "/classes.txt", root=root, threads=1)
    det = mlic.evaluate(model, d + "/val.txt", classes=d + "/classes.txt", root=root, threads=1,
                        threshold=0.5, details=True)
    ds = mlic.Dataset(d + "/val.txt", classes=d + "/classes.txt", root=root)
    print(json.dumps({"r": r, "n": det["num_images"], "scores": list(det["scores"].shape),
                      "targets_equal": bool((det["targets"] == ds.targets()).all()),
                      "thresholds": list(det["thresholds"].values()), "classes": ds.classes,
                      "det_classes": det["classes"], "precision": [v["precision"] for v in det["class_metrics"].values()],
                      "len": len(ds), "first": ds[0], "format": ds.format}))
"""


def test_evaluate_equals_mlic_eval_json(mlic, venv, apparel, tmp_path):
    model = tmp_path / "m.safetensors"
    cli_train(mlic, apparel, model)
    r = subprocess.run([mlic, "eval", "--model", str(model), "--data", str(apparel / "val.txt"),
                        "--classes", str(apparel / "classes.txt"), "--root", DATA, "--threads",
                        "1", "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    want = json.loads(r.stdout)
    got = json.loads(run_py(venv, EVALUATE, model, apparel, DATA).stdout)

    def nine(d):  # the CLI prints 9 significant digits
        return {k: (nine(v) if isinstance(v, dict) else v if v is None else "%.9g" % v)
                for k, v in d.items()}
    # (Equal keys too but for "thresholds", which this CLI's JSON may lack.)
    assert nine(got["r"]) == nine(dict(want, thresholds=want.get("thresholds", got["r"]["thresholds"])))
    info = subprocess.run([mlic, "info", str(model), "--json"], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    tuned = json.loads(info.stdout)["thresholds"]  # tuned on val: not all 0.5
    assert [np.float32(t) for t in got["r"]["thresholds"].values()] == [np.float32(t) for t in tuned]
    classes = open(apparel / "classes.txt").read().split()
    assert got["n"] == want["num_images"] == 25 and got["scores"] == [25, 7]
    assert got["targets_equal"] and got["thresholds"] == [0.5] * 7
    assert got["det_classes"] == classes and len(got["precision"]) == 7
    assert got["classes"] == classes and got["len"] == 25 and got["format"] == "list"
    first = open(apparel / "val.txt").readline().rstrip("\n").split("\t")
    assert got["first"] == [os.path.join(DATA, first[0]), [c for c in classes if c in first[1].split(",")]]


PREDICT_FILE = """
    import json, sys
    import mlic
    model, lst, out = sys.argv[1:4]
    seen = []
    s = mlic.predict_file(model, lst, out, format="jsonl", batch_size=1, threads=1, progress=seen.append)
    print(json.dumps({"stats": s, "final": seen[-1]["final"], "done": seen[-1]["done"]}))
"""


def test_predict_file_equals_mlic_predict(mlic, venv, case, tmp_path):
    images = case["jpgs"] + case["pngs"] + [str(tmp_path / "missing.jpg")]
    lst = tmp_path / "list.txt"
    lst.write_text("".join(p + "\n" for p in images))
    r = subprocess.run([mlic, "predict", "--model", case["model"], "--input", str(lst), "--output",
                        str(tmp_path / "cli.jsonl"), "--format", "jsonl", "--batch-size", "1",
                        "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 3, r.stderr  # one input failed
    r = run_py(venv, PREDICT_FILE, case["model"], lst,
               tmp_path / "py.jsonl", check=False)
    assert "PartialFailure" in r.stderr and "missing.jpg" not in r.stdout
    ok_list = tmp_path / "ok.txt"
    ok_list.write_text("".join(p + "\n" for p in images[:-1]))
    got = json.loads(run_py(venv, PREDICT_FILE, case["model"], ok_list, tmp_path / "ok.jsonl").stdout)
    assert got["stats"]["inputs"] == got["stats"]["succeeded"] == 6 and got["final"] is True
    assert got["done"] == 6
    cli = (tmp_path / "cli.jsonl").read_text().splitlines()
    assert (tmp_path / "py.jsonl").read_text().splitlines() == cli
    assert (tmp_path / "ok.jsonl").read_text().splitlines() == cli[:-1]


STORE = """
    import json, os, sys
    import mlic
    url, endpoint, key, secret, region, cache, staging = sys.argv[1:8]
    out = {}
    # The environment has no credentials or endpoint: without storage the store is unreachable.
    try:
        mlic.Dataset(url + "/val.txt", root=url + "/apparel/")
    except mlic.Error as e:
        out["without"] = e.message
    storage = mlic.Storage(s3_endpoint=endpoint, access_key_id=key, secret_access_key=secret,
                           region=region)
    out["repr"] = repr(storage)
    kw = dict(classes=url + "/classes.txt", root=url + "/apparel/")
    mlic.train(url + "/train.txt", url + "/m.safetensors", val=url + "/val.txt",
               storage=storage, cache=cache + "/train", cache_size="64M", %s, **kw)
    out["eval"] = mlic.evaluate(url + "/m.safetensors", url + "/val.txt", threads=1,
                                storage=vars(storage), cache=cache + "/eval", cache_size=1 << 26,
                                **kw)
    out["predict"] = mlic.predict_file(url + "/m.safetensors", url + "/list.txt",
                                       url + "/out.jsonl", root=url + "/apparel/", format="jsonl",
                                       batch_size=1, threads=1, storage=storage, staging=staging)
    out["cached"] = {d: len(os.listdir(os.path.join(cache, d))) for d in ("train", "eval")}
    try:
        mlic.evaluate(url + "/m.safetensors", url + "/val.txt", storage=storage, cache_size="lots")
    except mlic.InvalidArgument as e:
        out["bad_size"] = e.message
    print(json.dumps(out))
""" % TRAIN_KW


def test_jobs_take_storage_and_cache_options(mlic, venv, apparel, s3, tmp_path):
    """mlic.train, mlic.evaluate and mlic.predict_file on a data set, model and output in an
    S3-protocol store reached through their storage= option alone (no credentials or endpoint in
    the environment), remote images cached under cache=: the same model bytes, metrics and
    output lines as the CLI's runs on local copies."""
    files = {"apparel/" + line.split("\t")[0]: os.path.join(DATA, line.split("\t")[0])
             for n in ("train", "val") for line in open(apparel / (n + ".txt")).read().splitlines()}
    files.update({n: str(apparel / n) for n in ("train.txt", "val.txt", "classes.txt")})
    val_images = [line.split("\t")[0] for line in open(apparel / "val.txt").read().splitlines()]
    (tmp_path / "list.txt").write_text("".join(p + "\n" for p in val_images[:5]))
    files["list.txt"] = str(tmp_path / "list.txt")
    s3.put_files(files)
    bare = s3.env(AWS_ENDPOINT_URL=None, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                  AWS_REGION=None, OSS_ENDPOINT=None, OSS_ACCESS_KEY_ID=None,
                  OSS_ACCESS_KEY_SECRET=None)
    (tmp_path / "cache").mkdir()
    r = run_py(venv, STORE, s3.url, s3.endpoint, s3.access_key_id, s3.secret_access_key,
               s3.region, tmp_path / "cache", tmp_path / "staging", env=bare)
    assert s3.secret_access_key not in r.stdout + r.stderr
    got = json.loads(r.stdout)
    assert "without" in got and got["without"], got  # an mlic.Error, with its message
    assert got["cached"]["train"] >= 48 and got["cached"]["eval"] == 25
    assert "--cache-size 'lots'" in got["bad_size"]

    local = tmp_path / "local.safetensors"
    assert s3.get(s3.url + "/m.safetensors") == cli_train(mlic, apparel, local)
    e = subprocess.run([mlic, "eval", "--model", str(local), "--data", str(apparel / "val.txt"),
                        "--classes", str(apparel / "classes.txt"), "--root", DATA, "--threads",
                        "1", "--json"], capture_output=True, text=True, timeout=300)
    assert e.returncode == 0, e.stderr
    def nine(d):  # the CLI prints 9 significant digits
        return {k: (nine(v) if isinstance(v, dict) else v if v is None else "%.9g" % v)
                for k, v in d.items()}
    assert nine(got["eval"]) == nine(json.loads(e.stdout))
    (tmp_path / "local_list.txt").write_text("".join(p + "\n" for p in val_images[:5]))
    p = subprocess.run([mlic, "predict", "--model", str(local), "--input",
                        str(tmp_path / "local_list.txt"), "--root", DATA, "--output",
                        str(tmp_path / "local.jsonl"), "--format", "jsonl", "--batch-size", "1",
                        "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert got["predict"]["succeeded"] == 5
    assert s3.get(s3.url + "/out.jsonl") == (tmp_path / "local.jsonl").read_bytes()


SIZES_C = r"""
#include <stdio.h>
#include <mlic.h>
#define P(t) printf("%s %zu\n", #t, sizeof(t))
int main(void)
{
    P(mlic_image); P(mlic_storage_opts); P(mlic_predict_progress); P(mlic_predict_opts);
    P(mlic_predict_stats); P(mlic_dataset_read_opts); P(mlic_metrics); P(mlic_class_metrics);
    P(mlic_eval_run_opts); P(mlic_eval_result); P(mlic_train_progress); P(mlic_train_opts);
    return 0;
}
"""

SIZES_PY = """
    import ctypes
    from mlic import _capi as c
    for name, t in [("mlic_image", c.Image), ("mlic_storage_opts", c.StorageOpts),
                    ("mlic_predict_progress", c.PredictProgress), ("mlic_predict_opts", c.PredictOpts),
                    ("mlic_predict_stats", c.PredictStats), ("mlic_dataset_read_opts", c.DatasetReadOpts),
                    ("mlic_metrics", c.Metrics), ("mlic_class_metrics", c.ClassMetrics),
                    ("mlic_eval_run_opts", c.EvalRunOpts), ("mlic_eval_result", c.EvalResult),
                    ("mlic_train_progress", c.TrainProgress), ("mlic_train_opts", c.TrainOpts)]:
        print(name, ctypes.sizeof(t))
"""


def test_ctypes_structs_match_the_header(venv, tmp_path):
    """python/mlic/_capi.py repeats mlic.h's structs by hand: their sizes must be the header's
    (a struct smaller than the library's would be written past its end)."""
    src = tmp_path / "sizes.c"
    src.write_text(SIZES_C)
    exe = tmp_path / "sizes"
    subprocess.run([os.environ.get("CC", "cc"), "-std=c11", "-I", os.path.join(ROOT, "include"),
                    "-o", str(exe), str(src)], check=True, timeout=120)
    want = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    assert run_py(venv, SIZES_PY).stdout == want


QUANTIZE = """
    import sys
    import mlic
    model, calib, out = sys.argv[1:4]
    mlic.quantize(model, calib, out, calib_images=3, percentile=99.9, threads=1)
    try:
        mlic.quantize(out, calib, out + ".again")
    except mlic.Error as e:
        print(e.message)
"""


def test_quantize_equals_mlic_quantize(mlic, venv, case, tmp_path):
    """mlic.quantize writes the CLI's bytes for the same options, and its errors are mlic.Errors
    (quantizing an int8 model again)."""
    calib = tmp_path / "calib.txt"
    calib.write_text("".join(p + "\tc0\n" for p in case["jpgs"]))
    want = tmp_path / "cli.safetensors"
    r = subprocess.run([mlic, "quantize", "--model", case["model"], "--calib", str(calib), "--output",
                        str(want), "--calib-images", "3", "--percentile", "99.9", "--threads", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "py.safetensors"
    r = run_py(venv, QUANTIZE, case["model"], str(calib), str(out))
    assert out.read_bytes() == want.read_bytes()
    assert "int8" in r.stdout, r.stdout
