"""python -m mlic ARGS: runs the mlic command-line program with ARGS (the one installed with
this package, else $MLIC_CLI, else `mlic` on the PATH)."""
import os
import shutil
import sys


def cli_path() -> str:
    bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bin", "mlic")
    for p in (os.environ.get("MLIC_CLI"), bundled, shutil.which("mlic")):
        if p and os.access(p, os.X_OK):
            return p
    sys.exit("python -m mlic: no mlic program: this package was installed without one, "
             "MLIC_CLI is not set and none is on the PATH. HINT: build mlic (make) and "
             "reinstall the package, or set MLIC_CLI")


def main() -> None:
    path = cli_path()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(path, ["mlic"] + sys.argv[1:])


if __name__ == "__main__":
    main()
