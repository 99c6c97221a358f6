"""mlic train and eval with everything in an S3-protocol store (moto, signatures checked; see
s3_fixtures.py): a PAI CSV whose URLs are oss:// (reached through OSS_ENDPOINT), a COCO JSON with
an s3:// root, the class list, --pretrained, the model and its checkpoint all remote. Each run's
model bytes and eval JSON equal those of the same job on local copies (same seed, same threads).
A missing image and bad credentials fail with an error naming the object, and the secret never
shows."""
import json
import os
import subprocess

import pytest

from apparel import DATA, write_subset
from s3_fixtures import s3, s3_server  # noqa: F401  (fixtures, found by name)

BASE = ["--arch", "resnet18", "--crop", "32", "--batch-size", "8", "--threads", "1",
        "--workers", "2", "--seed", "7", "--lr", "0.05", "--epochs", "1"]

pytestmark = pytest.mark.skipif(not os.path.isdir(DATA), reason="apparel data set not present")

def rows(data, name):
    """(image path relative to DATA, [labels]) of data/name.txt."""
    out = []
    for line in open(data / (name + ".txt")).read().splitlines():
        path, labels = line.split("\t")
        out.append((path, labels.split(",")))
    return out


def pai_csv(items, prefix):
    return "".join('%d,{"url": "%s%s"},{"option": %s}\n' % (i, prefix, p, json.dumps(labels))
                   for i, (p, labels) in enumerate(items, 1))


def coco_json(items, classes):
    cats = [{"id": i + 1, "name": c} for i, c in enumerate(classes)]
    ids = {c: i + 1 for i, c in enumerate(classes)}
    return json.dumps({
        "images": [{"id": i, "file_name": p} for i, (p, _) in enumerate(items, 1)],
        "annotations": [{"id": 100 * i + k, "image_id": i, "category_id": ids[l]}
                        for i, (_, labels) in enumerate(items, 1) for k, l in enumerate(labels)],
        "categories": cats})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_subset(tmp_path_factory.mktemp("apparel"), (("train", 89, 16, 5), ("val", 23, 8, 6)))


@pytest.fixture(scope="module")
def store(s3_server, data):
    """A bucket holding the subset's images under apparel/ and the class list."""
    st = s3_server.with_bucket()
    files = {"apparel/" + p: os.path.join(DATA, p)
             for n in ("train", "val") for p, _ in rows(data, n)}
    files["classes.txt"] = str(data / "classes.txt")
    st.put_files(files)
    return st


def run(mlic, store, args, check=True, env=None):
    r = subprocess.run([mlic] + [str(a) for a in args], capture_output=True, text=True,
                       env=env or store.env(), timeout=600)
    if check:
        assert r.returncode == 0, r.stderr
    assert store.secret_access_key not in r.stdout + r.stderr
    return r


def evaluate(mlic, store, model, val, *extra):
    return run(mlic, store, ["eval", "--model", model, "--data", val, "--json", "--threads", "1",
                             *extra]).stdout


def test_pai_csv_with_oss_urls_equals_local(mlic, store, data, tmp_path):
    for name in ("train", "val"):
        (tmp_path / (name + ".csv")).write_text(pai_csv(rows(data, name), ""))
        store.put(f"oss://{store.bucket}/pai/{name}.csv",
                  pai_csv(rows(data, name), f"oss://{store.bucket}/apparel/").encode())
    local = tmp_path / "m.safetensors"
    run(mlic, store, ["train", "--data", tmp_path / "train.csv", "--val", tmp_path / "val.csv",
                      "--classes", data / "classes.txt", "--root", DATA, "--output", local] + BASE)
    # The endpoint in EasyVision's spelling, not from the environment.
    remote = f"oss://{store.bucket}/out/m.safetensors"
    run(mlic, store, ["train", "--data", f"oss://{store.bucket}/pai/train.csv",
                      "--val", f"oss://{store.bucket}/pai/val.csv", f"-DossHost={store.endpoint}",
                      "--classes", f"oss://{store.bucket}/classes.txt", "--output", remote] + BASE,
        env=store.env(OSS_ENDPOINT=None))
    assert store.get(remote) == local.read_bytes()
    assert store.get(remote + ".ckpt") is not None  # the checkpoint went next to it

    # eval: the remote model on the remote CSV, and info on the remote model.
    here = evaluate(mlic, store, local, tmp_path / "val.csv", "--root", DATA)
    there = run(mlic, store, ["eval", "--model", remote, "--data",
                              f"oss://{store.bucket}/pai/val.csv", "--json", "--threads", "1",
                              "--oss-endpoint", store.endpoint],
                env=store.env(OSS_ENDPOINT=None)).stdout
    assert there == here and json.loads(here)["num_images"] == 8
    # A local CSV naming oss:// images (PAI's usual case): the store is reached for them alone.
    for name in ("train", "val"):
        (tmp_path / (name + "_oss.csv")).write_text(
            pai_csv(rows(data, name), f"oss://{store.bucket}/apparel/"))
    mixed = tmp_path / "mixed.safetensors"
    run(mlic, store, ["train", "--data", tmp_path / "train_oss.csv", "--val",
                      tmp_path / "val_oss.csv", "--classes", data / "classes.txt",
                      "--output", mixed] + BASE)
    assert mixed.read_bytes() == local.read_bytes()
    assert evaluate(mlic, store, local, tmp_path / "val_oss.csv") == here

    info = run(mlic, store, ["info", remote, "--json"]).stdout
    assert json.loads(info)["classes"] == json.loads(
        run(mlic, store, ["info", local, "--json"]).stdout)["classes"]


