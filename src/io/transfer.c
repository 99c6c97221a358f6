#include "io/transfer.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "io/s3_sign.h"
#include "io/s3_xml.h"
#include "util/strbuf.h"

void mlic_xfer_init(mlic_xfer *x)
{
    if (x->upload_len)
        mlic_sha256_hex(x->payload_hash, x->upload, x->upload_len);
    else
        strcpy(x->payload_hash, MLIC_SHA256_HEX_EMPTY);
    x->attempt = 0;
    x->headers = NULL;
    x->built_url = NULL;
}

char *mlic_xfer_store_url(const mlic_service *v, const char *bucket, const char *key,
                          const char *query)
{
    mlic_strbuf b;
    mlic_strbuf_init(&b);
    mlic_strbuf_printf(&b, "%s://", v->https ? "https" : "http");
    if (bucket && !v->path_style)
        mlic_strbuf_printf(&b, "%s.", bucket);
    mlic_strbuf_printf(&b, "%s/", v->host);
    if (bucket && v->path_style)
        mlic_strbuf_printf(&b, "%s/", bucket);
    if (key)
        mlic_uri_encode(&b, key, strlen(key), 1);
    if (query && *query)
        mlic_strbuf_printf(&b, "?%s", query);
    if (b.oom) {
        mlic_strbuf_free(&b);
        return NULL;
    }
    return b.data;
}

/* ---------------------------------------------------------------- libcurl callbacks */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    mlic_xfer *x = userdata;
    size_t n = size * nmemb;
    if (x->status < 200 || x->status >= 300) {
        size_t keep = sizeof x->errbody - 1 - x->errlen;
        if (keep > n)
            keep = n;
        memcpy(x->errbody + x->errlen, ptr, keep);
        x->errlen += keep;
        x->errbody[x->errlen] = '\0';
        return n;
    }
    if (x->has_range && x->status == 200 && x->skipped < x->range_start) {
        /* A server that ignores Range sends the whole object: skip to the offset. */
        uint64_t skip = x->range_start - x->skipped;
        if (skip >= n) {
            x->skipped += n;
            return n;
        }
        x->skipped += skip;
        ptr += skip;
        n -= (size_t)skip;
    }
    if (x->fixed) {
        size_t room = x->cap - x->len;
        if (n > room) {
            memcpy(x->buf + x->len, ptr, room);
            x->len += room;
            return x->has_range ? 0 : (x->too_large = 1, 0); /* 0 ends the transfer */
        }
        memcpy(x->buf + x->len, ptr, n);
        x->len += n;
        return size * nmemb;
    }
    if (n > x->limit - x->len) {
        x->too_large = 1;
        return 0;
    }
    if (x->len + n > x->cap) {
        size_t cap = x->cap ? x->cap : 64 * 1024;
        while (cap < x->len + n)
            cap *= 2;
        uint8_t *p = realloc(x->buf, cap);
        if (!p)
            return 0;
        x->buf = p;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, ptr, n);
    x->len += n;
    return size * nmemb;
}

static int header_is(const char *line, size_t n, const char *name, const char **value)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) || line[k] != ':')
        return 0;
    *value = line + k + 1;
    while (*value < line + n && (**value == ' ' || **value == '\t'))
        (*value)++;
    return 1;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    mlic_xfer *x = userdata;
    size_t n = size * nmemb;
    char line[512];
    size_t k = n < sizeof line - 1 ? n : sizeof line - 1;
    memcpy(line, ptr, k);
    while (k && (line[k - 1] == '\r' || line[k - 1] == '\n'))
        k--;
    line[k] = '\0';
    const char *v;
    if (!strncmp(line, "HTTP/", 5)) {
        /* A new response (after a 100 Continue or a redirect): forget the previous one's. */
        const char *sp = strchr(line, ' ');
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->content_length = -1;
        x->have_content_range = 0;
        x->etag[0] = '\0';
    } else if (header_is(line, k, "Content-Length", &v)) {
        x->content_length = strtoll(v, NULL, 10);
    } else if (header_is(line, k, "Content-Range", &v)) {
        unsigned long long a, b, t;
        if (sscanf(v, "bytes %llu-%llu/%llu", &a, &b, &t) == 3 && a <= b) {
            x->have_content_range = 1;
            x->cr_start = a, x->cr_end = b, x->cr_total = t;
        }
    } else if (header_is(line, k, "ETag", &v)) {
        snprintf(x->etag, sizeof x->etag, "%s", v);
    }
    return n;
}

