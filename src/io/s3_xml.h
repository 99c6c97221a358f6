/* The few fields mlic needs from S3's XML replies (error codes, listings, upload ids, parts),
 * found by a small scanner rather than a full parser: replies are flat, and anything the
 * scanner does not understand is treated as absent, never trusted. Text is entity-decoded;
 * nothing here allocates. */
#ifndef MLIC_IO_S3_XML_H
#define MLIC_IO_S3_XML_H

#include <stddef.h>

/* The decoded text of the first <tag>...</tag> in xml[0, len) into out (cap bytes, NUL
 * terminated). Returns its length, or -1 when the element is absent, unterminated, holds
 * markup or a NUL byte, or does not fit. "<Key>" never matches "<KeyMarker>". */
int mlic_xml_text(const char *xml, size_t len, const char *tag, char *out, size_t cap);

/* The next <tag>...</tag> at or after *pos: its inner text's span in *inner / *inner_len, and
 * *pos moved past it. Returns 0 when there is none (or it is unterminated). */
int mlic_xml_next(const char *xml, size_t len, size_t *pos, const char *tag, const char **inner,
                  size_t *inner_len);

/* Percent-decoding (S3 listings with encoding-type=url) in place; returns 0 on a bad escape or
 * a decoded NUL. */
int mlic_url_decode(char *s);

#endif
