#!/usr/bin/python3
"""The PyTorch side of the training-quality benchmark: the recipe bench_train.py gives mlic train,
written the usual PyTorch way. ARCH from scratch, RandomResizedCrop(crop) + horizontal flip,
eval Resize(crop/0.875) + CenterCrop(crop), AdamW (lr, weight decay on weights only), linear
warm-up epochs (step s of W at lr * (s + 1) / W) then cosine per step, batch 32 (last incomplete batch dropped), BCEWithLogits, seed.
usage: torch_train_apparel.py DATA_DIR EPOCHS CROP ARCH LR WD WARMUP SEED THREADS
Prints one JSON line per epoch: loss, val_mAP (sklearn), elapsed seconds."""
import json
import math
import sys
import time

import numpy as np
import torch
import torchvision
from PIL import Image
from sklearn.metrics import average_precision_score
from torchvision import transforms as T

d, epochs, crop, arch, lr, wd, warmup, seed, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], \
    float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
torch.manual_seed(seed)
np.random.seed(seed)
torch.set_num_threads(threads)
classes = [c.strip() for c in open(f"{d}/classes.txt") if c.strip()]


def rows(path):
    out = []
    for line in open(path):
        p, labs = line.rstrip("\n").split("\t")
        y = np.zeros(len(classes), np.float32)
        for c in filter(None, labs.split(",")):
            y[classes.index(c)] = 1
        out.append((p, y))
    return out


norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
train_tf = T.Compose([T.RandomResizedCrop(crop), T.RandomHorizontalFlip(), T.ToTensor(), norm])
eval_tf = T.Compose([T.Resize(round(crop / 0.875)), T.CenterCrop(crop), T.ToTensor(), norm])


class Rows(torch.utils.data.Dataset):
    def __init__(self, rows, tf):
        self.rows, self.tf = rows, tf

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        p, y = self.rows[i]
        with Image.open(f"{d}/{p}") as im:
            return self.tf(im.convert("RGB")), torch.from_numpy(y)


train = torch.utils.data.DataLoader(Rows(rows(f"{d}/train.txt"), train_tf), batch_size=32, shuffle=True,
                                    num_workers=2, drop_last=True)
val = torch.utils.data.DataLoader(Rows(rows(f"{d}/val.txt"), eval_tf), batch_size=64, num_workers=2)
m = getattr(torchvision.models, arch)(num_classes=len(classes))
decay = [p for p in m.parameters() if p.ndim > 1]
no_decay = [p for p in m.parameters() if p.ndim <= 1]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0}], lr=lr)
steps, warm = epochs * len(train), warmup * len(train)


def lr_factor(s):
    if s < warm:  # the usual LambdaLR warm-up, as mlic's --warmup-epochs (src/train/schedule.h)
        return (s + 1) / warm
    return 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm)))


sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
loss_fn = torch.nn.BCEWithLogitsLoss()
t0 = time.time()
for ep in range(epochs):
    m.train()
    total = n = 0
    for x, y in train:
        opt.zero_grad()
        loss = loss_fn(m(x), y)
        loss.backward()
        opt.step()
        sched.step()
        total += loss.item() * len(x)
        n += len(x)
    m.eval()
    probs, ys = [], []
    with torch.no_grad():
        for x, y in val:
            probs.append(torch.sigmoid(m(x)).numpy())
            ys.append(y.numpy())
    P, Y = np.concatenate(probs), np.concatenate(ys)
    ap = [average_precision_score(Y[:, c], P[:, c]) for c in range(Y.shape[1]) if Y[:, c].any()]
    print(json.dumps({"epoch": ep + 1, "loss": round(total / n, 4), "val_mAP": round(100 * float(np.mean(ap)), 2),
                      "elapsed_s": round(time.time() - t0, 1)}), flush=True)
