"""The apparel photo set the end-to-end tests train on, and small subsets of it."""
import os
import shutil

DATA = "/work/shared/data/apparel"


def write_subset(d, picks):
    """train.txt and val.txt in folder d (a pathlib.Path), for each (name, step, keep, rem) in
    picks the first `keep` lines of the full list whose 1-based number is rem modulo step, and a
    copy of classes.txt. Returns d."""
    for name, step, keep, rem in picks:
        lines = open(os.path.join(DATA, name + ".txt")).read().splitlines()
        pick = [l for i, l in enumerate(lines, 1) if i % step == rem][:keep]
        (d / (name + ".txt")).write_text("\n".join(pick) + "\n")
    shutil.copy(os.path.join(DATA, "classes.txt"), d / "classes.txt")
    return d
