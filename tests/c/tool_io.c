/* The I/O layer from the command line, for the object-storage tests (tests/py/test_io_*.py and
 * the other lanes' tests):
 *   tool_io [OPTIONS] get PATH [OUT]        the whole object to OUT (default: stdout)
 *   tool_io [OPTIONS] range PATH OFFSET LEN bytes [OFFSET, OFFSET+LEN) to stdout
 *   tool_io [OPTIONS] size PATH             its size in bytes
 *   tool_io [OPTIONS] put PATH FILE         FILE ("-": stdin) written to PATH
 *   tool_io [OPTIONS] delete PATH
 *   tool_io [OPTIONS] list PREFIX           one "PATH<TAB>SIZE" line per object
 *   tool_io [OPTIONS] url PATH              the URL a GET of PATH goes to (no secrets in it)
 *   tool_io [OPTIONS] many N PATH...        fetch_many with N in flight (0: automatic): one
 *                                           "PATH<TAB>LEN<TAB>SHA256" or "PATH<TAB>ERROR<TAB>message"
 *                                           line per path, in completion order
 *   tool_io [OPTIONS] stream PATH OFFSET    random_read's stream from OFFSET to stdout
 *   tool_io [OPTIONS] mpu PATH FILE PART [K] FILE as a multipart upload of PART-byte parts;
 *                                           with K, stops after K parts leaving the upload open
 *   tool_io [OPTIONS] mpu-resume PATH FILE PART  continues the open upload of PATH: parts the
 *                                           store has (ETag = MD5 of the local bytes) are kept,
 *                                           the rest uploaded, then completed; prints
 *                                           "kept K uploaded U"
 *   tool_io [OPTIONS] compose DST SRC...    DST = the SRCs concatenated, by UploadPartCopy
 *   tool_io [OPTIONS] abort PATH            aborts every open upload of PATH; prints how many
 * OPTIONS: the storage options of every mlic command (src/cli/storage_args.h, -D spellings
 * included; -Dbuckets is the root unless --root is given), --root DIR, --timeout SECONDS,
 * --retries N, --cancel-after SECONDS (sets the cancel flag that long after the start).
 * A failure prints mlic's message on stderr and exits 1; bad usage exits 2. */
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/storage_args.h"
#include "io/client.h"
#include "io/client_internal.h"
#include "io/fetch_many.h"
#include "io/multipart.h"
#include "io/random_read.h"
#include "io/s3_sign.h"
#include "io/service.h"
#include "io/storage.h"

static volatile sig_atomic_t cancel_flag;
static double cancel_after;

static void *canceller(void *arg)
{
    (void)arg;
    struct timespec ts = {(time_t)cancel_after, (long)((cancel_after - (time_t)cancel_after) * 1e9)};
    nanosleep(&ts, NULL);
    cancel_flag = 1;
    return NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: tool_io [OPTIONS] get|range|size|put|delete|list|url ARGS "
            "(see tests/c/tool_io.c)\n");
    return 2;
}

static int print_entry(void *user, const char *path, uint64_t size)
{
    (void)user;
    printf("%s\t%llu\n", path, (unsigned long long)size);
    return 0;
}

static int fail(void)
{
    fprintf(stderr, "%s\n", mlic_errmsg());
    return 1;
}

static uint8_t *read_all(FILE *f, size_t *n)
{
    size_t cap = 1 << 16;
    uint8_t *b = malloc(cap);
    *n = 0;
    size_t r;
    while (b && (r = fread(b + *n, 1, cap - *n, f)) > 0) {
        *n += r;
        if (*n == cap) {
            uint8_t *nb = realloc(b, cap *= 2);
            if (!nb)
                free(b);
            b = nb;
        }
    }
    return b;
}

static int cmd_many(const mlic_io_opts *o, int n, int npaths, char **paths)
{
    mlic_fetch_many *m;
    if (mlic_fetch_many_create(&m, o, n) != MLIC_OK)
        return fail();
    for (int k = 0; k < npaths; k++)
        if (mlic_fetch_many_add(m, paths[k], paths[k]) != MLIC_OK)
            return fail();
    while (mlic_fetch_many_pending(m)) {
        mlic_fetch_result res;
        if (mlic_fetch_many_next(m, &res) != MLIC_OK)
            return fail();
        if (res.status == MLIC_OK) {
            char hex[65];
            mlic_sha256_hex(hex, res.data, res.len);
            printf("%s\t%zu\t%s\n", (char *)res.tag, res.len, hex);
        } else {
            printf("%s\tERROR\t%s\n", (char *)res.tag, res.error);
        }
        fflush(stdout);
        free(res.data);
        free(res.error);
    }
    mlic_fetch_many_destroy(m);
    return 0;
}

