#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Per-thread, like errno: the only way to give every thread (decode workers, inference) its own
 * message without threading a context through every call. */
static _Thread_local char errbuf[1024];

const char *mlic_errmsg(void) { return errbuf; }

void mlic_clear_error(void) { errbuf[0] = '\0'; }

mlic_status mlic_fail(mlic_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return s;
}

mlic_status mlic_fail_prefix(mlic_status s, const char *fmt, ...)
{
    char prefix[512], old[sizeof errbuf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, errbuf, sizeof old);
    snprintf(errbuf, sizeof errbuf, "%.511s%.511s", prefix, old);
    return s;
}

const char *mlic_status_name(mlic_status s)
{
    switch (s) {
    case MLIC_OK: return "ok";
    case MLIC_ERR_INVALID_ARG: return "invalid argument";
    case MLIC_ERR_IO: return "I/O error";
    case MLIC_ERR_FORMAT: return "bad format";
    case MLIC_ERR_UNSUPPORTED: return "unsupported";
    case MLIC_ERR_NOMEM: return "out of memory";
    case MLIC_ERR_DECODE: return "decode error";
    case MLIC_ERR_TOO_LARGE: return "too large";
    case MLIC_ERR_NETWORK: return "network error";
    case MLIC_ERR_BACKEND: return "backend error";
    case MLIC_ERR_INTERNAL: return "internal error";
    case MLIC_ERR_PARTIAL: return "some inputs failed";
    case MLIC_ERR_CANCELLED: return "cancelled";
    }
    return "unknown status";
}
