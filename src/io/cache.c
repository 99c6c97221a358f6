/* The disk cache (io/cache.h). An index of the files held (a chained hash table by key plus a
 * least-recently-used list, both over one array of entries) is guarded by one mutex; reading,
 * fetching and writing files happen outside it. File layout, little-endian:
 *   "mlicobj1" | u64 body length | u64 body checksum | u32 path length | path | body */
#include "io/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "io/location.h"

#define MAGIC "mlicobj1"
#define HEADER_BYTES (8 + 8 + 8 + 4)
#define KEY_HEX 32
#define NONE (-1)
/* A temporary file this old was left by a writer that died (a write takes far less). */
#define STALE_TMP_SECONDS (15 * 60)

typedef struct {
    uint64_t k1, k2;  /* the key: a 128-bit hash of the path */
    uint64_t bytes;   /* the file's size */
    int chain;        /* next entry in the same hash bucket */
    int prev, next;   /* the LRU list: prev is less recently used */
} entry;

struct mlic_io_cache {
    char *dir;
    uint64_t max_bytes;
    pthread_mutex_t mu;
    entry *entries;
    int nentries, cap;
    int free_list;     /* unused entries, through chain */
    int *buckets;      /* (nbuckets) first entry of each chain */
    int nbuckets;
    int lru, mru;      /* ends of the LRU list */
    uint64_t bytes, files, hits, misses;
    unsigned tmp_counter;
};

/* ---------------------------------------------------------------- keys and checksums */

static uint64_t mix(uint64_t x) /* splitmix64's finaliser */
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t fnv1a(const void *data, size_t len, uint64_t h)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void key_of(const char *path, uint64_t *k1, uint64_t *k2)
{
    const size_t n = strlen(path);
    *k1 = mix(fnv1a(path, n, 1469598103934665603ull));
    *k2 = mix(fnv1a(path, n, 0x9e3779b97f4a7c15ull) ^ n);
}

static void key_name(char *out, uint64_t k1, uint64_t k2)
{
    snprintf(out, KEY_HEX + 1, "%016" PRIx64 "%016" PRIx64, k1, k2);
}

