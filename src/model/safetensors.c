#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "io/location.h"
#include "util/file_open.h"
#include "util/file_write.h"
#include "util/json_nul.h"

/* The format is little-endian; tensors are copied to and from memory without byte swapping. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

/* The reference implementation refuses larger headers; so do we, before allocating. */
#define MAX_HEADER_BYTES (100u << 20)
/* Offsets above 2^53 cannot come through a JSON double exactly. */
#define MAX_JSON_INT 9007199254740992.0

static const struct {
    const char *name;
    size_t size;
} dtypes[MLIC_DTYPE_COUNT] = {
    [MLIC_DTYPE_BOOL] = {"BOOL", 1},       [MLIC_DTYPE_U8] = {"U8", 1},
    [MLIC_DTYPE_I8] = {"I8", 1},           [MLIC_DTYPE_F8_E4M3] = {"F8_E4M3", 1},
    [MLIC_DTYPE_F8_E5M2] = {"F8_E5M2", 1}, [MLIC_DTYPE_I16] = {"I16", 2},
    [MLIC_DTYPE_U16] = {"U16", 2},         [MLIC_DTYPE_F16] = {"F16", 2},
    [MLIC_DTYPE_BF16] = {"BF16", 2},       [MLIC_DTYPE_I32] = {"I32", 4},
    [MLIC_DTYPE_U32] = {"U32", 4},         [MLIC_DTYPE_F32] = {"F32", 4},
    [MLIC_DTYPE_F64] = {"F64", 8},         [MLIC_DTYPE_I64] = {"I64", 8},
    [MLIC_DTYPE_U64] = {"U64", 8},
};

const char *mlic_dtype_name(mlic_dtype t) { return t < MLIC_DTYPE_COUNT ? dtypes[t].name : "?"; }

struct mlic_safetensors {
    char *path;
    int fd;
    uint8_t *mem;        /* a remote object, fetched whole (then fd is -1) */
    uint64_t file_size;
    uint64_t data_start; /* 8 + header length */
    int ntensors;
    mlic_safetensors_tensor *tensors;
    int *by_name;        /* (ntensors) tensor indices sorted by name, for mlic_safetensors_find */
    int nmeta;
    char **meta_keys;
    char **meta_values;
};

/* ---------------------------------------------------------------- reading */

/* what: the tensor being read, or NULL for the header. */
static mlic_status read_at(const char *path, const char *what, int fd, void *buf, size_t n,
                           uint64_t off)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = pread(fd, p, n, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return mlic_fail(MLIC_ERR_IO, "%s: %s%s%sread failed at byte %" PRIu64 ": %s", path,
                             what ? "tensor '" : "", what ? what : "", what ? "': " : "", off,
                             strerror(errno));
        if (got == 0)
            return mlic_fail(MLIC_ERR_IO, "%s: %s%s%sthe file ended at byte %" PRIu64 "; it was "
                             "truncated after it was opened", path, what ? "tensor '" : "",
                             what ? what : "", what ? "': " : "", off);
        p += got;
        n -= (size_t)got;
        off += (uint64_t)got;
    }
    return MLIC_OK;
}

/* Bytes [off, off + n) of the file or of the fetched object (open has checked they lie inside). */
static mlic_status read_from(const mlic_safetensors *f, const char *what, void *buf, size_t n,
                             uint64_t off)
{
    if (!f->mem)
        return read_at(f->path, what, f->fd, buf, n, off);
    memcpy(buf, f->mem + off, n);
    return MLIC_OK;
}

static int json_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j))
        return 0;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= MAX_JSON_INT) || d != floor(d))
        return 0;
    *out = (uint64_t)d;
    return 1;
}

static int dtype_parse(const char *s, mlic_dtype *out)
{
    for (int t = 0; t < MLIC_DTYPE_COUNT; t++)
        if (!strcmp(s, dtypes[t].name)) {
            *out = (mlic_dtype)t;
            return 1;
        }
    return 0;
}

