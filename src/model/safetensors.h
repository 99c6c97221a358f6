/* safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length N, N bytes of JSON header, then the data section.
 *
 * The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
 * relative to the data section) and may hold "__metadata__", a string -> string map.
 *
 * The reader parses and validates the whole header on open and keeps the file open, so tensors are
 * read one at a time straight into their destination (a 170 MB ResNet-101 is never held twice).
 */
#ifndef MLIC_MODEL_SAFETENSORS_H
#define MLIC_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "io/client.h"
#include "mlic.h"

#define MLIC_SAFETENSORS_MAX_DIMS 8

typedef enum {
    MLIC_DTYPE_BOOL = 0,
    MLIC_DTYPE_U8,
    MLIC_DTYPE_I8,
    MLIC_DTYPE_F8_E4M3,
    MLIC_DTYPE_F8_E5M2,
    MLIC_DTYPE_I16,
    MLIC_DTYPE_U16,
    MLIC_DTYPE_F16,
    MLIC_DTYPE_BF16,
    MLIC_DTYPE_I32,
    MLIC_DTYPE_U32,
    MLIC_DTYPE_F32,
    MLIC_DTYPE_F64,
    MLIC_DTYPE_I64,
    MLIC_DTYPE_U64,
    MLIC_DTYPE_COUNT
} mlic_dtype;

const char *mlic_dtype_name(mlic_dtype t); /* "F32" */

typedef struct {
    char *name;
    mlic_dtype dtype;
    int ndim;                                /* 0 for a scalar */
    int64_t dims[MLIC_SAFETENSORS_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end;                     /* byte offsets into the data section */
} mlic_safetensors_tensor;

typedef struct mlic_safetensors mlic_safetensors;

/* Open and validate: header length within the file, header a JSON object, every tensor's dtype
 * known, shape non-negative, offsets inside the data section, end - begin = numel * dtype size,
 * no two tensors overlapping, __metadata__ (if any) a map of strings. */
mlic_status mlic_safetensors_open(mlic_safetensors **out, const char *path);
/* The same through io: a remote path (s3://, oss://, http(s)://) is fetched whole into memory
 * (one request) and read from there; a local path is opened as above (io's root does not
 * apply). io NULL: local paths only. */
mlic_status mlic_safetensors_open_io(mlic_safetensors **out, mlic_io *io, const char *path);
void mlic_safetensors_close(mlic_safetensors *f);

const char *mlic_safetensors_path(const mlic_safetensors *f);
/* The file's length in bytes. */
uint64_t mlic_safetensors_file_size(const mlic_safetensors *f);
/* Tensors in header order. */
int mlic_safetensors_count(const mlic_safetensors *f);
const mlic_safetensors_tensor *mlic_safetensors_tensor_at(const mlic_safetensors *f, int i);
int mlic_safetensors_find(const mlic_safetensors *f, const char *name); /* -1 if absent */
/* __metadata__[key], or NULL if absent. */
const char *mlic_safetensors_metadata(const mlic_safetensors *f, const char *key);

/* Read tensor i into out as float32 (numel floats), converting F16, BF16 and F64. */
mlic_status mlic_safetensors_read_f32(const mlic_safetensors *f, int i, float *out);
/* Read tensor i's raw bytes (end - begin of them). */
mlic_status mlic_safetensors_read_raw(const mlic_safetensors *f, int i, void *out);

/* One tensor to write: numel * dtype size little-endian bytes at data. */
typedef struct {
    const char *name;
    mlic_dtype dtype;
    int ndim;
    const int64_t *dims;  /* (ndim) */
    const void *data;
} mlic_safetensors_entry;

/* Write tensors in the given order, with an optional __metadata__ map (nmeta keys/values),
 * atomically: a temporary file in the same folder, fsync, rename. The header is padded with
 * spaces to a multiple of 8 bytes so that the data section stays aligned. */
mlic_status mlic_safetensors_write(const char *path, const mlic_safetensors_entry *tensors, int n,
                                   const char *const *meta_keys, const char *const *meta_values,
                                   int nmeta);
/* The same through io: a remote path is assembled in memory and written with one PUT (a store
 * never shows half an object); a local one as above. */
mlic_status mlic_safetensors_write_io(mlic_io *io, const char *path,
                                      const mlic_safetensors_entry *tensors, int n,
                                      const char *const *meta_keys,
                                      const char *const *meta_values, int nmeta);

#endif