static int parse_key_name(const char *name, uint64_t *k1, uint64_t *k2)
{
    if (strlen(name) != KEY_HEX || strspn(name, "0123456789abcdef") != KEY_HEX)
        return 0;
    char half[17];
    memcpy(half, name, 16);
    half[16] = '\0';
    *k1 = strtoull(half, NULL, 16);
    *k2 = strtoull(name + 16, NULL, 16);
    return 1;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ---------------------------------------------------------------- the index (under mu) */

static int bucket_of(const mlic_io_cache *c, uint64_t k1)
{
    return (int)(k1 % (uint64_t)c->nbuckets);
}

static int find(const mlic_io_cache *c, uint64_t k1, uint64_t k2)
{
    for (int e = c->buckets[bucket_of(c, k1)]; e != NONE; e = c->entries[e].chain)
        if (c->entries[e].k1 == k1 && c->entries[e].k2 == k2)
            return e;
    return NONE;
}

static void list_unlink(mlic_io_cache *c, int e)
{
    entry *x = &c->entries[e];
    if (x->prev != NONE)
        c->entries[x->prev].next = x->next;
    else
        c->lru = x->next;
    if (x->next != NONE)
        c->entries[x->next].prev = x->prev;
    else
        c->mru = x->prev;
}

static void list_push_mru(mlic_io_cache *c, int e)
{
    entry *x = &c->entries[e];
    x->prev = c->mru;
    x->next = NONE;
    if (c->mru != NONE)
        c->entries[c->mru].next = e;
    else
        c->lru = e;
    c->mru = e;
}

static mlic_status rehash(mlic_io_cache *c, int nbuckets)
{
    int *b = malloc((size_t)nbuckets * sizeof *b);
    if (!b)
        return mlic_fail(MLIC_ERR_NOMEM, "cache %s: out of memory", c->dir);
    for (int i = 0; i < nbuckets; i++)
        b[i] = NONE;
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = nbuckets;
    /* Entries in use are exactly those on the LRU list. */
    for (int e = c->lru; e != NONE; e = c->entries[e].next) {
        const int k = bucket_of(c, c->entries[e].k1);
        c->entries[e].chain = b[k];
        b[k] = e;
    }
    return MLIC_OK;
}

static mlic_status insert(mlic_io_cache *c, uint64_t k1, uint64_t k2, uint64_t bytes)
{
    int e = find(c, k1, k2);
    if (e != NONE) { /* rewritten (another thread fetched it too): the new size counts */
        c->bytes = c->bytes - c->entries[e].bytes + bytes;
        c->entries[e].bytes = bytes;
        list_unlink(c, e);
        list_push_mru(c, e);
        return MLIC_OK;
    }
    if (c->free_list == NONE) {
        if (c->nentries == c->cap) {
            const int cap = c->cap ? c->cap * 2 : 256;
            entry *n = realloc(c->entries, (size_t)cap * sizeof *n);
            if (!n)
                return mlic_fail(MLIC_ERR_NOMEM, "cache %s: out of memory", c->dir);
            c->entries = n;
            c->cap = cap;
        }
        e = c->nentries++;
    } else {
        e = c->free_list;
        c->free_list = c->entries[e].chain;
    }
    c->entries[e] = (entry){.k1 = k1, .k2 = k2, .bytes = bytes};
    list_push_mru(c, e);
    c->bytes += bytes;
    c->files++;
    if (c->files > (uint64_t)c->nbuckets)
        return rehash(c, c->nbuckets * 2);
    const int k = bucket_of(c, k1);
    c->entries[e].chain = c->buckets[k];
    c->buckets[k] = e;
    return MLIC_OK;
}

static void file_path(char *out, size_t n, const mlic_io_cache *c, uint64_t k1, uint64_t k2)
{
    char name[KEY_HEX + 1];
    key_name(name, k1, k2);
    snprintf(out, n, "%s/%s", c->dir, name);
}

/* Forgets entry e and deletes its file. */
static void drop(mlic_io_cache *c, int e)
{
    entry *x = &c->entries[e];
    char path[4096];
    file_path(path, sizeof path, c, x->k1, x->k2);
    unlink(path);
    int *link = &c->buckets[bucket_of(c, x->k1)];
    while (*link != e)
        link = &c->entries[*link].chain;
    *link = x->chain;
    list_unlink(c, e);
    c->bytes -= x->bytes;
    c->files--;
    x->chain = c->free_list;
    c->free_list = e;
}

static void evict_to(mlic_io_cache *c, uint64_t max_bytes, int keep)
{
    while (c->bytes > max_bytes && c->lru != NONE && c->lru != keep)
        drop(c, c->lru);
}

/* ---------------------------------------------------------------- create */

typedef struct {
    uint64_t k1, k2, bytes;
    struct timespec used;
} found_file;

static int cmp_used(const void *a, const void *b)
{
    const struct timespec *x = &((const found_file *)a)->used, *y = &((const found_file *)b)->used;
    if (x->tv_sec != y->tv_sec)
        return x->tv_sec < y->tv_sec ? -1 : 1;
    return (x->tv_nsec > y->tv_nsec) - (x->tv_nsec < y->tv_nsec);
}

/* The files earlier runs left, least recently written first; stale temporary files go. */
static mlic_status scan(mlic_io_cache *c)
{
    DIR *d = opendir(c->dir);
    if (!d)
        return mlic_fail(MLIC_ERR_IO, "--cache %s: cannot list it: %s", c->dir, strerror(errno));
    found_file *f = NULL;
    size_t n = 0, cap = 0;
    mlic_status st = MLIC_OK;
    const time_t now = time(NULL);
    for (struct dirent *de; st == MLIC_OK && (de = readdir(d));) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", c->dir, de->d_name);
        struct stat sb;
        uint64_t k1 = 0, k2 = 0;
        const int tmp = !strncmp(de->d_name, ".tmp-", 5);
        if ((!tmp && !parse_key_name(de->d_name, &k1, &k2)) || lstat(path, &sb) != 0 ||
            !S_ISREG(sb.st_mode))
            continue;
        if (tmp) {
            if (now - sb.st_mtime > STALE_TMP_SECONDS)
                unlink(path);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            found_file *g = realloc(f, cap * sizeof *g);
            if (!g) {
                st = mlic_fail(MLIC_ERR_NOMEM, "--cache %s: out of memory", c->dir);
                break;
            }
            f = g;
        }
        f[n++] = (found_file){k1, k2, (uint64_t)sb.st_size, sb.st_mtim};
    }
    closedir(d);
    if (st == MLIC_OK && n)
        qsort(f, n, sizeof *f, cmp_used);
    for (size_t i = 0; i < n && st == MLIC_OK; i++)
        st = insert(c, f[i].k1, f[i].k2, f[i].bytes);
    free(f);
    if (st == MLIC_OK)
        evict_to(c, c->max_bytes, NONE);
    return st;
}

