"""`make bench-quant` (opt-in): what int8 quantization (docs/quantization.md) costs in accuracy and
gains in speed, against fp32 and bf16; writes bench/RESULTS-quant.md.

Accuracy: mAP of each precision on apparel's val split (a resnet18 mlic trains here with the
Corel-5k recipe of bench_quality.py, 6 epochs, kept in build/bench) and on the Corel-5k
validation split (bench/corel5k_val.txt; the seed-1 model `make bench-quality` trains, reused
when present, else trained here for 15 epochs). int8 models are calibrated on the first 200
photos of each training split, with each calibration method.

Speed: images/s of bench/bench_forward (2 threads, batch 1 and 32, model only) for resnet18,
resnet50 and mobilenet_v2 at 224x224 with `make bench`'s seed-0 weights, in fp32, bf16 (where
the CPU has it) and int8 (those weights quantized on 16 apparel photos), natively and with oneDNN
capped at AVX2 (what an AVX2-only CPU runs), each model's precisions timed back to back.

Profile: where an int8 resnet50 batch-32 forward spends its time, from ONEDNN_VERBOSE, natively
and on AVX2 (`--profile-only` rewrites just that section of an existing results page).
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

from common import MLIC, ROOT, WORK, mlic_model

sys.path.insert(0, os.path.join(ROOT, "bench"))
import bench_quality  # noqa: E402

APPAREL = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "apparel"))
COREL = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "corel5k"))
if not os.path.isdir(APPAREL):
    APPAREL, COREL = "/work/shared/data/apparel", "/work/shared/data/corel5k"
FORWARD = os.path.join(ROOT, "build", "bench", "bench_forward")
RESULTS = os.path.join(ROOT, "bench", "RESULTS-quant.md")
METHODS = ["percentile", "minmax"]


def run(cmd, env=None):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                       env=dict(os.environ, **(env or {})))
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {r.stderr}")
    return r


def apparel_model(epochs):
    out = os.path.join(WORK, f"apparel_resnet18_e{epochs}.safetensors")
    if not os.path.exists(out):
        r = bench_quality.RECIPE
        run([MLIC, "train", "--arch", r["arch"], "--data", f"{APPAREL}/train.txt", "--val",
             f"{APPAREL}/val.txt", "--classes", f"{APPAREL}/classes.txt", "--root", APPAREL,
             "--output", out, "--epochs", epochs, "--batch-size", r["batch"], "--optimizer",
             "adamw", "--lr", r["lr"], "--weight-decay", r["wd"], "--schedule", "cosine",
             "--warmup-epochs", r["warmup"], "--loss", "bce", "--crop", r["crop"], "--resize",
             r["resize"], "--jitter", "0", "--seed", 1, "--threads", 2])
    return out


def corel_model(split):
    out = os.path.join(WORK, "corel5k_mlic_recipe_seed1.safetensors")
    if not os.path.exists(out):
        bench_quality.run_mlic(split, 1, argparse.Namespace(epochs=15, threads=2))
    return out


def evaluate(model, data, root, classes, precision=None):
    cmd = [MLIC, "eval", "--model", model, "--data", data, "--root", root, "--classes", classes,
           "--threads", 2, "--json"]
    if precision:
        cmd += ["--precision", precision]
    return json.loads(run(cmd).stdout)["mAP"]


def accuracy(name, model, train, val, root, classes, bf16):
    row = {"set": name, "fp32": evaluate(model, val, root, classes)}
    row["bf16"] = evaluate(model, val, root, classes, "bf16") if bf16 else None
    for method in METHODS:
        q = model.replace(".safetensors", f".int8-{method}.safetensors")
        run([MLIC, "quantize", "--model", model, "--calib", train, "--root", root, "--output", q,
             "--calib-images", 200, "--method", method, "--threads", 2])
        row[method] = evaluate(q, val, root, classes)
    print(row, flush=True)
    return row


def forward(model, batch, precision=None, env=None):
    iters = 10 if batch == 1 else 1
    cmd = [FORWARD, model, batch, 2, 5, iters] + (["--precision", precision] if precision else [])
    return json.loads(run(cmd, env).stdout)["img_s_median"]


def speed(archs, calib, bf16):
    rows = []
    for arch in archs:
        fp32 = mlic_model(arch)
        q = fp32.replace(".safetensors", ".int8.safetensors")
        if not os.path.exists(q):
            run([MLIC, "quantize", "--model", fp32, "--calib", calib, "--root", APPAREL, "--output",
                 q, "--calib-images", 16, "--threads", 2])
        for isa, env in (("native", None), ("AVX2", {"ONEDNN_MAX_CPU_ISA": "AVX2"})):
            for batch in (1, 32):
                row = {"arch": arch, "isa": isa, "batch": batch,
                       "fp32": forward(fp32, batch, env=env),
                       "bf16": forward(fp32, batch, "bf16", env) if bf16 and isa == "native"
                       else None,
                       "int8": forward(q, batch, env=env)}
                print(row, flush=True)
                rows.append(row)
    return rows


PROFILE = "## Where the time goes"


def profile_rows(env):
    """Milliseconds per kind of primitive in one timed int8 resnet50 batch-32 forward."""
    q = mlic_model("resnet50").replace(".safetensors", ".int8.safetensors")
    out = run([FORWARD, q, 32, 2, 1, 1], dict(env or {}, ONEDNN_VERBOSE="1")).stdout
    execs = [l.split(",") for l in out.splitlines() if l.startswith("onednn_verbose,exec,")]
    # The last forward starts with its one fp32 convolution (the first layer), or with the
    # input's reorder just before it.
    start = max(i for i, f in enumerate(execs) if f[3] == "convolution" and "src_f32" in f[6])
    if start and execs[start - 1][3] == "reorder":
        start -= 1
    total = {}
    for f in execs[start:]:
        kind, impl, mds = f[3], f[4].split(":")[0], f[6]
        if kind == "convolution":
            kind += " int8" if ("src_u8" in mds or "src_s8" in mds) else " fp32 (the first)"
            kind += ", writes f32" if "dst_f32" in mds else ", writes u8/s8 codes"
        elif kind == "reorder":
            kind += " f32 -> u8/s8 codes" if ("dst_u8" in mds or "dst_s8" in mds) else " (other)"
        key = f"{kind} [{impl}]"
        total[key] = total.get(key, 0.0) + float(f[-1])
    return sorted(total.items(), key=lambda kv: -kv[1])


def profile_section():
    lines = [PROFILE, "", "One int8 resnet50 forward of 32 images (2 threads), `ONEDNN_VERBOSE=1`: "
             "milliseconds per kind of primitive (one timed run; the machine's load inflates them "
             "alike).", ""]
    for isa, env in (("native", None), ("AVX2", {"ONEDNN_MAX_CPU_ISA": "AVX2"})):
        rows = profile_rows(env)
        whole = sum(ms for _, ms in rows)
        lines += [f"{isa}:", "", "| primitive [kernel] | ms | share |", "|---|---|---|"]
        lines += [f"| {k} | {ms:.0f} | {100 * ms / whole:.0f}% |" for k, ms in rows]
        lines.append("")
    return lines


def write_profile():
    text = open(RESULTS).read() if os.path.exists(RESULTS) else ""
    text = text.split(PROFILE)[0].rstrip("\n") + "\n\n" if text else ""
    with open(RESULTS, "w") as f:
        f.write(text + "\n".join(profile_section()))
    print(f"wrote the profile into {RESULTS}")


def cpu():
    name, flags = platform.processor(), []
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("flags"):
            flags = line.split(":", 1)[1].split()
            break
    isa = [f for f in flags if f.startswith(("avx2", "avx512", "amx")) or f == "avx_vnni"]
    return name, isa


def fmt(v, digits=2):
    return "n/a" if v is None else f"{v:.{digits}f}"


def report(acc, spd, args):
    name, isa = cpu()
    load = os.getloadavg()
    lines = ["# int8 quantization: accuracy and speed (`make bench-quant`)", "",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {name}, {os.cpu_count()} "
             f"cores; ISA flags: {' '.join(isa)}; oneDNN from Debian (libdnnl 2.6); load average "
             f"{load[0]:.1f} when written (the machine is shared: read ratios, not absolute "
             "figures).", "",
             "## Accuracy (mAP, %, all validation photos)", "",
             "int8: calibrated on the first 200 photos of the training split; `percentile` is "
             "99.99% of |x| per tensor (the default), `minmax` the largest |x|.", "",
             "| data, model | fp32 | bf16 | int8 percentile | int8 minmax | int8 - fp32 (default) |",
             "|---|---|---|---|---|---|"]
    for r in acc:
        lines.append(f"| {r['set']} | {fmt(r['fp32'])} | {fmt(r['bf16'])} | {fmt(r['percentile'])} | "
                     f"{fmt(r['minmax'])} | {r['percentile'] - r['fp32']:+.2f} |")
    lines += ["", "## Speed (images/s, model only, 2 threads, 224x224)", "",
              "`bench/bench_forward MODEL BATCH 2 5 ITERS` (median of 5 timed runs; ITERS 10 at "
              "batch 1, 1 at batch 32); AVX2: the same with `ONEDNN_MAX_CPU_ISA=AVX2`. `make bench`'s "
              "models (bench/common.py), int8 calibrated on 16 apparel photos.", "",
              "| model | ISA | batch | fp32 | bf16 | int8 | int8 / fp32 | int8 / bf16 |",
              "|---|---|---|---|---|---|---|---|"]
    for r in spd:
        vs_bf16 = f"{r['int8'] / r['bf16']:.2f}x" if r["bf16"] else "n/a"
        lines.append(f"| {r['arch']} | {r['isa']} | {r['batch']} | {fmt(r['fp32'], 1)} | "
                     f"{fmt(r['bf16'], 1)} | {fmt(r['int8'], 1)} | {r['int8'] / r['fp32']:.2f}x | "
                     f"{vs_bf16} |")
    with open(RESULTS, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archs", default="resnet18,resnet50,mobilenet_v2")
    ap.add_argument("--apparel-epochs", type=int, default=6)
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--profile-only", action="store_true")
    args = ap.parse_args()
    os.makedirs(WORK, exist_ok=True)
    if args.profile_only:
        write_profile()
        return
    bf16 = run([FORWARD, mlic_model("resnet18"), 1, 2, 1, 1, "--precision", "auto"]).stdout
    bf16 = json.loads(bf16)["precision"] == "bf16"
    acc, spd = [], []
    if not args.skip_accuracy:
        model = apparel_model(args.apparel_epochs)
        acc.append(accuracy(f"apparel val (244), resnet18 crop 112, {args.apparel_epochs} epochs",
                            model, f"{APPAREL}/train.txt", f"{APPAREL}/val.txt", APPAREL,
                            f"{APPAREL}/classes.txt", bf16))
        split = bench_quality.make_split(COREL)
        acc.append(accuracy("Corel-5k val (500), resnet18 crop 112, seed 1",
                            corel_model(split), f"{split}/train.txt", f"{split}/val.txt", split,
                            f"{split}/classes.txt", bf16))
    if not args.skip_speed:
        spd = speed(args.archs.split(","), f"{APPAREL}/train.txt", bf16)
    report(acc, spd, args)
    write_profile()


if __name__ == "__main__":
    main()
