/* src/util: base64 against RFC 4648's test vectors, SHA-256 against FIPS 180-4's, the JSON writer against cJSON's parser, the
 * bounded queue under several producers and consumers, path helpers against POSIX dirname(3);
 * the hostile-input guards: the safe open against special files, the bounded line reader (and its
 * wait on a pipe, which a cancel flag ends), the JSON NUL scan, confinement to a root. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "util/base64.h"
#include "util/confine.h"
#include "util/file_open.h"
#include "util/json_nul.h"
#include "util/json_write.h"
#include "util/line_read.h"
#include "util/path.h"
#include "util/queue.h"
#include "util/sha256.h"

static void test_base64(void)
{
    /* RFC 4648, section 10. */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        for (int unpadded = 0; unpadded < 2; unpadded++) {
            size_t len = strlen(coded[i]);
            while (unpadded && len && coded[i][len - 1] == '=')
                len--;
            uint8_t *out;
            size_t n;
            mlic_status st = mlic_base64_decode(&out, &n, coded[i], len);
            CHECK(st == MLIC_OK, "decoding '%.*s': %s", (int)len, coded[i], mlic_errmsg());
            if (st == MLIC_OK) {
                CHECK(n == strlen(plain[i]) && !memcmp(out, plain[i], n), "'%s' decoded wrong", coded[i]);
                free(out);
            }
        }
        mlic_strbuf enc;
        mlic_strbuf_init(&enc);
        mlic_base64_encode(&enc, (const uint8_t *)plain[i], strlen(plain[i]));
        CHECK(enc.len == strlen(coded[i]) && (!enc.len || !strcmp(enc.data, coded[i])),
              "'%s' encoded as '%s'", plain[i], enc.len ? enc.data : "");
        mlic_strbuf_free(&enc);
    }
    /* The URL-safe alphabet: 0xfb 0xff 0xbf is "+/+/" in the standard one. */
    uint8_t *a, *b;
    size_t na, nb;
    CHECK(mlic_base64_decode(&a, &na, "+/+/", 4) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_base64_decode(&b, &nb, "-_-_", 4) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(na == 3 && nb == 3 && a[0] == 0xfb && a[1] == 0xff && a[2] == 0xbf && !memcmp(a, b, 3),
          "alphabets disagree");
    free(a);
    free(b);

    static const char *const bad[] = {"Zm9v!", "Zg=", "Z", "Zm9vY", "Zm=v", "Zm9 v", "Zg===",
                                      "Zm9v\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint8_t *out = (uint8_t *)"x";
        size_t n;
        CHECK(mlic_base64_decode(&out, &n, bad[i], strlen(bad[i])) == MLIC_ERR_FORMAT,
              "'%s' accepted", bad[i]);
        CHECK(out == NULL, "output left set for '%s'", bad[i]);
        CHECK(strstr(mlic_errmsg(), "base64") != NULL, "message: %s", mlic_errmsg());
    }
}

/* FIPS 180-4's examples ("abc", the two-block message), an empty and a million-byte input fed
 * in uneven pieces, and a file. */
static void test_sha256(void)
{
    static const struct {
        const char *text, *hex;
    } known[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"}};
    char hex[65];
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        mlic_sha256_hex(hex, known[i].text, strlen(known[i].text));
        CHECK(!strcmp(hex, known[i].hex), "sha256('%s') = %s", known[i].text, hex);
    }
    /* A file longer than one read: the digest is computed in pieces. */
    static char a[1000000];
    memset(a, 'a', sizeof a);
    const char *million = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    mlic_sha256_hex(hex, a, sizeof a);
    CHECK(!strcmp(hex, million), "sha256 of a million 'a' = %s", hex);
    char path[] = "/tmp/mlic_sha256_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, a, sizeof a) == (ssize_t)sizeof a, "cannot write %s", path);
    close(fd);
    CHECK(mlic_sha256_file(hex, path) == MLIC_OK && !strcmp(hex, million), "file: %s %s", hex,
          mlic_errmsg());
    unlink(path);
    CHECK(mlic_sha256_file(hex, path) == MLIC_ERR_IO && strstr(mlic_errmsg(), path),
          "a missing file: %s", mlic_errmsg());
}