mlic_status mlic_io_cache_create(mlic_io_cache **out, const char *dir, uint64_t max_bytes)
{
    *out = NULL;
    if (!dir || !*dir)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "--cache: no folder given");
    if (mlic_location_is_remote(dir))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "--cache %s: the cache is a local folder", dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return mlic_fail(MLIC_ERR_IO, "--cache %s: cannot create the folder: %s%s", dir,
                         strerror(errno), errno == ENOENT ? ". HINT: create its parent first" : "");
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return mlic_fail(MLIC_ERR_IO, "--cache %s: not a folder", dir);
    if (access(dir, W_OK | X_OK) != 0)
        return mlic_fail(MLIC_ERR_IO, "--cache %s: cannot write into it: %s", dir, strerror(errno));
    mlic_io_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = strdup(dir))) {
        free(c);
        return mlic_fail(MLIC_ERR_NOMEM, "--cache %s: out of memory", dir);
    }
    c->max_bytes = max_bytes ? max_bytes : MLIC_IO_CACHE_DEFAULT_BYTES;
    c->lru = c->mru = c->free_list = NONE;
    pthread_mutex_init(&c->mu, NULL);
    mlic_status st = rehash(c, 1024);
    if (st == MLIC_OK)
        st = scan(c);
    if (st != MLIC_OK) {
        mlic_io_cache_destroy(c);
        return st;
    }
    *out = c;
    return MLIC_OK;
}

void mlic_io_cache_destroy(mlic_io_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c->entries);
    free(c->buckets);
    free(c->dir);
    free(c);
}

/* ---------------------------------------------------------------- reading and writing */

static int read_all(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        const ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return 0;
        p += got;
        n -= (size_t)got;
    }
    return 1;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        const ssize_t put = write(fd, p, n);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return 0;
        p += put;
        n -= (size_t)put;
    }
    return 1;
}

