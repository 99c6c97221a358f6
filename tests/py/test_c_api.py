"""A C program that uses only mlic.h and libmlic.so (tests/api/train_eval_predict.c), built with
`pkg-config mlic` against `make install PREFIX=<tmp>`, reads a data set, trains, evaluates and
predicts: the model file it writes equals `mlic train`'s with the same options byte for byte, its
metrics equal `mlic eval --json`'s and its probabilities `mlic predict`'s. The library carries its
ABI's SONAME, and the mlic program itself includes nothing but mlic.h."""
import json
import os
import re
import shutil
import subprocess

import pytest

from apparel import DATA, write_subset
from conftest import BUILD, ROOT

def sanitized(build):
    """A sanitizer build's library (make check-asan): `make install` there would rebuild it with
    the plain flags, and a Python process cannot load it (the sanitizer runtime must come first)."""
    lib = os.path.join(build, "libmlic.so")
    return os.path.exists(lib) and any(s in open(lib, "rb").read() for s in (b"__asan_init", b"__tsan_init"))


def dynamic_section(path):
    return subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True,
                          check=True).stdout


def soname_of(lib):
    m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", dynamic_section(lib))
    return m and m.group(1)


pytestmark = [pytest.mark.skipif(not os.path.isdir(DATA), reason="apparel data set not present"),
              pytest.mark.skipif(not shutil.which("pkg-config"), reason="no pkg-config"),
              pytest.mark.skipif(sanitized(BUILD), reason="a sanitizer build (make check-asan)")]

# The options the program trains with (tests/api/train_eval_predict.c), as CLI flags.
TRAIN_FLAGS = ["--arch", "resnet18", "--epochs", "1", "--batch-size", "16", "--crop", "32",
               "--resize", "37", "--threads", "1", "--workers", "1", "--seed", "3", "--lr", "0.05"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`make install` into a fresh prefix, and the program built against it by pkg-config."""
    prefix = tmp_path_factory.mktemp("prefix")
    r = subprocess.run(["make", "-s", "install", "PREFIX=" + str(prefix),
                        "BUILD=" + os.path.relpath(BUILD, ROOT)], cwd=ROOT, capture_output=True,
                       text=True, timeout=1200)
    assert r.returncode == 0, r.stdout + r.stderr
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "mlic"], env=env,
                           capture_output=True, text=True, check=True).stdout.split()
    assert "-I%s/include" % prefix in flags and "-lmlic" in flags
    # The release in the .pc file is the header's; the library is installed under its ABI name
    # (libmlic.so.0.MINOR while MAJOR is 0, the rules in mlic.h) with the usual links.
    version = subprocess.run(["pkg-config", "--modversion", "mlic"], env=env, capture_output=True,
                             text=True, check=True).stdout.strip()
    major, minor, _ = version.split(".")
    soname = "libmlic.so." + (major if major != "0" else "0." + minor)
    lib = prefix / "lib"
    assert os.readlink(lib / "libmlic.so") == soname
    assert os.readlink(lib / soname) == "libmlic.so." + version
    assert (lib / ("libmlic.so." + version)).is_file()
    assert soname_of(lib / ("libmlic.so." + version)) == soname
    exe = prefix / "train_eval_predict"
    r = subprocess.run([os.environ.get("CC", "cc"), "-std=c11", "-Wall", "-Werror", "-o", str(exe),
                        os.path.join(ROOT, "tests", "api", "train_eval_predict.c"), *flags],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return exe, dict(os.environ, LD_LIBRARY_PATH=str(prefix / "lib"))


def test_program_trains_evaluates_predicts_as_the_cli(mlic, installed, tmp_path):
    exe, env = installed
    data = write_subset(tmp_path, (("train", 37, 48, 1), ("val", 10, 25, 3)))
    files = [str(data / n) for n in ("train.txt", "val.txt", "classes.txt")]
    image = os.path.join(DATA, open(files[1]).readline().split("\t")[0])
    r = subprocess.run([str(exe), *files, DATA, str(tmp_path / "c.safetensors"), image], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    # The program is linked to the shared library, not a static copy.
    ldd = subprocess.run(["ldd", str(exe)], env=env, capture_output=True, text=True).stdout
    assert "libmlic.so" in ldd
    # It records the library's SONAME, so that a release with another ABI is never loaded for it.
    soname = soname_of(os.path.realpath(os.path.join(env["LD_LIBRARY_PATH"], "libmlic.so")))
    assert "(NEEDED)             Shared library: [%s]" % soname in dynamic_section(exe)
    out = [l.split(" ") for l in r.stdout.splitlines()]
    assert out[0] == ["items", "48"] and out[1] == ["classes", "7"]

    r = subprocess.run([mlic, "train", "--data", files[0], "--val", files[1], "--classes",
                        files[2], "--root", DATA, "--output", str(tmp_path / "cli.safetensors"),
                        *TRAIN_FLAGS], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c.safetensors").read_bytes() == (tmp_path / "cli.safetensors").read_bytes()

    r = subprocess.run([mlic, "eval", "--model", str(tmp_path / "c.safetensors"), "--data",
                        files[1], "--classes", files[2], "--root", DATA, "--threads", "1",
                        "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    want = json.loads(r.stdout)
    got_map = [float(l[1]) for l in out if l[0] == "mAP"]
    got_ap = {l[1]: float(l[2]) for l in out if l[0] == "ap"}
    # The CLI's JSON prints 9 significant digits: equal to that many.
    assert ["%.9g" % v for v in got_map] == ["%.9g" % want["mAP"]]
    assert got_ap.keys() == want["per_class"].keys()
    for c, ap in want["per_class"].items():
        assert "%.9g" % got_ap[c] == ("nan" if ap is None else "%.9g" % ap), c

    lst = tmp_path / "one.txt"
    lst.write_text(image + "\n")
    r = subprocess.run([mlic, "predict", "--model", str(tmp_path / "c.safetensors"), "--input",
                        str(lst), "--output", str(tmp_path / "p.jsonl"), "--format", "jsonl",
                        "--batch-size", "1", "--threads", "1"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    want_probs = json.loads((tmp_path / "p.jsonl").read_text())["probs"]
    got_probs = [float(l[2]) for l in out if l[0] == "prob"]
    assert got_probs == want_probs and len(got_probs) == 7


def test_cli_includes_only_the_public_header():
    """The mlic program is a client of the library like any other: src/cli includes mlic.h, its
    own cli/ headers and system headers, never the library's internals."""
    cli = os.path.join(ROOT, "src", "cli")
    bad = []
    for name in sorted(os.listdir(cli)):
        if not name.endswith((".c", ".h")):
            continue
        for n, line in enumerate(open(os.path.join(cli, name)), 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if m and m.group(1) != "mlic.h" and not m.group(1).startswith("cli/"):
                bad.append("%s:%d: %s" % (name, n, m.group(1)))
    assert not bad, "src/cli includes library internals: " + ", ".join(bad)