static int cmd_mpu(mlic_io *io, const char *path, const char *file, size_t part, int stop_after,
                   int resume)
{
    FILE *in = fopen(file, "rb");
    size_t len;
    uint8_t *data = in ? read_all(in, &len) : NULL;
    if (in)
        fclose(in);
    if (!data || part == 0) {
        fprintf(stderr, "tool_io: cannot read %s\n", file);
        return 1;
    }
    size_t nparts = len ? (len + part - 1) / part : 1;
    mlic_io_part *parts = calloc(nparts, sizeof *parts);
    char *id = NULL;
    int kept = 0, uploaded = 0;
    if (resume) {
        char **ids;
        size_t n;
        if (mlic_io_upload_find(io, path, &ids, &n) != MLIC_OK)
            return fail();
        if (n == 0) {
            fprintf(stderr, "tool_io: no open upload of %s\n", path);
            return 1;
        }
        id = strdup(ids[n - 1]);
        mlic_io_upload_ids_free(ids, n);
        mlic_io_part *have;
        size_t nh;
        if (mlic_io_upload_parts(io, path, id, &have, &nh) != MLIC_OK)
            return fail();
        for (size_t k = 0; k < nh; k++) {
            size_t i = (size_t)have[k].number - 1;
            if (i >= nparts)
                continue;
            size_t off = i * part, sz = len - off < part ? len - off : part;
            /* A part is kept when its ETag is the MD5 of the local bytes. */
            unsigned char md5[16];
            unsigned int dn = 16;
            EVP_Digest(data + off, sz, md5, &dn, EVP_md5(), NULL);
            char want[40];
            for (int b = 0; b < 16; b++)
                sprintf(want + 2 * b, "%02x", md5[b]);
            if (have[k].size == sz && strstr(have[k].etag, want)) {
                parts[i] = have[k];
                kept++;
            }
        }
        free(have);
    } else if (mlic_io_upload_create(io, path, &id) != MLIC_OK) {
        return fail();
    }
    for (size_t i = 0; i < nparts; i++) {
        if (parts[i].number)
            continue;
        if (stop_after >= 0 && uploaded == stop_after) {
            printf("%s\n", id);
            free(id);
            free(parts);
            free(data);
            return 0;
        }
        size_t off = i * part, sz = len - off < part ? len - off : part;
        if (mlic_io_upload_part(io, path, id, (int)i + 1, data + off, sz, &parts[i]) != MLIC_OK)
            return fail();
        uploaded++;
    }
    if (mlic_io_upload_complete(io, path, id, parts, nparts) != MLIC_OK)
        return fail();
    if (resume)
        printf("kept %d uploaded %d\n", kept, uploaded);
    free(id);
    free(parts);
    free(data);
    return 0;
}

static int cmd_compose(mlic_io *io, const char *dst, int nsrc, char **src)
{
    char *id;
    if (mlic_io_upload_create(io, dst, &id) != MLIC_OK)
        return fail();
    mlic_io_part *parts = calloc((size_t)nsrc, sizeof *parts);
    for (int k = 0; k < nsrc; k++) {
        uint64_t size;
        if (mlic_io_size(io, &size, src[k]) != MLIC_OK ||
            mlic_io_upload_copy_part(io, dst, id, k + 1, src[k], 0, size, &parts[k]) != MLIC_OK) {
            fprintf(stderr, "%s\n", mlic_errmsg());
            mlic_io_upload_abort(io, dst, id);
            return 1;
        }
    }
    if (mlic_io_upload_complete(io, dst, id, parts, (size_t)nsrc) != MLIC_OK)
        return fail();
    free(parts);
    free(id);
    return 0;
}

