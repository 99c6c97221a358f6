"""The long jobs: batch prediction of a list (mlic predict), evaluation (mlic eval), training
(mlic train), and reading labelled data sets. Each fills the library's options struct and runs
it in a thread (mlic/_call.py), so that Ctrl-C stops it cleanly."""
from __future__ import annotations

import ctypes
import math
import os
import queue
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from . import _capi
from ._call import check, raise_for, run_cancellable
from .errors import InvalidArgument, PartialFailure
from .model import backend_kind, precision_kind
from .storage import StorageLike, cache_bytes, storage_opts


def _enum(table: Dict[str, int], what: str, name: str) -> int:
    try:
        return table[name]
    except KeyError:
        raise InvalidArgument("%s '%s' is unknown" % (what, name),
                              "use one of " + ", ".join(table)) from None


def _parse(fn_name: str, name: str) -> int:
    v = ctypes.c_int()
    check(getattr(_capi.lib(), fn_name)(ctypes.byref(v), _capi.b(name)))
    return v.value


def archs() -> List[str]:
    """The architectures mlic trains and runs."""
    p = _capi.lib().mlic_archs()
    out = []
    i = 0
    while p[i]:
        out.append(p[i].decode())
        i += 1
    return out


# ---------------------------------------------------------------- batch prediction

def predict_file(model: str | os.PathLike, input: str | os.PathLike, output: str | os.PathLike,
                 *, root: str | os.PathLike | None = None, image_type: str = "url",
                 format: str = "ev", threshold: float | None = None, batch_size: int = 32,
                 threads: int = 0, decode_threads: int = 0, backend: str = "auto",
                 max_pixels: int = 0, http_timeout: float = 0.0, resume: bool = False,
                 confine_to_root: bool = False, max_line_bytes: int = 0,
                 storage: StorageLike = None, staging: str | os.PathLike | None = None,
                 part_size: int = 0, precision: str = "fp32",
                 progress: Callable[[Dict[str, Any]], None] | None = None) -> Dict[str, Any]:
    """`mlic predict --model MODEL --input INPUT --output OUTPUT`: every line of the list (a path
    or URL, or base64 with image_type="base64") gets one output line (format "ev" or "jsonl"),
    written atomically. Options as the CLI's (docs/predict.md); model, input, output and root
    may be s3:// or oss:// (and the inputs http(s)://), reached as storage (an mlic.Storage or a
    dict of its fields; None: the environment's settings) says, an object-store output staged
    under staging and uploaded in parts of part_size bytes (docs/storage.md). progress(record)
    is called after every batch (from a library thread) with done, failed, total, seconds and
    final.

    Returns {"inputs", "succeeded", "failed", "seconds"}. Raises mlic.PartialFailure (its
    `stats` the same dict) when some lines failed (their output lines say why), mlic.Cancelled
    on Ctrl-C (resume=True continues), another mlic.Error when the run could not complete."""
    lib = _capi.lib()
    o = _capi.PredictOpts()
    lib.mlic_predict_opts_init(ctypes.byref(o))
    o.model_path, o.input_path, o.output_path = _capi.b(model), _capi.b(input), _capi.b(output)
    o.root = _capi.b(root)
    o.image_type = _enum({"url": 0, "base64": 1}, "image type", image_type)
    o.format = _enum({"ev": 0, "jsonl": 1}, "format", format)
    o.threshold = -1.0 if threshold is None else float(threshold)
    o.batch_size, o.threads, o.decode_threads = batch_size, threads, decode_threads
    o.backend = backend_kind(backend)
    o.precision = precision_kind(precision)
    o.max_pixels, o.http_timeout = max_pixels, http_timeout
    o.resume, o.confine_to_root, o.max_line_bytes = int(resume), int(confine_to_root), max_line_bytes
    o.storage = storage_opts(storage)
    o.staging_dir, o.part_size = _capi.b(staging), part_size
    errors: list = []
    if progress is not None:
        def report(_user: Any, p: Any) -> None:
            r = p.contents
            try:
                progress({"done": r.done, "failed": r.failed, "total": r.total,
                          "seconds": r.seconds, "final": bool(r.final)})
            except BaseException as e:  # kept for the caller; the run goes on
                errors.append(e)
        o.progress = _capi.PREDICT_PROGRESS_FN(report)
    cancel = ctypes.c_int(0)
    o.cancel = ctypes.pointer(cancel)
    stats = _capi.PredictStats()
    status, msg = run_cancellable(
        lambda: lib.mlic_predict_run(ctypes.byref(o), ctypes.byref(stats)), cancel)
    if errors:
        raise errors[0]
    result = {"inputs": stats.inputs, "succeeded": stats.succeeded, "failed": stats.failed,
              "seconds": stats.seconds}
    try:
        raise_for(status, msg)
    except PartialFailure as e:
        e.stats = result
        raise
    return result


