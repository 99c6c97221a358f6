"""Mixup and CutMix for multi-label batches (src/train/mix.h) through tests/c/tool_mix: the Beta
sampler follows Beta(a, b) (two-sample Kolmogorov-Smirnov tests against numpy's sampler, and the
moments), and each mixed batch and its soft targets equal a numpy re-computation, as timm's Mixup
does it, from the parameters the tool reports (CutMix's box from timm's rand_bbox of the drawn
lambda and centre)."""
import math
import os
import subprocess

import numpy as np
import pytest

from conftest import BUILD

TOOL = os.path.join(BUILD, "tests", "tool_mix")
DRAWS = 20000


def beta_draws(a, b, seed=1, count=DRAWS):
    out = subprocess.run([TOOL, "beta", str(a), str(b), str(seed), str(count)],
                         capture_output=True, text=True, check=True).stdout
    return np.array([float(v) for v in out.split()])


def ks_two_sample(x, y):
    """The statistic and its asymptotic p-value (Kolmogorov's series)."""
    x, y = np.sort(x), np.sort(y)
    both = np.concatenate([x, y])
    d = np.max(np.abs(np.searchsorted(x, both, side="right") / len(x) -
                      np.searchsorted(y, both, side="right") / len(y)))
    en = math.sqrt(len(x) * len(y) / (len(x) + len(y)))
    lam = (en + 0.12 + 0.11 / en) * d
    p = 2 * sum((-1) ** (j - 1) * math.exp(-2 * j * j * lam * lam) for j in range(1, 101))
    return d, min(max(p, 0.0), 1.0)


@pytest.mark.parametrize("a,b", [(0.2, 0.2), (1.0, 1.0), (2.0, 2.0), (0.5, 3.0)])
def test_beta_follows_the_distribution(a, b):
    got = beta_draws(a, b)
    assert np.all((got >= 0) & (got <= 1))
    want = np.random.default_rng(7).beta(a, b, DRAWS)
    d, p = ks_two_sample(got, want)
    # Fixed seeds, so the outcome is fixed; a sampler with another distribution (a swapped
    # shape, a wrong boost below shape 1) gives p below 1e-10 at this many draws.
    assert p > 1e-3, (d, p)
    mean, var = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
    # Four standard errors of the sample mean and (roughly, for these shapes) of the variance.
    assert abs(got.mean() - mean) < 4 * math.sqrt(var / DRAWS)
    assert abs(got.var() - var) < 4 * var * math.sqrt(2.0 / DRAWS) * 3


def test_beta_tiny_shapes_stay_in_range():
    """Gamma draws of shape 0.01 underflow a double; the log-space sampler still gives values
    in [0, 1], half of them above 1/2, and as many within 1e-6 of an end as the distribution
    puts there: 2 x^a / (a B(a, a)) at x = 1e-6 (the density's x^(a-1) near 0 integrated;
    the (1-x)^(a-1) factor is 1 to within 1e-8 there)."""
    a, count = 0.01, 2000
    got = beta_draws(a, a, count=count)
    assert np.all(np.isfinite(got) & (got >= 0) & (got <= 1))
    assert 0.4 < np.mean(got > 0.5) < 0.6
    beta_fn = math.exp(2 * math.lgamma(a) - math.lgamma(2 * a))
    ends = 2 * 1e-6 ** a / (a * beta_fn)
    # Five standard deviations of a binomial proportion.
    near = np.mean((got < 1e-6) | (got > 1 - 1e-6))
    assert abs(near - ends) < 5 * math.sqrt(ends * (1 - ends) / count)


def run_batch(tmp_path, mixup, cutmix, stream, images, targets):
    n, _, size, _ = images.shape
    k = targets.shape[1]
    paths = [str(tmp_path / f) for f in ("x.f32", "t.f32", "xo.f32", "to.f32")]
    images.astype(np.float32).tofile(paths[0])
    targets.astype(np.float32).tofile(paths[1])
    out = subprocess.run([TOOL, "batch", str(mixup), str(cutmix), "3", str(stream), str(n),
                          str(size), str(k)] + paths, capture_output=True, text=True,
                         check=True).stdout.split()
    kind = int(out[0])
    lam_drawn, lam = float(out[1]), float(out[2])
    cy, cx, top, left, height, width = (int(v) for v in out[3:])
    mixed = np.fromfile(paths[2], np.float32).reshape(images.shape)
    soft = np.fromfile(paths[3], np.float32).reshape(targets.shape)
    return kind, lam_drawn, lam, (cy, cx, top, left, height, width), mixed, soft


