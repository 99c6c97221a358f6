"""Image files for the image-module tests: synthetic content saved with PIL, and the few files
PIL cannot write (16-bit RGB PNG, 16-bit and top-down BMP, headers that lie about their size)
assembled by hand from the format specifications. Also runs build/tests/tool_preprocess."""
import os
import struct
import subprocess
import zlib

import numpy as np
from PIL import Image

from conftest import BUILD
TOOL = os.path.join(BUILD, "tests", "tool_preprocess")


def synth(w, h, seed=0, noise=8.0):
    """Smooth gradients and waves plus Gaussian noise: detail at every scale."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 128 + 100 * np.sin(x / 37.0 + y / 53.0)
    g = 128 + 100 * np.cos(x / 23.0 - y / 41.0)
    b = 255 * (x + y) / (w + h)
    img = np.stack([r, g, b], -1) + rng.normal(0, noise, (h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


# ---------------------------------------------------------------- PNG by hand

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width, height, bit_depth, color_type, raw):
    """raw: the unfiltered scanlines, concatenated (filter byte 0 is added per row)."""
    row = len(raw) // height
    filtered = b"".join(b"\0" + raw[i * row:(i + 1) * row] for i in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zlib.compress(filtered)) + png_chunk(b"IEND", b""))


def png_header_only(width, height):
    """A valid signature and IHDR claiming width x height, then a token IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b""))


# ---------------------------------------------------------------- BMP by hand

def bmp_bytes(width, height, bpp, rows, top_down=False, palette=None, masks=None):
    """rows: one bytes object per image row (top first), packed at bpp; padded here to 4 bytes.
    palette: list of (r, g, b); masks: (r, g, b) bit masks, written as BI_BITFIELDS."""
    stride = (width * bpp + 31) // 32 * 4
    stored = rows if top_down else rows[::-1]
    pixels = b"".join(r + b"\0" * (stride - len(r)) for r in stored)
    extra = b""
    if masks:
        extra = struct.pack("<III", *masks)
    if palette:
        extra += b"".join(bytes((b, g, r, 0)) for r, g, b in palette)
    offset = 14 + 40 + len(extra)
    info = struct.pack("<IiiHHIIiiII", 40, width, -height if top_down else height, 1, bpp,
                       3 if masks else 0, len(pixels), 2835, 2835,
                       len(palette) if palette else 0, 0)
    head = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    return head + info + extra + pixels


# ---------------------------------------------------------------- lying headers

def jpeg_with_size(data, width, height):
    """A real JPEG whose SOF marker is rewritten to claim width x height."""
    pos = 2
    while pos < len(data):
        marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            return (data[:pos + 5] + struct.pack(">HH", height, width) + data[pos + 9:])
        pos += 2 + length
    raise ValueError("no SOF marker")


def gif_with_screen(data, width, height):
    return data[:6] + struct.pack("<HH", width, height) + data[10:]


def webp_lossless_header(width, height):
    """RIFF/WEBP with a VP8L chunk whose header claims width x height (max 16384), data cut."""
    bits = (width - 1) | (height - 1) << 14
    vp8l = b"VP8L" + struct.pack("<I", 13) + b"\x2f" + struct.pack("<I", bits) + b"\0" * 8 + b"\0"
    body = b"WEBP" + vp8l
    return b"RIFF" + struct.pack("<I", len(body)) + body


# ---------------------------------------------------------------- the tool

def decode(path, max_pixels=0, min_short_side=0):
    """(None, (H, W, 3) uint8) on success, (stderr line, None) on failure."""
    out = str(path) + ".rgb"
    r = subprocess.run([TOOL, "--decode", str(path), out, "--max-pixels", str(max_pixels),
                        "--min-short-side", str(min_short_side)], capture_output=True, text=True)
    if r.returncode != 0:
        return r.stderr.strip(), None
    raw = np.fromfile(out, np.uint8)
    w, h = raw[:8].view(np.int32)
    return None, raw[8:].reshape(h, w, 3)


def preprocess(path, resize, crop, *flags):
    """(3, crop, crop) float32 in [0, 1] (mean 0, std 1)."""
    out = str(path) + ".bin"
    r = subprocess.run([TOOL, str(path), str(resize), str(crop), out, *flags],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return np.fromfile(out, np.float32).reshape(3, crop, crop)