/* The body of file fpath when it is a whole, intact copy of path; else 0. */
static int read_copy(const char *fpath, const char *path, uint8_t **data, size_t *len)
{
    const int fd = open(fpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    struct stat sb;
    uint8_t h[HEADER_BYTES];
    const size_t plen = strlen(path);
    int ok = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && read_all(fd, h, sizeof h) &&
             !memcmp(h, MAGIC, 8);
    const uint64_t body = ok ? get_u64(h + 8) : 0, sum = ok ? get_u64(h + 16) : 0;
    const uint32_t stored_plen = ok ? (uint32_t)h[24] | (uint32_t)h[25] << 8 |
                                      (uint32_t)h[26] << 16 | (uint32_t)h[27] << 24 : 0;
    ok = ok && stored_plen == plen && body <= MLIC_IO_MAX_OBJECT_BYTES &&
         (uint64_t)sb.st_size == HEADER_BYTES + plen + body;
    char *stored = ok ? malloc(plen + 1) : NULL;
    uint8_t *buf = ok && stored ? malloc(body ? body : 1) : NULL;
    ok = ok && buf && read_all(fd, stored, plen) && !memcmp(stored, path, plen) &&
         read_all(fd, buf, body) && fnv1a(buf, body, 1469598103934665603ull) == sum;
    close(fd);
    free(stored);
    if (!ok) {
        free(buf);
        return 0;
    }
    *data = buf;
    *len = body;
    return 1;
}

/* Writes the copy under a temporary name and renames it into place; 0 if it could not. */
static int write_copy(mlic_io_cache *c, const char *fpath, const char *path, const uint8_t *data,
                      size_t len)
{
    char tmp[4096];
    pthread_mutex_lock(&c->mu);
    const unsigned k = c->tmp_counter++;
    pthread_mutex_unlock(&c->mu);
    snprintf(tmp, sizeof tmp, "%s/.tmp-%ld-%u", c->dir, (long)getpid(), k);
    const int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return 0;
    const size_t plen = strlen(path);
    uint8_t h[HEADER_BYTES];
    memcpy(h, MAGIC, 8);
    put_u64(h + 8, len);
    put_u64(h + 16, fnv1a(data, len, 1469598103934665603ull));
    for (int i = 0; i < 4; i++)
        h[24 + i] = (uint8_t)(plen >> (8 * i));
    int ok = write_all(fd, h, sizeof h) && write_all(fd, path, plen) && write_all(fd, data, len);
    ok = close(fd) == 0 && ok && rename(tmp, fpath) == 0;
    if (!ok)
        unlink(tmp);
    return ok;
}

int mlic_io_cache_read(mlic_io_cache *c, const char *path, uint8_t **data, size_t *len)
{
    uint64_t k1, k2;
    key_of(path, &k1, &k2);
    char fpath[4096];
    file_path(fpath, sizeof fpath, c, k1, k2);
    pthread_mutex_lock(&c->mu);
    int e = find(c, k1, k2);
    if (e != NONE) {
        list_unlink(c, e);
        list_push_mru(c, e);
    }
    pthread_mutex_unlock(&c->mu);
    if (e == NONE)
        return 0;
    const int ok = read_copy(fpath, path, data, len);
    pthread_mutex_lock(&c->mu);
    if (ok)
        c->hits++;
    else if ((e = find(c, k1, k2)) != NONE) /* damaged, evicted meanwhile or another path's */
        drop(c, e);
    pthread_mutex_unlock(&c->mu);
    return ok;
}

void mlic_io_cache_store(mlic_io_cache *c, const char *path, const uint8_t *data, size_t len)
{
    uint64_t k1, k2;
    key_of(path, &k1, &k2);
    char fpath[4096];
    file_path(fpath, sizeof fpath, c, k1, k2);
    const uint64_t bytes = HEADER_BYTES + strlen(path) + len;
    pthread_mutex_lock(&c->mu);
    c->misses++;
    pthread_mutex_unlock(&c->mu);
    if (bytes > c->max_bytes || !write_copy(c, fpath, path, data, len))
        return;
    pthread_mutex_lock(&c->mu);
    if (insert(c, k1, k2, bytes) == MLIC_OK)
        evict_to(c, c->max_bytes, find(c, k1, k2));
    else
        unlink(fpath); /* out of memory for the index: an unknown file would escape the bound */
    pthread_mutex_unlock(&c->mu);
    mlic_clear_error();
}

mlic_status mlic_io_cache_get(mlic_io_cache *c, mlic_io *io, uint8_t **data, size_t *len,
                              const char *path)
{
    *data = NULL;
    *len = 0;
    if (!c || !mlic_location_is_remote(path))
        return mlic_io_get(io, data, len, path);
    if (mlic_io_cache_read(c, path, data, len))
        return MLIC_OK;
    mlic_status st = mlic_io_get(io, data, len, path);
    if (st == MLIC_OK)
        mlic_io_cache_store(c, path, *data, *len);
    return st;
}

void mlic_io_cache_get_stats(mlic_io_cache *c, mlic_io_cache_stats *s)
{
    pthread_mutex_lock(&c->mu);
    *s = (mlic_io_cache_stats){c->hits, c->misses, c->bytes, c->files};
    pthread_mutex_unlock(&c->mu);
}

mlic_status mlic_parse_size(uint64_t *out, const char *text)
{
    char *end;
    errno = 0;
    const unsigned long long v = text && *text != '-' ? strtoull(text, &end, 10) : 0;
    int shift = -1;
    if (text && *text != '-' && !errno && end != text) {
        const char u = *end;
        shift = u == '\0' ? 0 : (u == 'K' || u == 'k') ? 10 : (u == 'M' || u == 'm') ? 20
                : (u == 'G' || u == 'g') ? 30 : (u == 'T' || u == 't') ? 40 : -1;
        if (shift > 0 && end[1] && strcmp(end + 1, "B") && strcmp(end + 1, "iB"))
            shift = -1;
    }
    if (shift < 0 || v == 0 || v > (UINT64_MAX >> shift))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "--cache-size '%s' is not a size. HINT: a number "
                         "of bytes above 0, or with K, M, G or T (powers of 1024): 20G",
                         text ? text : "(null)");
    *out = (uint64_t)v << shift;
    return MLIC_OK;
}
