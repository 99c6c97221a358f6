#!/usr/bin/python3
"""Model-only inference: mlic vs PyTorch (eager, channels_last, jit+optimize_for_inference; the
best counts) vs ONNX Runtime (fp32, and int8: static QDQ quantization, per-channel weights) vs
OpenVINO (f32 pinned, and its default precision: bf16 on CPUs with AMX or AVX512_BF16), same
seed-0 weights, same input size, same thread count, one run; and mlic in bf16 where the CPU has
AVX512_BF16 or AMX (docs/precision.md).
usage: bench_infer.py [--threads 2] [--reps 5] [--archs resnet18,resnet50,mobilenet_v2] [--bs 1,32]
Prints JSON lines, then a markdown table of medians and ratios (mlic / best other)."""
import argparse
import os
import subprocess
import time

import torch

from common import ROOT, WORK, emit, median, mlic_model, torch_model

ORT_PY = os.path.join(WORK, "ortenv", "bin", "python3")
OV_PY = os.path.join(WORK, "ovenv", "bin", "python3")


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


def onnx_model(arch):
    """The seed-0 model exported to ONNX (opset 13, dynamic batch), made once."""
    path = os.path.join(WORK, f"{arch}_bn.onnx")
    if not os.path.exists(path):
        torch.onnx.export(torch_model(arch), torch.randn(1, 3, 224, 224), path + ".tmp", opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        os.replace(path + ".tmp", path)
    return path


def ort_int8_model(arch):
    """ONNX Runtime's own static int8 quantization of onnx_model(arch) (bench/ort_quantize.py)."""
    path = os.path.join(WORK, f"{arch}_bn_int8.onnx")
    if not os.path.exists(path):
        subprocess.run([ORT_PY, os.path.join(ROOT, "bench", "ort_quantize.py"), onnx_model(arch), path],
                       check=True, capture_output=True)
    return path


def bench_ort(arch, bs, threads, reps, int8=False):
    if not os.path.exists(ORT_PY):
        return None
    try:
        model = ort_int8_model(arch) if int8 else onnx_model(arch)
    except subprocess.CalledProcessError as e:  # no onnx package in the venv: the column says n/a
        print(f"bench: ONNX Runtime int8 quantization failed: {e.stderr.decode()[-300:]}", flush=True)
        return None
    out = subprocess.run([ORT_PY, os.path.join(ROOT, "bench", "ort_infer.py"), model, str(bs), str(threads),
                          str(reps), str(iters_for(arch, bs))], check=True, capture_output=True, text=True).stdout
    return emit({"system": "onnxruntime", "precision": "int8" if int8 else "fp32", "arch": arch, "bs": bs,
                 "img_s_median": float(out.split()[0])})


def bench_ov(arch, bs, threads, reps, hint):
    """OpenVINO with INFERENCE_PRECISION_HINT f32, or its default (hint "default")."""
    if not os.path.exists(OV_PY):
        return None
    out = subprocess.run([OV_PY, os.path.join(ROOT, "bench", "ov_infer.py"), onnx_model(arch), str(bs),
                          str(threads), str(reps), str(iters_for(arch, bs)), hint],
                         check=True, capture_output=True, text=True).stdout.split()
    return emit({"system": "openvino", "hint": hint, "precision": out[1], "arch": arch, "bs": bs,
                 "img_s_median": float(out[0])})


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
            o8 = bench_ort(arch, bs, a.threads, a.reps, int8=True)
            v = bench_ov(arch, bs, a.threads, a.reps, "f32")
            vd = bench_ov(arch, bs, a.threads, a.reps, "default")
            rows.append((arch, bs, m, t, o, b, o8, v, vd))

    def val(r, suffix=""):
        return f"{r['img_s_median']:.1f}{suffix}" if r else "n/a"

    def ratio(x, y):
        return f"{x['img_s_median'] / y['img_s_median']:.2f}x" if x and y else "n/a"

    print(f"\n### Model-only inference, images/s (median of {a.reps}), {a.threads} threads, 224x224\n")
    print("ONNX Runtime int8: its static QDQ quantization (bench/ort_quantize.py). OpenVINO default: "
          "compile_model's own precision choice, named in brackets. n/a: that system is not installed "
          "(scripts/ortenv.sh, scripts/ovenv.sh) or, for mlic bf16, the CPU lacks AVX512_BF16 and AMX.\n")
    print("| model | batch | mlic fp32 | mlic bf16 | PyTorch best (variant) | ONNX Runtime fp32 | ONNX Runtime int8 "
          "| OpenVINO f32 | OpenVINO default | mlic fp32 / PyTorch | mlic fp32 / ORT fp32 | mlic fp32 / OpenVINO f32 "
          "| mlic best / OpenVINO default |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for arch, bs, m, t, o, b, o8, v, vd in rows:
        best = b if b and b["img_s_median"] > m["img_s_median"] else m
        vdp = f" ({vd['precision']})" if vd else ""
        print(f"| {arch} | {bs} | {val(m)} | {val(b)} | {val(t)} ({t['variant']}) | {val(o)} | {val(o8)} | {val(v)} | "
              f"{val(vd, vdp)} | {ratio(m, t)} | {ratio(m, o)} | {ratio(m, v)} | "
              f"{ratio(best, vd)} |")


if __name__ == "__main__":
    main()