def timm_rand_bbox(size, lam, cy, cx):
    """timm.data.mixup.rand_bbox for a square image, with the centre given."""
    cut_rat = np.sqrt(1.0 - lam)
    cut = int(size * cut_rat)
    yl, yh = np.clip(cy - cut // 2, 0, size), np.clip(cy + cut // 2, 0, size)
    xl, xh = np.clip(cx - cut // 2, 0, size), np.clip(cx + cut // 2, 0, size)
    return int(yl), int(yh), int(xl), int(xh)


def expected(kind, lam_drawn, lam, box, images, targets):
    n, _, size, _ = images.shape
    rev, trev = images[::-1], targets[::-1]
    if kind == 1:
        assert lam == lam_drawn
        x = np.float32(lam) * images + np.float32(1.0 - lam) * rev
    else:
        cy, cx, top, left, height, width = box
        assert 0 <= cy < size and 0 <= cx < size
        yl, yh, xl, xh = timm_rand_bbox(size, lam_drawn, cy, cx)
        assert (top, left, height, width) == (yl, xl, yh - yl, xh - xl)
        assert lam == 1.0 - (yh - yl) * (xh - xl) / (size * size)  # timm's correct_lam
        x = images.copy()
        x[:, :, yl:yh, xl:xh] = rev[:, :, yl:yh, xl:xh]
    y = (lam * targets.astype(np.float64) + (1.0 - lam) * trev).astype(np.float32)
    return x, y


def batch(seed, n=5, size=24, k=6):
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((n, 3, size, size)).astype(np.float32)
    targets = (rng.random((n, k)) < 0.4).astype(np.float32)
    targets[0, :] = 1  # rows 0 and n-1 share every label: their mix must stay exactly 1
    targets[-1, :] = 1
    return images, targets


@pytest.mark.parametrize("mixup,cutmix", [(0.2, 0), (0, 1.0), (0.8, 1.0)])
def test_mixed_batch_and_soft_targets_equal_the_recomputation(tmp_path, mixup, cutmix):
    kinds = []
    for stream in range(12):
        images, targets = batch(stream)
        kind, lam_drawn, lam, box, mixed, soft = run_batch(tmp_path, mixup, cutmix, stream,
                                                           images, targets)
        kinds.append(kind)
        x, y = expected(kind, lam_drawn, lam, box, images, targets)
        np.testing.assert_array_equal(mixed, x)
        np.testing.assert_array_equal(soft, y)
        assert np.all((soft >= 0) & (soft <= 1)) and np.all(soft[0] == 1) and np.all(soft[-1] == 1)
    if not cutmix:
        assert set(kinds) == {1}
    elif not mixup:
        assert set(kinds) == {2}
    else:
        assert set(kinds) == {1, 2}


def test_both_pick_cutmix_half_the_time(tmp_path):
    images, targets = batch(0, n=2, size=8, k=2)
    kinds = [run_batch(tmp_path, 0.8, 1.0, s, images, targets)[0] for s in range(200)]
    # Binomial(200, 0.5): 0.35..0.65 is more than four standard deviations either side.
    assert 0.35 < np.mean(np.array(kinds) == 2) < 0.65


def test_off_and_deterministic(tmp_path):
    images, targets = batch(1)
    kind, _, lam, _, mixed, soft = run_batch(tmp_path, 0, 0, 0, images, targets)
    assert kind == 0 and lam == 1
    np.testing.assert_array_equal(mixed, images)
    np.testing.assert_array_equal(soft, targets)
    a = run_batch(tmp_path, 0.2, 1.0, 4, images, targets)
    b = run_batch(tmp_path, 0.2, 1.0, 4, images, targets)
    assert a[:4] == b[:4] and np.array_equal(a[4], b[4])


def test_bad_alpha_is_refused(tmp_path):
    images, targets = batch(1)
    with pytest.raises(subprocess.CalledProcessError) as e:
        run_batch(tmp_path, -0.5, 0, 0, images, targets)
    assert "--mixup -0.5" in e.value.stderr and "HINT" in e.value.stderr
