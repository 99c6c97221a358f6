#!/usr/bin/python3
"""`make bench-train`: training against PyTorch, in one run.
1. Throughput: one training step (forward, BCE, backward, SGD) on random input, resnet18 and
   resnet50 at 224, batch 32, the same thread count: mlic (bench_train_step, its fastest backend)
   vs PyTorch eager (the better of NCHW and channels_last), images/s (median) and peak memory.
2. Quality: resnet18 from scratch on ../shared/data/apparel (train on train, measure on val) at
   crop 128 with one recipe, run by `mlic train` and by torch_train_apparel.py, once per seed: val
   mAP of the last and of the best epoch.
usage: bench_train.py [--data DIR] [--epochs 15] [--threads 2] [--reps 3] [--seeds 1,2,3]
       [--skip-quality] [--skip-speed]"""
import argparse
import json
import os

from common import MLIC, ROOT, WORK, emit, run_peak_rss

RECIPE = dict(arch="resnet18", crop=128, lr=1e-3, wd=1e-4, warmup=1, batch=32)


def speed(a):
    rows = []
    step = os.path.join(ROOT, "build", "bench", "bench_train_step")
    torch_step = ["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_train_step.py")]
    for arch in ("resnet18", "resnet50"):
        iters = "2" if arch == "resnet18" else "1"
        args = [arch, "32", "224", str(a.threads), str(a.reps), iters]
        _, m_mem, out = run_peak_rss([step] + args)
        m = json.loads(out)
        direct = None
        if m["backend"] == "onednn":  # the same without Winograd convolutions (--conv direct)
            direct = json.loads(run_peak_rss([step] + args + ["onednn-direct"])[2])["img_s_median"]
        best = None
        for cl in ([], ["--cl"]):
            _, t_mem, out = run_peak_rss(torch_step + args + cl)
            r = {"img_s": float(out.split()[-1]), "mem": t_mem, "variant": "channels_last" if cl else "NCHW"}
            if best is None or r["img_s"] > best["img_s"]:
                best = r
        rows.append(emit({"arch": arch, "mlic_backend": m["backend"], "mlic_img_s": m["img_s_median"],
                          "mlic_direct_img_s": direct,
                          "mlic_peak_mib": round(m_mem), "torch_img_s": best["img_s"], "torch_variant": best["variant"],
                          "torch_peak_mib": round(best["mem"])}))
    print(f"\n### Training throughput, batch 32, 224x224, {a.threads} threads (median of {a.reps})\n")
    print("mlic's default backend runs the 3x3 stride-1 convolutions with Winograd; `--conv direct` "
          "(backend onednn-direct) without.\n")
    print("| model | mlic images/s (backend) | ratio | mlic --conv direct | ratio | PyTorch eager images/s (layout) "
          "| mlic peak MiB | PyTorch peak MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        d = r["mlic_direct_img_s"]
        dcols = f"{d:.2f} | {d / r['torch_img_s']:.2f}x" if d else "- | -"
        print(f"| {r['arch']} | {r['mlic_img_s']:.2f} ({r['mlic_backend']}) | {r['mlic_img_s'] / r['torch_img_s']:.2f}x | "
              f"{dcols} | {r['torch_img_s']:.2f} ({r['torch_variant']}) | {r['mlic_peak_mib']} | {r['torch_peak_mib']} |")


def quality_run(a, seed):
    d, r = a.data, RECIPE
    out = os.path.join(WORK, "apparel_resnet18.safetensors")
    log = os.path.join(WORK, "apparel_resnet18.log")
    for f in (out, log, out + ".ckpt"):
        if os.path.exists(f):
            os.remove(f)
    run_peak_rss([MLIC, "train", "--arch", r["arch"], "--data", f"{d}/train.txt", "--val", f"{d}/val.txt",
                  "--classes", f"{d}/classes.txt", "--output", out, "--epochs", str(a.epochs),
                  "--batch-size", str(r["batch"]), "--optimizer", "adamw", "--lr", str(r["lr"]),
                  "--weight-decay", str(r["wd"]), "--schedule", "cosine", "--warmup-epochs", str(r["warmup"]),
                  "--loss", "bce", "--crop", str(r["crop"]), "--resize", str(round(r["crop"] / 0.875)),
                  "--jitter", "0", "--seed", str(seed), "--threads", str(a.threads), "--log", log])
    mlic_epochs = [json.loads(line) for line in open(log) if '"epoch"' in line]
    _, _, out_t = run_peak_rss(["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_train_apparel.py"), d,
                                str(a.epochs), str(r["crop"]), r["arch"], str(r["lr"]), str(r["wd"]), str(r["warmup"]),
                                str(seed), str(a.threads)])
    torch_epochs = [json.loads(line) for line in out_t.splitlines() if line.startswith("{")]
    return emit({"quality": "apparel", "seed": seed,
                 "mlic_last": mlic_epochs[-1]["map"], "torch_last": torch_epochs[-1]["val_mAP"],
                 "mlic_best": max(e["map"] for e in mlic_epochs),
                 "torch_best": max(e["val_mAP"] for e in torch_epochs),
                 "mlic_s": sum(e["seconds"] for e in mlic_epochs), "torch_s": torch_epochs[-1]["elapsed_s"]})


def quality(a):
    r = RECIPE
    rows = [quality_run(a, seed) for seed in a.seeds]
    print(f"\n### Training quality: {r['arch']} from scratch on apparel, crop {r['crop']}, {a.epochs} epochs\n")
    print(f"Recipe (both): RandomResizedCrop({r['crop']}) + horizontal flip, no colour jitter; eval resize "
          f"{round(r['crop'] / 0.875)} + centre crop; AdamW lr {r['lr']}, weight decay {r['wd']} on weights only; "
          f"{r['warmup']} warm-up epoch (step s of W at lr·(s+1)/W) then cosine per step; batch {r['batch']}, last incomplete "
          f"batch dropped; BCE; {a.threads} threads; one run per seed (the seed drives init, order and "
          f"augmentation, which the two sides draw differently). Seconds are wall time of the whole run "
          f"(data loading and validation included).\n")
    print("| seed | mlic val mAP, last epoch | PyTorch | mlic, best epoch | PyTorch | mlic s | PyTorch s |")
    print("|---|---|---|---|---|---|---|")
    for q in rows:
        print(f"| {q['seed']} | {q['mlic_last']:.2f} | {q['torch_last']:.2f} | {q['mlic_best']:.2f} | "
              f"{q['torch_best']:.2f} | {q['mlic_s']:.0f} | {q['torch_s']:.0f} |")
    mean = lambda k: sum(q[k] for q in rows) / len(rows)
    print(f"| mean | {mean('mlic_last'):.2f} | {mean('torch_last'):.2f} | {mean('mlic_best'):.2f} | "
          f"{mean('torch_best'):.2f} | {mean('mlic_s'):.0f} | {mean('torch_s'):.0f} |")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "data", "apparel"))
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2, 3])
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
