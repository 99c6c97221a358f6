/* src/io/ without a server: locations, SigV4 against AWS's published examples, the canonical
 * query, the XML scanner on hostile replies, endpoints and addressing, the credentials chain's
 * files, and the local side of the client. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "check.h"
#include "io/client.h"
#include "io/location.h"
#include "io/random_read.h"
#include "io/s3_sign.h"
#include "io/s3_xml.h"
#include "io/service.h"
#include "io/storage.h"
#include "io/transfer.h"
#include "util/file_open.h"

static void test_location(void)
{
    CHECK(mlic_location_kind("s3://b/k") == MLIC_LOC_S3, "s3");
    CHECK(mlic_location_kind("OSS://b/k") == MLIC_LOC_OSS, "oss");
    CHECK(mlic_location_kind("https://x/y") == MLIC_LOC_HTTP, "https");
    CHECK(mlic_location_kind("file:///x") == MLIC_LOC_LOCAL, "file");
    CHECK(mlic_location_kind("photos/1.jpg") == MLIC_LOC_LOCAL, "relative");
    mlic_object_ref r;
    CHECK(mlic_object_ref_parse(&r, "s3://my-bucket/a/b.jpg") == MLIC_OK, "%s", mlic_errmsg());
    CHECK(!strcmp(r.bucket, "my-bucket") && !strcmp(r.key, "a/b.jpg"), "%s %s", r.bucket, r.key);
    mlic_object_ref_free(&r);
    CHECK(mlic_object_ref_parse(&r, "oss://bkt") == MLIC_OK && !strcmp(r.key, ""), "bucket only");
    mlic_object_ref_free(&r);
    const char *bad[] = {"s3://", "s3:///key", "s3://ab/k", "s3://-bad/k", "s3://b@d/k",
                         "ftp://x/y", "s3://bucket\n/k"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(mlic_object_ref_parse(&r, bad[i]) != MLIC_OK, "%s accepted", bad[i]);
        CHECK(strstr(mlic_errmsg(), "HINT"), "%s: %s", bad[i], mlic_errmsg());
    }
    struct {
        const char *root, *rel, *want;
    } joins[] = {
        {"s3://b/photos/", "1.jpg", "s3://b/photos/1.jpg"},
        {"s3://b/photos", "1.jpg", "s3://b/photos/1.jpg"},
        {"oss://b/x/", "./y/z.png", "oss://b/x/y/z.png"},
        {"s3://b/p/", "https://h/i.jpg", "https://h/i.jpg"},
        {"s3://b/p/", "/abs/i.jpg", "/abs/i.jpg"},
        {"data", "i.jpg", "data/i.jpg"},
        {NULL, "i.jpg", "i.jpg"},
    };
    for (size_t i = 0; i < sizeof joins / sizeof *joins; i++) {
        char *j = mlic_location_join(joins[i].root, joins[i].rel);
        CHECK(j && !strcmp(j, joins[i].want), "%s + %s = %s", joins[i].root, joins[i].rel, j);
        free(j);
    }
    char *d = mlic_location_dirname("s3://b/x/list.txt");
    CHECK(!strcmp(d, "s3://b/x/"), "%s", d);
    free(d);
    d = mlic_location_dirname("s3://b");
    CHECK(!strcmp(d, "s3://b/"), "%s", d);
    free(d);
    d = mlic_location_dirname("dir/list.txt");
    CHECK(!strcmp(d, "dir"), "%s", d);
    free(d);
}

/* AWS's worked examples of Signature Version 4 for S3 ("Examples: Signature Calculations in
 * AWS Signature Version 4", Amazon S3 API reference): GET Object with a Range header, and
 * ListObjects with a query. */
