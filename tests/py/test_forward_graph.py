"""The graphs mlic builds carry exactly torchvision's parameters: same names, same order (the
state_dict's, less num_batches_tracked), same shapes."""
import os
import subprocess

import pytest
import torch
import torchvision

from conftest import BUILD
TOOL = os.path.join(BUILD, "tests", "tool_forward")

ARCHS = ["resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v2"]


def mlic_params(arch, num_classes, folded=False):
    assert os.path.exists(TOOL), "build/tests/tool_forward is missing: run make first"
    cmd = [TOOL, "--list-params", arch, str(num_classes)] + (["--folded"] if folded else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = []
    for line in r.stdout.splitlines():
        name, *dims = line.split()
        out.append((name, tuple(int(d) for d in dims)))
    return out


@pytest.mark.parametrize("arch", ARCHS)
def test_params_match_torchvision(arch):
    sd = getattr(torchvision.models, arch)(num_classes=7).state_dict()
    want = [(k, tuple(v.shape)) for k, v in sd.items() if not k.endswith("num_batches_tracked")]
    got = mlic_params(arch, 7)
    assert [n for n, _ in got] == [n for n, _ in want]
    assert got == want


@pytest.mark.parametrize("arch", ARCHS)
def test_folded_params(arch):
    """Folding leaves each convolution a weight and a bias (batch norm folded in) and the head."""
    model = getattr(torchvision.models, arch)(num_classes=3)
    want = []
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Conv2d):
            want += [(name + ".weight", tuple(mod.weight.shape)), (name + ".bias", (mod.out_channels,))]
        elif isinstance(mod, torch.nn.Linear):
            want += [(name + ".weight", tuple(mod.weight.shape)), (name + ".bias", (mod.out_features,))]
    assert sorted(mlic_params(arch, 3, folded=True)) == sorted(want)


def test_unknown_arch_is_refused():
    r = subprocess.run([TOOL, "--list-params", "vgg16", "3"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0 and "vgg16" in r.stderr
