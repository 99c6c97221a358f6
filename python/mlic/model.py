"""mlic.Model: a model file loaded once and run on images from many threads."""
from __future__ import annotations

import ctypes
import os
import threading
from typing import Any, List, Sequence, Union

import numpy as np

from . import _capi
from ._call import check
from .errors import InvalidArgument

BACKENDS = {"auto": 0, "ref": 1, "onednn": 2, "cuda": 3}
PRECISIONS = {"fp32": 0, "bf16": 1, "auto": 2}

# What predict() and labels() take: a path, encoded bytes, a PIL image, an (H, W, 3) uint8
# array, an (N, H, W, 3) batch, or a list of any of these.
ImageLike = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray, Any]


def backend_kind(name: str) -> int:
    try:
        return BACKENDS[name]
    except KeyError:
        raise InvalidArgument("backend '%s' is unknown" % name,
                              "use one of " + ", ".join(BACKENDS)) from None


def precision_kind(name: str) -> int:
    try:
        return PRECISIONS[name]
    except KeyError:
        raise InvalidArgument("precision '%s' is unknown" % name,
                              "use one of " + ", ".join(PRECISIONS)) from None


class Model:
    """A model file (mlic's safetensors), ready for inference.

    >>> m = mlic.Model("model.safetensors")
    >>> m.classes, m.thresholds, m.arch
    >>> probs = m.predict("photo.jpg")          # (K,) float32
    >>> m.labels(["a.jpg", "b.png"])            # [["red", "dress"], []]

    Images are decoded and preprocessed by the library, exactly as `mlic predict` does (paths and
    bytes), so the probabilities are those `mlic predict --batch-size 1` writes for the same
    backend. The GIL is released while the network runs, and a Model may be shared by any number
    of threads: each running call takes an inference engine of its own from a pool (made on
    first need, kept for reuse), so results do not depend on what other threads do.
    """

    def __init__(self, path: str | os.PathLike, backend: str = "auto", threads: int = 0,
                 max_pixels: int = 0, precision: str = "fp32"):
        """path: the model file. backend: auto, ref, onednn or cuda. threads: inference threads
        per running call (0 = all cores). max_pixels: refuse larger images (0 = mlic's default).
        precision: fp32, bf16 or auto (docs/precision.md); self.precision says what runs."""
        self._lib = _capi.lib()
        self._backend = backend_kind(backend)
        self._precision = precision_kind(precision)
        self._threads = int(threads)
        self.max_pixels = int(max_pixels)
        self.path = os.fspath(path)
        self._closed = True  # until loaded: __del__ of a failed load frees nothing
        self._model = None
        h = ctypes.c_void_p()
        check(self._lib.mlic_model_load(ctypes.byref(h), _capi.b(path)))
        self._model = h
        self._engines: list[ctypes.c_void_p] = []  # idle ones
        self._out = 0        # engines in use by running calls
        self._closed = False
        self._pool_lock = threading.Lock()
        lib = self._lib
        k = lib.mlic_model_num_classes(h)
        self.arch: str = lib.mlic_model_arch(h).decode()
        self.classes: List[str] = [lib.mlic_model_class_name(h, i).decode() for i in range(k)]
        self.thresholds = np.array([lib.mlic_model_threshold(h, i) for i in range(k)],
                                   dtype=np.float32)
        self.backend: str = self._with_engine(lambda e: lib.mlic_engine_backend_name(e).decode())
        self.precision: str = self._with_engine(
            lambda e: lib.mlic_engine_precision_name(e).decode())

    # ------------------------------------------------------------ engines

    def _take(self) -> ctypes.c_void_p:
        with self._pool_lock:
            if self._closed:
                raise InvalidArgument("the model %s is closed" % self.path, "")
            self._out += 1
            if self._engines:
                return self._engines.pop()
        e = ctypes.c_void_p()
        o = _capi.EngineOpts()
        self._lib.mlic_engine_opts_init(ctypes.byref(o))
        o.backend, o.max_batch, o.threads = self._backend, 1, self._threads
        o.precision = self._precision
        try:
            check(self._lib.mlic_engine_create_opts(ctypes.byref(e), self._model, ctypes.byref(o)),
                  "preparing %s: " % self.path)
        except BaseException:
            self._give(None)
            raise
        return e

    def _give(self, e: ctypes.c_void_p | None) -> None:
        """Back to the pool; after close(), the last engine out frees the model."""
        with self._pool_lock:
            self._out -= 1
            if not self._closed:
                self._engines.append(e)
                return
            last = self._out == 0
        if e is not None:
            self._lib.mlic_engine_destroy(e)
        if last:
            self._free_model()

    def _free_model(self) -> None:
        with self._pool_lock:
            model, self._model = self._model, None
        if model is not None:
            self._lib.mlic_model_free(model)

    def _with_engine(self, fn):
        e = self._take()
        try:
            return fn(e)
        finally:
            self._give(e)

    def close(self) -> None:
        """Free the model and its engines (also done when the object is collected). Calls still
        running finish first: the model is freed when the last of them returns."""
        with self._pool_lock:
            if self._closed:
                return
            self._closed = True
            engines, self._engines = self._engines, []
            idle = self._out == 0
        for e in engines:
            self._lib.mlic_engine_destroy(e)
        if idle:
            self._free_model()

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return "mlic.Model(%r: %s, %d classes, %s)" % (self.path, self.arch, len(self.classes),
                                                      self.backend)

    # ------------------------------------------------------------ inference

    def _one(self, e: ctypes.c_void_p, x: Any, out: np.ndarray) -> None:
        ptr = out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        if isinstance(x, (str, os.PathLike)):
            path = os.fspath(x)
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as err:
                from .errors import FileError
                raise FileError("%s: %s" % (path, err.strerror or err), "") from None
            check(self._lib.mlic_predict_image(e, ptr, data, len(data), self.max_pixels),
                  "%s: " % path)
            return
        if isinstance(x, (bytes, bytearray, memoryview)):
            data = bytes(x)
            check(self._lib.mlic_predict_image(e, ptr, data, len(data), self.max_pixels))
            return
        a = _pixels(x)
        img = _capi.Image(width=a.shape[1], height=a.shape[0],
                          pixels=a.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)))
        check(self._lib.mlic_predict_pixels(e, ptr, ctypes.byref(img)))

    def predict(self, x: ImageLike | Sequence[ImageLike]) -> np.ndarray:
        """Probabilities (sigmoid outputs) in the order of `classes`, float32.

        x: a path (str or os.PathLike), encoded bytes (JPEG, PNG, WebP, BMP, GIF), a PIL image,
        an (H, W, 3) uint8 RGB array, an (N, H, W, 3) batch, or a list or tuple of any of these.
        One image gives shape (K,); a batch or a list gives (N, K). Arrays and PIL images are
        taken as pixels already decoded (a JPEG decoded by PIL differs slightly from mlic's
        decoding, which scales JPEGs in the DCT as `mlic predict` does; PNG pixels are equal).
        Raises mlic.Error (naming the image) for an unreadable or undecodable image."""
        items, single = _as_items(x)
        out = np.empty((len(items), len(self.classes)), dtype=np.float32)
        if items:
            e = self._take()
            try:
                for i, item in enumerate(items):
                    try:
                        self._one(e, item, out[i])
                    except Exception as err:
                        if not single and hasattr(err, "message"):
                            err.message = "image %d of %d: %s" % (i + 1, len(items), err.message)
                            err.args = (err.message + ("  HINT: " + err.hint if err.hint else ""),)
                        raise
            finally:
                self._give(e)
        return out[0] if single else out

    def labels(self, x: ImageLike | Sequence[ImageLike],
               threshold: float | None = None) -> List[str] | List[List[str]]:
        """The class names whose probability is at or above the threshold (the model's per-class
        thresholds, or one given), in class order: a list for one image, a list of lists for a
        batch or a list."""
        probs = self.predict(x)
        t = self.thresholds if threshold is None else np.float32(threshold)
        rows = np.atleast_2d(probs) >= t
        names = [[c for c, on in zip(self.classes, row) if on] for row in rows]
        return names[0] if probs.ndim == 1 else names


def _pixels(x: Any) -> np.ndarray:
    """An image given as pixels -> a C-contiguous (H, W, 3) uint8 array."""
    if hasattr(x, "convert") and hasattr(x, "mode"):  # a PIL image, without importing PIL
        x = np.asarray(x.convert("RGB"))
    if not isinstance(x, np.ndarray):
        raise InvalidArgument("cannot take a %s as an image" % type(x).__name__,
                              "pass a path, bytes, a PIL image or an (H, W, 3) uint8 array")
    if x.ndim != 3 or x.shape[2] != 3 or x.dtype != np.uint8:
        raise InvalidArgument("an image array of shape %s and dtype %s" % (x.shape, x.dtype),
                              "pass (H, W, 3) uint8 RGB, or (N, H, W, 3) for a batch")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise InvalidArgument("an image array of shape %s has no pixels" % (x.shape,), "")
    return np.ascontiguousarray(x)


def _as_items(x: Any) -> tuple[list, bool]:
    """x -> (images, whether x was one image)."""
    if isinstance(x, np.ndarray) and x.ndim == 4:
        return list(x), False
    if isinstance(x, (list, tuple)):
        return list(x), False
    return [x], True