static void test_sigv4_examples(void)
{
    mlic_credentials c = {.access_key_id = "AKIAIOSFODNN7EXAMPLE",
                          .secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
    mlic_sig_header get[] = {{"host", "examplebucket.s3.amazonaws.com"},
                             {"range", "bytes=0-9"},
                             {"x-amz-content-sha256", MLIC_SHA256_HEX_EMPTY},
                             {"x-amz-date", "20130524T000000Z"}};
    char *auth = mlic_sigv4_authorization("GET", "/test.txt", "", get, 4, MLIC_SHA256_HEX_EMPTY,
                                          "20130524T000000Z", "us-east-1", "s3", &c);
    CHECK(auth && strstr(auth, "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
          "%s", auth);
    CHECK(auth && strstr(auth, "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"),
          "%s", auth);
    CHECK(auth && strstr(auth, "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"), "%s", auth);
    free(auth);
    const char *names[] = {"prefix", "max-keys"}, *values[] = {"J", "2"};
    char *q = mlic_s3_query(names, values, 2);
    CHECK(q && !strcmp(q, "max-keys=2&prefix=J"), "%s", q);
    mlic_sig_header list[] = {{"host", "examplebucket.s3.amazonaws.com"},
                              {"x-amz-content-sha256", MLIC_SHA256_HEX_EMPTY},
                              {"x-amz-date", "20130524T000000Z"}};
    auth = mlic_sigv4_authorization("GET", "/", q, list, 3, MLIC_SHA256_HEX_EMPTY,
                                    "20130524T000000Z", "us-east-1", "s3", &c);
    CHECK(auth && strstr(auth, "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
          "%s", auth);
    free(auth);
    free(q);
    /* Valueless names sign as "name=", names and values are percent-encoded, '~' is not. */
    const char *n2[] = {"uploads", "prefix", "a b"}, *v2[] = {NULL, "x/y~z+w", "&="};
    q = mlic_s3_query(n2, v2, 3);
    CHECK(q && !strcmp(q, "a%20b=%26%3D&prefix=x%2Fy~z%2Bw&uploads="), "%s", q);
    free(q);
}

static void test_xml(void)
{
    char out[64];
    const char *e = "<Error><Code>NoSuchKey</Code><Message>a &lt;b&gt; &amp; &#x41;&#66;</Message>"
                    "<KeyMarker>m</KeyMarker><Key>k</Key></Error>";
    CHECK(mlic_xml_text(e, strlen(e), "Code", out, sizeof out) == 9 && !strcmp(out, "NoSuchKey"), "%s", out);
    CHECK(mlic_xml_text(e, strlen(e), "Message", out, sizeof out) > 0 && !strcmp(out, "a <b> & AB"), "%s", out);
    CHECK(mlic_xml_text(e, strlen(e), "Key", out, sizeof out) == 1 && !strcmp(out, "k"), "Key matched KeyMarker: %s", out);
    /* Hostile or broken replies: absent, never garbage, never past the end. */
    const char *hostile[] = {
        "<Code>unterminated",
        "<Code>a<b>c</b></Code>",
        "<Code>&bogus;</Code>",
        "<Code>&#0;</Code>",
        "<Code>&#x110000;</Code>",
        "<Code>&#99999999999;</Code>",
        "<Code",
        "<Code>",
        "",
    };
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
        CHECK(mlic_xml_text(hostile[i], strlen(hostile[i]), "Code", out, sizeof out) == -1 && out[0] == '\0',
              "'%s' gave '%s'", hostile[i], out);
    }
    const char nul[] = "<Code>a\0b</Code>";
    CHECK(mlic_xml_text(nul, sizeof nul - 1, "Code", out, sizeof out) == -1 && out[0] == '\0',
          "a NUL inside a field (found by fuzz_s3_xml) gave '%s'", out);
    char big[200];
    memset(big, 'x', sizeof big);
    memcpy(big, "<Code>", 6);
    memcpy(big + sizeof big - 7, "</Code>", 7);
    CHECK(mlic_xml_text(big, sizeof big, "Code", out, sizeof out) == -1, "too long for out");
    /* Only the given length is read: a tag past it does not count. */
    const char *cut = "<Code>ab</Code>";
    CHECK(mlic_xml_text(cut, 10, "Code", out, sizeof out) == -1, "read past len");
    CHECK(mlic_xml_text(NULL, 0, "Code", out, sizeof out) == -1, "NULL reply");
    const char *list = "<R><Contents><Key>a</Key></Contents><Contents attr=\"1\"><Key>b</Key></Contents>"
                       "<Contents/><Contents><Key>c</Key>";
    size_t pos = 0, n;
    const char *in;
    int count = 0;
    while (mlic_xml_next(list, strlen(list), &pos, "Contents", &in, &n))
        count++;
    CHECK(count == 3, "%d elements (the unterminated one is not one)", count);
    char key[32] = "a%20b+c%2Fd";
    CHECK(mlic_url_decode(key) && !strcmp(key, "a b c/d"), "%s", key);
    char bad1[] = "a%zz", bad2[] = "a%00b", bad3[] = "a%4";
    CHECK(!mlic_url_decode(bad1) && !mlic_url_decode(bad2) && !mlic_url_decode(bad3), "bad escapes");
}

static void test_endpoints(void)
{
    struct {
        const char *endpoint, *key, *want;
        int path_style;
    } cases[] = {
        {"http://127.0.0.1:9000", "a/b c.jpg", "http://127.0.0.1:9000/bkt/a/b%20c.jpg", 0},
        {"localhost:9000", "k", "https://localhost:9000/bkt/k", 0},
        {"https://s3.example.com/", "k", "https://bkt.s3.example.com/k", 0},
        {"s3.example.com", "k", "https://s3.example.com/bkt/k", 1},
        {"http://[::1]:9000", "k", "http://[::1]:9000/bkt/k", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mlic_storage_opts o;
        mlic_storage_opts_init(&o);
        o.s3_endpoint = cases[i].endpoint;
        o.path_style = cases[i].path_style;
        mlic_storage *s;
        CHECK(mlic_storage_create(&s, &o) == MLIC_OK, "%s", mlic_errmsg());
        char *url = mlic_xfer_store_url(mlic_storage_service(s, MLIC_LOC_S3), "bkt", cases[i].key, NULL);
        CHECK(url && !strcmp(url, cases[i].want), "%s: %s, not %s", cases[i].endpoint, url, cases[i].want);
        free(url);
        mlic_storage_destroy(s);
    }
    /* EasyVision's OSS endpoint reaches OSS's S3-compatible API, region from the name. */
    mlic_storage_opts o;
    mlic_storage_opts_init(&o);
    o.oss_endpoint = "oss-cn-hangzhou-internal.aliyuncs.com";
    mlic_storage *s;
    CHECK(mlic_storage_create(&s, &o) == MLIC_OK, "%s", mlic_errmsg());
    const mlic_service *v = mlic_storage_service(s, MLIC_LOC_OSS);
    char *url = mlic_xfer_store_url(v, "bkt", "k.jpg", NULL);
    CHECK(url && !strcmp(url, "https://bkt.s3.oss-cn-hangzhou-internal.aliyuncs.com/k.jpg"), "%s", url);
    CHECK(!strcmp(v->region, "cn-hangzhou"), "%s", v->region);
    free(url);
    mlic_storage_destroy(s);
    const char *bad[] = {"ftp://h", "http://h/path", "http://", "h o st"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        o.oss_endpoint = bad[i];
        CHECK(mlic_storage_create(&s, &o) != MLIC_OK && strstr(mlic_errmsg(), bad[i]),
              "%s accepted: %s", bad[i], mlic_errmsg());
    }
}

/* The local side of the client: put is atomic, get_range is pread, list is sorted. */
static int collect(void *user, const char *path, uint64_t size)
{
    char *acc = user;
    char line[256];
    snprintf(line, sizeof line, "%s=%llu;", strrchr(path, '/') + 1, (unsigned long long)size);
    strcat(acc, line);
    return 0;
}

static void test_local(void)
{
    char dir[] = "/tmp/mlic-test-io-XXXXXX";
    CHECK(mkdtemp(dir), "mkdtemp");
    mlic_io_opts o = {.root = dir};
    mlic_io *io;
    CHECK(mlic_io_create(&io, &o) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_io_put(io, "b.txt", "hello world", 11) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_io_put(io, "a.txt", "x", 1) == MLIC_OK, "%s", mlic_errmsg());
    char buf[8];
    size_t got;
    CHECK(mlic_io_get_range(io, buf, 5, 6, &got, "b.txt") == MLIC_OK && got == 5 && !memcmp(buf, "world", 5),
          "range");
    CHECK(mlic_io_get_range(io, buf, 8, 9, &got, "b.txt") == MLIC_OK && got == 2, "short at end: %zu", got);
    uint64_t size;
    CHECK(mlic_io_size(io, &size, "b.txt") == MLIC_OK && size == 11, "size");
    char acc[256] = "";
    CHECK(mlic_io_list(io, dir, collect, acc) == MLIC_OK && !strcmp(acc, "a.txt=1;b.txt=11;"), "%s", acc);
    CHECK(mlic_io_delete(io, "a.txt") == MLIC_OK && mlic_io_delete(io, "a.txt") == MLIC_OK, "delete twice");
    uint8_t *data;
    size_t len;
    CHECK(mlic_io_get(io, &data, &len, "a.txt") != MLIC_OK && strstr(mlic_errmsg(), "a.txt"), "%s", mlic_errmsg());
    CHECK(mlic_io_get(io, &data, &len, "ftp://h/x") == MLIC_ERR_UNSUPPORTED, "%s", mlic_errmsg());
    /* No storage given: an object path fails with a message, not a crash. */
    CHECK(mlic_io_get(io, &data, &len, "s3://bucket/k") != MLIC_OK && strstr(mlic_errmsg(), "s3://bucket/k"),
          "%s", mlic_errmsg());
    FILE *f;
    CHECK(mlic_io_fopen_read(io, &f, "b.txt", NULL) == MLIC_OK, "%s", mlic_errmsg());
    char line[32] = "";
    CHECK(fgets(line, sizeof line, f) && !strcmp(line, "hello world"), "%s", line);
    fclose(f);
    mlic_io_delete(io, "b.txt");
    mlic_io_destroy(io);
    rmdir(dir);
}

/* Random reads of a local file (at offsets, a stream from an offset) and of a pipe (streamed
 * from its start only). */
static void test_random_read(void)
{
    char path[] = "/tmp/mlic-test-rr-XXXXXX";
    int fd = mkstemp(path);
    char text[3000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char)('a' + i % 26);
    CHECK(fd >= 0 && write(fd, text, sizeof text) == (ssize_t)sizeof text, "write");
    close(fd);
    mlic_io_opts o = {0};
    mlic_io *io;
    CHECK(mlic_io_create(&io, &o) == MLIC_OK, "%s", mlic_errmsg());
    mlic_random_read *r;
    CHECK(mlic_random_read_open(&r, io, path, "the list", 0) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_random_read_seekable(r) && mlic_random_read_size(r) == sizeof text, "size");
    char buf[100];
    size_t got;
    CHECK(mlic_random_read_at(r, buf, 100, 2950, &got) == MLIC_OK && got == 50 &&
          !memcmp(buf, text + 2950, 50), "read at the end");
    FILE *f;
    CHECK(mlic_random_read_stream(r, 1000, &f) == MLIC_OK, "%s", mlic_errmsg());
    char all[4000];
    size_t n = fread(all, 1, sizeof all, f);
    CHECK(n == 2000 && !memcmp(all, text + 1000, 2000) && !ferror(f), "stream: %zu", n);
    fclose(f);
    mlic_random_read_close(r);
    unlink(path);
    CHECK(mlic_random_read_open(&r, io, path, "the list", 0) != MLIC_OK && strstr(mlic_errmsg(), "the list"),
          "%s", mlic_errmsg());
    int p[2];
    CHECK(pipe(p) == 0 && write(p[1], "one\ntwo\n", 8) == 8, "pipe");
    close(p[1]);
    char dev[64];
    snprintf(dev, sizeof dev, "/dev/fd/%d", p[0]);
    CHECK(mlic_random_read_open(&r, io, dev, "stdin", 0) != MLIC_OK, "a pipe without STREAM_OK");
    CHECK(mlic_random_read_open(&r, io, dev, "stdin", MLIC_FILE_STREAM_OK) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(!mlic_random_read_seekable(r), "a pipe is not seekable");
    CHECK(mlic_random_read_at(r, buf, 4, 4, &got) != MLIC_OK && strstr(mlic_errmsg(), "stdin"), "%s", mlic_errmsg());
    CHECK(mlic_random_read_stream(r, 4, &f) != MLIC_OK, "a pipe from an offset");
    CHECK(mlic_random_read_stream(r, 0, &f) == MLIC_OK, "%s", mlic_errmsg());
    n = fread(all, 1, sizeof all, f);
    CHECK(n == 8 && !memcmp(all, "one\ntwo\n", 8), "pipe stream: %zu", n);
    fclose(f);
    mlic_random_read_close(r);
    close(p[0]);
    mlic_io_destroy(io);
}

/* The chain: command line > environment > file; ~/.aws/credentials by profile. */
static void test_credentials(void)
{
    char home[] = "/tmp/mlic-test-home-XXXXXX";
    CHECK(mkdtemp(home), "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/.aws", home);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/.aws/credentials", home);
    FILE *f = fopen(path, "w");
    fprintf(f, "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n"
               "[other]\naws_access_key_id=OTHERKEY\naws_secret_access_key=othersecret\n"
               "aws_session_token = othertoken\n");
    fclose(f);
    snprintf(path, sizeof path, "%s/.ossutilconfig", home);
    f = fopen(path, "w");
    fprintf(f, "[Credentials]\nlanguage=EN\nendpoint=oss-cn-beijing.aliyuncs.com\n"
               "accessKeyID=OSSFILEKEY\naccessKeySecret=ossfilesecret\n");
    fclose(f);
    const char *saved[] = {"HOME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE",
                           "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_ACCESS_KEY_ID",
                           "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "AWS_SHARED_CREDENTIALS_FILE",
                           "OSS_ENDPOINT", "AWS_SESSION_TOKEN", "OSS_SESSION_TOKEN"};
    for (size_t i = 1; i < sizeof saved / sizeof *saved; i++)
        unsetenv(saved[i]);
    setenv("HOME", home, 1);
    mlic_storage_opts o;
    mlic_storage_opts_init(&o);
    mlic_storage *s;
    CHECK(mlic_storage_create(&s, &o) == MLIC_OK, "%s", mlic_errmsg());
    const mlic_service *v3 = mlic_storage_service(s, MLIC_LOC_S3), *vo = mlic_storage_service(s, MLIC_LOC_OSS);
    CHECK(v3->creds.access_key_id && !strcmp(v3->creds.access_key_id, "FILEKEY"), "file default");
    CHECK(vo->creds.access_key_id && !strcmp(vo->creds.access_key_id, "OSSFILEKEY"), "ossutilconfig");
    CHECK(vo->have_endpoint && !strcmp(vo->host, "s3.oss-cn-beijing.aliyuncs.com"), "%s", vo->host);
    mlic_storage_destroy(s);
    o.profile = "other";
    CHECK(mlic_storage_create(&s, &o) == MLIC_OK, "%s", mlic_errmsg());
    v3 = mlic_storage_service(s, MLIC_LOC_S3);
    CHECK(!strcmp(v3->creds.access_key_id, "OTHERKEY") && !strcmp(v3->creds.session_token, "othertoken"),
          "profile");
    mlic_storage_destroy(s);
    o.profile = NULL;
    setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIKEY", 1);
    setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "alisecret", 1);
    CHECK(mlic_storage_create(&s, &o) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(!strcmp(mlic_storage_service(s, MLIC_LOC_S3)->creds.access_key_id, "ENVKEY"), "env over file");
    CHECK(!strcmp(mlic_storage_service(s, MLIC_LOC_OSS)->creds.access_key_id, "ALIKEY"), "ALIBABA over file");
    mlic_storage_destroy(s);
    setenv("OSS_ACCESS_KEY_ID", "OSSENVKEY", 1);
    setenv("OSS_ACCESS_KEY_SECRET", "ossenvsecret", 1);
    CHECK(mlic_storage_create(&s, &o) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(!strcmp(mlic_storage_service(s, MLIC_LOC_OSS)->creds.access_key_id, "OSSENVKEY"), "OSS_ over ALIBABA_");
    mlic_storage_destroy(s);
    o.access_key_id = "CLIKEY";
    o.secret_access_key = "clisecret";
    CHECK(mlic_storage_create(&s, &o) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(!strcmp(mlic_storage_service(s, MLIC_LOC_S3)->creds.access_key_id, "CLIKEY") &&
          !strcmp(mlic_storage_service(s, MLIC_LOC_OSS)->creds.access_key_id, "CLIKEY"), "command line first");
    mlic_storage_destroy(s);
    /* Nothing anywhere: not an error until a request, which names where it looked. */
    for (size_t i = 1; i < sizeof saved / sizeof *saved; i++)
        unsetenv(saved[i]);
    setenv("HOME", "/nonexistent-mlic-home", 1);
    mlic_storage_opts_init(&o);
    o.s3_endpoint = "http://127.0.0.1:9";
    CHECK(mlic_storage_create(&s, &o) == MLIC_OK, "%s", mlic_errmsg());
    mlic_io_opts io_o = {.storage = s};
    mlic_io *io;
    CHECK(mlic_io_create(&io, &io_o) == MLIC_OK, "%s", mlic_errmsg());
    uint8_t *data;
    size_t len;
    CHECK(mlic_io_get(io, &data, &len, "s3://bucket/k") == MLIC_ERR_INVALID_ARG &&
          strstr(mlic_errmsg(), "AWS_ACCESS_KEY_ID") && strstr(mlic_errmsg(), "~/.aws/credentials") &&
          strstr(mlic_errmsg(), "s3://bucket/k"), "%s", mlic_errmsg());
    CHECK(mlic_io_get(io, &data, &len, "oss://bucket/k") == MLIC_ERR_INVALID_ARG &&
          strstr(mlic_errmsg(), "OSS_ENDPOINT"), "%s", mlic_errmsg());
    mlic_io_destroy(io);
    mlic_storage_destroy(s);
    unlink(path);
    snprintf(path, sizeof path, "%s/.aws/credentials", home);
    unlink(path);
    snprintf(path, sizeof path, "%s/.aws", home);
    rmdir(path);
    rmdir(home);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    test_location();
    test_sigv4_examples();
    test_xml();
    test_endpoints();
    test_local();
    test_random_read();
    test_credentials();
    curl_global_cleanup();
    CHECK_DONE();
}
