"""Shared bench helpers: models with the same random weights for every system, timing, memory."""
import json
import os
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))
import st  # noqa: E402

MLIC = os.environ.get("MLIC_BIN", os.path.join(ROOT, "build", "mlic"))  # a copy, for runs that outlive a rebuild
WORK = os.path.join(ROOT, "build", "bench")
NUM_CLASSES = 20


def torch_model(arch):
    """torchvision's ARCH with seed-0 weights and batch norms given trained-like statistics and
    affine parameters (seeded too): on the default ones (mean 0, variance 1, weight 1) every
    activation range is alike, and int8 peers (ONNX Runtime's static quantization) time a case no
    trained model has; fp32 timings do not depend on them (the norms fold away)."""
    import torch
    import torchvision
    torch.manual_seed(0)
    m = getattr(torchvision.models, arch)(weights=None, num_classes=NUM_CLASSES).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for bn in (x for x in m.modules() if isinstance(x, torch.nn.BatchNorm2d)):
            c = bn.num_features
            bn.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            bn.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
            bn.weight.copy_(torch.rand(c, generator=g) + 0.5)
            bn.bias.copy_(torch.randn(c, generator=g) * 0.1)
    return m


def mlic_model(arch, crop=224, resize=256):
    """The same seed-0 torchvision weights, imported into an mlic model file; returns its path."""
    os.makedirs(WORK, exist_ok=True)
    out = os.path.join(WORK, f"{arch}_bn_{crop}.safetensors")
    if os.path.exists(out):
        return out
    w = os.path.join(WORK, f"{arch}_bn_torch.safetensors")
    st.save(w, st.state_dict_numpy(torch_model(arch)))
    classes = os.path.join(WORK, "classes20.txt")
    with open(classes, "w") as f:
        f.write("".join(f"class_{i}\n" for i in range(NUM_CLASSES)))
    subprocess.run([MLIC, "import", "--arch", arch, "--weights", w, "--classes", classes,
                    "--output", out, "--crop", str(crop), "--resize", str(resize)], check=True)
    return out


def run_peak_rss(cmd, env=None):
    """Run cmd; return (seconds, peak resident memory in MiB of the process and all its children
    summed, sampled every 20 ms, and stdout)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
    peak = [0]

    def tree_rss(pid):
        total, todo = 0, [pid]
        while todo:
            q = todo.pop()
            try:
                with open(f"/proc/{q}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
                with open(f"/proc/{q}/task/{q}/children") as f:
                    todo += [int(c) for c in f.read().split()]
            except (FileNotFoundError, ProcessLookupError):
                pass
        return total

    def watch():
        while p.poll() is None:
            peak[0] = max(peak[0], tree_rss(p.pid))
            time.sleep(0.02)

    th = threading.Thread(target=watch)
    th.start()
    out, _ = p.communicate()
    th.join()
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {p.returncode}")
    return time.perf_counter() - t0, peak[0] / 1024.0, out


def median(xs):
    return statistics.median(xs)


def emit(rec):
    print(json.dumps(rec), flush=True)
    return rec
