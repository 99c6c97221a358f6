#!/usr/bin/python3
"""`make bench-quality` (opt-in, long): mlic train against the PyTorch recipe on Corel-5k, on a fixed
validation split, several seeds each; writes the Corel-5k section of bench/RESULTS-train.md.

The split: the 500 images of ../shared/data/corel5k/train.txt listed in bench/corel5k_val.txt (the
names whose SHA-256 is smallest, cut once) are held out for validation, never trained on; the
other 4,000 train. The recipe (issue 11): resnet18 from scratch, 15 epochs, RandomResizedCrop 112 +
flip, eval resize 128 + centre crop 112, batch 32 (last incomplete batch dropped), AdamW lr 1e-3,
weight decay 1e-4 on weights only, one warm-up epoch (step s of W at lr (s + 1) / W) then cosine
per step, BCE. mlic: `mlic train` with those options and --jitter 0; PyTorch:
bench/torch_train_apparel.py (Debian's torch and torchvision).

Each run's per-epoch log is kept in bench/logs/corel5k-SIDE-seedN.jsonl (mlic's is its --log, written
after every epoch, so a run cut short keeps what it finished); a seed whose log holds every epoch
is not run again (PyTorch's take about 35 minutes each on 2 idle cores), so
`--side mlic` reruns mlic's side only after deleting its logs, and the report is made from the
logs alone with --report-only.
usage: bench_quality.py [--data DIR] [--side both|mlic|torch] [--seeds 1,2,3] [--epochs 15]
       [--threads 2] [--variants recipe,default,...] [--report-only]"""
import argparse
import json
import os
import statistics
import subprocess
import time

from common import MLIC, ROOT, WORK

RECIPE = dict(arch="resnet18", crop=112, resize=128, lr=1e-3, wd=1e-4, warmup=1, batch=32)
SPLIT = os.path.join(ROOT, "bench", "corel5k_val.txt")
LOGS = os.path.join(ROOT, "bench", "logs")
RESULTS = os.path.join(ROOT, "bench", "RESULTS-train.md")
BEGIN, END = "<!-- bench-quality: begin -->", "<!-- bench-quality: end -->"


def make_split(data):
    """build/bench/corel5k-split/{train,val,classes}.txt with images/ linked to the data's."""
    held = set(open(SPLIT).read().split())
    out = os.path.join(WORK, "corel5k-split")
    os.makedirs(out, exist_ok=True)
    rows = [line for line in open(os.path.join(data, "train.txt")) if line.strip()]
    val = [r for r in rows if r.split("\t")[0] in held]
    assert len(val) == len(held), f"{len(held) - len(val)} held-out images are not in {data}/train.txt"
    for name, part in (("train.txt", [r for r in rows if r.split("\t")[0] not in held]),
                       ("val.txt", val)):
        with open(os.path.join(out, name), "w") as f:
            f.writelines(r if r.endswith("\n") else r + "\n" for r in part)
    with open(os.path.join(out, "classes.txt"), "w") as f:
        f.write(open(os.path.join(data, "classes.txt")).read())
    link = os.path.join(out, "images")
    if not os.path.islink(link):
        os.symlink(os.path.abspath(os.path.join(data, "images")), link)
    return out


# mlic's variants: the PyTorch recipe ("recipe", the comparison), mlic's own defaults
# ("default": only --arch, --epochs and --crop given) and the candidates for those defaults, each the
# recipe with some options changed (docs/training.md has the table they chose from).
RECIPE_ARGS = {"--optimizer": "adamw", "--lr": str(RECIPE["lr"]), "--weight-decay": str(RECIPE["wd"]),
               "--schedule": "cosine", "--warmup-epochs": str(RECIPE["warmup"]), "--loss": "bce",
               "--batch-size": str(RECIPE["batch"]), "--resize": str(RECIPE["resize"]), "--jitter": "0"}
VARIANTS = {
    "recipe": {},
    "default": None,
    "jitter0.4": {"--jitter": "0.4"},
    "jitter0.1": {"--jitter": "0.1"},
    "asl": {"--loss": "asl"},
    "lr2e-3": {"--lr": "0.002"},
    "wd0.05": {"--weight-decay": "0.05"},
    "ema0.99": {"--ema": "0.99"},
    "warmup3": {"--warmup-epochs": "3"},
    "scale0.35": {"--crop-scale": "0.35"},
    "scale0.2": {"--crop-scale": "0.2"},
    "scale0.5": {"--crop-scale": "0.5"},
    "asl+scale0.35": {"--loss": "asl", "--crop-scale": "0.35"},
}


