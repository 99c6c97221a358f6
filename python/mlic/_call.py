"""Calling the library: status checks that raise mlic.Error, and running long jobs in a thread
so that Ctrl-C reaches Python while C code runs and can stop them cleanly."""
from __future__ import annotations

import ctypes
import threading
from typing import Any, Callable

from . import _capi
from .errors import from_status


def check(status: int, prefix: str = "") -> None:
    """Raise the mlic.Error for status (the calling thread's mlic_errmsg()) unless it is MLIC_OK."""
    if status != 0:
        raise from_status(status, _capi.lib().mlic_errmsg().decode("utf-8", "replace"), prefix)


def run_cancellable(fn: Callable[[], int], cancel: ctypes.c_int) -> tuple[int, str]:
    """Run fn (a library call taking `cancel` as its cancel flag) in a thread and wait for it. A
    KeyboardInterrupt while waiting sets the flag and waits for the job to stop at its next clean
    point (further Ctrl-Cs are held back: it is already stopping); the job then returns
    MLIC_ERR_CANCELLED, which raise_for turns into mlic.Cancelled (a job that finished anyway
    re-raises the KeyboardInterrupt). Returns the status and mlic_errmsg() of the job's thread,
    as errors are per thread."""
    out: dict[str, Any] = {}

    def body() -> None:
        try:
            out["status"] = fn()
            out["msg"] = _capi.lib().mlic_errmsg().decode("utf-8", "replace")
        except BaseException as e:  # re-raised in the caller's thread
            out["exc"] = e

    t = threading.Thread(target=body, name="mlic-job", daemon=True)
    t.start()
    interrupted = False
    while t.is_alive():
        try:
            t.join(0.1)
        except KeyboardInterrupt:
            interrupted = True
            cancel.value = 2  # SIGINT's number, as the CLI's flag holds
    if "exc" in out:
        raise out["exc"]
    if interrupted and out["status"] == 0:
        raise KeyboardInterrupt
    return out["status"], out["msg"]


def raise_for(status: int, msg: str, prefix: str = "") -> None:
    if status != 0:
        raise from_status(status, msg, prefix)

