#!/usr/bin/python3
"""Distributed prediction: images/s of one process on one core and of two processes on two cores
(--workers 2 and mpirun -np 2), one inference and one decode thread per process, on the end-to-end
bench JPEGs (500x375), and the scaling efficiency (two processes' rate / twice one process's). Every output is checked to be
byte-identical to the one-process output. Also the cost of splitting a list (each rank counts the
lines of its byte range once: `wc -l` on a large synthetic list measures that rate) and of joining
the parts (`cat` of the same file). Writes bench/RESULTS-dist.md.
usage: bench_dist.py [--arch mobilenet_v2] [--images 256] [--reps 3]"""
import argparse
import os
import platform
import shutil
import subprocess
import sys
import time

from common import MLIC, ROOT, WORK, emit, median, mlic_model

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def timed(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    secs = time.perf_counter() - t
    if r.returncode not in (0, 3):
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr}")
    return secs


def mpi_built():
    try:
        with open(os.path.join(ROOT, "build", "config.stamp")) as f:
            return "-DMLIC_HAVE_MPI=1" in f.read()
    except OSError:
        return False


def split_costs(mib=512):
    """GB/s of counting newlines (wc -l) and of copying (cat) a list of `mib` MiB, page cache warm."""
    path = os.path.join(WORK, "big_list.txt")
    line = b"/data/images/2024/06/01/abcdef0123456789abcdef0123456789.jpg\n"
    if not os.path.exists(path) or os.path.getsize(path) < mib << 20:
        chunk = line * ((8 << 20) // len(line))
        with open(path, "wb") as f:
            for _ in range(mib // 8):
                f.write(chunk)
    size = os.path.getsize(path)
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)  # warm the cache
    rates = {}
    for name, cmd in (("count", ["wc", "-l", path]), ("copy", ["cp", path, path + ".copy"])):
        secs = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
            secs.append(time.perf_counter() - t)
        rates[name] = size / median(secs) / 1e9
    os.unlink(path + ".copy")
    return rates, size, len(line)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="mobilenet_v2")
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    imgs = os.path.join(WORK, "imgs")
    if len(os.listdir(imgs) if os.path.isdir(imgs) else []) < a.images:
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_images.py"), imgs, str(a.images)],
                       check=True)
    lst = os.path.join(WORK, "dist_list.txt")
    with open(lst, "w") as f:
        f.write("".join(os.path.join(imgs, f"{i:06d}.jpg") + "\n" for i in range(a.images)))
    model = mlic_model(a.arch)

    def cmd(out, *extra):
        return [MLIC, "predict", "--model", model, "--input", lst, "--output", os.path.join(WORK, out),
                "--threads", "1", "--decode-threads", "1", "--no-progress", *extra]

    # Pinned: the one process to one core (its decode and inference threads share it), the two
    # to two cores (mpirun binds each rank to a core itself).
    configs = [("1 process", 1, ["taskset", "-c", "0"] + cmd("dist_1.txt")),
               ("--workers 2", 2, ["taskset", "-c", "0,1"] + cmd("dist_w2.txt", "--workers", "2"))]
    if shutil.which("mpirun") and mpi_built():
        configs.append(("mpirun -np 2", 2, ["mpirun", "-np", "2", "--bind-to", "core", "--allow-run-as-root"]
                        + cmd("dist_m2.txt")))
    rows = []
    base = None
    for name, procs, c in configs:
        rates = [a.images / timed(c) for _ in range(a.reps)]
        load = os.getloadavg()[0]
        out = c[c.index("--output") + 1]
        with open(out, "rb") as f:
            data = f.read()
        if base is None:
            base = (median(rates), data)
        assert data == base[1], f"{name}: output differs from one process"
        rate = median(rates)
        rows.append(emit({"config": name, "processes": procs, "img_s": round(rate, 2),
                          "efficiency": round(rate / (procs * base[0]), 3), "load": round(load, 1)}))
    rates, size, line_len = split_costs()
    emit({"count_gb_s": round(rates["count"], 2), "copy_gb_s": round(rates["copy"], 2)})

    cpu = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(x.split(":", 1)[1].strip() for x in f if x.startswith("model name"))
    except (OSError, StopIteration):
        pass
    md = [f"## Distributed prediction (`make bench-dist`)", "",
          f"Made by bench/bench_dist.py on {time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} cores: "
          f"{cpu}. {a.images} JPEGs 500x375, {a.arch} (resize 256, crop 224, 20 classes), one inference "
          f"and one decode thread per process, one process pinned to one core, two to two cores; "
          f"images/s of the whole command (model loading, and for mpirun its start-up, included), median "
          f"of {a.reps}. Every output is byte-identical to the one-process output. The load column is "
          f"the machine's 1-minute load average after the runs: other work on the machine skews the "
          f"numbers when it is above the number of processes.", "",
          "| run | processes | images/s | scaling efficiency | load |", "|---|---|---|---|---|"]
    md += [f"| {r['config']} | {r['processes']} | {r['img_s']:.1f} | {100 * r['efficiency']:.0f}% | {r['load']} |"
           for r in rows]
    per_image = 1.0 / base[0]
    md += ["", f"Per image, one core: {1000 * per_image:.0f} ms (decode + resize + {a.arch} + output).", "",
           f"Splitting and joining, measured on a {size >> 20} MiB list of {line_len}-byte lines in the page "
           f"cache: counting lines (what each rank does once over its byte range; `wc -l`) "
           f"{rates['count']:.2f} GB/s, copying (what rank 0 does to join the parts; `cp`) "
           f"{rates['copy']:.2f} GB/s.", ""]
    text = "\n".join(md)
    print(text)
    with open(os.path.join(ROOT, "bench", "RESULTS-dist.md.tmp"), "w") as f:
        f.write(text)
    os.replace(os.path.join(ROOT, "bench", "RESULTS-dist.md.tmp"), os.path.join(ROOT, "bench", "RESULTS-dist.md"))


if __name__ == "__main__":
    main()
