#!/usr/bin/python3
"""`make bench-train`: training against PyTorch, in one run.
1. Throughput: one training step (forward, BCE, backward, SGD) on random input, resnet18 and
   resnet50 at 224, batch 32, the same thread count: mlic (bench_train_step, its fastest backend)
   vs PyTorch eager (the better of NCHW and channels_last), images/s (median) and peak memory.
2. Quality: resnet18 from scratch on ../shared/data/apparel (train on train, measure on val) at
   crop 128 with one recipe, run by `mlic train` and by torch_train_apparel.py: val mAP per epoch.
usage: bench_train.py [--data DIR] [--epochs 15] [--threads 2] [--reps 3] [--skip-quality]
       [--skip-speed]"""
import argparse
import json
import os

from common import MLIC, ROOT, WORK, emit, run_peak_rss

RECIPE = dict(arch="resnet18", crop=128, lr=1e-3, wd=1e-4, warmup=1, seed=1, batch=32)


def speed(a):
    rows = []
    step = os.path.join(ROOT, "build", "bench", "bench_train_step")
    torch_step = ["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_train_step.py")]
    for arch in ("resnet18", "resnet50"):
        iters = "2" if arch == "resnet18" else "1"
        args = [arch, "32", "224", str(a.threads), str(a.reps), iters]
        _, m_mem, out = run_peak_rss([step] + args)
        m = json.loads(out)
        best = None
        for cl in ([], ["--cl"]):
            _, t_mem, out = run_peak_rss(torch_step + args + cl)
            r = {"img_s": float(out.split()[-1]), "mem": t_mem, "variant": "channels_last" if cl else "NCHW"}
            if best is None or r["img_s"] > best["img_s"]:
                best = r
        rows.append(emit({"arch": arch, "mlic_backend": m["backend"], "mlic_img_s": m["img_s_median"],
                          "mlic_peak_mib": round(m_mem), "torch_img_s": best["img_s"], "torch_variant": best["variant"],
                          "torch_peak_mib": round(best["mem"])}))
    print(f"\n### Training throughput, batch 32, 224x224, {a.threads} threads (median of {a.reps})\n")
    print("| model | mlic images/s | PyTorch eager images/s (layout) | ratio | mlic peak MiB | PyTorch peak MiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arch']} | {r['mlic_img_s']:.2f} ({r['mlic_backend']}) | {r['torch_img_s']:.2f} ({r['torch_variant']}) | "
              f"{r['mlic_img_s'] / r['torch_img_s']:.2f}x | {r['mlic_peak_mib']} | {r['torch_peak_mib']} |")


def quality(a):
    d, r = a.data, RECIPE
    out = os.path.join(WORK, "apparel_resnet18.safetensors")
    log = os.path.join(WORK, "apparel_resnet18.log")
    for f in (out, log, out + ".ckpt"):
        if os.path.exists(f):
            os.remove(f)
    resize = round(r["crop"] / 0.875)
    run_peak_rss([MLIC, "train", "--arch", r["arch"], "--data", f"{d}/train.txt", "--val", f"{d}/val.txt",
                  "--classes", f"{d}/classes.txt", "--output", out, "--epochs", str(a.epochs),
                  "--batch-size", str(r["batch"]), "--optimizer", "adamw", "--lr", str(r["lr"]),
                  "--weight-decay", str(r["wd"]), "--schedule", "cosine", "--warmup-epochs", str(r["warmup"]),
                  "--loss", "bce", "--crop", str(r["crop"]), "--resize", str(resize), "--jitter", "0",
                  "--seed", str(r["seed"]), "--threads", str(a.threads), "--log", log])
    mlic_epochs = [json.loads(line) for line in open(log) if '"epoch"' in line]
    _, _, out_t = run_peak_rss(["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_train_apparel.py"), d,
                                str(a.epochs), str(r["crop"]), r["arch"], str(r["lr"]), str(r["wd"]), str(r["warmup"]),
                                str(r["seed"]), str(a.threads)])
    torch_epochs = [json.loads(line) for line in out_t.splitlines() if line.startswith("{")]
    mkey = "map"
    m_last, t_last = mlic_epochs[-1][mkey], torch_epochs[-1]["val_mAP"]
    m_best, t_best = max(e[mkey] for e in mlic_epochs), max(e["val_mAP"] for e in torch_epochs)
    emit({"quality": "apparel", "mlic_last": m_last, "torch_last": t_last, "mlic_best": m_best, "torch_best": t_best})
    print(f"\n### Training quality: {r['arch']} from scratch on apparel, crop {r['crop']}, {a.epochs} epochs\n")
    print(f"Recipe (both): RandomResizedCrop({r['crop']}) + horizontal flip, no colour jitter; eval resize {resize} + "
          f"centre crop; AdamW lr {r['lr']}, weight decay {r['wd']} on weights only; {r['warmup']} warm-up epoch then "
          f"cosine per step; batch {r['batch']}, last incomplete batch dropped; BCE; seed {r['seed']}; "
          f"{a.threads} threads. mlic's warm-up starts at lr/3, PyTorch's LambdaLR at lr/steps.\n")
    print("| | mlic train | PyTorch |")
    print("|---|---|---|")
    print(f"| val mAP, last epoch | {m_last:.2f} | {t_last:.2f} |")
    print(f"| val mAP, best epoch | {m_best:.2f} | {t_best:.2f} |")
    print(f"| seconds | {sum(e['seconds'] for e in mlic_epochs):.1f} | {torch_epochs[-1]['elapsed_s']} |")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "data", "apparel"))
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument("--skip-speed", action="store_true")
    a = p.parse_args()
    os.makedirs(WORK, exist_ok=True)
    if not a.skip_speed:
        speed(a)
    if not a.skip_quality:
        quality(a)


if __name__ == "__main__":
    main()
