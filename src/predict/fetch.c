#include "predict/fetch.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/error.h"
#include "util/confine.h"
#include "util/file_open.h"
#include "util/path.h"

struct mlic_fetcher {
    char *root;
    char *real_root; /* confined: root's realpath, else NULL */
    CURL *curl;    /* created on the first HTTP request */
    long timeout_ms;
    long connect_timeout_ms;
    const volatile sig_atomic_t *cancel; /* may be NULL */
};

typedef struct {
    uint8_t *data;
    size_t len, cap;
    int too_large;
} grow_buf;

mlic_status mlic_fetcher_create(mlic_fetcher **out, const char *root, double timeout, int confine,
                                const volatile sig_atomic_t *cancel)
{
    *out = NULL;
    mlic_fetcher *f = calloc(1, sizeof *f);
    if (!f || !(f->root = strdup(root))) {
        free(f);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory creating a fetcher");
    }
    f->cancel = cancel;
    mlic_status st = confine ? mlic_confine_root(&f->real_root, root) : MLIC_OK;
    if (st != MLIC_OK) {
        mlic_fetcher_destroy(f);
        return st;
    }
    if (timeout <= 0)
        timeout = MLIC_FETCH_DEFAULT_TIMEOUT;
    f->timeout_ms = (long)(timeout * 1000.0 + 0.5);
    if (f->timeout_ms < 1)
        f->timeout_ms = 1;
    /* Connecting should take far less than a whole transfer; 10 s covers slow DNS and SYN retries. */
    f->connect_timeout_ms = f->timeout_ms < 10000 ? f->timeout_ms : 10000;
    *out = f;
    return MLIC_OK;
}

void mlic_fetcher_destroy(mlic_fetcher *f)
{
    if (!f)
        return;
    if (f->curl)
        curl_easy_cleanup(f->curl);
    free(f->root);
    free(f->real_root);
    free(f);
}

static mlic_status read_file(uint8_t **data, size_t *len, const char *path, const char *source)
{
    char name[512];
    snprintf(name, sizeof name, "'%s' (%s)", source, path);
    FILE *fp;
    mlic_status status = mlic_file_fopen_read(&fp, path, name, 0);
    if (status != MLIC_OK)
        return status;
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
        int e = errno;
        fclose(fp);
        return mlic_fail(MLIC_ERR_IO, "cannot stat '%s' (%s): %s", source, path, strerror(e));
    }
    if ((uint64_t)st.st_size > MLIC_FETCH_MAX_BYTES) {
        fclose(fp);
        return mlic_fail(MLIC_ERR_TOO_LARGE, "'%s' is %lld bytes, over the %zu-byte limit for an image",
                         source, (long long)st.st_size, MLIC_FETCH_MAX_BYTES);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(fp);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory reading '%s' (%zu bytes)", source, n);
    }
    size_t got = fread(buf, 1, n, fp);
    int err = ferror(fp);
    int e = errno;
    fclose(fp);
    if (got != n) {
        free(buf);
        if (err)
            return mlic_fail(MLIC_ERR_IO, "reading '%s' (%s): %s", source, path, strerror(e));
        return mlic_fail(MLIC_ERR_IO, "reading '%s' (%s): the file shrank while being read",
                         source, path);
    }
    *data = buf;
    *len = n;
    return MLIC_OK;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* file:///abs/path or file://localhost/abs/path, percent-decoded into a malloc'd *path. */
static mlic_status file_url_path(char **path, const char *url)
{
    const char *p = url + strlen("file://");
    if (!strncmp(p, "localhost/", strlen("localhost/")))
        p += strlen("localhost");
    if (*p != '/')
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "'%s': only local file:// URLs (file:///path) are "
                         "supported. HINT: write file:///absolute/path or a plain path", url);
    char *out = malloc(strlen(p) + 1), *o = out;
    if (!out)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    for (; *p; p++) {
        int hi, lo;
        if (*p == '%' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0 && (hi || lo)) {
            *o++ = (char)(hi * 16 + lo);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    *path = out;
    return MLIC_OK;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    grow_buf *b = userdata;
    size_t n = size * nmemb;
    if (n > MLIC_FETCH_MAX_BYTES - b->len) {
        b->too_large = 1;
        return 0;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64 * 1024;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p)
            return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    return n;
}

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

static int cancelled(const mlic_fetcher *f)
{
    return f->cancel && *f->cancel;
}

/* libcurl's progress callback: non-zero aborts the transfer (CURLE_ABORTED_BY_CALLBACK). */
static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return cancelled(clientp);
}

/* How often the wait before a retry looks at the cancel flag. */
#define CANCEL_POLL_MS 50

