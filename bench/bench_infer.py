#!/usr/bin/python3
"""Model-only inference: mlic vs PyTorch (eager, channels_last, jit+optimize_for_inference; the
best counts) vs ONNX Runtime, same seed-0 weights, same input size, same thread count, one run;
and mlic in bf16 where the CPU has AVX512_BF16 or AMX (docs/precision.md).
usage: bench_infer.py [--threads 2] [--reps 5] [--archs resnet18,resnet50,mobilenet_v2] [--bs 1,32]
Prints JSON lines, then a markdown table of medians and ratios (mlic / best other)."""
import argparse
import os
import subprocess
import time

import torch

from common import ROOT, WORK, emit, median, mlic_model, torch_model

ORT_PY = os.path.join(WORK, "ortenv", "bin", "python3")


def iters_for(arch, bs):
    return 8 if bs == 1 else (2 if arch != "resnet50" else 1)


def bench_torch(arch, bs, threads, reps):
    torch.set_num_threads(threads)
    best = None
    for variant in ("eager", "eager_cl", "jit_ofi"):
        m, x = torch_model(arch), torch.randn(bs, 3, 224, 224)
        if variant == "eager_cl":
            m, x = m.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            if variant == "jit_ofi":
                m = torch.jit.optimize_for_inference(torch.jit.trace(m, x))
            for _ in range(2):
                m(x)
            rates = []
            for _ in range(reps):
                t0 = time.perf_counter()
                for _ in range(iters_for(arch, bs)):
                    torch.sigmoid(m(x))
                rates.append(bs * iters_for(arch, bs) / (time.perf_counter() - t0))
        r = emit({"system": "pytorch", "variant": variant, "arch": arch, "bs": bs, "img_s_median": round(median(rates), 2)})
        if best is None or r["img_s_median"] > best["img_s_median"]:
            best = r
    return best


def bench_ort(arch, bs, threads, reps):
    if not os.path.exists(ORT_PY):
        return None
    onnx_path = os.path.join(WORK, f"{arch}.onnx")
    if not os.path.exists(onnx_path):
        torch.onnx.export(torch_model(arch), torch.randn(1, 3, 224, 224), onnx_path, opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    out = subprocess.run([ORT_PY, os.path.join(ROOT, "bench", "ort_infer.py"), onnx_path, str(bs), str(threads),
                          str(reps), str(iters_for(arch, bs))], check=True, capture_output=True, text=True).stdout
    return emit({"system": "onnxruntime", "arch": arch, "bs": bs, "img_s_median": float(out.split()[0])})


def bench_mlic(arch, bs, threads, reps, precision="fp32"):
    """precision auto: None where it resolves to fp32 (no bf16 on this CPU)."""
    out = subprocess.run([os.path.join(ROOT, "build", "bench", "bench_forward"), mlic_model(arch), str(bs),
                          str(threads), str(reps), str(iters_for(arch, bs)), "--precision", precision],
                         check=True, capture_output=True, text=True).stdout
    import json
    r = json.loads(out)
    if precision == "auto" and r["precision"] == "fp32":
        return None
    return emit({"system": "mlic", "backend": r["backend"], "precision": r["precision"], "arch": arch, "bs": bs,
                 "img_s_median": r["img_s_median"]})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--archs", default="resnet18,resnet50,mobilenet_v2")
    p.add_argument("--bs", default="1,32")
    a = p.parse_args()
    rows = []
    for arch in a.archs.split(","):
        for bs in map(int, a.bs.split(",")):
            m = bench_mlic(arch, bs, a.threads, a.reps)
            b = bench_mlic(arch, bs, a.threads, a.reps, "auto")
            t = bench_torch(arch, bs, a.threads, a.reps)
            o = bench_ort(arch, bs, a.threads, a.reps)
            rows.append((arch, bs, m, t, o, b))
    print(f"\n### Model-only inference, images/s (median of {a.reps}), {a.threads} threads, 224x224\n")
    print("| model | batch | mlic | PyTorch best (variant) | ONNX Runtime | mlic / PyTorch | mlic / ORT | mlic bf16 |")
    print("|---|---|---|---|---|---|---|---|")
    for arch, bs, m, t, o, b in rows:
        ov = f"{o['img_s_median']:.1f}" if o else "n/a"
        oratio = f"{m['img_s_median'] / o['img_s_median']:.2f}x" if o else "n/a"
        bv = f"{b['img_s_median']:.1f}" if b else "n/a (no AVX512_BF16/AMX)"
        print(f"| {arch} | {bs} | {m['img_s_median']:.1f} | {t['img_s_median']:.1f} ({t['variant']}) | {ov} | "
              f"{m['img_s_median'] / t['img_s_median']:.2f}x | {oratio} | {bv} |")


if __name__ == "__main__":
    main()