def log_path(side, seed, variant="recipe"):
    tag = side if variant == "recipe" else f"{side}-{variant}"
    return os.path.join(LOGS, f"corel5k-{tag}-seed{seed}.jsonl")


def read_curve(side, seed, variant="recipe"):
    """Per-epoch (mAP, train loss) of a kept log, or None."""
    p = log_path(side, seed, variant)
    if not os.path.exists(p):
        return None
    rows = [json.loads(line) for line in open(p) if line.strip()]
    rows = [r for r in rows if "epoch" in r]
    key = "map" if side == "mlic" else "val_mAP"
    loss = "train_loss" if side == "mlic" else "loss"
    return [(r[key], r[loss]) for r in rows]


def variant_args(variant):
    """The options a variant gives beyond data, output, seed, threads and log."""
    if VARIANTS[variant] is None:
        return []
    opts = dict(RECIPE_ARGS, **VARIANTS[variant])
    return [x for k, v in opts.items() for x in (k, v)]


def run_mlic(split, seed, a, variant="recipe"):
    r = RECIPE
    out = os.path.join(WORK, f"corel5k_mlic_{variant}_seed{seed}.safetensors")
    for f in (out, out + ".ckpt", log_path("mlic", seed, variant)):
        if os.path.exists(f):
            os.remove(f)
    subprocess.run([MLIC, "train", "--arch", r["arch"], "--data", f"{split}/train.txt",
                    "--val", f"{split}/val.txt", "--classes", f"{split}/classes.txt", "--root", split,
                    "--output", out, "--epochs", str(a.epochs), "--crop", str(r["crop"])] +
                   variant_args(variant) +
                   ["--seed", str(seed), "--threads", str(a.threads), "--log", log_path("mlic", seed, variant)],
                   check=True)


def run_torch(split, seed, a):
    r = RECIPE
    out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_train_apparel.py"), split,
                          str(a.epochs), str(r["crop"]), r["arch"], str(r["lr"]), str(r["wd"]),
                          str(r["warmup"]), str(seed), str(a.threads)],
                         check=True, capture_output=True, text=True).stdout
    with open(log_path("torch", seed) + ".tmp", "w") as f:
        f.writelines(line + "\n" for line in out.splitlines() if line.startswith("{"))
    os.replace(log_path("torch", seed) + ".tmp", log_path("torch", seed))


def summary(side, seeds, epochs):
    """Every kept curve (a run cut short keeps the epochs it finished), and the last-epoch mAPs
    of the complete ones."""
    curves = {s: c for s in seeds if (c := read_curve(side, s))}
    last = [c[-1][0] for c in curves.values() if len(c) == epochs]
    return curves, last


def fmt_stats(v):
    if not v:
        return "no complete run"
    sd = f" ± {statistics.stdev(v):.2f}" if len(v) > 1 else ""
    return f"{statistics.mean(v):.2f}{sd} (n={len(v)}; {min(v):.2f}..{max(v):.2f})"


def candidates(a, t_last):
    """The table of mlic's variants: options, last-epoch mAP per seed, mean, and the difference
    from PyTorch's mean; every variant with at least one complete run, whatever --variants says."""
    rows = []
    for v in VARIANTS:
        last = {s: c[-1][0] for s in range(1, 11) if (c := read_curve("mlic", s, v)) and len(c) == a.epochs}
        if not last:
            continue
        opts = "mlic's defaults" if VARIANTS[v] is None else \
            (" ".join(f"`{k} {x}`" for k, x in VARIANTS[v].items()) or "the recipe")
        vs = f"{statistics.mean(last.values()) - statistics.mean(t_last):+.2f}" if t_last else "-"
        rows.append(f"| {v} | {opts} | " + ", ".join(f"{s}: {m:.2f}" for s, m in sorted(last.items())) +
                    f" | {statistics.mean(last.values()):.2f} | {vs} |")
    if not rows:
        return []
    return ["mlic's variants (the recipe with the options shown changed; `default` is `mlic train` with only "
            "`--arch resnet18 --epochs 15 --crop 112` and the data given). Run one with "
            "`bench/bench_quality.py --side mlic --variants NAME --seeds 1,2,3`:", "",
            "| variant | options | last-epoch val mAP by seed | mean | mean - PyTorch's mean |",
            "|---|---|---|---|---|"] + rows + [""]


