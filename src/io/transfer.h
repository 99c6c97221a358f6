/* One remote request, as both the blocking client (io/client.c) and the many-in-flight fetcher
 * (io/fetch_many.c) make it: setting up a curl easy handle for an attempt (signing it afresh for
 * a store), collecting the reply, and judging it: done, worth another attempt, or failed with a
 * message naming the path and the cause. One implementation of the retry policy for every
 * caller. */
#ifndef MLIC_IO_TRANSFER_H
#define MLIC_IO_TRANSFER_H

#include <curl/curl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "io/service.h"
#include "mlic.h"

typedef enum { MLIC_XFER_DONE, MLIC_XFER_RETRY, MLIC_XFER_FAILED } mlic_xfer_outcome;

#define MLIC_XFER_ERRBODY 4096 /* bytes of an error reply kept for its code and message */

typedef struct {
    /* ---- the request, set by the caller */
    const char *path;            /* how messages name it: s3://bucket/key or the URL */
    const char *method;          /* GET, HEAD, PUT, POST, DELETE */
    const mlic_service *service; /* NULL: a plain http(s) URL */
    const char *url;             /* plain http(s) */
    const char *service_name;    /* what signs: "s3" (NULL) or "sts" */
    const char *bucket;          /* store requests: NULL for the endpoint itself (STS) */
    const char *key;             /* "" for the bucket */
    const char *query;           /* canonical (io/s3_sign.h mlic_s3_query); NULL: none */
    const char *copy_source;     /* x-amz-copy-source, already encoded; NULL: none */
    const char *copy_range;      /* x-amz-copy-source-range; NULL: none */
    const char *content_type;    /* NULL: none */
    uint64_t range_start;        /* with has_range: bytes [range_start, range_start + cap) */
    int has_range;
    const uint8_t *upload;       /* PUT / POST body */
    size_t upload_len;
    char payload_hash[65];       /* filled by mlic_xfer_init */
    /* Where a 2xx body goes: into buf (fixed: at most cap bytes, the rest is an error unless a
     * Range asked for it) or a growing malloc'd buffer of at most limit bytes. */
    uint8_t *buf;
    size_t cap;
    int fixed;
    size_t limit;
    const volatile sig_atomic_t *cancel;
    long timeout_ms, connect_timeout_ms;

    /* ---- the reply, filled by the transfer */
    size_t len;       /* body bytes kept */
    long status;
    int64_t content_length; /* -1: not given */
    int have_content_range;
    uint64_t cr_start, cr_end, cr_total;
    char etag[72];
    char errbody[MLIC_XFER_ERRBODY];
    size_t errlen;
    int too_large, short_reply;
    uint64_t skipped; /* of a 200 reply to a Range request: bytes before range_start */
    size_t upload_pos;
    int attempt;      /* 0 for the first */
    struct curl_slist *headers;
    char *built_url;
    char curl_err[CURL_ERROR_SIZE];
} mlic_xfer;

/* Computes the payload hash and clears the reply. */
void mlic_xfer_init(mlic_xfer *x);
/* Resets c and sets it up for the next attempt; the message names the path on failure. */
mlic_status mlic_xfer_setup(mlic_xfer *x, CURL *c);
/* After an attempt ended with rc: what to do. MLIC_XFER_FAILED leaves the status in *st and the
 * message in mlic_errmsg(); MLIC_XFER_RETRY when attempts remain (retries further attempts in
 * all), else the failure. */
mlic_xfer_outcome mlic_xfer_judge(mlic_xfer *x, CURL *c, CURLcode rc, int retries,
                                  mlic_status *st);
/* The wait before attempt x->attempt (>= 1): exponential back-off with jitter, in ms. seed: the
 * caller's random state (rand_r). */
long mlic_xfer_backoff_ms(const mlic_xfer *x, unsigned *seed);
/* Frees what the setup made; the reply stays. */
void mlic_xfer_cleanup(mlic_xfer *x);

/* The request URL of a store request, without any secret (tool_io's "url" mode and messages).
 * malloc'd, NULL when out of memory. */
char *mlic_xfer_store_url(const mlic_service *v, const char *bucket, const char *key,
                          const char *query);

#endif
