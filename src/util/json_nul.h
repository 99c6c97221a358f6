/* JSON text whose strings hold a NUL character (\u0000): cJSON decodes it into a C string, which
 * then silently ends there ("cat\u0000dog" reads as "cat"). Every JSON reader that keeps strings
 * (model and checkpoint metadata, the safetensors header, COCO and PAI data sets) refuses such
 * text instead, found by this one scan of the raw text. */
#ifndef MLIC_UTIL_JSON_NUL_H
#define MLIC_UTIL_JSON_NUL_H

#include <stddef.h>

/* Byte offset of the first \u0000 escape (or raw NUL byte) in text[0, len), or -1 if none.
 * An escaped backslash followed by "u0000" ("\\u0000") is text, not a NUL: not reported. */
long long mlic_json_nul_escape(const char *text, size_t len);

#endif
