/* Multipart uploads over the client's retried, signed requests (io/client_internal.h). */
#include "io/multipart.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/client_internal.h"
#include "io/s3_sign.h"
#include "io/s3_xml.h"
#include "util/strbuf.h"

#define REPLY_LIMIT (16u << 20) /* a ListParts page of 1,000 parts is far smaller */

/* Resolves path, which must name an object in a store. */
static mlic_status resolve_object(mlic_io *io, mlic_io_resolved *r, const char *path)
{
    mlic_status st = mlic_io_resolve(io, r, path);
    if (st == MLIC_OK && r->kind != MLIC_LOC_S3 && r->kind != MLIC_LOC_OSS) {
        mlic_io_resolved_free(r);
        return mlic_fail(MLIC_ERR_INVALID_ARG, "'%s': multipart uploads go to s3:// or oss:// "
                         "objects only", path);
    }
    if (st == MLIC_OK && !*r->obj.key) {
        mlic_io_resolved_free(r);
        return mlic_fail(MLIC_ERR_INVALID_ARG, "'%s' names a bucket, not an object", path);
    }
    return st;
}

/* One request on path's object with the given query (pairs), body and method; the reply body
 * (malloc'd, NUL-terminated) in *reply when reply is non-NULL. */
static mlic_status request(mlic_io *io, const mlic_io_resolved *r, const char *method,
                           const char *const *names, const char *const *values, int nq,
                           const void *body, size_t len, const char *content_type, mlic_xfer *x,
                           char **reply)
{
    char *query = mlic_s3_query(names, values, nq);
    if (!query)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    mlic_io_xfer_prepare(io, x, r, method);
    x->query = query;
    x->upload = body;
    x->upload_len = len;
    x->content_type = content_type;
    x->limit = REPLY_LIMIT;
    mlic_status st = mlic_io_perform(io, x);
    free(query);
    x->query = NULL;
    if (st == MLIC_OK && reply) {
        char *s = realloc(x->buf, x->len + 1);
        if (!s) {
            st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
        } else {
            s[x->len] = '\0';
            *reply = s;
            x->buf = NULL;
            return MLIC_OK;
        }
    }
    free(x->buf);
    x->buf = NULL;
    return st;
}

mlic_status mlic_io_upload_create(mlic_io *io, const char *path, char **upload_id)
{
    *upload_id = NULL;
    mlic_io_resolved r;
    mlic_status st = resolve_object(io, &r, path);
    if (st != MLIC_OK)
        return st;
    const char *n[] = {"uploads"}, *v[] = {NULL};
    mlic_xfer x;
    char *reply = NULL;
    st = request(io, &r, "POST", n, v, 1, NULL, 0, NULL, &x, &reply);
    char id[1024];
    if (st == MLIC_OK && mlic_xml_text(reply, x.len, "UploadId", id, sizeof id) <= 0)
        st = mlic_fail(MLIC_ERR_FORMAT, "starting a multipart upload of %s: the reply holds no "
                       "upload id", r.full);
    if (st == MLIC_OK && !(*upload_id = strdup(id)))
        st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    free(reply);
    mlic_io_resolved_free(&r);
    return st;
}

