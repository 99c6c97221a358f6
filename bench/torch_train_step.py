#!/usr/bin/python3
"""PyTorch's training step on random input, the work bench_train_step.c times for mlic: torchvision
ARCH (20 classes), BCEWithLogitsLoss on random multi-hot targets, SGD(lr 0.01, momentum 0.9,
weight decay 1e-4). usage: torch_train_step.py ARCH BATCH SIZE THREADS REPS ITERS [--cl]
Prints the median images/s of REPS runs of ITERS steps after 2 warm-up steps."""
import statistics
import sys
import time

import torch
import torchvision

arch, bs, size, threads, reps, iters = sys.argv[1], *map(int, sys.argv[2:7])
cl = "--cl" in sys.argv
torch.set_num_threads(threads)
torch.manual_seed(0)
m = getattr(torchvision.models, arch)(weights=None, num_classes=20).train()
x = torch.randn(bs, 3, size, size)
y = (torch.rand(bs, 20) < 0.15).float()
if cl:
    m, x = m.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
crit = torch.nn.BCEWithLogitsLoss()
opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)


def step():
    opt.zero_grad(set_to_none=True)
    crit(m(x), y).backward()
    opt.step()


for _ in range(2):
    step()
rates = []
for _ in range(reps):
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    rates.append(bs * iters / (time.perf_counter() - t0))
print(f"{statistics.median(rates):.3f}")
