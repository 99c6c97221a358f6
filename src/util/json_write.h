/* Writing JSON values into a strbuf. Output is always valid JSON: strings are escaped per
 * RFC 8259 and bytes that are not valid UTF-8 become U+FFFD (file names are arbitrary bytes). */
#ifndef MLIC_UTIL_JSON_WRITE_H
#define MLIC_UTIL_JSON_WRITE_H

#include "util/strbuf.h"

/* A quoted, escaped string. */
void mlic_json_write_string(mlic_strbuf *b, const char *s);
/* "%.9g" (enough digits to round-trip a float); NaN and infinities, which JSON lacks, as null. */
void mlic_json_write_float(mlic_strbuf *b, double v);
void mlic_json_write_bool(mlic_strbuf *b, int v);

/* Length of the valid UTF-8 sequence starting at s (1..4), or 0 if the bytes there are not one
 * (overlong forms, surrogates and code points above U+10FFFF are invalid too); the JSON and the
 * HTML writers replace such bytes. */
int mlic_utf8_seq_len(const unsigned char *s);

#endif