static size_t on_upload(char *buffer, size_t size, size_t nitems, void *userdata)
{
    mlic_xfer *x = userdata;
    size_t n = size * nitems, left = x->upload_len - x->upload_pos;
    if (n > left)
        n = left;
    memcpy(buffer, x->upload + x->upload_pos, n);
    x->upload_pos += n;
    return n;
}

static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const mlic_xfer *x = clientp;
    return x->cancel && *x->cancel;
}

/* ---------------------------------------------------------------- an attempt */

/* Session tokens run to kilobytes: the line is as long as it needs. */
static int add_header(struct curl_slist **l, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = malloc(n);
    if (!line)
        return 0;
    snprintf(line, n, "%s: %s", name, value);
    struct curl_slist *added = curl_slist_append(*l, line);
    memset(line, 0, n); /* the Authorization line, the token */
    free(line);
    if (!added)
        return 0;
    *l = added;
    return 1;
}

static int header_cmp(const void *a, const void *b)
{
    return strcmp(((const mlic_sig_header *)a)->name, ((const mlic_sig_header *)b)->name);
}

/* The store's URL and signed headers for this attempt. */
static mlic_status sign_store(mlic_xfer *x)
{
    const mlic_service *v = x->service;
    if (!v->have_endpoint)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "%s: no endpoint for %s:// paths. HINT: %s",
                         x->path, v->scheme_name, v->endpoint_hint);
    if (!v->creds.access_key_id)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "%s: no credentials found (looked at %s). HINT: "
                         "set them in the environment (docs/storage.md)", x->path, v->searched);
    x->built_url = mlic_xfer_store_url(v, x->bucket, x->key, x->query);
    char host[320], date[17];
    if (x->bucket && !v->path_style)
        snprintf(host, sizeof host, "%s.%s", x->bucket, v->host);
    else
        snprintf(host, sizeof host, "%s", v->host);
    mlic_amz_date(date, time(NULL));
    mlic_strbuf uri;
    mlic_strbuf_init(&uri);
    mlic_strbuf_putc(&uri, '/');
    if (x->bucket && v->path_style)
        mlic_strbuf_printf(&uri, "%s%s", x->bucket, x->key ? "/" : "");
    if (x->key)
        mlic_uri_encode(&uri, x->key, strlen(x->key), 1);
    mlic_sig_header h[8];
    int nh = 0;
    h[nh++] = (mlic_sig_header){"host", host};
    h[nh++] = (mlic_sig_header){"x-amz-content-sha256", x->payload_hash};
    h[nh++] = (mlic_sig_header){"x-amz-date", date};
    if (v->creds.session_token)
        h[nh++] = (mlic_sig_header){"x-amz-security-token", v->creds.session_token};
    if (x->copy_source)
        h[nh++] = (mlic_sig_header){"x-amz-copy-source", x->copy_source};
    if (x->copy_range)
        h[nh++] = (mlic_sig_header){"x-amz-copy-source-range", x->copy_range};
    qsort(h, (size_t)nh, sizeof h[0], header_cmp);
    char *auth = uri.oom ? NULL
                         : mlic_sigv4_authorization(x->method, uri.data, x->query ? x->query : "",
                                                    h, nh, x->payload_hash, date, v->region,
                                                    x->service_name ? x->service_name : "s3",
                                                    &v->creds);
    mlic_strbuf_free(&uri);
    int ok = auth && x->built_url;
    for (int i = 0; ok && i < nh; i++)
        ok = add_header(&x->headers, h[i].name, h[i].value);
    ok = ok && add_header(&x->headers, "Authorization", auth);
    if (auth)
        memset(auth, 0, strlen(auth));
    free(auth);
    if (!ok)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory signing the request", x->path);
    return MLIC_OK;
}

