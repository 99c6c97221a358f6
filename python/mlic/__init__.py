"""mlic: multi-label image classification (Python bindings of libmlic, docs/python.md).

    import mlic
    m = mlic.Model("model.safetensors")
    m.labels("photo.jpg")                       # ["black", "jeans"]
    mlic.train("train.txt", "m.safetensors", "resnet18", val="val.txt", epochs=5)
    mlic.evaluate("m.safetensors", "val.txt")   # {"mAP": ..., "per_class": {...}, ...}
    mlic.predict_file("m.safetensors", "list.txt", "out.txt")

Every failure raises an mlic.Error subclass carrying mlic's message and hint."""
from .errors import (BackendError, Cancelled, DecodeError, Error, FileError, FormatError,
                     InternalError, InvalidArgument, LibraryNotFound, NetworkError, OutOfMemory,
                     PartialFailure, TooLarge, Unsupported)
from .jobs import Dataset, archs, evaluate, predict_file, quantize, train, train_iter
from .model import Model
from .storage import Storage

__version__ = "0.1.0"


def library_version() -> str:
    """The version of the libmlic.so in use ("0.1.0")."""
    from . import _capi
    v = _capi.lib().mlic_version()
    return "%d.%d.%d" % (v // 10000, v // 100 % 100, v % 100)


__all__ = ["Model", "Dataset", "Storage", "predict_file", "train", "train_iter", "evaluate", "quantize",
           "archs", "library_version", "Error", "InvalidArgument", "FileError", "FormatError",
           "Unsupported", "OutOfMemory", "DecodeError", "TooLarge", "NetworkError",
           "BackendError", "InternalError", "PartialFailure", "Cancelled", "LibraryNotFound"]