int main(int argc, char **argv)
{
    mlic_cli_storage cs;
    mlic_cli_storage_init(&cs);
    mlic_io_opts io_opts = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        int r = mlic_cli_storage_option(&cs, "tool_io", argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        i++;
        if (!strcmp(o, "--root")) io_opts.root = v;
        else if (!strcmp(o, "--timeout")) io_opts.timeout = atof(v);
        else if (!strcmp(o, "--retries")) io_opts.retries = atoi(v);
        else if (!strcmp(o, "--cancel-after")) cancel_after = atof(v);
        else return usage();
    }
    mlic_cli_storage_finish(&cs, "tool_io");
    if (!io_opts.root)
        io_opts.root = cs.buckets;
    const mlic_storage_opts so = cs.opts;
    io_opts.cancel = &cancel_flag;
    pthread_t th;
    if (cancel_after > 0)
        pthread_create(&th, NULL, canceller, NULL);
    if (i + 1 >= argc)
        return usage();
    const char *cmd = argv[i], *path = argv[i + 1];
    int nargs = argc - i - 2;
    char **args = argv + i + 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mlic_storage *storage = NULL;
    mlic_io *io = NULL;
    if (mlic_storage_create(&storage, &so) != MLIC_OK)
        return fail();
    io_opts.storage = storage;
    if (mlic_io_create(&io, &io_opts) != MLIC_OK)
        return fail();
    int rc = 0;
    if (!strcmp(cmd, "get") && nargs <= 1) {
        uint8_t *data;
        size_t len;
        if (mlic_io_get(io, &data, &len, path) != MLIC_OK)
            return fail();
        FILE *out = nargs == 1 && strcmp(args[0], "-") ? fopen(args[0], "wb") : stdout;
        if (!out || fwrite(data, 1, len, out) != len)
            rc = 1;
        if (out && out != stdout)
            fclose(out);
        free(data);
    } else if (!strcmp(cmd, "range") && nargs == 2) {
        uint64_t off = strtoull(args[0], NULL, 10);
        size_t n = strtoull(args[1], NULL, 10), got;
        uint8_t *buf = malloc(n ? n : 1);
        if (mlic_io_get_range(io, buf, n, off, &got, path) != MLIC_OK)
            return fail();
        fwrite(buf, 1, got, stdout);
        free(buf);
    } else if (!strcmp(cmd, "size") && nargs == 0) {
        uint64_t size;
        if (mlic_io_size(io, &size, path) != MLIC_OK)
            return fail();
        printf("%llu\n", (unsigned long long)size);
    } else if (!strcmp(cmd, "put") && nargs == 1) {
        FILE *in = strcmp(args[0], "-") ? fopen(args[0], "rb") : stdin;
        size_t n;
        uint8_t *data = in ? read_all(in, &n) : NULL;
        if (!data) {
            fprintf(stderr, "tool_io: cannot read %s\n", args[0]);
            return 1;
        }
        if (mlic_io_put(io, path, data, n) != MLIC_OK)
            return fail();
        free(data);
    } else if (!strcmp(cmd, "delete") && nargs == 0) {
        if (mlic_io_delete(io, path) != MLIC_OK)
            return fail();
    } else if (!strcmp(cmd, "list") && nargs == 0) {
        if (mlic_io_list(io, path, print_entry, NULL) != MLIC_OK)
            return fail();
    } else if (!strcmp(cmd, "url") && nargs == 0) {
        mlic_io_resolved r;
        if (mlic_io_resolve(io, &r, path) != MLIC_OK)
            return fail();
        if (r.kind == MLIC_LOC_S3 || r.kind == MLIC_LOC_OSS) {
            char *url = mlic_xfer_store_url(mlic_storage_service(storage, r.kind), r.obj.bucket,
                                            r.obj.key, NULL);
            printf("%s\n", url);
            free(url);
        } else {
            printf("%s\n", r.kind == MLIC_LOC_LOCAL ? r.local : r.full);
        }
        mlic_io_resolved_free(&r);
    } else if (!strcmp(cmd, "many")) {
        rc = cmd_many(&io_opts, atoi(path), nargs, args);
    } else if (!strcmp(cmd, "stream") && nargs == 1) {
        mlic_random_read *r;
        FILE *f;
        if (mlic_random_read_open(&r, io, path, NULL, 0) != MLIC_OK ||
            mlic_random_read_stream(r, strtoull(args[0], NULL, 10), &f) != MLIC_OK)
            return fail();
        char buf[65536];
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, f)) > 0)
            fwrite(buf, 1, k, stdout);
        if (ferror(f)) {
            fprintf(stderr, "%s\n", mlic_random_read_error(r));
            rc = 1;
        }
        fclose(f);
        mlic_random_read_close(r);
    } else if ((!strcmp(cmd, "mpu") && (nargs == 2 || nargs == 3)) ||
               (!strcmp(cmd, "mpu-resume") && nargs == 2)) {
        rc = cmd_mpu(io, path, args[0], strtoull(args[1], NULL, 10),
                     nargs == 3 ? atoi(args[2]) : -1, !strcmp(cmd, "mpu-resume"));
    } else if (!strcmp(cmd, "compose") && nargs >= 1) {
        rc = cmd_compose(io, path, nargs, args);
    } else if (!strcmp(cmd, "abort") && nargs == 0) {
        char **ids;
        size_t n;
        if (mlic_io_upload_find(io, path, &ids, &n) != MLIC_OK)
            return fail();
        for (size_t k = 0; k < n; k++)
            if (mlic_io_upload_abort(io, path, ids[k]) != MLIC_OK)
                return fail();
        printf("%zu\n", n);
        mlic_io_upload_ids_free(ids, n);
    } else {
        rc = usage();
    }
    mlic_io_destroy(io);
    mlic_storage_destroy(storage);
    curl_global_cleanup();
    return rc;
}