mlic_status mlic_xfer_setup(mlic_xfer *x, CURL *c)
{
    mlic_xfer_cleanup(x);
    x->len = 0;
    x->status = 0;
    x->content_length = -1;
    x->have_content_range = 0;
    x->etag[0] = '\0';
    x->errlen = 0;
    x->errbody[0] = '\0';
    x->too_large = x->short_reply = 0;
    x->skipped = 0;
    x->upload_pos = 0;
    x->curl_err[0] = '\0';
    curl_easy_reset(c);
    if (x->service) {
        mlic_status st = sign_store(x);
        if (st != MLIC_OK)
            return st;
    }
    int ok = 1;
    if (x->has_range) {
        char r[80];
        snprintf(r, sizeof r, "bytes=%" PRIu64 "-%" PRIu64, x->range_start,
                 x->range_start + (x->cap ? x->cap : 1) - 1);
        ok = add_header(&x->headers, "Range", r);
    }
    if (ok && x->content_type)
        ok = add_header(&x->headers, "Content-Type", x->content_type);
    /* No "Expect: 100-continue" round trip before a body: stores answer at once. */
    ok = ok && (x->headers = curl_slist_append(x->headers, "Expect:")) != NULL;
    if (!ok)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory", x->path);
    curl_easy_setopt(c, CURLOPT_URL, x->service ? x->built_url : x->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* signals are process-wide: not in threads */
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    if (!x->service) {
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
        if (!x->has_range)
            curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    }
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, x->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, x->timeout_ms);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mlic/" MLIC_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->curl_err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (!strcmp(x->method, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(x->method, "PUT")) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload);
        curl_easy_setopt(c, CURLOPT_READDATA, x);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->upload_len);
    } else if (!strcmp(x->method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, x->upload ? (const char *)x->upload : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->upload_len);
    } else if (strcmp(x->method, "GET")) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, x->method);
    }
    return MLIC_OK;
}

void mlic_xfer_cleanup(mlic_xfer *x)
{
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    free(x->built_url);
    x->built_url = NULL;
}

/* ---------------------------------------------------------------- judging the reply */

