"""safetensors read/write with numpy, for tests (Debian has no python3-safetensors).
The format: u64 little-endian header length, a JSON header, then the raw tensor bytes."""
import json
import struct

import numpy as np

_DT = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "F16": np.float16,
       "U8": np.uint8, "I8": np.int8, "BF16": None}
_NAME = {np.dtype(v): k for k, v in _DT.items() if v is not None}


def save(path, tensors, metadata=None):
    """tensors: name -> numpy array (or torch tensor)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name]
        if hasattr(a, "detach"):
            a = a.detach().cpu().numpy()
        a = np.ascontiguousarray(a)
        b = a.tobytes()
        header[name] = {"dtype": _NAME[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load(path):
    """-> (name -> numpy array, metadata dict or None)"""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", None)
    out = {}
    for name, v in header.items():
        s, e = v["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + s:8 + n + e], _DT[v["dtype"]]).reshape(v["shape"]).copy()
    return out, meta


def state_dict_numpy(model):
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
