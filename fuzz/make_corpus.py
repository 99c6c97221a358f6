#!/usr/bin/python3
"""Writes the fuzzers' seed corpora, fuzz/corpus/<harness>/, small and deterministic (the files
are committed; rerun this after changing it). Needs Debian's python3-pil, -numpy, -torch,
-torchvision and -onnx (scripts/deps.sh test)."""
import base64
import io
import json
import os
import shutil
import struct
import sys
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


# ---------------------------------------------------------------- safetensors


def safetensors(tensors, meta=None):
    """tensors: [(name, dtype, shape, bytes)] -> file bytes, header padded to 8 as mlic writes."""
    header, off, body = {}, 0, b""
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(data)]}
        off += len(data)
        body += data
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + body


def f32(*shape, start=0.0):
    n = int(np.prod(shape)) if shape else 1
    return ("F32", shape, (np.arange(n, dtype=np.float32) * 0.25 + start).tobytes())


def seeds_safetensors():
    put("safetensors", "dtypes", safetensors([
        ("a", *f32(2, 3)),
        ("h", "F16", (4,), np.array([1, -2, 65504, 1e-7], np.float16).tobytes()),
        ("b", "BF16", (2,), np.array([0x3f80, 0xc000], np.uint16).tobytes()),
        ("d", "F64", (2,), np.array([1.5, -1e300], np.float64).tobytes()),
        ("n", "I64", (), struct.pack("<q", 7)),
        ("u", "U8", (0,), b""),
    ], {"k": "v", "mlic": "{}"}))
    put("safetensors", "empty", safetensors([]))