def test_coco_json_with_s3_root_and_remote_pretrained_equals_local(mlic, store, data, tmp_path):
    classes = open(data / "classes.txt").read().split()
    for name in ("train", "val"):
        text = coco_json(rows(data, name), classes)
        (tmp_path / f"instances_{name}.json").write_text(text)
        store.put(f"s3://{store.bucket}/coco/instances_{name}.json", text.encode())
    # A starting point, from a first local run, in both places.
    start = tmp_path / "start.safetensors"
    run(mlic, store, ["train", "--data", tmp_path / "instances_train.json", "--root", DATA,
                      "--output", start] + BASE)
    store.put(f"s3://{store.bucket}/start.safetensors", start.read_bytes())

    local = tmp_path / "m.safetensors"
    run(mlic, store, ["train", "--data", tmp_path / "instances_train.json",
                      "--val", tmp_path / "instances_val.json", "--root", DATA,
                      "--pretrained", start, "--output", local] + BASE)
    remote = f"s3://{store.bucket}/coco-out/m.safetensors"
    run(mlic, store, ["train", "--s3-endpoint", store.endpoint,
                      "--data", f"s3://{store.bucket}/coco/instances_train.json",
                      "--val", f"s3://{store.bucket}/coco/instances_val.json",
                      "--root", f"s3://{store.bucket}/apparel/",
                      "--pretrained", f"s3://{store.bucket}/start.safetensors",
                      "--output", remote, "--checkpoint", tmp_path / "local.ckpt"] + BASE,
        env=store.env(AWS_ENDPOINT_URL=None))
    assert store.get(remote) == local.read_bytes()
    assert (tmp_path / "local.ckpt").exists()

    here = evaluate(mlic, store, local, tmp_path / "instances_val.json", "--root", DATA)
    # -Dbuckets: the root relative paths resolve against when --root is not given.
    there = evaluate(mlic, store, remote, f"s3://{store.bucket}/coco/instances_val.json",
                     f"-Dbuckets=s3://{store.bucket}/apparel/")
    assert there == here


def test_resume_from_a_remote_checkpoint(mlic, store, data, tmp_path):
    args = ["train", "--data", data / "train.txt", "--classes", data / "classes.txt",
            "--root", f"s3://{store.bucket}/apparel/"] + BASE[:-1] + ["3"]
    straight = f"s3://{store.bucket}/resume/straight.safetensors"
    run(mlic, store, args + ["--output", straight])
    out = f"s3://{store.bucket}/resume/m.safetensors"
    r = run(mlic, store, args + ["--output", out, "--resume"])  # no checkpoint yet: from the start
    assert "no checkpoint" in r.stderr
    store.rm(out)
    store.rm(out + ".ckpt")
    run(mlic, store, args + ["--output", out, "--stop-after-epochs", "1"])
    r = run(mlic, store, args + ["--output", out, "--resume"])
    assert "resumed from " + out + ".ckpt" in r.stderr
    assert store.get(out) == store.get(straight)