# ---------------------------------------------------------------- data sets

FORMATS = {"auto": 0, "list": 1, "pai_csv": 2, "coco": 3, "voc": 4}


def _read_opts(o: Any, format: str, root: Any, classes: Any, split: Any,
               confine_to_root: bool) -> None:
    o.format = _enum(FORMATS, "data-set format", format)
    o.root, o.classes_path, o.split = _capi.b(root), _capi.b(classes), _capi.b(split)
    o.confine_to_root = int(confine_to_root)


class Dataset:
    """A labelled data set read by mlic (list, PAI CSV, COCO, VOC; docs/data.md): `classes`, and
    items (image path, [class names]) by index or iteration; `format` is the format read. The
    files may be s3://, oss:// or http(s)://, reached as storage says (mlic.Storage)."""

    def __init__(self, path: str | os.PathLike, *, format: str = "auto",
                 root: str | os.PathLike | None = None, classes: str | os.PathLike | None = None,
                 split: str | None = None, confine_to_root: bool = False,
                 storage: StorageLike = None):
        lib = _capi.lib()
        o = _capi.DatasetReadOpts()
        lib.mlic_dataset_read_opts_init(ctypes.byref(o))
        _read_opts(o, format, root, classes, split, confine_to_root)
        o.storage = storage_opts(storage)
        h = ctypes.c_void_p()
        check(lib.mlic_dataset_read(ctypes.byref(h), _capi.b(path), ctypes.byref(o)))
        try:
            self.format: str = lib.mlic_dataset_format_name(lib.mlic_dataset_format_of(h)).decode()
            self.classes: List[str] = [lib.mlic_dataset_class_name(h, i).decode()
                                       for i in range(lib.mlic_dataset_num_classes(h))]
            self._items: List[Tuple[str, List[str]]] = []
            labels = ctypes.POINTER(ctypes.c_int)()
            for i in range(lib.mlic_dataset_num_items(h)):
                n = lib.mlic_dataset_item_labels(h, i, ctypes.byref(labels))
                self._items.append((os.fsdecode(lib.mlic_dataset_item_path(h, i)),
                                    [self.classes[labels[j]] for j in range(n)]))
        finally:
            lib.mlic_dataset_free(h)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> Tuple[str, List[str]]:
        return self._items[i]

    def __iter__(self) -> Iterator[Tuple[str, List[str]]]:
        return iter(self._items)

    def targets(self) -> np.ndarray:
        """(N, K) uint8 multi-hot labels in the order of `classes`."""
        idx = {c: k for k, c in enumerate(self.classes)}
        t = np.zeros((len(self._items), len(self.classes)), dtype=np.uint8)
        for i, (_, names) in enumerate(self._items):
            for c in names:
                t[i, idx[c]] = 1
        return t


# ---------------------------------------------------------------- int8 quantization

