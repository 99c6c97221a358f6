"""Evaluation metrics (src/eval/metrics.c) against scikit-learn: per-class average precision,
mAP over classes with positives, per-class and micro precision/recall/F1 at thresholds, and the
per-class F1-maximising thresholds."""
import json
import math
import os
import subprocess
import warnings

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

from conftest import BUILD

TOOL = os.path.join(BUILD, "tests", "tool_metrics")


def run_tool(tmp_path, scores, targets, thresholds, fallback=0.5):
    n, k = scores.shape
    paths = [str(tmp_path / name) for name in ("s", "t", "thr")]
    scores.astype(np.float32).tofile(paths[0])
    targets.astype(np.uint8).tofile(paths[1])
    np.asarray(thresholds, dtype=np.float32).tofile(paths[2])
    out = subprocess.run([TOOL, str(n), str(k), *paths, repr(fallback)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def make_data(seed, n=60, k=8, ties=True):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, k)) < 0.3).astype(np.uint8)
    targets[:, 0] = 0  # no positives
    targets[:, 1] = 1  # all positive
    targets[:3, 2] = 1
    targets[3:, 2] = 0  # a rare class
    scores = rng.random((n, k)) + 0.4 * targets
    if ties:
        scores = np.round(scores, 1)  # many tied scores, across positives and negatives
    return scores.astype(np.float32), targets


def nan_eq(a, b, tol=1e-9):
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None
    return a is not None and abs(a - b) <= tol * max(1.0, abs(b))


def check_against_sklearn(got, scores, targets, thresholds):
    s = scores.astype(np.float64)  # exactly the float32 values the tool saw
    k = scores.shape[1]
    pred = (scores >= np.asarray(thresholds, dtype=np.float32)).astype(int)
    aps = []
    for j in range(k):
        ref_ap = None
        if targets[:, j].any():
            ref_ap = 100 * average_precision_score(targets[:, j], s[:, j])
            aps.append(ref_ap)
        assert nan_eq(got["per_class"][j]["ap"], ref_ap), (j, got["per_class"][j]["ap"], ref_ap)
    assert got["map_classes"] == len(aps)
    assert nan_eq(got["map"], float(np.mean(aps)) if aps else None)

    kw = dict(zero_division=0)
    p_c = precision_score(targets, pred, average=None, **kw)
    r_c = recall_score(targets, pred, average=None, **kw)
    f_c = f1_score(targets, pred, average=None, **kw)
    for j in range(k):
        c = got["per_class"][j]
        assert c["precision"] == pytest.approx(100 * p_c[j], abs=1e-9)
        assert c["recall"] == pytest.approx(100 * r_c[j], abs=1e-9)
        assert c["f1"] == pytest.approx(100 * f_c[j], abs=1e-9)
        assert c["positives"] == targets[:, j].sum() and c["predicted"] == pred[:, j].sum()
    cp = 100 * precision_score(targets, pred, average="macro", **kw)
    cr = 100 * recall_score(targets, pred, average="macro", **kw)
    assert got["cp"] == pytest.approx(cp, abs=1e-9)
    assert got["cr"] == pytest.approx(cr, abs=1e-9)
    assert got["cf1"] == pytest.approx(2 * cp * cr / (cp + cr) if cp + cr else 0.0, abs=1e-9)
    assert got["op"] == pytest.approx(100 * precision_score(targets, pred, average="micro", **kw),
                                      abs=1e-9)
    assert got["or"] == pytest.approx(100 * recall_score(targets, pred, average="micro", **kw),
                                      abs=1e-9)
    assert got["of1"] == pytest.approx(100 * f1_score(targets, pred, average="micro", **kw),
                                       abs=1e-9)


@pytest.mark.parametrize("seed,ties", [(0, True), (1, True), (2, False)])
def test_against_sklearn(tmp_path, seed, ties):
    scores, targets = make_data(seed, ties=ties)
    thresholds = np.random.default_rng(seed).uniform(0.3, 0.9, scores.shape[1])
    check_against_sklearn(run_tool(tmp_path, scores, targets, thresholds), scores, targets,
                          thresholds)


def test_extreme_thresholds(tmp_path):
    """Nothing predicted (0/0 precision) and everything predicted."""
    scores, targets = make_data(3)
    k = scores.shape[1]
    for thr in (np.full(k, 2.0), np.full(k, -1.0)):
        check_against_sklearn(run_tool(tmp_path, scores, targets, thr), scores, targets, thr)


