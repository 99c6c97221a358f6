/* Getting an input's bytes: a local file, a file:// URL or an http(s):// URL (libcurl).
 *
 * Each fetch worker owns one fetcher, so one curl handle per thread keeps its connections alive
 * across requests to the same host. HTTP tries again, with back-off, on what may pass (timeouts,
 * refused or reset connections, 5xx, 429); any other 4xx is final. A fetcher given a cancel flag
 * aborts an HTTP transfer, or the wait before a retry, soon after the flag is set.
 */
#ifndef MLIC_PREDICT_FETCH_H
#define MLIC_PREDICT_FETCH_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "mlic.h"

/* No image file this large is worth reading: decoders refuse far smaller images by pixel count. */
#define MLIC_FETCH_MAX_BYTES ((size_t)1 << 30)
#define MLIC_FETCH_DEFAULT_TIMEOUT 60.0 /* seconds per HTTP attempt */
#define MLIC_FETCH_RETRIES 3

typedef struct mlic_fetcher mlic_fetcher;

/* root: the folder relative paths resolve against; timeout: seconds per HTTP attempt
 * (0 = MLIC_FETCH_DEFAULT_TIMEOUT). confine: local files must lie under root once every symbolic
 * link and ".." is resolved (util/confine.h); absolute paths and file:// URLs are refused (for
 * hosted jobs whose lists come from someone else; http(s) URLs are not affected).
 * cancel (may be NULL): once *cancel != 0, an HTTP fetch stops within about a second (libcurl
 * calls its progress callback at least that often) and tries no more, failing with
 * MLIC_ERR_CANCELLED: the input was not fetched, which says nothing about the input.
 * curl_global_init must have been called. */
mlic_status mlic_fetcher_create(mlic_fetcher **out, const char *root, double timeout, int confine,
                                const volatile sig_atomic_t *cancel);
void mlic_fetcher_destroy(mlic_fetcher *f);

/* *data is malloc'd. The error message names the source and what failed (HTTP status, curl's
 * error, errno). */
mlic_status mlic_fetcher_get(mlic_fetcher *f, uint8_t **data, size_t *len, const char *source);

#endif