def quantize(model: str | os.PathLike, calib: str | os.PathLike, output: str | os.PathLike, *,
             calib_images: int = 0, method: str = "percentile", percentile: float | None = None,
             format: str = "auto", root: str | os.PathLike | None = None, threads: int = 0,
             storage: StorageLike = None) -> None:
    """As `mlic quantize` (docs/quantization.md): writes output, the int8 model made from the fp32
    model, its activation ranges measured on the first calib_images (0: 200) images of the data set
    calib (any format mlic reads; labels unused) with method "percentile" (at percentile, default
    99.99) or "minmax". The same options give the CLI's bytes."""
    lib = _capi.lib()
    o = _capi.QuantizeOpts()
    lib.mlic_quantize_opts_init(ctypes.byref(o))
    o.images, o.threads = calib_images, threads
    m_kind = ctypes.c_int()
    check(lib.mlic_calib_method_parse(ctypes.byref(m_kind), _capi.b(method)))
    o.method = m_kind.value
    if percentile is not None:
        if method != "percentile":
            raise InvalidArgument("percentile goes with method='percentile'", "leave it out for minmax")
        o.percentile = float(np.float32(percentile))  # the CLI reads it as a float: same bytes
    ro = _capi.DatasetReadOpts()
    lib.mlic_dataset_read_opts_init(ctypes.byref(ro))
    _read_opts(ro, format, root, None, None, False)
    ro.storage = storage_opts(storage)
    ro.paths_only = 1
    m, d = ctypes.c_void_p(), ctypes.c_void_p()
    try:
        check(lib.mlic_model_load(ctypes.byref(m), _capi.b(model)))
        check(lib.mlic_dataset_read(ctypes.byref(d), _capi.b(calib), ctypes.byref(ro)))
        check(lib.mlic_model_quantize(m, d, ctypes.byref(o)))
        check(lib.mlic_model_save(m, _capi.b(output)))
    finally:
        lib.mlic_dataset_free(d)
        lib.mlic_model_free(m)


# ---------------------------------------------------------------- evaluation

def _num(v: float) -> Optional[float]:
    return None if math.isnan(v) else v


def evaluate(model: str | os.PathLike, data: str | os.PathLike, *, format: str = "auto",
             root: str | os.PathLike | None = None, classes: str | os.PathLike | None = None,
             split: str | None = None, confine_to_root: bool = False,
             threshold: float | None = None, batch_size: int = 32, threads: int = 0,
             decode_threads: int = 0, backend: str = "auto", max_pixels: int = 0,
             storage: StorageLike = None, cache: str | os.PathLike | None = None,
             cache_size: int | str | None = None, details: bool = False,
             precision: str = "fp32") -> Dict[str, Any]:
    """`mlic eval --json`: the model's metrics on a labelled data set, as a dict with the same
    keys and values: num_images, mAP, CP, CR, CF1, OP, OR, OF1 (percent), per_class (class
    name -> AP, None for a class without positives) and thresholds (class name -> the threshold
    the figures used). Options as the CLI's: model, data, root and classes may be s3:// or
    oss:// (and http(s)://), reached as storage (an mlic.Storage or a dict of its fields) says;
    cache keeps the remote images fetched in that folder, within cache_size (bytes or "10G").

    details=True adds "scores" (N, K) float32 probabilities and "targets" (N, K) uint8, in
    data-set order and the model's class order ("classes"), "backend", "precision" (what the
    engine computed in), and "class_metrics"
    (class name -> ap, precision, recall, f1, positives, predicted, correct)."""
    lib = _capi.lib()
    o = _capi.EvalRunOpts()
    lib.mlic_eval_run_opts_init(ctypes.byref(o))
    o.model_path, o.data_path = _capi.b(model), _capi.b(data)
    _read_opts(o.data, format, root, classes, split, confine_to_root)
    o.backend = backend_kind(backend)
    o.precision = precision_kind(precision)
    o.batch_size, o.threads, o.decode_threads = batch_size, threads, decode_threads
    o.threshold = -1.0 if threshold is None else float(threshold)
    o.max_pixels = max_pixels
    o.data.storage = storage_opts(storage)
    o.cache_dir, o.cache_bytes = _capi.b(cache), cache_bytes(cache_size)
    r = _capi.EvalResult()
    status, msg = run_cancellable(lambda: lib.mlic_eval_run(ctypes.byref(o), ctypes.byref(r)),
                                  ctypes.c_int(0))
    try:
        raise_for(status, msg)
        s, k, n = r.summary, r.num_classes, r.num_images
        names = [r.classes[c].decode() for c in range(k)]
        out: Dict[str, Any] = {"num_images": n, "mAP": _num(s.map), "CP": _num(s.cp),
                               "CR": _num(s.cr), "CF1": _num(s.cf1), "OP": _num(s.op),
                               "OR": _num(s.or_), "OF1": _num(s.of1),
                               "per_class": {names[c]: _num(r.per_class[c].ap)
                                             for c in range(k)},
                               "thresholds": {names[c]: float(r.thresholds[c])
                                              for c in range(k)}}
        if details:
            out["classes"] = names
            out["backend"] = r.backend.decode()
            out["precision"] = r.precision.decode()
            out["scores"] = (np.ctypeslib.as_array(r.scores, (n, k)).copy() if n
                             else np.zeros((0, k), np.float32))
            out["targets"] = (np.ctypeslib.as_array(r.targets, (n, k)).copy() if n
                              else np.zeros((0, k), np.uint8))
            out["class_metrics"] = {
                names[c]: {f: getattr(r.per_class[c], f) for f, _ in _capi.ClassMetrics._fields_}
                for c in range(k)}
        return out
    finally:
        lib.mlic_eval_result_free(ctypes.byref(r))