void mlic_io_upload_ids_free(char **ids, size_t n)
{
    for (size_t i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
}

mlic_status mlic_io_upload_find(mlic_io *io, const char *path, char ***ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    mlic_io_resolved r;
    mlic_status st = resolve_object(io, &r, path);
    if (st != MLIC_OK)
        return st;
    mlic_io_resolved bucket = r;
    char key_marker[2048] = "", id_marker[1024] = "";
    size_t cap = 0;
    for (int more = 1; more && st == MLIC_OK;) {
        const char *names[] = {"uploads", "prefix", "key-marker", "upload-id-marker"};
        const char *values[] = {NULL, r.obj.key, key_marker, id_marker};
        mlic_xfer x;
        char *reply = NULL;
        char *saved_key = bucket.obj.key;
        bucket.obj.key = "";
        st = request(io, &bucket, "GET", names, values, *key_marker ? 4 : 2, NULL, 0, NULL, &x, &reply);
        bucket.obj.key = saved_key;
        size_t pos = 0, len;
        const char *item;
        while (st == MLIC_OK && mlic_xml_next(reply, x.len, &pos, "Upload", &item, &len)) {
            char key[2048], id[1024];
            if (mlic_xml_text(item, len, "Key", key, sizeof key) < 0 ||
                mlic_xml_text(item, len, "UploadId", id, sizeof id) <= 0) {
                st = mlic_fail(MLIC_ERR_FORMAT, "listing the uploads of %s: an entry without a "
                               "readable key and upload id", r.full);
                break;
            }
            if (strcmp(key, r.obj.key))
                continue;
            if (*n == cap) {
                cap = cap ? 2 * cap : 4;
                char **p = realloc(*ids, cap * sizeof *p);
                if (!p) {
                    st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
                    break;
                }
                *ids = p;
            }
            if (!((*ids)[*n] = strdup(id))) {
                st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
                break;
            }
            (*n)++;
        }
        char trunc[16];
        more = st == MLIC_OK &&
               mlic_xml_text(reply, x.len, "IsTruncated", trunc, sizeof trunc) > 0 &&
               !strcmp(trunc, "true") &&
               mlic_xml_text(reply, x.len, "NextKeyMarker", key_marker, sizeof key_marker) > 0 &&
               mlic_xml_text(reply, x.len, "NextUploadIdMarker", id_marker, sizeof id_marker) > 0;
        free(reply);
    }
    if (st != MLIC_OK) {
        mlic_io_upload_ids_free(*ids, *n);
        *ids = NULL;
        *n = 0;
    }
    mlic_io_resolved_free(&r);
    return st;
}

static mlic_status check_number(const char *path, int number)
{
    if (number < 1 || number > MLIC_IO_MAX_PARTS)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "%s: part number %d is outside 1..%d", path,
                         number, MLIC_IO_MAX_PARTS);
    return MLIC_OK;
}

mlic_status mlic_io_upload_part(mlic_io *io, const char *path, const char *upload_id, int number,
                                const void *data, size_t len, mlic_io_part *out)
{
    memset(out, 0, sizeof *out);
    mlic_io_resolved r;
    mlic_status st = check_number(path, number);
    if (st == MLIC_OK)
        st = resolve_object(io, &r, path);
    if (st != MLIC_OK)
        return st;
    char num[16];
    snprintf(num, sizeof num, "%d", number);
    const char *n[] = {"partNumber", "uploadId"}, *v[] = {num, upload_id};
    mlic_xfer x;
    st = request(io, &r, "PUT", n, v, 2, data, len, NULL, &x, NULL);
    if (st == MLIC_OK && !x.etag[0])
        st = mlic_fail(MLIC_ERR_FORMAT, "uploading part %d of %s: the reply gives no ETag", number,
                       r.full);
    if (st == MLIC_OK) {
        out->number = number;
        out->size = len;
        snprintf(out->etag, sizeof out->etag, "%s", x.etag);
    }
    mlic_io_resolved_free(&r);
    return st;
}

mlic_status mlic_io_upload_copy_part(mlic_io *io, const char *path, const char *upload_id,
                                     int number, const char *src, uint64_t offset, uint64_t len,
                                     mlic_io_part *out)
{
    memset(out, 0, sizeof *out);
    mlic_io_resolved r, s;
    mlic_status st = check_number(path, number);
    if (st == MLIC_OK && len == 0)
        st = mlic_fail(MLIC_ERR_INVALID_ARG, "%s: an empty part copied from %s", path, src);
    if (st == MLIC_OK)
        st = resolve_object(io, &r, path);
    if (st != MLIC_OK)
        return st;
    if ((st = resolve_object(io, &s, src)) != MLIC_OK) {
        mlic_io_resolved_free(&r);
        return st;
    }
    if (s.kind != r.kind)
        st = mlic_fail(MLIC_ERR_INVALID_ARG, "%s: cannot copy a part from %s, in another store",
                       r.full, s.full);
    mlic_strbuf source;
    mlic_strbuf_init(&source);
    mlic_strbuf_printf(&source, "/%s/", s.obj.bucket);
    mlic_uri_encode(&source, s.obj.key, strlen(s.obj.key), 1);
    char range[64], num[16];
    snprintf(range, sizeof range, "bytes=%" PRIu64 "-%" PRIu64, offset, offset + len - 1);
    snprintf(num, sizeof num, "%d", number);
    char *reply = NULL;
    mlic_xfer x;
    if (st == MLIC_OK && source.oom)
        st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    if (st == MLIC_OK) {
        char *query;
        const char *n[] = {"partNumber", "uploadId"}, *v[] = {num, upload_id};
        if (!(query = mlic_s3_query(n, v, 2))) {
            st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
        } else {
            mlic_io_xfer_prepare(io, &x, &r, "PUT");
            x.query = query;
            x.copy_source = source.data;
            x.copy_range = range;
            x.limit = REPLY_LIMIT;
            st = mlic_io_perform(io, &x);
            free(query);
            reply = (char *)x.buf;
        }
    }
    char etag[72];
    /* S3 may answer 200 and put the error in the body: no ETag means no part. */
    if (st == MLIC_OK && mlic_xml_text(reply, x.len, "ETag", etag, sizeof etag) <= 0) {
        char code[64] = "";
        mlic_xml_text(reply, x.len, "Code", code, sizeof code);
        st = mlic_fail(MLIC_ERR_NETWORK, "copying bytes %" PRIu64 "..%" PRIu64 " of %s into part "
                       "%d of %s: no ETag in the reply%s%s", offset, offset + len, s.full, number,
                       r.full, *code ? ": " : "", code);
    }
    if (st == MLIC_OK) {
        out->number = number;
        out->size = len;
        snprintf(out->etag, sizeof out->etag, "%s", etag);
    }
    free(reply);
    mlic_strbuf_free(&source);
    mlic_io_resolved_free(&s);
    mlic_io_resolved_free(&r);
    return st;
}