static int curl_error_may_pass(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

/* S3's error codes that say "try again" even under a 4xx status. */
static int code_may_pass(const char *code)
{
    static const char *const codes[] = {"SlowDown", "RequestTimeout", "InternalError",
                                        "ServiceUnavailable", "OperationAborted",
                                        "RequestTimeTooSkewed", "Throttling"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (!strcmp(code, codes[i]))
            return 1;
    return 0;
}

/* What to tell the user to look at, by S3 error code or status. */
static const char *hint_for(const mlic_xfer *x, const char *code, char *buf, size_t cap)
{
    const char *src = x->service && x->service->creds.source ? x->service->creds.source : "";
    if (!strcmp(code, "InvalidAccessKeyId"))
        snprintf(buf, cap, "the store does not know the access key id (from %s)", src);
    else if (!strcmp(code, "SignatureDoesNotMatch"))
        snprintf(buf, cap, "the secret (from %s) does not belong to the access key id, or a "
                 "proxy changed the request", src);
    else if (!strcmp(code, "ExpiredToken") || !strcmp(code, "InvalidToken"))
        snprintf(buf, cap, "the session token (from %s) has expired or is not valid", src);
    else if (!strcmp(code, "NoSuchBucket"))
        snprintf(buf, cap, "check the bucket's name and the endpoint (%s)",
                 x->service ? x->service->host : "");
    else if (!strcmp(code, "NoSuchKey") || x->status == 404)
        snprintf(buf, cap, "check the path");
    else if (!strcmp(code, "AccessDenied") || x->status == 403)
        snprintf(buf, cap, "check the credentials (from %s) and what they may access",
                 x->service ? src : "the server");
    else if (!strcmp(code, "PermanentRedirect") || x->status == 301)
        snprintf(buf, cap, "the bucket lives in another region or endpoint: set --region or "
                 "the endpoint");
    else
        return NULL;
    return buf;
}

/* Control characters out, so that a hostile reply cannot forge lines in a log. */
static void clean(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

mlic_xfer_outcome mlic_xfer_judge(mlic_xfer *x, CURL *c, CURLcode rc, int retries,
                                  mlic_status *st)
{
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status)
        x->status = status;
    char why[1024];
    int may_pass;
    mlic_status fail = MLIC_ERR_NETWORK;
    char code[64] = "", msg[256] = "", hintbuf[256];
    const char *hint = NULL;
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
        *st = mlic_fail(MLIC_ERR_CANCELLED, "%s %s: cancelled", x->method, x->path);
        return MLIC_XFER_FAILED;
    }
    if (rc == CURLE_WRITE_ERROR && x->too_large) {
        *st = mlic_fail(MLIC_ERR_TOO_LARGE, "%s %s: the body exceeds the %zu-byte limit",
                        x->method, x->path, x->fixed ? x->cap : x->limit);
        return MLIC_XFER_FAILED;
    }
    int range_full = rc == CURLE_WRITE_ERROR && x->has_range && x->fixed && x->len == x->cap;
    if ((rc == CURLE_OK || range_full) && x->status >= 200 && x->status < 300) {
        if (x->has_range && x->status == 206) {
            uint64_t want = x->have_content_range ? x->cr_end - x->cr_start + 1 : 0;
            if (!x->have_content_range || x->cr_start != x->range_start) {
                snprintf(why, sizeof why, "a reply to a Range request without the range asked for");
                may_pass = 1;
                goto failed;
            }
            if (want > x->cap)
                want = x->cap;
            if (x->len < want) {
                snprintf(why, sizeof why, "the reply to a Range request was cut short (%zu of "
                         "%" PRIu64 " bytes)", x->len, want);
                may_pass = 1;
                goto failed;
            }
        }
        return MLIC_XFER_DONE;
    }
    if (rc == CURLE_OK && x->has_range && x->status == 416) {
        x->len = 0; /* the range starts at or after the end */
        return MLIC_XFER_DONE;
    }
    if (rc == CURLE_OK) {
        mlic_xml_text(x->errbody, x->errlen, "Code", code, sizeof code);
        mlic_xml_text(x->errbody, x->errlen, "Message", msg, sizeof msg);
        clean(code);
        clean(msg);
        size_t ml = strlen(msg);
        while (ml && (msg[ml - 1] == '.' || msg[ml - 1] == ' '))
            msg[--ml] = '\0'; /* the sentence ends where mlic's message goes on */
        may_pass = x->status >= 500 || x->status == 429 || x->status == 408 || code_may_pass(code);
        if (x->status == 404 || x->status == 403)
            fail = MLIC_ERR_IO;
        if (!strcmp(x->method, "HEAD") && x->status == 404 && !*code)
            snprintf(code, sizeof code, "NotFound");
        snprintf(why, sizeof why, "HTTP %ld%s%s%s%s", x->status, *code ? " " : "", code,
                 *msg ? ": " : "", msg);
        hint = may_pass ? NULL : hint_for(x, code, hintbuf, sizeof hintbuf);
    } else {
        may_pass = curl_error_may_pass(rc);
        snprintf(why, sizeof why, "%s (curl error %d)",
                 x->curl_err[0] ? x->curl_err : curl_easy_strerror(rc), (int)rc);
    }
failed:
    if (may_pass && x->attempt < retries) {
        x->attempt++;
        return MLIC_XFER_RETRY;
    }
    char after[48] = "";
    if (x->attempt > 0)
        snprintf(after, sizeof after, " (after %d attempts)", x->attempt + 1);
    *st = mlic_fail(fail, "%s %s: %s%s%s%s", x->method, x->path, why, after,
                    hint ? ". HINT: " : "", hint ? hint : "");
    return MLIC_XFER_FAILED;
}

long mlic_xfer_backoff_ms(const mlic_xfer *x, unsigned *seed)
{
    /* 250 ms doubling per attempt, capped at 8 s, drawn in [half, full] ("equal jitter"), so
     * that clients that failed together do not retry together. */
    long full = 250L << (x->attempt > 6 ? 5 : x->attempt - 1);
    if (full > 8000)
        full = 8000;
    return full / 2 + (long)(rand_r(seed) % (unsigned)(full / 2 + 1));
}
