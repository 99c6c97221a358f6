#!/usr/bin/python3
"""Write N synthetic photo-like JPEGs (500x375, quality 90) for the end-to-end benchmark: smooth
random colour fields, a gradient, soft ellipses and mild noise, so that JPEG decoding costs what it
costs on photos. usage: gen_images.py OUTDIR [N=512]"""
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def main():
    out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 512
    os.makedirs(out, exist_ok=True)
    w, h = 500, 375
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(n):
        g = int(rng.integers(3, 9))
        base = Image.fromarray(rng.integers(0, 256, (g, g, 3), dtype=np.uint8)).resize((w, h), Image.BICUBIC)
        ang = rng.uniform(0, 2 * np.pi)
        grad = (np.cos(ang) * xx / w + np.sin(ang) * yy / h)[..., None] * rng.uniform(-80, 80, 3)
        img = Image.fromarray(np.clip(np.asarray(base, np.float32) + grad, 0, 255).astype(np.uint8))
        d = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(2, 6))):
            x0, y0, rx, ry = rng.integers(0, w), rng.integers(0, h), rng.integers(20, 150), rng.integers(20, 120)
            d.ellipse([x0 - rx, y0 - ry, x0 + rx, y0 + ry], fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 3.0)))
        arr = np.asarray(img, np.float32) + rng.normal(0, 6, (h, w, 3))
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(os.path.join(out, f"{i:06d}.jpg"), quality=90)


if __name__ == "__main__":
    main()