static mlic_status parse_tensor(mlic_safetensors_tensor *t, const cJSON *j, const char *path,
                                uint64_t data_size)
{
    const char *name = t->name;
    if (!cJSON_IsObject(j))
        return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor '%s': header entry is not an object", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(j, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(j, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
    if (!cJSON_IsString(dt))
        return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is missing or not a string",
                         path, name);
    if (!dtype_parse(dt->valuestring, &t->dtype))
        return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor '%s': unknown dtype \"%s\"", path, name,
                         dt->valuestring);
    if (!cJSON_IsArray(shape))
        return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor '%s': \"shape\" is missing or not an array",
                         path, name);
    int nd = cJSON_GetArraySize(shape);
    if (nd > MLIC_SAFETENSORS_MAX_DIMS)
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "%s: tensor '%s': %d dimensions, at most %d supported",
                         path, name, nd, MLIC_SAFETENSORS_MAX_DIMS);
    t->ndim = nd;
    t->numel = 1;
    for (int d = 0; d < nd; d++) {
        uint64_t v;
        if (!json_uint(cJSON_GetArrayItem(shape, d), &v))
            return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative "
                             "integer", path, name, d);
        t->dims[d] = (int64_t)v;
        if (v && t->numel > UINT64_MAX / v)
            return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor '%s': shape overflows", path, name);
        t->numel *= v;
    }
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        !json_uint(cJSON_GetArrayItem(offs, 0), &t->begin) ||
        !json_uint(cJSON_GetArrayItem(offs, 1), &t->end))
        return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor '%s': \"data_offsets\" is not a pair of "
                         "non-negative integers", path, name);
    if (t->begin > t->end || t->end > data_size)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                         "] lie outside the data section (%" PRIu64 " bytes). HINT: the file is "
                         "truncated or corrupt", path, name, t->begin, t->end, data_size);
    size_t es = dtypes[t->dtype].size;
    if (t->numel > UINT64_MAX / es || t->end - t->begin != t->numel * es)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor '%s': data_offsets span %" PRIu64 " bytes "
                         "but %" PRIu64 " elements of %s need %" PRIu64, path, name,
                         t->end - t->begin, t->numel, dtypes[t->dtype].name,
                         t->numel > UINT64_MAX / es ? UINT64_MAX : t->numel * es);
    return MLIC_OK;
}