static int part_cmp(const void *a, const void *b)
{
    return ((const mlic_io_part *)a)->number - ((const mlic_io_part *)b)->number;
}

mlic_status mlic_io_upload_parts(mlic_io *io, const char *path, const char *upload_id,
                                 mlic_io_part **parts, size_t *n)
{
    *parts = NULL;
    *n = 0;
    mlic_io_resolved r;
    mlic_status st = resolve_object(io, &r, path);
    if (st != MLIC_OK)
        return st;
    size_t cap = 0;
    char marker[16] = "";
    for (int more = 1; more && st == MLIC_OK;) {
        const char *names[] = {"uploadId", "part-number-marker"};
        const char *values[] = {upload_id, marker};
        mlic_xfer x;
        char *reply = NULL;
        st = request(io, &r, "GET", names, values, *marker ? 2 : 1, NULL, 0, NULL, &x, &reply);
        size_t pos = 0, len;
        const char *item;
        while (st == MLIC_OK && mlic_xml_next(reply, x.len, &pos, "Part", &item, &len)) {
            char num[16], size[32], etag[72];
            long number;
            if (mlic_xml_text(item, len, "PartNumber", num, sizeof num) <= 0 ||
                mlic_xml_text(item, len, "Size", size, sizeof size) <= 0 ||
                mlic_xml_text(item, len, "ETag", etag, sizeof etag) <= 0 ||
                (number = strtol(num, NULL, 10)) < 1 || number > MLIC_IO_MAX_PARTS) {
                st = mlic_fail(MLIC_ERR_FORMAT, "listing the parts of %s: an entry without a "
                               "readable number, size and ETag", r.full);
                break;
            }
            if (*n == cap) {
                cap = cap ? 2 * cap : 16;
                mlic_io_part *p = realloc(*parts, cap * sizeof *p);
                if (!p) {
                    st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
                    break;
                }
                *parts = p;
            }
            mlic_io_part *p = &(*parts)[(*n)++];
            p->number = (int)number;
            p->size = strtoull(size, NULL, 10);
            snprintf(p->etag, sizeof p->etag, "%s", etag);
        }
        char trunc[16];
        more = st == MLIC_OK &&
               mlic_xml_text(reply, x.len, "IsTruncated", trunc, sizeof trunc) > 0 &&
               !strcmp(trunc, "true") &&
               mlic_xml_text(reply, x.len, "NextPartNumberMarker", marker, sizeof marker) > 0;
        free(reply);
    }
    if (st == MLIC_OK && *n)
        qsort(*parts, *n, sizeof **parts, part_cmp);
    if (st != MLIC_OK) {
        free(*parts);
        *parts = NULL;
        *n = 0;
    }
    mlic_io_resolved_free(&r);
    return st;
}

/* The ETag S3 gives an object completed from these parts: the MD5 of the parts' MD5s, then "-"
 * and their count. 0 when a part's ETag is not an MD5 (a store that makes ETags otherwise). */
