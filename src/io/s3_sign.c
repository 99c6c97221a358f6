#include "io/s3_sign.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void to_hex(char *out, const unsigned char *d, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void hmac(unsigned char out[32], const void *key, size_t klen, const char *msg)
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n);
}

void mlic_uri_encode(mlic_strbuf *b, const char *s, size_t n, int keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && keep_slash)) {
            mlic_strbuf_putc(b, (char)c);
        } else {
            char e[3] = {'%', digits[c >> 4], digits[c & 15]};
            mlic_strbuf_append(b, e, 3);
        }
    }
}

typedef struct {
    char *name, *value; /* encoded */
} pair;

static int pair_cmp(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static char *encoded(const char *s)
{
    mlic_strbuf b;
    mlic_strbuf_init(&b);
    mlic_uri_encode(&b, s, strlen(s), 0);
    mlic_strbuf_putc(&b, '\0');
    if (b.oom) {
        mlic_strbuf_free(&b);
        return NULL;
    }
    return b.data;
}

char *mlic_s3_query(const char *const *names, const char *const *values, int n)
{
    pair *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    mlic_strbuf b;
    mlic_strbuf_init(&b);
    int ok = p != NULL;
    for (int i = 0; ok && i < n; i++) {
        p[i].name = encoded(names[i]);
        p[i].value = encoded(values[i] ? values[i] : "");
        ok = p[i].name && p[i].value;
    }
    if (ok) {
        qsort(p, (size_t)n, sizeof *p, pair_cmp);
        mlic_strbuf_putc(&b, '\0');
        b.len = 0;
        for (int i = 0; i < n; i++)
            mlic_strbuf_printf(&b, "%s%s=%s", i ? "&" : "", p[i].name, p[i].value);
    }
    for (int i = 0; p && i < n; i++) {
        free(p[i].name);
        free(p[i].value);
    }
    free(p);
    if (!ok || b.oom) {
        mlic_strbuf_free(&b);
        return NULL;
    }
    return b.data;
}

void mlic_amz_date(char out[17], time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

char *mlic_sigv4_authorization(const char *method, const char *uri, const char *query,
                               const mlic_sig_header *hdrs, int nh, const char *payload_hash,
                               const char *amz_date, const char *region, const char *service,
                               const mlic_credentials *c)
{
    mlic_strbuf canon, names, sts;
    mlic_strbuf_init(&canon);
    mlic_strbuf_init(&names);
    mlic_strbuf_init(&sts);
    mlic_strbuf_printf(&canon, "%s\n%s\n%s\n", method, uri, query);
    for (int i = 0; i < nh; i++) {
        mlic_strbuf_printf(&canon, "%s:%s\n", hdrs[i].name, hdrs[i].value);
        mlic_strbuf_printf(&names, "%s%s", i ? ";" : "", hdrs[i].name);
    }
    mlic_strbuf_printf(&canon, "\n%s\n%s", names.data ? names.data : "", payload_hash);
    char date[9];
    snprintf(date, sizeof date, "%.8s", amz_date);
    char canon_hash[65];
    if (!canon.oom)
        mlic_sha256_hex(canon_hash, canon.data, canon.len);
    mlic_strbuf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date,
                       region, service, canon_hash);
    char *out = NULL;
    if (!canon.oom && !names.oom && !sts.oom) {
        /* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
        size_t sn = strlen(c->secret);
        char *k0 = malloc(sn + 5);
        if (k0) {
            memcpy(k0, "AWS4", 4);
            memcpy(k0 + 4, c->secret, sn + 1);
            unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
            hmac(k1, k0, sn + 4, date);
            memset(k0, 0, sn + 4);
            free(k0);
            hmac(k2, k1, 32, region);
            hmac(k3, k2, 32, service);
            hmac(k4, k3, 32, "aws4_request");
            hmac(sig, k4, 32, sts.data);
            char sighex[65];
            to_hex(sighex, sig, 32);
            mlic_strbuf auth;
            mlic_strbuf_init(&auth);
            mlic_strbuf_printf(&auth, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
                               "SignedHeaders=%s, Signature=%s", c->access_key_id, date, region,
                               service, names.data, sighex);
            if (!auth.oom)
                out = auth.data;
            else
                mlic_strbuf_free(&auth);
            memset(k1, 0, 32), memset(k2, 0, 32), memset(k3, 0, 32), memset(k4, 0, 32);
        }
    }
    mlic_strbuf_free(&canon);
    mlic_strbuf_free(&names);
    mlic_strbuf_free(&sts);
    return out;
}
