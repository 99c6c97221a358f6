#!/usr/bin/python3
"""End to end: 512 JPEGs of 500x375 -> decode, resize 256, crop 224, normalise, model, sigmoid, one
result line each. mlic predict (whole process, model loading included) vs the PyTorch+PIL pipeline
(torch_e2e.py: DataLoader with 2 workers, jit+optimize_for_inference; its timed part only, so the
comparison is conservative for mlic). Peak memory: resident set of the process tree, summed,
sampled every 20 ms. usage: bench_e2e.py [--archs resnet50,mobilenet_v2] [--reps 3] [--threads 2]"""
import argparse
import os
import subprocess

from common import MLIC, ROOT, WORK, emit, median, mlic_model, run_peak_rss


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--archs", default="resnet50,mobilenet_v2")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--images", type=int, default=512)
    a = p.parse_args()
    imgs = os.path.join(WORK, "imgs")
    if len([f for f in os.listdir(imgs)] if os.path.isdir(imgs) else []) < a.images:
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "gen_images.py"), imgs, str(a.images)], check=True)
    lst = os.path.join(WORK, "e2e_list.txt")
    with open(lst, "w") as f:
        f.write("".join(os.path.join(imgs, f"{i:06d}.jpg") + "\n" for i in range(a.images)))
    rows = []
    for arch in a.archs.split(","):
        model = mlic_model(arch)
        m_rates, m_mem, t_rates, t_mem = [], [], [], []
        for _ in range(a.reps):
            secs, mem, _ = run_peak_rss([MLIC, "predict", "--model", model, "--input", lst, "--output",
                                         os.path.join(WORK, "e2e_mlic.txt"), "--threads", str(a.threads),
                                         "--no-progress"])
            m_rates.append(a.images / secs)
            m_mem.append(mem)
            secs, mem, out = run_peak_rss(["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_e2e.py"), arch, lst,
                                           os.path.join(WORK, "e2e_torch.txt"), "2", str(a.threads)])
            t_rates.append(float(out.split()[-1]))
            t_mem.append(mem)
        rows.append(emit({"arch": arch, "mlic_img_s": round(median(m_rates), 2), "torch_img_s": round(median(t_rates), 2),
                          "mlic_peak_mib": round(max(m_mem)), "torch_peak_mib": round(max(t_mem))}))
    print(f"\n### End to end, {a.images} JPEGs 500x375, images/s (median of {a.reps}), {a.threads} threads\n")
    print("| model | mlic predict | PyTorch+PIL (2 workers, jit ofi) | speed ratio | mlic peak MiB | PyTorch peak MiB | memory ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arch']} | {r['mlic_img_s']:.1f} | {r['torch_img_s']:.1f} | {r['mlic_img_s'] / r['torch_img_s']:.2f}x | "
              f"{r['mlic_peak_mib']} | {r['torch_peak_mib']} | {r['mlic_peak_mib'] / r['torch_peak_mib']:.2f} |")


if __name__ == "__main__":
    main()
