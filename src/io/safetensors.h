/* safetensors: Hugging Face's checkpoint format, and mvla's checkpoint and model-file format.
 * Layout: u64 little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}
 * then the data; offsets are relative to the end of the header and need not be aligned.
 *
 * The reader maps files read-only and validates everything before handing out a tensor:
 * header length, JSON, dtypes, shapes vs byte sizes, offsets inside the file, no overlaps.
 * st_open also takes a sharded checkpoint's "*.safetensors.index.json" (or a directory
 * holding model.safetensors or model.safetensors.index.json). */
#ifndef MVLA_SAFETENSORS_H
#define MVLA_SAFETENSORS_H

#include "tensor/tensor.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I8, ST_U8, ST_I16, ST_I32, ST_I64, ST_BOOL, ST_DTYPE_COUNT } StDtype;

#define ST_MAX_DIMS 8

typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    size_t nbytes;
    const void *data;       /* inside the mapped file; not aligned */
} StTensor;

typedef struct SafeTensors SafeTensors;

/* Opens a .safetensors file, a *.safetensors.index.json, or a directory containing one. */
int st_open(SafeTensors **out, const char *path);
void st_close(SafeTensors *st);

int st_count(const SafeTensors *st);
const StTensor *st_at(const SafeTensors *st, int i);          /* in header order (shard by shard) */
const StTensor *st_find(const SafeTensors *st, const char *name);  /* NULL if absent */
/* __metadata__ lookups (merged over shards): value or NULL, and the keys in file order. */
const char *st_metadata(const SafeTensors *st, const char *key);
int st_metadata_count(const SafeTensors *st);
const char *st_metadata_key(const SafeTensors *st, int i);
const char *st_path(const SafeTensors *st);

const char *st_dtype_name(StDtype d);     /* "F32", ... */
int st_dtype_size(StDtype d);             /* bytes per element */
/* "F32" -> ST_F32; returns -1 for an unknown name. */
int st_dtype_from_name(const char *name);

/* Converts t's elements to fp32 (dst: t->numel floats). F32/F16/BF16/F64/I8/U8/I16/I32/I64/BOOL. */
int st_to_f32(const StTensor *t, float *dst);
/* Finds `name` and copies it into dst, whose shape must match (error names file, tensor, both shapes). */
int st_load(const SafeTensors *st, const char *name, Tensor *dst);
/* st_load's checks alone (the tensor is there with dst's shape), copying nothing. */
int st_check(const SafeTensors *st, const char *name, const Tensor *dst);
/* Finds `name` and returns a new persistent fp32 tensor (the file's shape, at most TENSOR_MAX_DIMS dims). */
Tensor *st_load_new(const SafeTensors *st, const char *name);

/* Parses a safetensors image already in memory (not copied: data must stay valid until st_close).
 * label names it in error messages and st_path. st_open uses the same parser; so does the fuzzer. */
int st_open_memory(SafeTensors **out, const void *data, size_t size, const char *label);
/* Tensor i (as st_at): its data_offsets begin inside its file's data section, and that file's path
 * (the shard, for a sharded checkpoint). -1 / NULL when i is out of range. */
int64_t st_offset_at(const SafeTensors *st, int i);
const char *st_file_at(const SafeTensors *st, int i);
/* One IEEE half / bfloat16 value (bit pattern) to fp32; exact (subnormals, inf, nan included). */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t h);

/* ---- writer ---- */
typedef struct StWriter StWriter;

StWriter *st_writer_new(void);
void st_writer_free(StWriter *w);
/* Adds a tensor; data is copied. Names must be unique. */
int st_writer_add(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape, const void *data);
/* Adds an fp32 engine tensor under `name`. */
int st_writer_add_tensor(StWriter *w, const char *name, const Tensor *t);
int st_writer_set_metadata(StWriter *w, const char *key, const char *value);
/* Writes atomically (temp file, then rename). Tensors are laid out in insertion order. */
int st_writer_save(StWriter *w, const char *path);

#endif