# ---------------------------------------------------------------- training

EVENTS = ("info", "step", "epoch")


def _record(p: Any) -> Dict[str, Any]:
    """A progress record as a dict (mlic_train_progress): kind info|step|epoch and its fields."""
    kind = EVENTS[p.kind] if 0 <= p.kind < len(EVENTS) else str(p.kind)
    if kind == "info":
        return {"kind": kind, "message": p.message.decode("utf-8", "replace")}
    r: Dict[str, Any] = {"kind": kind, "epoch": p.epoch, "epochs": p.epochs, "step": p.step,
                         "loss": p.loss, "lr": p.lr, "images_per_s": p.images_per_s,
                         "eta_s": p.eta_s}
    if kind == "step":
        r.update(batch=p.batch, batches=p.batches)
    elif p.has_val:
        r.update(val_loss=p.val_loss, val_mAP=p.val_map, val_CF1=p.val_cf1, val_OF1=p.val_of1,
                 best=bool(p.best))
    return r


def _train_opts(data: Any, output: Any, arch: str, val: Any, classes: Any, root: Any,
                confine_to_root: bool, checkpoint: Any, log: Any, pretrained: Any, epochs: Any,
                batch_size: Any, optimizer: Any, lr: Any, weight_decay: Any, momentum: Any,
                max_grad_norm: Any, schedule: Any, lr_step: Any, warmup_epochs: Any, loss: Any,
                crop: Any, resize: Any, jitter: Any, freeze_backbone: bool, seed: int,
                threads: int, conv: str, workers: int, resume: bool, storage: StorageLike,
                cache: Any, cache_size: Any, ema: float | None = None,
                mixup: float | None = None, cutmix: float | None = None,
                crop_scale: float | None = None) -> Any:
    lib = _capi.lib()
    o = _capi.TrainOpts()
    lib.mlic_train_opts_init(ctypes.byref(o))
    o.arch, o.train_path, o.val_path = _capi.b(arch), _capi.b(data), _capi.b(val)
    o.classes_path, o.root, o.output_path = _capi.b(classes), _capi.b(root), _capi.b(output)
    o.confine_to_root = int(confine_to_root)
    o.checkpoint_path, o.log_path = _capi.b(checkpoint), _capi.b(log)
    o.pretrained_path = _capi.b(pretrained)
    # None leaves a setting at the library's default (mlic_train_opts_init), as the CLI does.
    if optimizer is not None:
        lib.mlic_train_opts_optimizer_defaults(ctypes.byref(o),
                                               _parse("mlic_optim_parse_kind", optimizer))
    if schedule is not None:
        o.schedule = _parse("mlic_sched_parse_kind", schedule)
    if loss is not None:
        o.loss = _parse("mlic_loss_parse_kind", loss)
    # After the optimizer, whose defaults these override; crop before the resize made from it.
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr),
                        ("weight_decay", weight_decay), ("momentum", momentum),
                        ("max_grad_norm", max_grad_norm), ("lr_step_epochs", lr_step),
                        ("warmup_epochs", warmup_epochs), ("crop", crop), ("jitter", jitter),
                        ("ema", ema), ("mixup", mixup), ("cutmix", cutmix),
                        ("crop_scale", crop_scale)):
        if value is not None:
            setattr(o, name, value)
    # The CLI's default resize: crop * 256/224, rounded half away from zero (C's lround).
    o.resize = int(math.floor(o.crop * 256.0 / 224.0 + 0.5)) if resize is None else resize
    o.freeze_backbone, o.seed = int(freeze_backbone), seed
    o.threads, o.workers, o.resume = threads, workers, int(resume)
    if conv not in ("winograd", "direct"):
        raise InvalidArgument("conv '%s' is unknown" % conv, "use winograd or direct")
    o.direct_conv = int(conv == "direct")
    o.storage = storage_opts(storage)
    o.cache_dir, o.cache_bytes = _capi.b(cache), cache_bytes(cache_size)
    return o


