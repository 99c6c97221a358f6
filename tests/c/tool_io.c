/* The I/O layer from the command line, for the object-storage tests (tests/py/test_io_*.py and
 * the other lanes' tests):
 *   tool_io [OPTIONS] get PATH [OUT]        the whole object to OUT (default: stdout)
 *   tool_io [OPTIONS] range PATH OFFSET LEN bytes [OFFSET, OFFSET+LEN) to stdout
 *   tool_io [OPTIONS] size PATH             its size in bytes
 *   tool_io [OPTIONS] put PATH FILE         FILE ("-": stdin) written to PATH
 *   tool_io [OPTIONS] delete PATH
 *   tool_io [OPTIONS] list PREFIX           one "PATH<TAB>SIZE" line per object
 *   tool_io [OPTIONS] url PATH              the URL a GET of PATH goes to (no secrets in it)
 * OPTIONS: --s3-endpoint E, --oss-endpoint E, --region R, --access-key-id K,
 * --access-key-secret S, --session-token T, --profile P, --role-arn A, --path-style,
 * --root DIR, --timeout SECONDS, --retries N.
 * A failure prints mlic's message on stderr and exits 1; bad usage exits 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "io/client.h"
#include "io/client_internal.h"
#include "io/service.h"
#include "io/storage.h"

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

int main(int argc, char **argv)
{
    mlic_storage_opts so;
    mlic_storage_opts_init(&so);
    mlic_io_opts io_opts = {0};
    int i = 1;
    for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--path-style")) {
            so.path_style = 1;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (!strcmp(o, "--s3-endpoint")) so.s3_endpoint = v;
        else if (!strcmp(o, "--oss-endpoint")) so.oss_endpoint = v;
        else if (!strcmp(o, "--region")) so.region = v;
        else if (!strcmp(o, "--access-key-id")) so.access_key_id = v;
        else if (!strcmp(o, "--access-key-secret")) so.secret_access_key = v;
        else if (!strcmp(o, "--session-token")) so.session_token = v;
        else if (!strcmp(o, "--profile")) so.profile = v;
        else if (!strcmp(o, "--role-arn")) so.role_arn = v;
        else if (!strcmp(o, "--root")) io_opts.root = v;
        else if (!strcmp(o, "--timeout")) io_opts.timeout = atof(v);
        else if (!strcmp(o, "--retries")) io_opts.retries = atoi(v);
        else return usage();
    }
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
    } else {
        rc = usage();
    }
    mlic_io_destroy(io);
    mlic_storage_destroy(storage);
    curl_global_cleanup();
    return rc;
}