def model_meta(arch, classes, **kw):
    m = {"format_version": 1, "arch": arch, "classes": classes,
         "thresholds": [0.5] * len(classes), "resize": 256, "crop": 224,
         "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    m.update(kw)
    return json.dumps(m, separators=(",", ":"))


def seeds_model():
    # Real metadata, and the first tensors of the state dict that are small (the whole file of
    # the smallest arch is 9 MB): the loader gets through the metadata into the state dict.
    bn = [("bn1.weight", *f32(64)), ("bn1.bias", *f32(64)), ("bn1.running_mean", *f32(64)),
          ("bn1.running_var", *f32(64, start=1.0)),
          ("bn1.num_batches_tracked", "I64", (), struct.pack("<q", 0))]
    # The classifier head too: the loader checks it against the class list first.
    head = [("fc.weight", *f32(2, 512)), ("fc.bias", *f32(2))]
    put("model", "resnet18", safetensors(bn + head, {"mlic": model_meta("resnet18", ["cat", "dog"])}))
    put("model", "mobilenet_v2", safetensors(
        [("classifier.1.weight", *f32(3, 1280)), ("classifier.1.bias", *f32(3))],
        {"mlic": model_meta("mobilenet_v2", ["a", "b", "c"], resize=0, crop=32,
                            thresholds=[0, 1, 0.25])}))
    put("model", "no_meta", safetensors(bn))


# ---------------------------------------------------------------- checkpoint

# fuzz_checkpoint.c's graph: c1 conv 3->4 3x3 without bias, b1 batch norm, fc linear 4->2.
TINY = [("c1.weight", (4, 3, 3, 3)), ("b1.weight", (4,)), ("b1.bias", (4,)),
        ("b1.running_mean", (4,)), ("b1.running_var", (4,)), ("fc.weight", (2, 4)),
        ("fc.bias", (2,))]


def seeds_checkpoint():
    nweights = sum(int(np.prod(s)) for _, s in TINY)
    config = {"lr": 0.1, "batch_size": 8, "classes": ["a", "b"]}
    meta = {"format_version": 1, "arch": "tiny", "epoch": 1, "step": 2, "optim_steps": 2,
            "seed": "7", "best_epoch": 1, "best_map": 50.5, "config": config}
    tensors = [(n, *f32(*s)) for n, s in TINY]
    tensors.append(("optim.state", *f32(2 * nweights)))
    tensors.append(("data.order", "I64", (4,), np.array([2, 0, 3, 1], np.int64).tobytes()))
    put("checkpoint", "adamw", safetensors(tensors, {"mlic_checkpoint": json.dumps(meta)}))
    meta.update(best_map=None, config=dict(config, lr=0.2))
    put("checkpoint", "other_lr", safetensors(tensors[:2], {"mlic_checkpoint": json.dumps(meta)}))


# ---------------------------------------------------------------- ONNX


def seeds_onnx():
    import onnx
    import torch
    import torchvision
    torch.manual_seed(0)
    m = torchvision.models.resnet18(num_classes=2).eval()
    # Distinct values everywhere, as in a trained model: the exporter merges equal initializers
    # (the zero biases of a fresh model) behind Identity nodes, which the importer refuses.
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                for t in (mod.weight, mod.bias, mod.running_mean):
                    t.uniform_(-1, 1)
                mod.running_var.uniform_(0.5, 2)
    for name, kw in (("resnet18_folded", {}),
                     ("resnet18_bn", {"training": torch.onnx.TrainingMode.PRESERVE,
                                      "do_constant_folding": False})):
        f = io.BytesIO()
        torch.onnx.export(m, torch.zeros(1, 3, 64, 64), f, opset_version=13, **kw)
        model = onnx.load_from_string(f.getvalue())
        # The structure without the weights' bytes (45 MB): small tensors keep theirs.
        for t in model.graph.initializer:
            if len(t.raw_data) > 256:
                t.ClearField("raw_data")
        put("onnx", name, model.SerializeToString())


# ---------------------------------------------------------------- data sets


def seeds_datasets():
    put("list", "tabs", "img/a.jpg\tcat,dog\nimg/b.jpg\t\n/abs/c.png\tdog\tbird\nhttp://h/x.jpg\tcat\n")
    put("list", "crlf_bom", "\xef\xbb\xbfa.jpg\tcat , dog\r\n\r\nb.jpg\tcat\r\n")
    put("list", "with_classes", "cat\ndog\n  bird \n\0a.jpg cat dog\nb.jpg\tbird\n c.jpg  \n")
    put("pai_csv", "plain", 'id,url,label\n1,{"url": "oss://b/a.jpg"},{"option": ["cat", "dog"]}\n'
        '2,{"url": "b.jpg"},{"option": "cat"}\n')
    put("pai_csv", "quoted", '1,"{""url"": ""a,b.jpg""}","{""option"": [""x""]}"\n'
        '2,"{""url"": ""c.jpg""}","{""option"": []}"\n')
    put("pai_csv", "with_classes", 'x\ny\n\x001,{"url": "a.jpg"},{"option": ["y"]}\n')
    coco = {"info": {"year": 2017}, "licenses": [],
            "images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 3},
                       {"id": 7, "file_name": "sub/b.jpg"}, {"id": 3, "file_name": "c.jpg"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 18, "bbox": [0, 0, 1, 1],
                             "segmentation": [[0.5, 1e-3, 2E+2]], "iscrowd": 0},
                            {"id": 2, "image_id": 7, "category_id": 1},
                            {"id": 3, "image_id": 1, "category_id": 1}],
            "categories": [{"id": 1, "name": "person", "supercategory": "person"},
                           {"id": 18, "name": "dog \u00e9\\\"q\""}]}
    put("coco", "instances", json.dumps(coco, indent=1))
    put("coco", "compact", json.dumps(coco, separators=(",", ":")))
    put("coco", "with_classes", "dog\nperson\n\0" + json.dumps(coco))
    put("voc", "objects", """<?xml version="1.0"?>
<!-- a comment -->
<annotation>
  <folder>VOC2007</folder><filename>a.jpg</filename>
  <size><width>4</width><height>3</height><depth>3</depth></size>
  <object><name>dog</name><pose>Left</pose><difficult>1</difficult>
    <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>3</xmax><ymax>2</ymax></bndbox></object>
  <object>
    <name> person </name>
    <part><name>head</name></part><part><name>hand</name></part>
  </object>
  <object><name>cat</name></object>
</annotation>
""")
    put("voc", "with_classes", "dog\ncat\n\0<annotation><object><name>cat</name></object></annotation>")
    put("voc", "empty_object", "<annotation><object/><object></object></annotation>")


# ---------------------------------------------------------------- images


def pattern(w, h, mode="RGB"):
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x ^ y) * 40 % 256], -1)
    img = Image.fromarray(a.astype(np.uint8), "RGB")
    return img if mode == "RGB" else img.convert(mode)


def save(img, fmt, **kw):
    f = io.BytesIO()
    img.save(f, fmt, **kw)
    return f.getvalue()