_TRAIN_DOC = """
    Trains a multi-label classifier as `mlic train` does, with the same options and defaults
    (keyword names are the CLI's flags with '_' for '-'; docs/training.md): the same options and
    thread count give the same model bytes. data and val: labelled data sets (list, PAI CSV, COCO,
    VOC); output: the model file; checkpoint: default output + ".ckpt". The data, val, classes,
    root, pretrained, output and checkpoint may be s3:// or oss:// (the data also http(s)://),
    reached as storage (an mlic.Storage or a dict of its fields; None: the environment's
    settings) says; cache keeps the remote images in that folder across epochs, within
    cache_size (bytes or "10G"; docs/storage.md).

    Ctrl-C (KeyboardInterrupt) stops the run after the step in hand with a checkpoint, and
    raises mlic.Cancelled (a KeyboardInterrupt and an mlic.Error) naming it; the same call with
    resume=True continues exactly where it stopped."""


def train(data: str | os.PathLike, output: str | os.PathLike, arch: str, *,
          val: str | os.PathLike | None = None, classes: str | os.PathLike | None = None,
          root: str | os.PathLike | None = None, confine_to_root: bool = False,
          checkpoint: str | os.PathLike | None = None, log: str | os.PathLike | None = None,
          pretrained: str | os.PathLike | None = None, epochs: int | None = None,
          batch_size: int | None = None, optimizer: str | None = None, lr: float | None = None,
          weight_decay: float | None = None, momentum: float | None = None,
          max_grad_norm: float | None = None, schedule: str | None = None,
          lr_step: int | None = None, warmup_epochs: int | None = None, loss: str | None = None,
          crop: int | None = None, resize: int | None = None, jitter: float | None = None,
          freeze_backbone: bool = False, seed: int = 0, threads: int = 0,
          conv: str = "winograd", workers: int = 0, resume: bool = False,
          storage: StorageLike = None, cache: str | os.PathLike | None = None,
          cache_size: int | str | None = None, ema: float | None = None,
          mixup: float | None = None, cutmix: float | None = None,
          crop_scale: float | None = None,
          callback: Callable[[Dict[str, Any]], Any] | None = None) -> None:
    o = _train_opts(data, output, arch, val, classes, root, confine_to_root, checkpoint, log,
                    pretrained, epochs, batch_size, optimizer, lr, weight_decay, momentum,
                    max_grad_norm, schedule, lr_step, warmup_epochs, loss, crop, resize, jitter,
                    freeze_backbone, seed, threads, conv, workers, resume, storage, cache,
                    cache_size, ema, mixup, cutmix, crop_scale)
    gen = _train_records(o, callback is not None)
    reply = None
    while True:
        try:
            record = gen.send(reply)
        except StopIteration:
            return
        try:
            reply = False if callback(record) is False else None
        except BaseException as e:
            gen.throw(e)  # stops the run with a checkpoint, then raises e (or mlic.Cancelled)


