"""One training epoch's augmentation draws against torchvision's (issue 11): every image of an
epoch draws its RandomResizedCrop box and flip from its own generator (data/loader.h), not from one
sequence as test_augment.py's draws do; over a Corel-5k-sized epoch (4,000 images of 192x128 or
128x192, the photos' two shapes) the crop areas, aspect ratios, positions, the centre-crop
fallback and the flips follow the distributions of torchvision's RandomResizedCrop.get_params and
RandomHorizontalFlip, and draws of different images and epochs are independent.

Tolerances are statistical: homogeneity tests (chi-squared on binned values, p > 1e-3) between
mlic's 4,000 draws and torchvision's 4,000, and bounds of 4 standard errors on proportions and
correlations. Both sides are seeded, so each outcome is fixed."""
import math
import os
import subprocess

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from scipy.stats import chi2_contingency

from conftest import BUILD

TOOL = os.path.join(BUILD, "tests", "tool_augment")
N = 4000  # Corel-5k less its 500 validation images
SHAPES = [(192, 128), (128, 192)]


def epoch_draws(width, height, seed, epoch, n=N):
    out = subprocess.run([TOOL, "epoch", str(width), str(height), str(seed), str(epoch), str(n)],
                         check=True, capture_output=True, text=True).stdout
    rows = np.array([[int(v) for v in line.split()[:5]] for line in out.splitlines()])
    return rows[:, :4], rows[:, 4]  # (top, left, height, width), flip


def torchvision_draws(width, height, seed, n=N):
    torch.manual_seed(seed)
    img = torch.empty(3, height, width)
    boxes, flips = [], []
    for _ in range(n):  # RandomResizedCrop then RandomHorizontalFlip, whose forward draws rand(1)
        boxes.append(T.RandomResizedCrop.get_params(img, [0.08, 1.0], [3 / 4, 4 / 3]))
        flips.append(int(torch.rand(1) < 0.5))
    return np.array(boxes), np.array(flips)


def homogeneous(a, b, edges):
    """Chi-squared test that a and b come from one distribution, on the given bins (bins with
    fewer than 10 values in both samples together are pooled into their neighbour)."""
    ca, _ = np.histogram(a, edges)
    cb, _ = np.histogram(b, edges)
    table, cur = [], np.zeros(2)
    for x, y in zip(ca, cb):
        cur += (x, y)
        if cur.sum() >= 10:
            table.append(cur.copy())
            cur[:] = 0
    if cur.sum() and table:
        table[-1] += cur
    return chi2_contingency(np.array(table).T).pvalue


def features(boxes, width, height):
    top, left, h, w = boxes.T
    return {"area": h * w / (width * height), "log aspect": np.log(w / h),
            "top": (top + 0.5) / (height - h + 1), "left": (left + 0.5) / (width - w + 1)}


@pytest.mark.parametrize("width,height", SHAPES)
def test_epoch_crops_follow_torchvision(width, height):
    ours, _ = epoch_draws(width, height, seed=1, epoch=0)
    ref, _ = torchvision_draws(width, height, seed=1)
    fo, fr = features(ours, width, height), features(ref, width, height)
    edges = {"area": np.linspace(0.0, 1.0, 21), "log aspect": np.linspace(-0.3, 0.3, 25),
             "top": np.linspace(0, 1, 11), "left": np.linspace(0, 1, 11)}
    for name, e in edges.items():
        p = homogeneous(fo[name], fr[name], e)
        assert p > 1e-3, (name, p)
    # The fallback (no random box fits in 10 tries) is torchvision's centre crop, about as often.
    fallback = lambda b: np.mean((b[:, 2] == min(height, round(width * 3 / 4))) &
                                 (b[:, 3] == min(width, round(height * 4 / 3))) &
                                 (b[:, 0] == (height - b[:, 2]) // 2) &
                                 (b[:, 1] == (width - b[:, 3]) // 2))
    rate_o, rate_r = fallback(ours), fallback(ref)
    se = math.sqrt(max(rate_r * (1 - rate_r), 1e-4) * 2 / N)
    assert abs(rate_o - rate_r) < 4 * se, (rate_o, rate_r)


def test_epoch_flips_are_fair_coins():
    for width, height in SHAPES:
        _, flips = epoch_draws(width, height, seed=1, epoch=0)
        assert abs(flips.mean() - 0.5) < 4 * math.sqrt(0.25 / N), flips.mean()
        _, ref = torchvision_draws(width, height, seed=1, n=1000)
        assert abs(ref.mean() - 0.5) < 4 * math.sqrt(0.25 / 1000)  # the oracle's own flips


def test_draws_are_independent_across_images_and_epochs():
    """Per-image generators: neighbouring images, the same image in the next epoch and another
    seed give uncorrelated crops and flips (|r| < 4 / sqrt(N))."""
    a, fa = epoch_draws(192, 128, seed=1, epoch=0)
    b, fb = epoch_draws(192, 128, seed=1, epoch=1)
    c, fc = epoch_draws(192, 128, seed=2, epoch=0)
    area = lambda x: x[:, 2] * x[:, 3]
    bound = 4 / math.sqrt(N)
    for x, y, what in [(area(a)[:-1], area(a)[1:], "neighbouring images"),
                       (area(a), area(b), "next epoch"), (area(a), area(c), "other seed"),
                       (fa[:-1], fa[1:], "neighbouring flips"), (fa, fb, "next epoch's flips"),
                       (a[:, 0][:-1], a[:, 0][1:], "neighbouring tops")]:
        r = np.corrcoef(x, y)[0, 1]
        assert abs(r) < bound, (what, r)
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    # Deterministic: the same (seed, epoch, image) draws the same parameters.
    again, _ = epoch_draws(192, 128, seed=1, epoch=1, n=50)
    np.testing.assert_array_equal(again, b[:50])
