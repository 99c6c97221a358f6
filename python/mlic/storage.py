"""Where s3://, oss:// and http(s):// paths are reached (mlic_storage_opts, docs/storage.md),
and the local cache of remote images, for mlic.train, mlic.evaluate, mlic.predict_file and
mlic.Dataset."""
from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, fields
from typing import Any, Dict, Optional, Union

from . import _capi
from ._call import check
from .errors import InvalidArgument


@dataclass
class Storage:
    """Object-storage settings; every one may be left unset: the environment and the usual
    configuration files then decide, in the order docs/storage.md gives (as the CLI's options
    of the same names: --s3-endpoint, --oss-endpoint, --region, --access-key-id, ...)."""
    s3_endpoint: Optional[str] = None
    oss_endpoint: Optional[str] = None
    region: Optional[str] = None
    access_key_id: Optional[str] = None
    secret_access_key: Optional[str] = None
    session_token: Optional[str] = None
    profile: Optional[str] = None
    role_arn: Optional[str] = None
    path_style: bool = False      # always path-style URLs (else only for an IP or localhost)
    max_in_flight: int = 0        # object-store requests in flight per fetching stage; 0: auto

    def __repr__(self) -> str:  # never shows a secret
        shown = ", ".join("%s=%r" % (f.name, getattr(self, f.name)) for f in fields(self)
                          if getattr(self, f.name) not in (None, False, 0)
                          and f.name not in ("secret_access_key", "session_token"))
        return "Storage(%s)" % shown


StorageLike = Union[Storage, Dict[str, Any], None]


def storage_opts(storage: StorageLike) -> Optional[Any]:
    """A pointer to the C struct for storage (a Storage or a dict of its fields), or None for
    the defaults; the pointer keeps what it points at alive."""
    if storage is None:
        return None
    if isinstance(storage, dict):
        storage = Storage(**storage)
    if not isinstance(storage, Storage):
        raise TypeError("storage must be an mlic.Storage or a dict of its fields, not %s"
                        % type(storage).__name__)
    o = _capi.StorageOpts()
    _capi.lib().mlic_storage_opts_init(ctypes.byref(o))
    for f in fields(Storage):
        v = getattr(storage, f.name)
        if f.name in ("path_style", "max_in_flight"):
            setattr(o, f.name, int(v))
        elif v is not None:
            setattr(o, f.name, os.fsencode(v))
    return ctypes.pointer(o)


def cache_bytes(size: Union[int, str, None]) -> int:
    """--cache-size: bytes, or text such as "10G" (mlic_parse_size); None: the default."""
    if size is None:
        return 0
    if isinstance(size, int):
        if size < 0:
            raise InvalidArgument("cache_size %d is negative" % size,
                                  "give bytes above 0, or text such as \"10G\"")
        return size
    v = ctypes.c_uint64()
    check(_capi.lib().mlic_parse_size(ctypes.byref(v), _capi.b(size)))
    return v.value