train.__doc__ = """mlic.train(data, output, arch, **options, callback=None)
""" + _TRAIN_DOC + """

    callback(record), if given, gets every progress record (a dict: kind "info" with message;
    "step" with epoch, epochs, step, batch, batches, loss (the epoch's mean so far), lr,
    images_per_s, eta_s; "epoch" with the epoch's loss and, with val, val_loss, val_mAP, val_CF1,
    val_OF1 and best). It runs in the caller's thread; returning False stops the run as Ctrl-C
    does (mlic.Cancelled). For an iterator of the records instead, use mlic.train_iter."""


def train_iter(data: str | os.PathLike, output: str | os.PathLike, arch: str,
               **options: Any) -> Iterator[Dict[str, Any]]:
    """Runs mlic.train(data, output, arch, **options) and yields its progress records (see
    mlic.train) as they come. Leaving the loop early (break, an exception) stops the run with
    a checkpoint, as Ctrl-C does."""
    o = _train_opts(data, output, arch, *[options.pop(k, d) for k, d in _TRAIN_DEFAULTS])
    if options:
        raise TypeError("train_iter() got unexpected options: " + ", ".join(sorted(options)))
    return _train_records(o, True)


# None: the library's default (mlic_train_opts_init).
_TRAIN_DEFAULTS = [("val", None), ("classes", None), ("root", None), ("confine_to_root", False),
                   ("checkpoint", None), ("log", None), ("pretrained", None), ("epochs", None),
                   ("batch_size", None), ("optimizer", None), ("lr", None),
                   ("weight_decay", None), ("momentum", None), ("max_grad_norm", None),
                   ("schedule", None), ("lr_step", None), ("warmup_epochs", None),
                   ("loss", None), ("crop", None), ("resize", None), ("jitter", None),
                   ("freeze_backbone", False), ("seed", 0), ("threads", 0),
                   ("conv", "winograd"), ("workers", 0), ("resume", False), ("storage", None),
                   ("cache", None), ("cache_size", None), ("ema", None), ("mixup", None),
                   ("cutmix", None), ("crop_scale", None)]


_DONE = object()


def _train_records(o: Any, want: bool) -> Iterator[Dict[str, Any]]:
    """Runs the training in a thread; yields its records (when want) in the caller's thread."""
    lib = _capi.lib()
    cancel = ctypes.c_int(0)
    o.cancel = ctypes.pointer(cancel)
    q: "queue.Queue[Any]" = queue.Queue(maxsize=64)
    if want:
        def report(_user: Any, p: Any) -> None:
            rec = _record(p.contents)
            # Step records may be dropped when the consumer lags: training never waits on it.
            if rec["kind"] == "step":
                try:
                    q.put_nowait(rec)
                except queue.Full:
                    pass
            else:
                q.put(rec)
        o.progress = _capi.TRAIN_PROGRESS_FN(report)
    result: Dict[str, Any] = {}

    def body() -> None:
        try:
            result["status"] = lib.mlic_train_run(ctypes.byref(o))
            result["msg"] = lib.mlic_errmsg().decode("utf-8", "replace")
        except BaseException as e:
            result["exc"] = e
        q.put(_DONE)

    t = threading.Thread(target=body, name="mlic-train", daemon=True)
    t.start()
    stopping = False
    try:
        while True:
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _DONE:
                break
            if not stopping and want:
                if (yield item) is False:
                    stopping = True
                    cancel.value = 2
    except BaseException as e:
        # Ctrl-C, the consumer's exception, or the generator closed (a loop left early): stop
        # the run with a checkpoint and wait for it, whatever comes.
        cancel.value = 2
        while t.is_alive():
            try:
                t.join(0.1)
            except KeyboardInterrupt:
                pass
        if isinstance(e, KeyboardInterrupt) and result.get("status") == 12:
            raise_for(result["status"], result["msg"])  # mlic.Cancelled, naming the checkpoint
        raise
    t.join()
    if "exc" in result:
        raise result["exc"]
    raise_for(result["status"], result["msg"])


train_iter.__doc__ = (train_iter.__doc__ or "") + _TRAIN_DOC