def report(a):
    r = RECIPE
    m_curves, m_last = summary("mlic", a.seeds, a.epochs)
    t_curves, t_last = summary("torch", a.seeds, a.epochs)
    lines = [BEGIN, "", f"### Training quality: {r['arch']} from scratch on Corel-5k, crop {r['crop']}, "
             f"{a.epochs} epochs (`make bench-quality`)", "",
             f"Split: the 500 images of `bench/corel5k_val.txt` held out of ../shared/data/corel5k/train.txt "
             f"for validation (never trained on), 4,000 for training. Recipe (both, issue 11): RandomResizedCrop"
             f"({r['crop']}) + horizontal flip, no colour jitter; eval resize {r['resize']} + centre crop; AdamW lr "
             f"{r['lr']}, weight decay {r['wd']} on weights only; {r['warmup']} warm-up epoch (step s of W at "
             f"lr·(s+1)/W) then cosine per step; batch {r['batch']}, last incomplete batch dropped; BCE; "
             f"{a.threads} threads. Validation mAP after the last epoch (sklearn's average precision for "
             f"PyTorch, mlic's own for mlic; both are the mean over classes with a positive). Per-seed logs: "
             f"`bench/logs/corel5k-{{mlic,torch}}-seedN.jsonl`. Command: `make bench-quality` "
             f"(`bench/bench_quality.py --seeds {','.join(map(str, a.seeds))}`; `--side mlic` reruns one side).",
             "", "| side | last-epoch val mAP, mean ± sd (n; range) |", "|---|---|",
             f"| mlic | {fmt_stats(m_last)} |", f"| PyTorch | {fmt_stats(t_last)} |", ""]
    if m_last and t_last:
        lines += [f"mlic minus PyTorch (means): {statistics.mean(m_last) - statistics.mean(t_last):+.2f} mAP.", ""]
    runs = [("mlic", s, c) for s, c in sorted(m_curves.items())] + \
           [("PyTorch", s, c) for s, c in sorted(t_curves.items())]
    if runs:
        lines += ["Per-epoch validation mAP:", "",
                  "| epoch | " + " | ".join(f"{side} seed {s}" for side, s, _ in runs) + " |",
                  "|---|" + "---|" * len(runs)]
        for e in range(a.epochs):
            lines.append(f"| {e + 1} | " + " | ".join(f"{c[e][0]:.2f}" if e < len(c) else "-"
                                                      for _, _, c in runs) + " |")
        lines += ["", "Training loss of each run's last epoch: " +
                  ", ".join(f"{side} seed {s} {c[-1][1]:.4f} (epoch {len(c)})" for side, s, c in runs) +
                  ".", ""]
    lines += candidates(a, t_last)
    cut = [f"{side} seed {s} ({len(c)} of {a.epochs} epochs)" for side, s, c in runs if len(c) < a.epochs]
    missing = [f"{side} seed {s}" for side, curves in (("mlic", m_curves), ("PyTorch", t_curves))
               for s in a.seeds if s not in curves]
    if cut:
        lines += [f"Cut short (left out of the means): {', '.join(cut)}.", ""]
    if missing:
        lines += [f"Not run: {', '.join(missing)}.", ""]
    lines.append(END)
    text = open(RESULTS).read() if os.path.exists(RESULTS) else ""
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + "\n".join(lines) + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    with open(RESULTS + ".tmp", "w") as f:
        f.write(text)
    os.replace(RESULTS + ".tmp", RESULTS)
    print("\n".join(lines))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "data", "corel5k"))
    p.add_argument("--side", choices=("both", "mlic", "torch"), default="both")
    p.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2, 3])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--variants", type=lambda v: v.split(","), default=["recipe"],
                   help="mlic's variants to run: " + ",".join(VARIANTS))
    p.add_argument("--report-only", action="store_true")
    a = p.parse_args()
    for v in a.variants:
        if v not in VARIANTS:
            p.error(f"--variants: no variant {v!r}; there are {', '.join(VARIANTS)}")
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(LOGS, exist_ok=True)
    if not a.report_only:
        split = make_split(a.data)
        for seed in a.seeds:
            runs = [("mlic", v) for v in a.variants] + [("torch", "recipe")]
            for side, variant in runs:
                if a.side not in ("both", side):
                    continue
                done = read_curve(side, seed, variant)
                if done and len(done) == a.epochs:
                    continue
                t0 = time.time()
                if side == "mlic":
                    run_mlic(split, seed, a, variant)
                else:
                    run_torch(split, seed, a)
                print(f"{side} {variant} seed {seed}: {time.time() - t0:.0f} s", flush=True)
    report(a)


if __name__ == "__main__":
    main()