static mlic_status parse_metadata(mlic_safetensors *f, const cJSON *j)
{
    if (!cJSON_IsObject(j))
        return mlic_fail(MLIC_ERR_FORMAT, "%s: \"__metadata__\" is not an object", f->path);
    int n = cJSON_GetArraySize(j);
    f->meta_keys = calloc((size_t)n + 1, sizeof *f->meta_keys);
    f->meta_values = calloc((size_t)n + 1, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory reading the header", f->path);
    for (const cJSON *e = j->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return mlic_fail(MLIC_ERR_FORMAT, "%s: __metadata__[\"%s\"] is not a string", f->path,
                             e->string);
        f->meta_keys[f->nmeta] = strdup(e->string);
        f->meta_values[f->nmeta] = strdup(e->valuestring);
        if (!f->meta_keys[f->nmeta] || !f->meta_values[f->nmeta])
            return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory reading the header", f->path);
        f->nmeta++;
    }
    return MLIC_OK;
}

static int cmp_name(const void *a, const void *b)
{
    const mlic_safetensors_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* The name index: lookups in a header of a million tensors stay logarithmic. */
static mlic_status index_names(mlic_safetensors *f, const mlic_safetensors_tensor **by_name)
{
    f->by_name = malloc(((size_t)f->ntensors + 1) * sizeof *f->by_name);
    if (!f->by_name)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory reading the header", f->path);
    for (int i = 0; i < f->ntensors; i++)
        f->by_name[i] = (int)(by_name[i] - f->tensors);
    return MLIC_OK;
}

static int cmp_begin(const void *a, const void *b)
{
    const mlic_safetensors_tensor *const *x = a, *const *y = b;
    return (*x)->begin < (*y)->begin ? -1 : (*x)->begin > (*y)->begin;
}

/* Duplicate names (JSON allows repeated keys; cJSON keeps both) and overlapping data; indexes
 * the names. */
static mlic_status check_disjoint(mlic_safetensors *f)
{
    const mlic_safetensors_tensor **v = malloc(((size_t)f->ntensors + 1) * sizeof *v);
    if (!v)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory reading the header", f->path);
    for (int i = 0; i < f->ntensors; i++)
        v[i] = &f->tensors[i];
    mlic_status st = MLIC_OK;
    qsort(v, (size_t)f->ntensors, sizeof *v, cmp_name);
    for (int i = 1; i < f->ntensors && !st; i++)
        if (!strcmp(v[i - 1]->name, v[i]->name))
            st = mlic_fail(MLIC_ERR_FORMAT, "%s: tensor '%s' appears twice in the header", f->path,
                           v[i]->name);
    if (!st)
        st = index_names(f, v);
    qsort(v, (size_t)f->ntensors, sizeof *v, cmp_begin);
    const mlic_safetensors_tensor *prev = NULL;
    for (int i = 0; i < f->ntensors && !st; i++) {
        if (v[i]->begin == v[i]->end)
            continue;
        if (prev && v[i]->begin < prev->end)
            st = mlic_fail(MLIC_ERR_FORMAT, "%s: tensors '%s' [%" PRIu64 ", %" PRIu64 ") and '%s' [%"
                           PRIu64 ", %" PRIu64 ") overlap in the data section", f->path, prev->name,
                           prev->begin, prev->end, v[i]->name, v[i]->begin, v[i]->end);
        if (!prev || v[i]->end > prev->end)
            prev = v[i];
    }
    free(v);
    return st;
}

static mlic_status parse_header(mlic_safetensors *f, const char *text, size_t len)
{
    long long nul = mlic_json_nul_escape(text, len);
    if (nul >= 0)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: the header holds a NUL character (byte %lld of "
                         "%zu), which no tensor name or metadata value may contain. HINT: a "
                         "corrupt or crafted file", f->path, nul, len);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        return mlic_fail(MLIC_ERR_FORMAT, "%s: the header is not valid JSON (error near byte %zu of "
                         "%zu). HINT: not a safetensors file, or a corrupt one", f->path, at, len);
    }
    mlic_status st = MLIC_OK;
    for (const char *p = end; p < text + len && !st; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            st = mlic_fail(MLIC_ERR_FORMAT, "%s: unexpected bytes after the JSON header (byte %zu)",
                           f->path, (size_t)(p - text));
    if (!st && !cJSON_IsObject(root))
        st = mlic_fail(MLIC_ERR_FORMAT, "%s: the header is JSON but not an object", f->path);
    if (st) {
        cJSON_Delete(root);
        return st;
    }
    int n = cJSON_GetArraySize(root);
    f->tensors = calloc((size_t)n + 1, sizeof *f->tensors);
    if (!f->tensors)
        st = mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory reading the header", f->path);
    uint64_t data_size = f->file_size - f->data_start;
    int seen_meta = 0;
    for (const cJSON *e = root->child; e && !st; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (seen_meta++)
                st = mlic_fail(MLIC_ERR_FORMAT, "%s: \"__metadata__\" appears twice", f->path);
            else
                st = parse_metadata(f, e);
            continue;
        }
        mlic_safetensors_tensor *t = &f->tensors[f->ntensors];
        if (!(t->name = strdup(e->string))) {
            st = mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory reading the header", f->path);
            break;
        }
        f->ntensors++;
        st = parse_tensor(t, e, f->path, data_size);
    }
    cJSON_Delete(root);
    return st ? st : check_disjoint(f);
}

static mlic_status open_file(mlic_safetensors *f)
{
    if (!f->mem) {
        struct stat sb;
        if (fstat(f->fd, &sb) != 0)
            return mlic_fail(MLIC_ERR_IO, "%s: %s", f->path, strerror(errno));
        if (!S_ISREG(sb.st_mode))
            return mlic_fail(MLIC_ERR_IO, "%s: not a regular file", f->path);
        f->file_size = (uint64_t)sb.st_size;
    }
    if (f->file_size < 8)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: %" PRIu64 " bytes, too short for a safetensors file "
                         "(an 8-byte header length comes first)", f->path, f->file_size);
    uint8_t le[8];
    mlic_status st = read_from(f, NULL, le, 8, 0);
    if (st)
        return st;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | le[i];
    if (hlen > f->file_size - 8)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: header length %" PRIu64 " exceeds the file (%" PRIu64
                         " bytes). HINT: not a safetensors file, or a truncated one", f->path, hlen,
                         f->file_size);
    if (hlen > MAX_HEADER_BYTES)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: header length %" PRIu64 " is over the %u-byte limit",
                         f->path, hlen, MAX_HEADER_BYTES);
    f->data_start = 8 + hlen;
    char *text = malloc(hlen + 1);
    if (!text)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory reading the header", f->path);
    st = read_from(f, NULL, text, hlen, 8);
    if (!st) {
        text[hlen] = '\0';
        st = parse_header(f, text, hlen);
    }
    free(text);
    return st;
}

