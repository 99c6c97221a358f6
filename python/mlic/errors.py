"""mlic.Error and its subclasses, one per mlic_status: each carries the library's message and,
separately, its hint (the text after "HINT: ")."""
from __future__ import annotations


class Error(Exception):
    """A failure reported by mlic. `message` is what went wrong (naming the input), `hint` what
    to do about it ("" if mlic gave none), `status` the mlic_status name ("MLIC_ERR_IO")."""

    status = "MLIC_ERR_INTERNAL"

    def __init__(self, message: str, hint: str = "", status: str | None = None):
        self.message = message
        self.hint = hint
        if status:
            self.status = status
        super().__init__(message + ("  HINT: " + hint if hint else ""))


class InvalidArgument(Error, ValueError):
    """A caller passed something unusable (MLIC_ERR_INVALID_ARG)."""
    status = "MLIC_ERR_INVALID_ARG"


class FileError(Error, OSError):
    """Opening, reading, writing or renaming a file failed (MLIC_ERR_IO)."""
    status = "MLIC_ERR_IO"


class FormatError(Error):
    """A file's contents are malformed: model, list, JSON (MLIC_ERR_FORMAT)."""
    status = "MLIC_ERR_FORMAT"


class Unsupported(Error):
    """Valid but not supported: arch, dtype, image format (MLIC_ERR_UNSUPPORTED)."""
    status = "MLIC_ERR_UNSUPPORTED"


class OutOfMemory(Error, MemoryError):
    status = "MLIC_ERR_NOMEM"


class DecodeError(Error):
    """Image bytes could not be decoded (MLIC_ERR_DECODE)."""
    status = "MLIC_ERR_DECODE"


class TooLarge(Error):
    """An image exceeds the pixel limit (MLIC_ERR_TOO_LARGE)."""
    status = "MLIC_ERR_TOO_LARGE"


class NetworkError(Error):
    status = "MLIC_ERR_NETWORK"


class BackendError(Error):
    """The compute backend failed (MLIC_ERR_BACKEND)."""
    status = "MLIC_ERR_BACKEND"


class InternalError(Error):
    status = "MLIC_ERR_INTERNAL"


class PartialFailure(Error):
    """A batch job finished but some inputs failed (MLIC_ERR_PARTIAL); their output lines say
    why. `stats` holds the run's counts."""
    status = "MLIC_ERR_PARTIAL"
    stats: dict = {}


class Cancelled(Error, KeyboardInterrupt):
    """A long job stopped early (Ctrl-C): training left a checkpoint that resume=True continues
    from, prediction its finished batches (MLIC_ERR_CANCELLED). Also a KeyboardInterrupt."""
    status = "MLIC_ERR_CANCELLED"


class LibraryNotFound(Error, ImportError):
    """libmlic.so could not be loaded, or is of another release."""
    status = "MLIC_ERR_UNSUPPORTED"


_BY_STATUS = [None, InvalidArgument, FileError, FormatError, Unsupported, OutOfMemory, DecodeError,
              TooLarge, NetworkError, BackendError, InternalError, PartialFailure, Cancelled]


def from_status(status: int, message: str, prefix: str = "") -> Error:
    """The exception for a failed call: message is mlic_errmsg(), split at its "HINT: "."""
    cls = _BY_STATUS[status] if 0 < status < len(_BY_STATUS) else Error
    text, sep, hint = message.partition("HINT: ")
    text = prefix + text.rstrip().rstrip(".").rstrip()
    if not sep:
        hint = ""
    return cls(text, hint.strip())