/* Write s as a JSON string, parse it back with cJSON. */
static char *json_round_trip(const char *s)
{
    mlic_strbuf b;
    mlic_strbuf_init(&b);
    mlic_json_write_string(&b, s);
    cJSON *j = cJSON_Parse(b.data);
    CHECK(cJSON_IsString(j), "not a JSON string: %s", b.data);
    char *out = cJSON_IsString(j) ? strdup(j->valuestring) : NULL;
    cJSON_Delete(j);
    mlic_strbuf_free(&b);
    return out;
}

static void test_json_write(void)
{
    static const char *const same[] = {
        "", "plain", "quote\" backslash\\ slash/", "\n\r\t\b\f", "\x01\x02\x1f\x7f",
        "caf\xc3\xa9 \xe7\x8c\xab \xf0\x9f\x90\x88", "a, b: {c}",
    };
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        char *back = json_round_trip(same[i]);
        CHECK(back && !strcmp(back, same[i]), "'%s' came back as '%s'", same[i], back ? back : "(null)");
        free(back);
    }
    /* Invalid UTF-8 (a lone continuation byte, a truncated sequence, an overlong '/', a
     * surrogate) must still give valid JSON, with U+FFFD in place of each bad byte. */
    static const char *const bad[] = {"a\x80z", "a\xe7\x8cz", "a\xc0\xafz", "a\xed\xa0\x80z"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *back = json_round_trip(bad[i]);
        CHECK(back && back[0] == 'a' && strstr(back, "\xef\xbf\xbd") && back[strlen(back) - 1] == 'z',
              "invalid UTF-8 %zu came back as '%s'", i, back ? back : "(null)");
        free(back);
    }

    static const float values[] = {0.0f, 1.0f, 0.5f, 1e-30f, 0.1f, 0.999999940f, 3.14159274f,
                                   1.17549435e-38f, 0.123456789f};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        mlic_strbuf b;
        mlic_strbuf_init(&b);
        mlic_json_write_float(&b, values[i]);
        cJSON *j = cJSON_Parse(b.data);
        CHECK(cJSON_IsNumber(j) && (float)j->valuedouble == values[i], "%.9g written as %s",
              (double)values[i], b.data);
        cJSON_Delete(j);
        mlic_strbuf_free(&b);
    }
    mlic_strbuf b;
    mlic_strbuf_init(&b);
    mlic_strbuf_putc(&b, '[');
    mlic_json_write_float(&b, NAN);
    mlic_strbuf_putc(&b, ',');
    mlic_json_write_float(&b, INFINITY);
    mlic_strbuf_putc(&b, ']');
    cJSON *j = cJSON_Parse(b.data);
    CHECK(j && cJSON_IsNull(cJSON_GetArrayItem(j, 0)) && cJSON_IsNull(cJSON_GetArrayItem(j, 1)),
          "non-finite written as %s", b.data);
    cJSON_Delete(j);
    mlic_strbuf_free(&b);
}

enum { PRODUCERS = 4, CONSUMERS = 3, PER_PRODUCER = 20000 };

typedef struct {
    mlic_queue *q;
    int id;
    long long sum;
    long count;
    int order_ok;
} queue_arg;

static void *produce(void *p)
{
    queue_arg *a = p;
    for (long i = 0; i < PER_PRODUCER; i++)
        if (!mlic_queue_push(a->q, (void *)(intptr_t)(a->id * PER_PRODUCER + i + 1)))
            return NULL;
    return NULL;
}