mlic_status mlic_safetensors_open(mlic_safetensors **out, const char *path)
{
    return mlic_safetensors_open_io(out, NULL, path);
}

mlic_status mlic_safetensors_open_io(mlic_safetensors **out, mlic_io *io, const char *path)
{
    *out = NULL;
    mlic_safetensors *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory", path);
    }
    f->fd = -1;
    mlic_status st;
    if (io && mlic_location_is_remote(path)) {
        size_t len = 0;
        st = mlic_io_get(io, &f->mem, &len, path);
        f->file_size = len;
    } else {
        st = mlic_file_open_read(&f->fd, path, NULL, 0);
    }
    if (st == MLIC_OK)
        st = open_file(f);
    if (st) {
        mlic_safetensors_close(f);
        return st;
    }
    *out = f;
    return MLIC_OK;
}

void mlic_safetensors_close(mlic_safetensors *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    free(f->mem);
    for (int i = 0; i < f->ntensors; i++)
        free(f->tensors[i].name);
    for (int i = 0; i < f->nmeta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    /* A failed strdup may leave one unpaired entry past nmeta. */
    if (f->meta_keys) {
        free(f->meta_keys[f->nmeta]);
        free(f->meta_values[f->nmeta]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    free(f->tensors);
    free(f->by_name);
    free(f->path);
    free(f);
}

const char *mlic_safetensors_path(const mlic_safetensors *f) { return f->path; }

uint64_t mlic_safetensors_file_size(const mlic_safetensors *f) { return f->file_size; }

int mlic_safetensors_count(const mlic_safetensors *f) { return f->ntensors; }

const mlic_safetensors_tensor *mlic_safetensors_tensor_at(const mlic_safetensors *f, int i)
{
    return i >= 0 && i < f->ntensors ? &f->tensors[i] : NULL;
}

int mlic_safetensors_find(const mlic_safetensors *f, const char *name)
{
    int lo = 0, hi = f->ntensors;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(f->tensors[f->by_name[mid]].name, name);
        if (c == 0)
            return f->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const char *mlic_safetensors_metadata(const mlic_safetensors *f, const char *key)
{
    for (int i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta_keys[i], key))
            return f->meta_values[i];
    return NULL;
}

mlic_status mlic_safetensors_read_raw(const mlic_safetensors *f, int i, void *out)
{
    const mlic_safetensors_tensor *t = &f->tensors[i];
    return read_from(f, t->name, out, t->end - t->begin, f->data_start + t->begin);
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | man << 13;
    } else if (exp) {
        bits = sign | (exp + 112) << 23 | man << 13;
    } else {
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

mlic_status mlic_safetensors_read_f32(const mlic_safetensors *f, int i, float *out)
{
    const mlic_safetensors_tensor *t = &f->tensors[i];
    if (t->dtype == MLIC_DTYPE_F32)
        return mlic_safetensors_read_raw(f, i, out);
    if (t->dtype != MLIC_DTYPE_F16 && t->dtype != MLIC_DTYPE_BF16 && t->dtype != MLIC_DTYPE_F64)
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s cannot be read as float "
                         "weights (F32, F16, BF16 and F64 can)", f->path, t->name,
                         dtypes[t->dtype].name);
    void *tmp = malloc(t->end - t->begin ? t->end - t->begin : 1);
    if (!tmp)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: tensor '%s': out of memory", f->path, t->name);
    mlic_status st = mlic_safetensors_read_raw(f, i, tmp);
    if (!st) {
        const uint16_t *h = tmp;
        const double *d = tmp;
        for (uint64_t k = 0; k < t->numel; k++) {
            if (t->dtype == MLIC_DTYPE_F16) {
                out[k] = half_to_float(h[k]);
            } else if (t->dtype == MLIC_DTYPE_BF16) {
                uint32_t bits = (uint32_t)h[k] << 16;
                memcpy(&out[k], &bits, sizeof bits);
            } else {
                out[k] = (float)d[k];
            }
        }
    }
    free(tmp);
    return st;
}

/* ---------------------------------------------------------------- writing */

static mlic_status write_all(int fd, const void *buf, size_t n, const char *path)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t put = write(fd, p, n);
        if (put < 0 && errno == EINTR)
            continue;
        if (put < 0)
            return mlic_fail(MLIC_ERR_IO, "write %s: %s", path, strerror(errno));
        p += put;
        n -= (size_t)put;
    }
    return MLIC_OK;
}

static mlic_status check_entries(const char *path, const mlic_safetensors_entry *t, int n)
{
    for (int i = 0; i < n; i++) {
        if (!t[i].name || !t[i].name[0] || !strcmp(t[i].name, "__metadata__"))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "writing %s: tensor %d has no usable name", path, i);
        if ((unsigned)t[i].dtype >= MLIC_DTYPE_COUNT || t[i].ndim < 0 ||
            t[i].ndim > MLIC_SAFETENSORS_MAX_DIMS)
            return mlic_fail(MLIC_ERR_INVALID_ARG, "writing %s: tensor '%s': bad dtype or rank", path,
                             t[i].name);
        for (int d = 0; d < t[i].ndim; d++)
            if (t[i].dims[d] < 0)
                return mlic_fail(MLIC_ERR_INVALID_ARG, "writing %s: tensor '%s': negative dimension",
                                 path, t[i].name);
        for (int j = 0; j < i; j++)
            if (!strcmp(t[i].name, t[j].name))
                return mlic_fail(MLIC_ERR_INVALID_ARG, "writing %s: tensor '%s' given twice", path,
                                 t[i].name);
    }
    return MLIC_OK;
}