def test_missing_object_and_bad_credentials_are_named(mlic, store, data, tmp_path):
    items = rows(data, "train")
    items[2] = ("images/not-there.jpg", items[2][1])
    store.put(f"oss://{store.bucket}/bad/train.csv",
              pai_csv(items, f"oss://{store.bucket}/apparel/").encode())
    out = f"oss://{store.bucket}/bad/m.safetensors"
    common = ["--classes", data / "classes.txt", "--output", out] + BASE
    r = run(mlic, store, ["train", "--data", f"oss://{store.bucket}/bad/train.csv"] + common,
            check=False)
    assert r.returncode == 1
    assert f"oss://{store.bucket}/apparel/images/not-there.jpg" in r.stderr, r.stderr
    assert store.get(out) is None

    missing = f"oss://{store.bucket}/bad/no-such.csv"
    r = run(mlic, store, ["train", "--data", missing] + common, check=False)
    assert r.returncode == 1 and missing in r.stderr, r.stderr

    wrong = store.secret_access_key[:-4] + "xxxx"
    env = store.env(AWS_SECRET_ACCESS_KEY=wrong, OSS_ACCESS_KEY_SECRET=wrong)
    r = subprocess.run([mlic, "train", "--data", f"oss://{store.bucket}/bad/train.csv"]
                       + [str(a) for a in common], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 1 and f"oss://{store.bucket}/bad/train.csv" in r.stderr, r.stderr
    assert "403" in r.stderr and wrong not in r.stderr and store.secret_access_key not in r.stderr


def voc_xml(labels):
    objects = "".join(f"<object><name>{l}</name><difficult>0</difficult></object>" for l in labels)
    return f"<annotation><size><width>1</width><height>1</height></size>{objects}</annotation>"


def test_voc_folder_in_the_store_equals_local(mlic, store, data, tmp_path):
    """A Pascal VOC folder whose split, annotations and images are all objects."""
    items = [(p, l) for p, l in rows(data, "train") if p.endswith(".jpg")]
    voc = tmp_path / "voc"
    (voc / "ImageSets" / "Main").mkdir(parents=True)
    (voc / "Annotations").mkdir()
    (voc / "JPEGImages").mkdir()
    ids = [os.path.basename(p)[:-4] for p, _ in items]
    (voc / "ImageSets" / "Main" / "trainval.txt").write_text("".join(i + "\n" for i in ids))
    files = {"voc/ImageSets/Main/trainval.txt": str(voc / "ImageSets" / "Main" / "trainval.txt")}
    for i, (p, labels) in zip(ids, items):
        (voc / "Annotations" / (i + ".xml")).write_text(voc_xml(labels))
        os.symlink(os.path.join(DATA, p), voc / "JPEGImages" / (i + ".jpg"))
        files[f"voc/Annotations/{i}.xml"] = str(voc / "Annotations" / (i + ".xml"))
        files[f"voc/JPEGImages/{i}.jpg"] = os.path.join(DATA, p)
    store.put_files(files)
    common = ["--classes", data / "classes.txt"] + BASE
    local = tmp_path / "m.safetensors"
    run(mlic, store, ["train", "--data", voc, "--output", local] + common)
    remote = f"s3://{store.bucket}/voc-out/m.safetensors"
    run(mlic, store, ["train", "--data", f"s3://{store.bucket}/voc/", "--output", remote] + common)
    assert store.get(remote) == local.read_bytes()
    # A local VOC folder whose images are in the store (an object-store --root).
    mixed = tmp_path / "mixed.safetensors"
    run(mlic, store, ["train", "--data", voc, "--root", f"s3://{store.bucket}/voc/JPEGImages/",
                      "--output", mixed] + common)
    assert mixed.read_bytes() == local.read_bytes()


def test_cache_serves_a_second_run_without_the_store(mlic, store, data, tmp_path):
    """With --cache, a second run reads every image from the cache: it still succeeds, with the
    same model, once the images are gone from the bucket."""
    files = {"cached/" + p: os.path.join(DATA, p) for p, _ in rows(data, "train")}
    store.put_files(files)
    plain = ["train", "--data", data / "train.txt", "--classes", data / "classes.txt",
             "--root", f"s3://{store.bucket}/cached/"] + BASE
    args = plain + ["--cache", tmp_path / "cache"]
    run(mlic, store, args + ["--output", tmp_path / "a.safetensors"])
    for key in files:
        store.rm(f"s3://{store.bucket}/{key}")
    r = run(mlic, store, args + ["--output", tmp_path / "b.safetensors"])
    assert (tmp_path / "b.safetensors").read_bytes() == (tmp_path / "a.safetensors").read_bytes()
    assert "0 fetched" in r.stderr
    r = run(mlic, store, plain + ["--output", tmp_path / "c.safetensors"], check=False)
    assert r.returncode == 1 and "NoSuchKey" in r.stderr  # without the cache: the store is asked


def test_two_ranks_on_remote_data_equal_two_ranks_on_local(mlic, store, data, tmp_path):
    """mpirun -np 2: both ranks read the store (sharing one --cache folder), rank 0 writes the
    model to it; the bytes equal the same 2-rank job on local files."""
    from dist_fixtures import MPI_ENV, mpi_skip_reason, mpirun_cmd
    if mpi_skip_reason():
        pytest.skip(mpi_skip_reason())
    common = ["train", "--data", data / "train.txt", "--val", data / "val.txt", "--classes",
              data / "classes.txt", "--batch-size", "4", "--check-weights"] + BASE[:4] + BASE[6:]
    env = {**MPI_ENV, **store.env()}

    def job(*extra):
        r = subprocess.run(mpirun_cmd(2, [mlic] + [str(a) for a in common + list(extra)]),
                           capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, r.stderr
        assert store.secret_access_key not in r.stdout + r.stderr

    local = tmp_path / "m.safetensors"
    job("--root", DATA, "--output", local)
    remote = f"s3://{store.bucket}/ranks/m.safetensors"
    job("--root", f"s3://{store.bucket}/apparel/", "--output", remote, "--cache", tmp_path / "c")
    assert store.get(remote) == local.read_bytes()