def exif_orientation(o):
    e = Image.Exif()
    e[0x0112] = o
    return e.tobytes()


def seeds_images():
    put("jpeg", "baseline", save(pattern(9, 7), "JPEG", quality=80))
    put("jpeg", "progressive", save(pattern(16, 9), "JPEG", progressive=True, quality=60))
    put("jpeg", "gray", save(pattern(8, 8, "L"), "JPEG"))
    put("jpeg", "cmyk", save(pattern(8, 5, "CMYK"), "JPEG"))
    put("jpeg", "subsampled_444", save(pattern(12, 10), "JPEG", subsampling=0))
    put("jpeg", "exif6", save(pattern(10, 6), "JPEG", exif=exif_orientation(6)))
    put("jpeg", "exif3_odd", save(pattern(7, 5), "JPEG", exif=exif_orientation(3)) + b"\0")
    put("jpeg", "large_dct", save(pattern(160, 130), "JPEG", quality=30))
    put("png", "rgb", save(pattern(9, 7), "PNG"))
    put("png", "rgba", save(pattern(6, 5, "RGBA"), "PNG"))
    put("png", "palette", save(pattern(8, 4).quantize(5), "PNG"))
    put("png", "gray", save(pattern(5, 5, "L"), "PNG"))
    put("png", "gray_alpha", save(pattern(5, 3, "LA"), "PNG"))
    put("png", "bilevel", save(pattern(11, 3, "1"), "PNG"))
    put("png", "interlaced", save(pattern(10, 10), "PNG", optimize=False, interlace=1))
    put("png", "gray16", save(Image.fromarray((np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4)), "PNG"))
    put("webp", "lossy", save(pattern(9, 7), "WEBP", quality=50))
    put("webp", "lossless", save(pattern(6, 5), "WEBP", lossless=True))
    put("webp", "alpha", save(pattern(7, 4, "RGBA"), "WEBP", lossless=False))
    put("webp", "animated", save(pattern(6, 4), "WEBP", save_all=True, lossless=True,
                                 append_images=[pattern(6, 4).transpose(Image.FLIP_TOP_BOTTOM)]))
    frames = [pattern(6, 4).quantize(8), pattern(6, 4).transpose(Image.FLIP_LEFT_RIGHT).quantize(8)]
    put("gif", "two_frames", save(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    put("gif", "transparent", save(pattern(5, 5).quantize(4), "GIF", transparency=0))
    put("gif", "gray", save(pattern(7, 3, "L"), "GIF"))
    put("bmp", "rgb24", save(pattern(5, 3), "BMP"))
    put("bmp", "rgba32", save(pattern(3, 2, "RGBA"), "BMP"))
    put("bmp", "palette8", save(pattern(6, 3).quantize(7), "BMP"))
    put("bmp", "bilevel", save(pattern(9, 2, "1"), "BMP"))
    put("bmp", "gray", save(pattern(4, 4, "L"), "BMP"))
    # Top-down (negative height) 24-bit: PIL writes bottom-up only.
    bmp = bytearray(save(pattern(4, 3), "BMP"))
    struct.pack_into("<i", bmp, 22, -3)
    put("bmp", "top_down", bytes(bmp))


# ---------------------------------------------------------------- base64 lines


def seeds_base64():
    png = save(pattern(4, 3), "PNG")
    jpg = save(pattern(5, 4), "JPEG")
    put("base64", "id_png", "img1\t" + base64.b64encode(png).decode())
    put("base64", "bare_jpeg", base64.b64encode(jpg).decode())
    put("base64", "urlsafe_nopad", "x\t" + base64.urlsafe_b64encode(jpg).decode().rstrip("="))
    put("base64", "gif", "g\t" + base64.b64encode(save(pattern(3, 3).quantize(4), "GIF")).decode())


# ---------------------------------------------------------------- journal

MAGIC = b"MLICJRN1"


def entry(kind, fields):
    e = bytearray(80)
    e[0:8] = MAGIC
    struct.pack_into("<I", e, 8, kind)
    for off, fmt, v in fields:
        struct.pack_into(fmt, e, off, v)
    struct.pack_into("<I", e, 76, zlib.crc32(bytes(e[:76])))
    return bytes(e)


def seeds_journal():
    header = entry(1, [(12, "<I", 0), (16, "<I", 2), (20, "<I", 32), (24, "<Q", 4096),
                       (32, "<Q", 1700000000123456789), (40, "<Q", 0), (48, "<Q", 70),
                       (56, "<Q", 0x1234567890abcdef)])
    pts = [entry(2, [(12, "<I", flags), (16, "<I", 0xdeadbeef), (24, "<Q", 100 * k),
                     (32, "<Q", 50 * k), (40, "<Q", 32 * k), (48, "<Q", k // 2)])
           for k, flags in ((1, 0), (2, 2), (3, 1))]
    # First byte: odd = the harness seals each entry's CRC, even = bytes as they are.
    put("journal", "sealed", b"\x01" + header + b"".join(pts))
    put("journal", "as_is", b"\x00" + header + b"".join(pts))
    put("journal", "torn", b"\x00" + header + pts[0] + pts[1][:40])


# ---------------------------------------------------------------- trainer log


def seeds_trainer_log():
    epoch = ('{"epoch": %d, "step": %d, "lr": 0.00977, "train_loss": 0.41, "images_per_s": 12.5, '
             '"seconds": 18.2, "val_loss": %s, "map": %s, "cf1": %s, "of1": %s, "best": %s}\n')
    lines = [epoch % (1, 3, "0.35", "71.2", "60.1", "66", "true"),
             epoch % (2, 6, "null", "null", "null", "null", "false")]
    final = ('{"final": true, "best_epoch": 1, "map": 72.5, "cf1": 61, "of1": 66.5, '
             '"thresholds": [0.5,0.25,null], "config": {"arch": "resnet18", "classes": ["a", "b", '
             '"c"], "train_items": 48, "optimizer": "sgd", "freeze_backbone": false}}\n')
    put("trainer_log", "finished", "".join(lines) + final)
    put("trainer_log", "unfinished", lines[0] + "\r\n\n" + lines[1])
    put("trainer_log", "no_val", lines[1] + '{"final": true, "config": {"arch": "resnet50"}}\n')


# ---------------------------------------------------------------- options


def seeds_args():
    words = [
        ["--model", "m.mlic", "--input", "list.txt", "--output", "out.txt", "--threshold", "0.5",
         "--batch-size", "16", "--format", "jsonl", "--no-progress"],
        ["-Dmodel_path=m.mlic", "-Dinput_oss_file=l.txt", "-Doutput_oss_file=o.txt",
         "-Dimage_type=base64", "-Dmodel_type=multilabel_classifier", "-Dnum_worker=2",
         "-Dbatch_size=8", "-DossHost=oss.example", "-DcpuRequired=800"],
        ["--model=m", "--input=l", "--output=o", "--backend=ref", "--threads=2",
         "--decode-threads", "3", "--max-pixels=1000000", "--timeout=0.5", "--root", "/r",
         "--image-type=url", "--resume", "--progress", "--workers=4"],
        ["0.485,0.456, 0.406", "1e3", "--help"],
    ]
    for i, w in enumerate(words):
        put("args", "words%d" % i, "\0".join(w))


# ---------------------------------------------------------------- object-store replies


def seeds_s3_xml():
    put("s3_xml", "error", '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
        '<Message>The specified key does not exist.</Message><Key>a/b.jpg</Key></Error>')
    put("s3_xml", "list", "<ListBucketResult><IsTruncated>true</IsTruncated><Contents>"
        "<Key>d/a%20b.jpg</Key><Size>12</Size><ETag>&quot;abc&quot;</ETag></Contents><Contents>"
        "<Key>d/%C3%BC+x</Key><Size>0</Size></Contents><NextContinuationToken>tok==</NextContinuationToken>"
        "<KeyCount>2</KeyCount></ListBucketResult>")
    put("s3_xml", "upload", "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
        "<UploadId>VXBsb2FkSWQ</UploadId></InitiateMultipartUploadResult>")
    put("s3_xml", "copy", '<CopyPartResult><LastModified>2026</LastModified>'
        '<ETag>"9b2cf535f27731c974343645a3985328"</ETag></CopyPartResult>')


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    seeds_safetensors()
    seeds_model()
    seeds_checkpoint()
    seeds_datasets()
    seeds_images()
    seeds_base64()
    seeds_journal()
    seeds_trainer_log()
    seeds_args()
    seeds_onnx()
    seeds_s3_xml()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print("fuzz/corpus: %d bytes" % total, file=sys.stderr)


if __name__ == "__main__":
    main()