def test_no_positive_anywhere(tmp_path):
    scores, _ = make_data(4, n=10, k=3)
    targets = np.zeros(scores.shape, dtype=np.uint8)
    got = run_tool(tmp_path, scores, targets, np.full(3, 0.5))
    assert got["map"] is None and got["map_classes"] == 0
    assert all(c["ap"] is None for c in got["per_class"])


def best_f1_thresholds(scores, targets):
    """Brute force with sklearn over the documented candidates (midpoints of consecutive distinct
    scores, and the lowest score); ties go to the highest threshold."""
    out = []
    for j in range(scores.shape[1]):
        s, y = scores[:, j], targets[:, j]
        if not y.any():
            out.append((None, None))
            continue
        u = np.unique(s)[::-1]  # distinct, decreasing
        cands = [np.float32((np.float64(a) + np.float64(b)) / 2) for a, b in zip(u[:-1], u[1:])]
        cands.append(u[-1])
        f1s = [f1_score(y, (s >= c).astype(int), zero_division=0) for c in cands]
        best = int(np.argmax(f1s))  # first maximum = highest threshold
        out.append((float(cands[best]), 100 * f1s[best]))
    return out


@pytest.mark.parametrize("seed,ties", [(5, True), (6, False)])
def test_threshold_tuning(tmp_path, seed, ties):
    scores, targets = make_data(seed, ties=ties)
    got = run_tool(tmp_path, scores, targets, np.full(scores.shape[1], 0.5), fallback=0.25)
    for j, (thr, f1) in enumerate(best_f1_thresholds(scores, targets)):
        if thr is None:
            assert got["tuned_thresholds"][j] == 0.25 and got["tuned_f1"][j] is None
        else:
            assert np.float32(got["tuned_thresholds"][j]) == np.float32(thr), j
            assert got["tuned_f1"][j] == pytest.approx(f1, abs=1e-9)
    # The tuned thresholds reproduce the tuned F1 when evaluated.
    again = run_tool(tmp_path, scores, targets, np.array(got["tuned_thresholds"]))
    for j, c in enumerate(again["per_class"]):
        if got["tuned_f1"][j] is not None:
            assert c["f1"] == pytest.approx(got["tuned_f1"][j], abs=1e-9)


@pytest.mark.parametrize("seed,ties", [(8, True), (9, False)])
def test_pr_curve(tmp_path, seed, ties):
    """One point per distinct score, decreasing, each the precision and recall of predicting
    positive every score >= it (brute force with sklearn); the curve's steps sum to the AP."""
    scores, targets = make_data(seed, ties=ties)
    got = run_tool(tmp_path, scores, targets, np.full(scores.shape[1], 0.5))
    for j, curve in enumerate(got["pr_curves"]):
        y = targets[:, j]
        if not y.any():
            assert curve == [], j
            continue
        u = np.unique(scores[:, j])[::-1]
        assert [np.float32(t) for t, _, _ in curve] == list(u), j
        for t, p, r in curve:
            pred = (scores[:, j] >= np.float32(t)).astype(int)
            assert p == pytest.approx(100 * precision_score(y, pred), abs=1e-9)
            assert r == pytest.approx(100 * recall_score(y, pred), abs=1e-9)
        recalls = [0.0] + [r for _, _, r in curve]
        ap = sum((r1 - r0) * p for r0, r1, (_, p, _) in zip(recalls, recalls[1:], curve))
        assert ap / 100 == pytest.approx(got["per_class"][j]["ap"], abs=1e-9), j


def test_adjacent_float_scores(tmp_path):
    """Midpoint of two adjacent float32 values: the threshold must still separate them."""
    a = np.float32(0.5)
    b = np.nextafter(a, np.float32(0))
    scores = np.array([[a], [b], [b]], dtype=np.float32)
    targets = np.array([[1], [0], [0]], dtype=np.uint8)
    got = run_tool(tmp_path, scores, targets, np.array([0.5]))
    assert np.float32(got["tuned_thresholds"][0]) == a and got["tuned_f1"][0] == 100


def test_rejects_bad_input(tmp_path):
    scores, targets = make_data(7, n=4, k=3)
    scores[2, 1] = np.nan
    with pytest.raises(subprocess.CalledProcessError) as e:
        run_tool(tmp_path, scores, targets, np.full(3, 0.5))
    assert "score (2, 1) is NaN" in e.value.stderr
    scores, targets = make_data(7, n=4, k=3)
    targets[1, 0] = 3
    with pytest.raises(subprocess.CalledProcessError) as e:
        run_tool(tmp_path, scores, targets, np.full(3, 0.5))
    assert "target (1, 0) is 3" in e.value.stderr
