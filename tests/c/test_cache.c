/* src/io/cache: what is stored reads back byte for byte; the bound holds, least recently used
 * evicted first; a damaged file (cut short, a body byte changed, another path's) is never used
 * and is deleted; a new cache on the same folder finds the files and keeps the bound; threads
 * storing and reading at once lose nothing; --cache-size's syntax. No network: the cache is
 * driven through its read and store halves with remote-looking paths. */
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "io/cache.h"

static char dir[256];

static void body(uint8_t *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed * 131u + i * 7u);
}

static void path_of(char *out, size_t n, int k)
{
    snprintf(out, n, "s3://bucket/photos/%d.jpg", k);
}

/* Bytes of the files in dir (temporary files included), and how many. */
static uint64_t held(int *files)
{
    DIR *d = opendir(dir);
    uint64_t total = 0;
    *files = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        char p[512];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
            total += (uint64_t)sb.st_size;
            (*files)++;
        }
    }
    if (d)
        closedir(d);
    return total;
}

static int reads_back(mlic_io_cache *c, int k, size_t n)
{
    char p[128];
    path_of(p, sizeof p, k);
    uint8_t *got = NULL, want[4096];
    size_t len = 0;
    body(want, n, (unsigned)k);
    const int ok = mlic_io_cache_read(c, p, &got, &len) && len == n && !memcmp(got, want, n);
    free(got);
    return ok;
}

static void store(mlic_io_cache *c, int k, size_t n)
{
    char p[128];
    uint8_t b[4096];
    path_of(p, sizeof p, k);
    body(b, n, (unsigned)k);
    mlic_io_cache_store(c, p, b, n);
}

/* The file holding path k: the only file whose content names it. */
static int file_of(char *out, size_t n, int k)
{
    char p[128];
    path_of(p, sizeof p, k);
    DIR *d = opendir(dir);
    int found = 0;
    for (struct dirent *e; d && (e = readdir(d)) && !found;) {
        snprintf(out, n, "%s/%s", dir, e->d_name);
        FILE *f = fopen(out, "rb");
        char buf[8192];
        const size_t got = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (f)
            fclose(f);
        found = got > 28 + strlen(p) && !memcmp(buf + 28, p, strlen(p));
    }
    if (d)
        closedir(d);
    return found;
}

static void test_store_read_bound_damage(void)
{
    /* Each file: 28 header bytes + 24 path bytes + 500 body bytes; room for 5. */
    const uint64_t bound = 5 * 560;
    mlic_io_cache *c = NULL;
    CHECK(mlic_io_cache_create(&c, dir, bound) == MLIC_OK, "%s", mlic_errmsg());
    if (!c)
        return;
    for (int k = 0; k < 5; k++)
        store(c, k, 500);
    for (int k = 0; k < 5; k++)
        CHECK(reads_back(c, k, 500), "object %d", k);
    CHECK(!reads_back(c, 99, 500), "an object never stored");
    /* 0 was read least recently after the loop above... read 0 again so that 1 is the oldest. */
    CHECK(reads_back(c, 0, 500), "object 0");
    store(c, 5, 500);
    int files;
    CHECK(held(&files) <= bound && files == 5, "%d files", files);
    CHECK(!reads_back(c, 1, 500), "the least recently used (1) was evicted");
    CHECK(reads_back(c, 0, 500) && reads_back(c, 5, 500), "0 and 5 kept");
    store(c, 6, 4000); /* larger than the bound: not kept */
    CHECK(!reads_back(c, 6, 4000) && held(&files) <= bound, "an object over the bound");

    char f[512];
    CHECK(file_of(f, sizeof f, 2), "the file of object 2");
    CHECK(truncate(f, 500) == 0, "truncate");
    CHECK(!reads_back(c, 2, 500), "a file cut short is not used");
    CHECK(access(f, F_OK) != 0, "and is deleted");
    CHECK(file_of(f, sizeof f, 3), "the file of object 3");
    FILE *w = fopen(f, "r+b");
    fseek(w, -10, SEEK_END);
    fputc(0x5a ^ fgetc(w), w);
    fseek(w, -10, SEEK_END);
    fputc('!', w);
    fclose(w);
    CHECK(!reads_back(c, 3, 500), "a file with a changed body byte is not used");

    mlic_io_cache_stats s;
    mlic_io_cache_get_stats(c, &s);
    CHECK(s.misses == 7 && s.files == 3, "misses %llu, files %llu",
          (unsigned long long)s.misses, (unsigned long long)s.files);
    mlic_io_cache_destroy(c);

    /* A new cache on the folder finds what is there; a smaller bound evicts down to it. */
    CHECK(mlic_io_cache_create(&c, dir, 2 * 560) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(held(&files) <= 2 * 560 && files == 2, "%d files after reopening", files);
    CHECK(reads_back(c, 5, 500), "the most recently written survives");
    mlic_io_cache_destroy(c);
}

typedef struct {
    mlic_io_cache *c;
    int t;
    int bad;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 40; k++) {
            const int key = 100 + k;
            if (!reads_back(j->c, key, 700 + (size_t)key))
                store(j->c, key, 700 + (size_t)key);
            j->bad += !reads_back(j->c, key, 700 + (size_t)key);
        }
    return NULL;
}

static void test_threads(void)
{
    mlic_io_cache *c = NULL;
    CHECK(mlic_io_cache_create(&c, dir, 1 << 20) == MLIC_OK, "%s", mlic_errmsg());
    if (!c)
        return;
    pthread_t th[4];
    job jobs[4];
    for (int t = 0; t < 4; t++) {
        jobs[t] = (job){c, t, 0};
        pthread_create(&th[t], NULL, worker, &jobs[t]);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        CHECK(jobs[t].bad == 0, "thread %d read %d wrong objects", t, jobs[t].bad);
    }
    mlic_io_cache_destroy(c);
}

static void test_parse_size(void)
{
    uint64_t v = 0;
    CHECK(mlic_parse_size(&v, "20G") == MLIC_OK && v == (uint64_t)20 << 30, "20G");
    CHECK(mlic_parse_size(&v, "512m") == MLIC_OK && v == (uint64_t)512 << 20, "512m");
    CHECK(mlic_parse_size(&v, "64KiB") == MLIC_OK && v == 64 << 10, "64KiB");
    CHECK(mlic_parse_size(&v, "12345") == MLIC_OK && v == 12345, "bytes");
    const char *bad[] = {"", "0", "-1G", "12Q", "1GG", "G", "99999999999T"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(mlic_parse_size(&v, bad[i]) != MLIC_OK && strstr(mlic_errmsg(), "--cache-size"),
              "'%s' refused", bad[i]);
    mlic_io_cache *c = NULL;
    CHECK(mlic_io_cache_create(&c, "s3://bucket/cache", 0) != MLIC_OK, "a remote cache folder");
    CHECK(mlic_io_cache_create(&c, "/nonexistent-parent/cache", 0) != MLIC_OK &&
              strstr(mlic_errmsg(), "/nonexistent-parent/cache"),
          "a folder whose parent is missing is named");
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/mlic-test-cache-%d", (int)getpid());
    test_store_read_bound_damage();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "rm");
    test_threads();
    CHECK(system(cmd) == 0, "rm");
    test_parse_size();
    CHECK_DONE();
}