static void *consume(void *p)
{
    queue_arg *a = p;
    long last[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++)
        last[i] = -1;
    a->order_ok = 1;
    void *item;
    while (mlic_queue_pop(a->q, &item)) {
        long v = (long)(intptr_t)item - 1;
        int from = (int)(v / PER_PRODUCER);
        if (v % PER_PRODUCER <= last[from])
            a->order_ok = 0; /* FIFO: one producer's items arrive in order at any consumer */
        last[from] = v % PER_PRODUCER;
        a->sum += v;
        a->count++;
    }
    return NULL;
}

static void test_queue(void)
{
    mlic_queue *q;
    CHECK(mlic_queue_create(&q, 0) == MLIC_ERR_INVALID_ARG, "capacity 0 accepted");
    CHECK(mlic_queue_create(&q, 8) == MLIC_OK, "%s", mlic_errmsg());
    pthread_t pt[PRODUCERS], ct[CONSUMERS];
    queue_arg pa[PRODUCERS], ca[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) {
        ca[i] = (queue_arg){.q = q};
        pthread_create(&ct[i], NULL, consume, &ca[i]);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        pa[i] = (queue_arg){.q = q, .id = i};
        pthread_create(&pt[i], NULL, produce, &pa[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    mlic_queue_close(q);
    long long sum = 0;
    long count = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        pthread_join(ct[i], NULL);
        sum += ca[i].sum;
        count += ca[i].count;
        CHECK(ca[i].order_ok, "consumer %d saw a producer's items out of order", i);
    }
    long long n = (long long)PRODUCERS * PER_PRODUCER;
    CHECK(count == n, "%ld items consumed, %lld pushed", count, n);
    CHECK(sum == n * (n - 1) / 2, "sum %lld, expected %lld", sum, n * (n - 1) / 2);
    CHECK(!mlic_queue_push(q, (void *)1), "push after close succeeded");
    void *item;
    CHECK(!mlic_queue_pop(q, &item), "pop from a closed, empty queue succeeded");
    mlic_queue_destroy(q);

    /* Closing wakes a producer blocked on a full queue; what was queued still drains. */
    CHECK(mlic_queue_create(&q, 1) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_queue_push(q, (void *)7), "push into an empty queue failed");
    queue_arg blocked = {.q = q, .id = 0};
    pthread_t t;
    pthread_create(&t, NULL, produce, &blocked);
    mlic_queue_close(q);
    pthread_join(t, NULL);
    CHECK(mlic_queue_pop(q, &item) && item == (void *)7, "the queued item was lost");
    mlic_queue_destroy(q);
}

static void test_path(void)
{
    static const char *const cases[] = {"a/b", "a", "/a", "a/b/", "/", "a//b", "//a//b//", "./x",
                                        "../x/y.txt", "/abs/dir/list.txt"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *copy = strdup(cases[i]);
        char *ours = mlic_path_dirname(cases[i]);
        CHECK(ours && !strcmp(ours, dirname(copy)), "dirname('%s'): '%s', POSIX says '%s'", cases[i],
              ours, dirname(copy));
        free(ours);
        free(copy);
    }
    char *j = mlic_path_join("dir", "x.png");
    CHECK(!strcmp(j, "dir/x.png"), "%s", j);
    free(j);
    j = mlic_path_join("dir/", "x.png");
    CHECK(!strcmp(j, "dir/x.png"), "%s", j);
    free(j);
    j = mlic_path_join("dir", "/abs/x.png");
    CHECK(!strcmp(j, "/abs/x.png"), "%s", j);
    free(j);
}

/* Special files are refused without blocking (a FIFO without a writer would hang a plain
 * open), with a message naming the file and what it is; a regular file opens and reads. */
static void test_file_open(void)
{
    char dir[] = "/tmp/mlic_test_util_XXXXXX";
    CHECK(mkdtemp(dir), "mkdtemp");
    char fifo[64], link[64], file[64], sock[64];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    snprintf(file, sizeof file, "%s/file", dir);
    snprintf(sock, sizeof sock, "%s/sock", dir);
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
    CHECK(symlink(fifo, link) == 0, "symlink");
    FILE *w = fopen(file, "wb");
    fputs("hello\n", w);
    fclose(w);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock);
    CHECK(s >= 0 && bind(s, (struct sockaddr *)&addr, sizeof addr) == 0, "bind");
    const struct { const char *path, *kind; } bad[] = {
        {fifo, "a FIFO"}, {link, "a FIFO"}, {dir, "a folder"}, {"/dev/null", "a character device"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int fd = 123;
        mlic_status st = mlic_file_open_read(&fd, bad[i].path, NULL, 0);
        CHECK(st == MLIC_ERR_IO && fd == -1, "%s opened (%d)", bad[i].path, (int)st);
        CHECK(strstr(mlic_errmsg(), bad[i].path) && strstr(mlic_errmsg(), "not a regular file") &&
              strstr(mlic_errmsg(), bad[i].kind), "%s", mlic_errmsg());
    }
    /* A socket cannot even be opened: the message still names it. */
    int fd;
    CHECK(mlic_file_open_read(&fd, sock, "the socket", 0) == MLIC_ERR_IO &&
          strstr(mlic_errmsg(), "cannot open the socket"), "%s", mlic_errmsg());
    FILE *f = NULL;
    CHECK(mlic_file_fopen_read(&f, file, NULL, 0) == MLIC_OK && f, "%s", mlic_errmsg());
    char buf[16] = "";
    CHECK(f && fgets(buf, sizeof buf, f) && !strcmp(buf, "hello\n"), "read '%s'", buf);
    if (f)
        fclose(f);
    /* A list may be a stream: a character device is accepted then. */
    CHECK(mlic_file_open_read(&fd, "/dev/null", NULL, MLIC_FILE_STREAM_OK) == MLIC_OK && fd >= 0,
          "%s", mlic_errmsg());
    close(fd);
    close(s);
    unlink(sock);
    unlink(link);
    unlink(fifo);
    unlink(file);
    rmdir(dir);
}

/* Lines under, at and over the limit, NUL bytes, a last line without a newline. */
static void test_line_read(void)
{
    static const char text[] = "short\nexactly8\nthis one is too long\nnu\0l\nlast";
    FILE *f = fmemopen((void *)text, sizeof text - 1, "rb");
    mlic_line l = {0};
    const struct { const char *kept; size_t len; uint64_t total; } want[] = {
        {"short", 5, 5}, {"exactly8", 8, 8}, {"this one", 8, 20}, {"nu\0l", 4, 4}, {"last", 4, 4},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        int r = mlic_line_read(f, 8, &l);
        CHECK(r == 1 && l.len == want[i].len && l.total == want[i].total &&
              !memcmp(l.data, want[i].kept, l.len) && l.data[l.len] == '\0',
              "line %zu: r %d len %zu total %llu", i, r, l.len, (unsigned long long)l.total);
        CHECK(l.cap <= 9, "line %zu: %zu bytes held for a limit of 8", i, l.cap);
    }
    CHECK(mlic_line_read(f, 8, &l) == 0, "no end of stream");
    mlic_line_free(&l);
    fclose(f);
}

static volatile sig_atomic_t line_cancel;

static void on_alarm(int sig)
{
    line_cancel = sig;
}

/* A pipe whose writer stays open: what was written is read, then the wait for more ends once the
 * flag is set (by a signal handler, as in the CLI, while the reader waits), and a line cut short
 * is not returned. */
static void test_line_read_cancel(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
    CHECK(write(fds[1], "one\ntw", 6) == 6, "write");
    FILE *f = fdopen(fds[0], "rb");
    mlic_line l = {0};
    line_cancel = 0;
    CHECK(mlic_line_cancel_on(&l, f, &line_cancel) == 0, "cancel_on: %s", strerror(errno));
    int r = mlic_line_read(f, 64, &l);
    CHECK(r == 1 && !strcmp(l.data, "one"), "first line: r %d", r);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, &old);
    const struct itimerval in_200ms = {.it_value = {0, 200 * 1000}};
    setitimer(ITIMER_REAL, &in_200ms, NULL);
    errno = 0;
    r = mlic_line_read(f, 64, &l);
    CHECK(r == -1 && errno == ECANCELED && line_cancel == SIGALRM, "waiting on the pipe: r %d, %s",
          r, strerror(errno));
    sigaction(SIGALRM, &old, NULL);
    mlic_line_free(&l);
    fclose(f);
    close(fds[1]);
}

static void test_json_nul(void)
{
    static const struct { const char *text; long long at; } cases[] = {
        {"{\"a\": \"b\"}", -1},
        {"[\"a\\u0000b\"]", 3},
        {"[\"\\\\u0000\"]", -1}, /* an escaped backslash, then the text u0000 */
        {"[\"\\\\\\u0000\"]", 4},   /* an escaped backslash, then a NUL */
        {"[\"\\u00001\"]", 2},
        {"[\"\\u0001\"]", -1},
        {"\\u000", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        long long at = mlic_json_nul_escape(cases[i].text, strlen(cases[i].text));
        CHECK(at == cases[i].at, "'%s': %lld, expected %lld", cases[i].text, at, cases[i].at);
    }
    CHECK(mlic_json_nul_escape("ab\0c", 4) == 2, "a raw NUL byte");
}

/* What lies under the root is kept (resolved); a sibling whose name starts like the root's is
 * not under it; a root of "/" takes every relative path. */
static void test_confine(void)
{
    char dir[] = "/tmp/mlic_test_confine_XXXXXX";
    CHECK(mkdtemp(dir), "mkdtemp");
    char root[64], sibling[64], in[80], out[80], link[80];
    snprintf(root, sizeof root, "%s/r", dir);
    snprintf(sibling, sizeof sibling, "%s/rx", dir);
    snprintf(in, sizeof in, "%s/f", root);
    snprintf(out, sizeof out, "%s/f", sibling);
    snprintf(link, sizeof link, "%s/l", root);
    CHECK(mkdir(root, 0700) == 0 && mkdir(sibling, 0700) == 0, "mkdir");
    fclose(fopen(in, "wb"));
    fclose(fopen(out, "wb"));
    CHECK(symlink(out, link) == 0, "symlink");
    char *real_root = NULL, *real = NULL;
    CHECK(mlic_confine_root(&real_root, root) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_confine_path(&real, root, real_root, "./x/../f") == MLIC_ERR_IO && !real,
          "a missing folder on the way");
    CHECK(mlic_confine_path(&real, root, real_root, "f") == MLIC_OK && real &&
          !strcmp(real, in), "%s", real ? real : mlic_errmsg());
    free(real);
    static const char *const refused[] = {"../rx/f", "l", "..", ".", "/etc/passwd",
                                          "FILE:///etc/passwd"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        real = (char *)1;
        mlic_status st = mlic_confine_path(&real, root, real_root, refused[i]);
        CHECK(st == MLIC_ERR_INVALID_ARG && !real, "'%s' accepted (%d)", refused[i], (int)st);
        CHECK(strstr(mlic_errmsg(), refused[i]) && strstr(mlic_errmsg(), "--confine-to-root"),
              "%s", mlic_errmsg());
    }
    CHECK(mlic_confine_path(&real, "/", "/", in + 1) == MLIC_OK && real && !strcmp(real, in),
          "%s", mlic_errmsg());
    free(real);
    free(real_root);
    CHECK(mlic_confine_root(&real_root, "/nonexistent/mlic") == MLIC_ERR_IO && !real_root &&
          strstr(mlic_errmsg(), "/nonexistent/mlic"), "%s", mlic_errmsg());
    unlink(link);
    unlink(in);
    unlink(out);
    rmdir(root);
    rmdir(sibling);
    rmdir(dir);
}

int main(void)
{
    test_base64();
    test_sha256();
    test_json_write();
    test_queue();
    test_path();
    test_file_open();
    test_line_read();
    test_line_read_cancel();
    test_json_nul();
    test_confine();
    CHECK_DONE();
}
