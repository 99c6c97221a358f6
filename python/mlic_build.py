"""PEP 517 build backend of the mlic Python package: a wheel holding the pure-Python package
(mlic/) plus, from the mlic source tree this folder sits in, libmlic.so and the mlic program
(built with `make` when missing), so that `python3 -m pip install ./python` gives a working
package without a compiler at install time beyond mlic's own build, and without setuptools.

MLIC_BUILD_DIR names the build folder to take them from (default: ../build, as `make` writes).
Outside a source tree the wheel holds the Python code only, and the package finds libmlic.so
at run time through $MLIC_LIB or the system's library path (`make install`)."""
import base64
import hashlib
import os
import stat
import subprocess
import sysconfig
import zipfile

NAME, VERSION = "mlic", "0.1.0"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _built_files():
    """(source, path in the wheel) of the native parts, building them if needed."""
    if not os.path.exists(os.path.join(ROOT, "Makefile")) or \
            not os.path.exists(os.path.join(ROOT, "include", "mlic.h")):
        return []
    build = os.environ.get("MLIC_BUILD_DIR", os.path.join(ROOT, "build"))
    lib, cli = os.path.join(build, "libmlic.so"), os.path.join(build, "mlic")
    if not (os.path.exists(lib) and os.path.exists(cli)):
        rel = os.path.relpath(build, ROOT)
        subprocess.run(["make", "-C", ROOT, "BUILD=" + rel, rel + "/libmlic.so", rel + "/mlic"],
                       check=True)
    return [(lib, "mlic/_lib/libmlic.so"), (cli, "mlic/_bin/mlic")]


def _tag():
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return "py3-none-" + plat


def _record_line(arc, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arc, digest, len(data))


def _metadata():
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n"
            "Summary: Multi-label image classification: Python bindings of libmlic (ctypes)\n"
            "Requires-Python: >=3.8\nRequires-Dist: numpy\n" % (NAME, VERSION))


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    tag = _tag()
    name = "%s-%s-%s.whl" % (NAME, VERSION, tag)
    dist = "%s-%s.dist-info" % (NAME, VERSION)
    files = []
    pkg = os.path.join(HERE, "mlic")
    for f in sorted(os.listdir(pkg)):
        if f.endswith(".py") or f == "py.typed":
            files.append((os.path.join(pkg, f), "mlic/" + f))
    files += _built_files()
    record = []
    path = os.path.join(wheel_directory, name)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for src, arc in files:
            with open(src, "rb") as f:
                data = f.read()
            info = zipfile.ZipInfo(arc, date_time=(2020, 1, 1, 0, 0, 0))
            mode = 0o755 if os.access(src, os.X_OK) and "/_" in arc else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16  # pip keeps x only on regular files
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
            record.append(_record_line(arc, data))
        meta = {
            dist + "/METADATA": _metadata(),
            dist + "/WHEEL": "Wheel-Version: 1.0\nGenerator: mlic_build\nRoot-Is-Purelib: false\n"
                             "Tag: %s\n" % tag,
            dist + "/top_level.txt": "mlic\n",
        }
        for arc, text in meta.items():
            z.writestr(arc, text)
            record.append(_record_line(arc, text.encode()))
        record.append(dist + "/RECORD,,")
        z.writestr(dist + "/RECORD", "\n".join(record) + "\n")
    return name


def build_sdist(sdist_directory, config_settings=None):
    import tarfile
    base = "%s-%s" % (NAME, VERSION)
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for f in ("pyproject.toml", "mlic_build.py"):
            t.add(os.path.join(HERE, f), base + "/" + f)
        t.add(os.path.join(HERE, "mlic"), base + "/mlic",
              filter=lambda i: None if "__pycache__" in i.name else i)
        pkg_info = _metadata()
        import io
        data = pkg_info.encode()
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    return name
