"""ctypes bindings of include/mlic.h: the structs (field for field, in the header's order) and the
prototypes of the functions the package calls.

ctypes rather than cffi or a C extension: nothing is compiled at install time (no compiler or
Python headers needed, one wheel for every Python 3), and ctypes releases the GIL around every
foreign call, which is what lets many Python threads run the model at once. The price is that
these structs must follow mlic.h by hand: check_version() refuses a library of another 0.y
release, whose structs may differ (mlic.h's ABI rules)."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_float, c_int, c_int64,
                    c_size_t, c_uint8, c_uint64, c_void_p)

# The mlic.h version these bindings were written for (MLIC_VERSION_NUMBER).
VERSION_NUMBER = 100

_HERE = os.path.dirname(os.path.abspath(__file__))


def library_path() -> str:
    """Where libmlic.so is taken from: $MLIC_LIB, else the copy bundled at install time, else the
    system's (ld.so's search path, e.g. after `make install`)."""
    env = os.environ.get("MLIC_LIB")
    if env:
        return env
    bundled = os.path.join(_HERE, "_lib", "libmlic.so")
    if os.path.exists(bundled):
        return bundled
    return ctypes.util.find_library("mlic") or "libmlic.so"


class Image(Structure):
    _fields_ = [("width", c_int), ("height", c_int), ("pixels", POINTER(c_uint8)),
                ("full_width", c_int), ("full_height", c_int), ("scale", c_float)]


class StorageOpts(Structure):
    _fields_ = [("s3_endpoint", c_char_p), ("oss_endpoint", c_char_p), ("region", c_char_p),
                ("access_key_id", c_char_p), ("secret_access_key", c_char_p),
                ("session_token", c_char_p), ("profile", c_char_p), ("role_arn", c_char_p),
                ("path_style", c_int), ("max_in_flight", c_int)]


class EngineOpts(Structure):
    _fields_ = [("backend", c_int), ("max_batch", c_int), ("threads", c_int),
                ("precision", c_int)]


class PredictProgress(Structure):
    _fields_ = [("done", c_uint64), ("failed", c_uint64), ("total", c_uint64),
                ("seconds", c_double), ("final", c_int)]


PREDICT_PROGRESS_FN = CFUNCTYPE(None, c_void_p, POINTER(PredictProgress))


class PredictOpts(Structure):
    _fields_ = [("model_path", c_char_p), ("input_path", c_char_p), ("output_path", c_char_p),
                ("root", c_char_p), ("image_type", c_int), ("format", c_int),
                ("threshold", c_float), ("batch_size", c_int), ("threads", c_int),
                ("decode_threads", c_int), ("backend", c_int), ("max_pixels", c_uint64),
                ("progress", PREDICT_PROGRESS_FN), ("progress_user", c_void_p),
                ("http_timeout", c_double), ("rank", c_int), ("nranks", c_int), ("resume", c_int),
                ("exchange", c_void_p), ("exchange_ctx", c_void_p), ("confine_to_root", c_int),
                ("max_line_bytes", c_size_t), ("cancel", POINTER(c_int)),
                ("storage", POINTER(StorageOpts)), ("staging_dir", c_char_p),
                ("part_size", c_uint64), ("precision", c_int)]


class PredictStats(Structure):
    _fields_ = [("inputs", c_uint64), ("succeeded", c_uint64), ("failed", c_uint64),
                ("seconds", c_double)]


class DatasetReadOpts(Structure):
    _fields_ = [("format", c_int), ("root", c_char_p), ("classes_path", c_char_p),
                ("split", c_char_p), ("confine_to_root", c_int),
                ("storage", POINTER(StorageOpts)), ("paths_only", c_int)]


class Metrics(Structure):
    _fields_ = [("map", c_double), ("map_classes", c_int), ("cp", c_double), ("cr", c_double),
                ("cf1", c_double), ("op", c_double), ("or_", c_double), ("of1", c_double)]


class ClassMetrics(Structure):
    _fields_ = [("ap", c_double), ("precision", c_double), ("recall", c_double), ("f1", c_double),
                ("positives", c_int), ("predicted", c_int), ("correct", c_int)]


class EvalRunOpts(Structure):
    _fields_ = [("model_path", c_char_p), ("data_path", c_char_p), ("data", DatasetReadOpts),
                ("backend", c_int), ("batch_size", c_int), ("threads", c_int),
                ("decode_threads", c_int), ("threshold", c_float), ("max_pixels", c_uint64),
                ("precision", c_int), ("cache_dir", c_char_p), ("cache_bytes", c_uint64)]


class EvalResult(Structure):
    _fields_ = [("num_images", c_size_t), ("num_classes", c_int), ("summary", Metrics),
                ("per_class", POINTER(ClassMetrics)), ("thresholds", POINTER(c_float)),
                ("scores", POINTER(c_float)), ("targets", POINTER(c_uint8)),
                ("classes", POINTER(c_char_p)), ("backend", c_char_p),
                ("precision", c_char_p)]


class TrainProgress(Structure):
    _fields_ = [("kind", c_int), ("message", c_char_p), ("epoch", c_int), ("epochs", c_int),
                ("step", c_int64), ("batch", c_int64), ("batches", c_int64), ("loss", c_double),
                ("lr", c_double), ("images_per_s", c_double), ("eta_s", c_double),
                ("has_val", c_int), ("val_loss", c_double), ("val_map", c_double),
                ("val_cf1", c_double), ("val_of1", c_double), ("best", c_int)]


TRAIN_PROGRESS_FN = CFUNCTYPE(None, c_void_p, POINTER(TrainProgress))


class TrainOpts(Structure):
    _fields_ = [("arch", c_char_p), ("train_path", c_char_p), ("val_path", c_char_p),
                ("classes_path", c_char_p), ("root", c_char_p), ("confine_to_root", c_int),
                ("output_path", c_char_p), ("checkpoint_path", c_char_p), ("log_path", c_char_p),
                ("pretrained_path", c_char_p), ("storage", POINTER(StorageOpts)),
                ("cache_dir", c_char_p), ("cache_bytes", c_uint64), ("epochs", c_int),
                ("batch_size", c_int),
                ("lr", c_double), ("weight_decay", c_double), ("momentum", c_double),
                ("max_grad_norm", c_float), ("optimizer", c_int), ("schedule", c_int),
                ("warmup_epochs", c_int), ("lr_step_epochs", c_int), ("loss", c_int),
                ("crop", c_int), ("resize", c_int), ("jitter", c_float),
                ("freeze_backbone", c_int), ("seed", c_uint64), ("threads", c_int),
                ("direct_conv", c_int), ("workers", c_int), ("resume", c_int),
                ("stop_after_epochs", c_int), ("distributed", c_int), ("sync_bn", c_int),
                ("check_weights", c_int), ("progress", TRAIN_PROGRESS_FN),
                ("progress_user", c_void_p), ("cancel", POINTER(c_int)),
                ("abort_job", POINTER(c_int)), ("ema", c_float), ("mixup", c_float),
                ("cutmix", c_float), ("crop_scale", c_float)]


class QuantizeOpts(Structure):
    _fields_ = [("images", c_int), ("method", c_int), ("percentile", c_double),
                ("threads", c_int), ("workers", c_int)]


def _protos(lib: ctypes.CDLL) -> None:
    st = c_int  # mlic_status
    p = c_void_p
    table = {
        "mlic_version": (c_int, []),
        "mlic_errmsg": (c_char_p, []),
        "mlic_status_name": (c_char_p, [c_int]),
        "mlic_model_load": (st, [POINTER(p), c_char_p]),
        "mlic_model_free": (None, [p]),
        "mlic_model_arch": (c_char_p, [p]),
        "mlic_model_num_classes": (c_int, [p]),
        "mlic_model_class_name": (c_char_p, [p, c_int]),
        "mlic_model_threshold": (c_float, [p, c_int]),
        "mlic_engine_create": (st, [POINTER(p), p, c_int, c_int, c_int]),
        "mlic_engine_opts_init": (None, [POINTER(EngineOpts)]),
        "mlic_engine_create_opts": (st, [POINTER(p), p, POINTER(EngineOpts)]),
        "mlic_engine_precision_name": (c_char_p, [p]),
        "mlic_engine_destroy": (None, [p]),
        "mlic_engine_backend_name": (c_char_p, [p]),
        "mlic_predict_image": (st, [p, POINTER(c_float), c_char_p, c_size_t, c_uint64]),
        "mlic_predict_pixels": (st, [p, POINTER(c_float), POINTER(Image)]),
        "mlic_predict_opts_init": (None, [POINTER(PredictOpts)]),
        "mlic_predict_run": (st, [POINTER(PredictOpts), POINTER(PredictStats)]),
        "mlic_dataset_read_opts_init": (None, [POINTER(DatasetReadOpts)]),
        "mlic_dataset_read": (st, [POINTER(p), c_char_p, POINTER(DatasetReadOpts)]),
        "mlic_dataset_free": (None, [p]),
        "mlic_dataset_parse_format": (st, [POINTER(c_int), c_char_p]),
        "mlic_dataset_format_name": (c_char_p, [c_int]),
        "mlic_dataset_format_of": (c_int, [p]),
        "mlic_dataset_num_classes": (c_int, [p]),
        "mlic_dataset_class_name": (c_char_p, [p, c_int]),
        "mlic_dataset_num_items": (c_size_t, [p]),
        "mlic_dataset_item_path": (c_char_p, [p, c_size_t]),
        "mlic_dataset_item_labels": (c_int, [p, c_size_t, POINTER(POINTER(c_int))]),
        "mlic_eval_run_opts_init": (None, [POINTER(EvalRunOpts)]),
        "mlic_eval_run": (st, [POINTER(EvalRunOpts), POINTER(EvalResult)]),
        "mlic_eval_result_free": (None, [POINTER(EvalResult)]),
        "mlic_optim_parse_kind": (st, [POINTER(c_int), c_char_p]),
        "mlic_sched_parse_kind": (st, [POINTER(c_int), c_char_p]),
        "mlic_loss_parse_kind": (st, [POINTER(c_int), c_char_p]),
        "mlic_train_opts_init": (None, [POINTER(TrainOpts)]),
        "mlic_train_opts_optimizer_defaults": (None, [POINTER(TrainOpts), c_int]),
        "mlic_train_run": (st, [POINTER(TrainOpts)]),
        "mlic_archs": (POINTER(c_char_p), []),
        "mlic_storage_opts_init": (None, [POINTER(StorageOpts)]),
        "mlic_parse_size": (st, [POINTER(c_uint64), c_char_p]),
        "mlic_quantize_opts_init": (None, [POINTER(QuantizeOpts)]),
        "mlic_calib_method_parse": (st, [POINTER(c_int), c_char_p]),
        "mlic_model_quantize": (st, [p, p, POINTER(QuantizeOpts)]),
        "mlic_model_save": (st, [p, c_char_p]),
    }
    for name, (res, args) in table.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args


_lib: ctypes.CDLL | None = None


def lib() -> ctypes.CDLL:
    """The loaded library (loaded on first use), checked to be of this package's 0.y release."""
    global _lib
    if _lib is None:
        path = library_path()
        try:
            handle = ctypes.CDLL(path)
        except OSError as e:
            from .errors import LibraryNotFound
            raise LibraryNotFound(
                "cannot load libmlic.so (%s): %s" % (path, e),
                "reinstall the package from a built mlic tree (python3 -m pip install ./python "
                "after make), or set MLIC_LIB to the library's path") from None
        handle.mlic_version.restype = c_int
        linked = handle.mlic_version()
        if linked // 100 != VERSION_NUMBER // 100:
            from .errors import LibraryNotFound
            raise LibraryNotFound(
                "%s is mlic %d.%d.%d; this package binds %d.%d.x" % (
                    path, linked // 10000, linked // 100 % 100, linked % 100,
                    VERSION_NUMBER // 10000, VERSION_NUMBER // 100 % 100),
                "install the package and the library from the same mlic tree")
        _protos(handle)
        _lib = handle
    return _lib


def b(s: str | os.PathLike | None) -> bytes | None:
    """A path or text for a const char * argument (None stays NULL)."""
    if s is None:
        return None
    return os.fsencode(s)
