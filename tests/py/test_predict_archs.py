"""Every arch through the user's path: random torchvision weights saved as safetensors, packed by
`mlic import`, run by `mlic predict` on PNGs already at crop size (so preprocessing is only
ToTensor + Normalize): every probability within 1e-4 of PyTorch's, on the reference and the
oneDNN backend, and the two backends agree."""
import json
import subprocess

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

import st
from torch_models import MEAN, STD, randomise_bn

CROP, K, NIMG = 64, 6, 3


@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v2"])
def test_imported_model_predicts_like_pytorch(mlic, tmp_path, arch):
    torch.manual_seed(7)
    net = getattr(torchvision.models, arch)(num_classes=K)
    randomise_bn(net)
    st.save(str(tmp_path / "w.safetensors"), st.state_dict_numpy(net))
    (tmp_path / "classes.txt").write_text("".join(f"class {i}\n" for i in range(K)))
    model = tmp_path / "m.safetensors"
    subprocess.run([mlic, "import", "--arch", arch, "--weights", str(tmp_path / "w.safetensors"),
                    "--classes", str(tmp_path / "classes.txt"), "--output", str(model),
                    "--resize", "0", "--crop", str(CROP)], check=True, capture_output=True)
    rng = np.random.default_rng(3)
    pixels = [rng.integers(0, 256, (CROP, CROP, 3), dtype=np.uint8) for _ in range(NIMG)]
    for i, px in enumerate(pixels):
        Image.fromarray(px).save(tmp_path / f"img{i}.png")
    (tmp_path / "list.txt").write_text("".join(f"img{i}.png\n" for i in range(NIMG)))
    x = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expect = torch.sigmoid(net(x)).numpy()
    got = {}
    for be in ("ref", "onednn"):
        out = tmp_path / f"out_{be}.jsonl"
        r = subprocess.run([mlic, "predict", "--model", str(model), "--input", str(tmp_path / "list.txt"),
                            "--output", str(out), "--format", "jsonl", "--backend", be, "--batch-size", "2",
                            "--no-progress"], capture_output=True, text=True, timeout=300)
        if be == "onednn" and r.returncode == 1 and "this build has no oneDNN" in r.stderr:
            continue  # a build without oneDNN (make ONEDNN=0): the reference alone
        assert r.returncode == 0, r.stderr
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["path"] for r in rows] == [f"img{i}.png" for i in range(NIMG)]
        got[be] = np.array([r["probs"] for r in rows])
        np.testing.assert_allclose(got[be], expect, atol=1e-4, rtol=0, err_msg=f"{arch} {be} vs PyTorch")
    if len(got) == 2:
        np.testing.assert_allclose(got["ref"], got["onednn"], atol=1e-4, rtol=0, err_msg=f"{arch} ref vs onednn")
