#!/usr/bin/python3
"""The PyTorch way of doing `mlic predict`'s job, at its best settings on this CPU: PIL decode +
torchvision Resize(256)/CenterCrop(224)/normalise in DataLoader workers, batch 32, torch.jit.trace
+ optimize_for_inference, sigmoid, one JSON line per image. Prints the images/s of the timed part
(model building and warm-up excluded). usage: torch_e2e.py ARCH LIST OUT [workers=2] [threads=2]"""
import json
import sys
import time

import torch
from PIL import Image
from torchvision import transforms as T

from common import torch_model

arch, lst, out = sys.argv[1:4]
workers = int(sys.argv[4]) if len(sys.argv) > 4 else 2
torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 2)
tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
paths = [line.rstrip("\n") for line in open(lst)]


class Images(torch.utils.data.Dataset):
    def __len__(self):
        return len(paths)

    def __getitem__(self, i):
        with Image.open(paths[i]) as im:
            return tf(im.convert("RGB"))


with torch.no_grad():
    m = torch.jit.optimize_for_inference(torch.jit.trace(torch_model(arch), torch.randn(32, 3, 224, 224)))
    m(torch.randn(32, 3, 224, 224))
    t0 = time.perf_counter()
    dl = torch.utils.data.DataLoader(Images(), batch_size=32, num_workers=workers)
    i = 0
    with open(out, "w") as f:
        for x in dl:
            for row in torch.sigmoid(m(x)).tolist():
                f.write(paths[i] + ", " + json.dumps({"probs": row}) + "\n")
                i += 1
print(f"{len(paths) / (time.perf_counter() - t0):.3f}")
