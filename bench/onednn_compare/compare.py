#!/usr/bin/python3
"""`make bench-onednn`: Debian's oneDNN 2.6 against PyPI's onednn-cpu-gomp 2023.2.0 (oneDNN 3.2),
the two candidates for mlic's kernel library (issue 12), on the convolutions of ResNet-18 and
ResNet-50 (conv_bench.c) in fp32, bf16 and int8, natively and with ONEDNN_MAX_CPU_ISA=AVX2;
the two builds alternate, ROUNDS times, and the medians go to bench/RESULTS-onednn.md.
usage: compare.py [--rounds 3] [--threads 2] [--reps 5]"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WORK = os.path.join(ROOT, "build", "bench", "onednn3")
RESULTS = os.path.join(ROOT, "bench", "RESULTS-onednn.md")
WHEELS = ["onednn-cpu-gomp==2023.2.0", "onednn-devel-cpu-gomp==2023.2.0"]


def fetch_v3():
    """The PyPI wheels, unpacked once: -> (include dir, lib dir)."""
    inc = glob.glob(os.path.join(WORK, "x", "onednn_devel_cpu_gomp-*", "data", "include"))
    lib = glob.glob(os.path.join(WORK, "x", "onednn_cpu_gomp-*", "data", "lib"))
    if inc and lib:
        return inc[0], lib[0]
    os.makedirs(WORK, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", WORK] + WHEELS, check=True)
    for whl in glob.glob(os.path.join(WORK, "*.whl")):
        subprocess.run([sys.executable, "-m", "zipfile", "-e", whl, os.path.join(WORK, "x")], check=True)
    return fetch_v3()


def build():
    inc, lib = fetch_v3()
    src = os.path.join(HERE, "conv_bench.c")
    v2, v3 = os.path.join(WORK, "conv_bench_v2"), os.path.join(WORK, "conv_bench_v3")
    subprocess.run(["cc", "-O2", "-fopenmp", src, "-o", v2, "-ldnnl"], check=True)
    subprocess.run(["cc", "-O2", "-fopenmp", "-I" + inc, src, "-o", v3, "-L" + lib, "-ldnnl",
                    "-Wl,-rpath," + lib], check=True)
    return {"2.6 (Debian)": v2, "3.2 (PyPI)": v3}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=5)
    a = p.parse_args()
    bins = build()
    runs = {}
    cases = [(arch, bs, isa) for arch in ("resnet18", "resnet50") for bs in (1, 32) for isa in ("native", "AVX2")]
    for _ in range(a.rounds):
        for arch, bs, isa in cases:
            env = dict(os.environ)
            if isa == "AVX2":
                env["ONEDNN_MAX_CPU_ISA"] = "AVX2"
            for name, exe in bins.items():
                out = subprocess.run([exe, arch, str(bs), str(a.threads), str(a.reps)], env=env, check=True,
                                     capture_output=True, text=True).stdout
                for line in out.splitlines():
                    r = json.loads(line)
                    print(json.dumps(dict(r, lib=name, isa=isa)), flush=True)
                    runs.setdefault((arch, bs, isa, r["precision"], name), []).append(r)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
    isa = " ".join(f for f in flags if f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
                                            "amx_bf16", "amx_int8"))
    lines = ["# oneDNN 2.6 (Debian) against oneDNN 3.2 (PyPI onednn-cpu-gomp 2023.2.0)", "",
             f"Made by `make bench-onednn` (bench/onednn_compare/compare.py --rounds {a.rounds} --threads {a.threads} "
             f"--reps {a.reps}) on {cpu}, {os.cpu_count()} cores, ISA flags {isa}. The sum over each network's "
             "convolutions (224 x 224, bias and ReLU fused, the layouts each library prefers) of the median time "
             "of each, times its count; the median over rounds, the two builds alternating. ms, lower is better; "
             "ratio = 2.6 / 3.2 (above 1: 3.2 is faster). A case one library has no kernel for is marked.", "",
             "| network | batch | ISA | precision | 2.6 ms | 3.2 ms | 2.6 / 3.2 | kernels 2.6 | kernels 3.2 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for arch, bs, isa_name in cases:
        for prec in ("fp32", "bf16", "int8"):
            r2, r3 = runs.get((arch, bs, isa_name, prec, "2.6 (Debian)")), runs.get((arch, bs, isa_name, prec, "3.2 (PyPI)"))
            if not r2 or not r3:
                continue
            m2, m3 = statistics.median(r["ms"] for r in r2), statistics.median(r["ms"] for r in r3)
            note2 = f" ({r2[0]['skipped']} convs without kernel)" if r2[0]["skipped"] else ""
            note3 = f" ({r3[0]['skipped']} convs without kernel)" if r3[0]["skipped"] else ""
            lines.append(f"| {arch} | {bs} | {isa_name} | {prec} | {m2:.2f}{note2} | {m3:.2f}{note3} | "
                         f"{m2 / m3:.2f} | {r2[0]['impls']} | {r3[0]['impls']} |")
    with open(RESULTS + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(RESULTS + ".tmp", RESULTS)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