static int multipart_etag(char out[72], const mlic_io_part *parts, size_t n)
{
    unsigned char *md5s = malloc(n * 16 + 1);
    if (!md5s)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = parts[i].etag;
        if (*e == '"')
            e++;
        for (int k = 0; k < 16; k++) {
            unsigned hi, lo;
            if (sscanf(e + 2 * k, "%1x%1x", &hi, &lo) != 2) {
                free(md5s);
                return 0;
            }
            md5s[16 * i + k] = (unsigned char)(hi * 16 + lo);
        }
    }
    unsigned char d[16];
    unsigned int dn = 16;
    EVP_Digest(md5s, n * 16, d, &dn, EVP_md5(), NULL);
    free(md5s);
    char *o = out;
    o += sprintf(o, "\"");
    for (int k = 0; k < 16; k++)
        o += sprintf(o, "%02x", d[k]);
    sprintf(o, "-%zu\"", n);
    return 1;
}

static void xml_escaped(mlic_strbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            mlic_strbuf_puts(b, "&amp;");
        else if (*s == '<')
            mlic_strbuf_puts(b, "&lt;");
        else if (*s == '>')
            mlic_strbuf_puts(b, "&gt;");
        else if (*s == '"')
            mlic_strbuf_puts(b, "&quot;");
        else
            mlic_strbuf_putc(b, *s);
    }
}

mlic_status mlic_io_upload_complete(mlic_io *io, const char *path, const char *upload_id,
                                    const mlic_io_part *parts, size_t n)
{
    mlic_io_resolved r;
    mlic_status st = resolve_object(io, &r, path);
    if (st != MLIC_OK)
        return st;
    if (n == 0 || n > MLIC_IO_MAX_PARTS) {
        mlic_io_resolved_free(&r);
        return mlic_fail(MLIC_ERR_INVALID_ARG, "completing %s: %zu parts (1..%d)", path, n,
                         MLIC_IO_MAX_PARTS);
    }
    mlic_strbuf body;
    mlic_strbuf_init(&body);
    mlic_strbuf_puts(&body, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < n; i++) {
        mlic_strbuf_printf(&body, "<Part><PartNumber>%d</PartNumber><ETag>", parts[i].number);
        xml_escaped(&body, parts[i].etag);
        mlic_strbuf_puts(&body, "</ETag></Part>");
    }
    mlic_strbuf_puts(&body, "</CompleteMultipartUpload>");
    if (body.oom) {
        mlic_strbuf_free(&body);
        mlic_io_resolved_free(&r);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    }
    const char *names[] = {"uploadId"}, *values[] = {upload_id};
    mlic_xfer x;
    char *reply = NULL;
    st = request(io, &r, "POST", names, values, 1, body.data, body.len, "application/xml", &x,
                 &reply);
    if (st == MLIC_OK && strstr(reply, "<Error>")) {
        /* S3 may answer 200 and report the failure in the body. */
        char code[64] = "", msg[256] = "";
        mlic_xml_text(reply, x.len, "Code", code, sizeof code);
        mlic_xml_text(reply, x.len, "Message", msg, sizeof msg);
        st = mlic_fail(MLIC_ERR_NETWORK, "POST %s (completing the upload): %s: %s", r.full, code,
                       msg);
    } else if (st != MLIC_OK && x.status == 404 && strstr(x.errbody, "NoSuchUpload")) {
        /* Gone: completed already (a retry after a lost reply) or aborted. The object's ETag
         * says which. */
        char want[72], saved[1024];
        snprintf(saved, sizeof saved, "%s", mlic_errmsg());
        mlic_xfer h;
        mlic_io_xfer_prepare(io, &h, &r, "HEAD");
        if (multipart_etag(want, parts, n) && mlic_io_perform(io, &h) == MLIC_OK &&
            !strcmp(h.etag, want))
            st = MLIC_OK;
        else
            st = mlic_fail(MLIC_ERR_IO, "%s. HINT: the upload was aborted, or completed with other "
                           "parts", saved);
    }
    free(reply);
    mlic_strbuf_free(&body);
    mlic_io_resolved_free(&r);
    return st;
}

mlic_status mlic_io_upload_abort(mlic_io *io, const char *path, const char *upload_id)
{
    mlic_io_resolved r;
    mlic_status st = resolve_object(io, &r, path);
    if (st != MLIC_OK)
        return st;
    const char *names[] = {"uploadId"}, *values[] = {upload_id};
    mlic_xfer x;
    st = request(io, &r, "DELETE", names, values, 1, NULL, 0, NULL, &x, NULL);
    if (st != MLIC_OK && x.status == 404 && strstr(x.errbody, "NoSuchUpload"))
        st = MLIC_OK; /* aborted already */
    mlic_io_resolved_free(&r);
    return st;
}