static uint64_t entry_bytes(const mlic_safetensors_entry *t)
{
    uint64_t n = dtypes[t->dtype].size;
    for (int d = 0; d < t->ndim; d++)
        n *= (uint64_t)t->dims[d];
    return n;
}

/* Numbers go in as raw text: cJSON would print large offsets through a double. */
static int add_raw_u64(cJSON *arr, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    cJSON *r = cJSON_CreateRaw(buf);
    return r && cJSON_AddItemToArray(arr, r);
}

static char *build_header(const mlic_safetensors_entry *t, int n, const char *const *mk,
                          const char *const *mv, int nmeta)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && nmeta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta != NULL;
        for (int i = 0; i < nmeta && ok; i++)
            ok = cJSON_AddStringToObject(meta, mk[i], mv[i]) != NULL;
    }
    uint64_t off = 0;
    for (int i = 0; i < n && ok; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        cJSON *shape = e ? cJSON_AddArrayToObject(e, "shape") : NULL;
        ok = e && cJSON_AddStringToObject(e, "dtype", dtypes[t[i].dtype].name) && shape;
        for (int d = 0; d < t[i].ndim && ok; d++)
            ok = add_raw_u64(shape, (uint64_t)t[i].dims[d]);
        cJSON *offs = ok ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
        uint64_t bytes = entry_bytes(&t[i]);
        ok = offs && add_raw_u64(offs, off) && add_raw_u64(offs, off + bytes);
        off += bytes;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

/* Where the file's bytes go: a file descriptor, or memory (mem, of exactly the file's size). */
typedef struct {
    int fd;
    uint8_t *mem;
    size_t at;
} sink;

static mlic_status put_bytes(sink *k, const void *buf, size_t n, const char *path)
{
    if (!k->mem)
        return write_all(k->fd, buf, n, path);
    memcpy(k->mem + k->at, buf, n);
    k->at += n;
    return MLIC_OK;
}

static size_t padded_len(const char *header) { return (strlen(header) + 7) / 8 * 8; }

static mlic_status write_body(sink *k, const char *path, const char *header,
                              const mlic_safetensors_entry *t, int n)
{
    size_t hlen = strlen(header), padded = padded_len(header);
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    mlic_status st = put_bytes(k, le, 8, path);
    if (!st)
        st = put_bytes(k, header, hlen, path);
    if (!st)
        st = put_bytes(k, "        ", padded - hlen, path);
    for (int i = 0; i < n && !st; i++)
        st = put_bytes(k, t[i].data, (size_t)entry_bytes(&t[i]), path);
    if (!st && !k->mem && fsync(k->fd) != 0)
        st = mlic_fail(MLIC_ERR_IO, "fsync %s: %s", path, strerror(errno));
    return st;
}

/* A remote object: the file assembled in memory, then one PUT. */
static mlic_status write_remote(mlic_io *io, const char *path, const char *header,
                                const mlic_safetensors_entry *t, int n)
{
    uint64_t total = 8 + padded_len(header);
    for (int i = 0; i < n; i++)
        total += entry_bytes(&t[i]);
    if (total > MLIC_IO_MAX_OBJECT_BYTES)
        return mlic_fail(MLIC_ERR_TOO_LARGE, "writing %s: %" PRIu64 " bytes, over the %zu-byte "
                         "limit of one object", path, total, MLIC_IO_MAX_OBJECT_BYTES);
    sink k = {.fd = -1, .mem = malloc((size_t)total)};
    if (!k.mem)
        return mlic_fail(MLIC_ERR_NOMEM, "writing %s: out of memory for %" PRIu64 " bytes", path,
                         total);
    mlic_status st = write_body(&k, path, header, t, n);
    if (!st)
        st = mlic_io_put(io, path, k.mem, k.at);
    free(k.mem);
    return st;
}

mlic_status mlic_safetensors_write(const char *path, const mlic_safetensors_entry *tensors, int n,
                                   const char *const *meta_keys, const char *const *meta_values,
                                   int nmeta)
{
    return mlic_safetensors_write_io(NULL, path, tensors, n, meta_keys, meta_values, nmeta);
}

mlic_status mlic_safetensors_write_io(mlic_io *io, const char *path,
                                      const mlic_safetensors_entry *tensors, int n,
                                      const char *const *meta_keys,
                                      const char *const *meta_values, int nmeta)
{
    mlic_status st = check_entries(path, tensors, n);
    if (st)
        return st;
    char *header = build_header(tensors, n, meta_keys, meta_values, nmeta);
    if (header && io && mlic_location_is_remote(path)) {
        st = write_remote(io, path, header, tensors, n);
        free(header);
        return st;
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!header || !tmp) {
        free(header);
        free(tmp);
        return mlic_fail(MLIC_ERR_NOMEM, "writing %s: out of memory", path);
    }
    snprintf(tmp, plen + 16, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = mlic_fail(MLIC_ERR_IO, "create a temporary file next to %s: %s", path, strerror(errno));
    } else {
        /* mkstemp makes the file 0600; a model is an ordinary shareable file. */
        fchmod(fd, 0644);
        sink k = {.fd = fd};
        st = write_body(&k, tmp, header, tensors, n);
        if (close(fd) != 0 && !st)
            st = mlic_fail(MLIC_ERR_IO, "close %s: %s", tmp, strerror(errno));
        if (!st && rename(tmp, path) != 0)
            st = mlic_fail(MLIC_ERR_IO, "rename %s to %s: %s", tmp, path, strerror(errno));
        if (st)
            unlink(tmp);
        else
            mlic_file_sync_parent(path);
    }
    free(header);
    free(tmp);
    return st;
}
