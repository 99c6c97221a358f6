"""Random torchvision networks for the tests, with batch norm that matters (statistics and
affine away from (0, 1), so that folding them is exercised), and the files tool_forward reads."""
import json

import torch
import torchvision

import st

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def random_resnet18(num_classes):
    """A resnet18 in eval mode: the same weights for the same num_classes in every test."""
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=num_classes)
    g = torch.Generator().manual_seed(1)
    # Statistics away from (0, 1) also spread the random network's outputs.
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            mod.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    net.eval()
    return net


def randomise_bn(model):
    """Batch norm affine and statistics from torch's global generator; eval mode."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    model.eval()


def write_forward_case(d, arch, k, crop, model, x):
    """model as an mlic model file (classes c0.., resize = crop) and the batch x as
    tool_forward's float32 input, both in folder d (a pathlib.Path): their paths."""
    meta = {"format_version": 1, "arch": arch, "classes": ["c%d" % i for i in range(k)],
            "thresholds": [0.5] * k, "resize": crop, "crop": crop, "mean": MEAN, "std": STD}
    model_path = str(d / "model.safetensors")
    st.save(model_path, st.state_dict_numpy(model), {"mlic": json.dumps(meta)})
    in_path = str(d / "input.bin")
    x.numpy().astype("<f4").tofile(in_path)
    return model_path, in_path
