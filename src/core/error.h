/* Error reporting inside the library: set the calling thread's message and return the status,
 * so that a failure is reported in one line:  return mlic_fail(MLIC_ERR_IO, "open %s: %s", ...); */
#ifndef MLIC_CORE_ERROR_H
#define MLIC_CORE_ERROR_H

#include "mlic.h"

mlic_status mlic_fail(mlic_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message with more context ("loading model.safetensors: " ...). */
mlic_status mlic_fail_prefix(mlic_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mlic_clear_error(void);

#endif