/* The back-off before a retry; 0 if the fetch was cancelled meanwhile. */
static int sleep_ms(const mlic_fetcher *f, long ms)
{
    while (ms > 0 && !cancelled(f)) {
        long step = ms < CANCEL_POLL_MS ? ms : CANCEL_POLL_MS;
        struct timespec ts = {0, step * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        ms -= step;
    }
    return !cancelled(f);
}

static mlic_status fetch_cancelled(const char *url)
{
    return mlic_fail(MLIC_ERR_CANCELLED, "GET %s: cancelled", url);
}

static mlic_status http_get(mlic_fetcher *f, uint8_t **data, size_t *len, const char *url)
{
    if (!f->curl && !(f->curl = curl_easy_init()))
        return mlic_fail(MLIC_ERR_NETWORK, "GET %s: curl_easy_init failed", url);
    CURL *c = f->curl;
    char errbuf[CURL_ERROR_SIZE];
    grow_buf body = {0};
    mlic_status st = MLIC_OK;
    long backoff_ms = 250;
    for (int attempt = 0;; attempt++) {
        body.len = 0;
        body.too_large = 0;
        errbuf[0] = '\0';
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* signals are process-wide: not in threads */
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, f->connect_timeout_ms);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, f->timeout_ms);
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
        curl_easy_setopt(c, CURLOPT_USERAGENT, "mlic/" MLIC_VERSION);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
        if (f->cancel) {
            curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
            curl_easy_setopt(c, CURLOPT_XFERINFODATA, f);
            curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        }
        CURLcode rc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        char why[CURL_ERROR_SIZE + 64];
        int may_pass;
        if (rc == CURLE_OK && status >= 200 && status < 300) {
            st = MLIC_OK;
            break;
        } else if (rc == CURLE_OK) {
            may_pass = status >= 500 || status == 429 || status == 408;
            st = MLIC_ERR_NETWORK;
            snprintf(why, sizeof why, "HTTP %ld", status);
        } else if (rc == CURLE_ABORTED_BY_CALLBACK) {
            st = fetch_cancelled(url);
            break;
        } else if (body.too_large) {
            st = mlic_fail(MLIC_ERR_TOO_LARGE, "GET %s: the body exceeds the %zu-byte limit for an image",
                           url, MLIC_FETCH_MAX_BYTES);
            break;
        } else {
            may_pass = curl_error_may_pass(rc);
            st = MLIC_ERR_NETWORK;
            snprintf(why, sizeof why, "%s (curl error %d)", errbuf[0] ? errbuf : curl_easy_strerror(rc),
                     (int)rc);
        }
        if (!may_pass || attempt == MLIC_FETCH_RETRIES) {
            if (attempt > 0)
                mlic_fail(st, "GET %s: %s (after %d attempts)", url, why, attempt + 1);
            else
                mlic_fail(st, "GET %s: %s", url, why);
            break;
        }
        if (!sleep_ms(f, backoff_ms)) {
            st = fetch_cancelled(url);
            break;
        }
        backoff_ms *= 2;
    }
    /* Keep no pointers to this stack frame in the reused handle. */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
    if (st != MLIC_OK) {
        free(body.data);
        return st;
    }
    *data = body.data ? body.data : malloc(1);
    *len = body.len;
    if (!*data)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    return MLIC_OK;
}

/* "scheme://" with an RFC 3986 scheme name: the length of the scheme, or 0. */
static size_t url_scheme_len(const char *s)
{
    if (!isalpha((unsigned char)s[0]))
        return 0;
    size_t i = 1;
    while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return strncmp(s + i, "://", 3) ? 0 : i;
}

mlic_status mlic_fetcher_get(mlic_fetcher *f, uint8_t **data, size_t *len, const char *source)
{
    *data = NULL;
    *len = 0;
    size_t scheme = url_scheme_len(source);
    if (f->real_root && (scheme == 0 || !strncasecmp(source, "file://", 7))) {
        char *path;
        mlic_status st = mlic_confine_path(&path, f->root, f->real_root, source);
        if (st == MLIC_OK)
            st = read_file(data, len, path, source);
        free(path);
        return st;
    }
    if (scheme == 0) {
        char *path = mlic_path_join(f->root, source);
        if (!path)
            return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
        mlic_status st = read_file(data, len, path, source);
        free(path);
        return st;
    }
    if (!strncasecmp(source, "http://", 7) || !strncasecmp(source, "https://", 8))
        return http_get(f, data, len, source);
    if (!strncasecmp(source, "file://", 7)) {
        char *path = NULL;
        mlic_status st = file_url_path(&path, source);
        if (st != MLIC_OK)
            return st;
        st = read_file(data, len, path, source);
        free(path);
        return st;
    }
    if (!strncasecmp(source, "oss://", 6))
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "'%s': oss:// URLs are not supported. HINT: download "
                         "the objects (ossutil cp) and list local paths, or list their http(s) URLs",
                         source);
    return mlic_fail(MLIC_ERR_UNSUPPORTED, "'%s': the URL scheme '%.*s' is not supported. HINT: use a "
                     "local path, file://, http:// or https://", source, (int)scheme, source);
}
