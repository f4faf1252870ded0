/* safetensors reader/writer: round trips, dtype conversion, sharded checkpoints, every malformed
 * header we know of (an error naming the file, never a crash), atomic saves, and `mvla inspect`. */
#include "base/error.h"
#include "io/safetensors.h"
#include "test.h"

#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *tmp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", test_tmpdir(), name);
    return buf;
}

static int write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    int ok = fwrite(data, 1, n, fp) == n;
    return fclose(fp) == 0 && ok;
}

/* A safetensors image by hand: 8-byte length (hlen, or strlen(header) if hlen < 0), header, n_data bytes. */
static unsigned char *raw_image(const char *header, long long hlen, size_t n_data, size_t *size)
{
    size_t h = strlen(header);
    *size = 8 + h + n_data;
    unsigned char *p = calloc(1, *size);
    uint64_t len = hlen < 0 ? (uint64_t)h : (uint64_t)hlen;
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(len >> (8 * i));
    memcpy(p + 8, header, h);
    for (size_t i = 0; i < n_data; i++) p[8 + h + i] = (unsigned char)(i * 7 + 1);
    return p;
}

static int file_equals(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    unsigned char *buf = malloc(n + 1);
    size_t got = fread(buf, 1, n + 1, fp);
    fclose(fp);
    int eq = got == n && memcmp(buf, data, n) == 0;
    free(buf);
    return eq;
}

static int count_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

TEST(st_roundtrip_every_dtype)
{
    /* Shapes of 3 elements make odd byte sizes, so most tensors start at unaligned offsets. */
    unsigned char bytes[ST_DTYPE_COUNT][24];
    int64_t shape[2] = {3, 1};
    StWriter *w = st_writer_new();
    REQUIRE(w);
    char name[32];
    for (int d = 0; d < ST_DTYPE_COUNT; d++) {
        for (int i = 0; i < 24; i++) bytes[d][i] = (unsigned char)(d * 31 + i * 7 + 3);
        if (d == ST_BOOL) bytes[d][0] = 0, bytes[d][1] = 1, bytes[d][2] = 1;
        snprintf(name, sizeof name, "t_%s", st_dtype_name((StDtype)d));
        CHECK(st_writer_add(w, name, (StDtype)d, 2, shape, bytes[d]) == 0);
    }
    int64_t empty_shape[2] = {0, 4};
    float scalar = 2.5f;
    CHECK(st_writer_add(w, "empty", ST_F32, 2, empty_shape, NULL) == 0);
    CHECK(st_writer_add(w, "scalar", ST_F32, 0, NULL, &scalar) == 0);
    char path[512];
    REQUIRE(st_writer_save(w, tmp_path(path, sizeof path, "all.safetensors")) == 0);
    st_writer_free(w);

    SafeTensors *st = NULL;
    REQUIRE(st_open(&st, path) == 0);
    CHECK(st_count(st) == ST_DTYPE_COUNT + 2);
    for (int d = 0; d < ST_DTYPE_COUNT; d++) {
        snprintf(name, sizeof name, "t_%s", st_dtype_name((StDtype)d));
        const StTensor *t = st_at(st, d);
        REQUIRE(t && strcmp(t->name, name) == 0 && st_find(st, name) == t);
        CHECK(t->dtype == (StDtype)d);
        CHECK(t->ndim == 2 && t->shape[0] == 3 && t->shape[1] == 1 && t->numel == 3);
        CHECK(t->nbytes == (size_t)(3 * st_dtype_size((StDtype)d)));
        CHECK_MSG(memcmp(t->data, bytes[d], t->nbytes) == 0, "%s: bytes differ after the round trip", name);
        CHECK(st_dtype_from_name(st_dtype_name((StDtype)d)) == d);
    }
    const StTensor *e = st_find(st, "empty"), *s = st_find(st, "scalar");
    REQUIRE(e && s);
    CHECK(e->numel == 0 && e->nbytes == 0 && e->ndim == 2 && e->shape[0] == 0);
    CHECK(s->ndim == 0 && s->numel == 1 && s->nbytes == 4 && memcmp(s->data, &scalar, 4) == 0);
    CHECK(st_find(st, "nope") == NULL);
    CHECK(st_dtype_from_name("F8_E4M3") == -1);
    st_close(st);
}

TEST(st_roundtrip_engine_tensors)
{
    Tensor *a = tensor_new_shape(3, 2, 3, 4), *b = tensor_new_shape(1, 5);
    REQUIRE(a && b);
    for (long i = 0; i < a->numel; i++) a->data[i] = (float)i * 0.25f - 3.0f;
    for (long i = 0; i < b->numel; i++) b->data[i] = 1.0f / (float)(i + 1);
    int64_t big_shape[6] = {1, 1, 1, 1, 1, 2};
    float big[2] = {1, 2};
    StWriter *w = st_writer_new();
    CHECK(st_writer_add_tensor(w, "layer.a", a) == 0);
    CHECK(st_writer_add_tensor(w, "layer.b", b) == 0);
    CHECK(st_writer_add(w, "six_dims", ST_F32, 6, big_shape, big) == 0);
    char path[512];
    REQUIRE(st_writer_save(w, tmp_path(path, sizeof path, "engine.safetensors")) == 0);
    st_writer_free(w);

    SafeTensors *st = NULL;
    REQUIRE(st_open(&st, path) == 0);
    CHECK(strcmp(st_path(st), path) == 0);
    Tensor *a2 = st_load_new(st, "layer.a");
    REQUIRE(a2);
    CHECK(a2->ndim == 3 && a2->shape[0] == 2 && a2->shape[1] == 3 && a2->shape[2] == 4);
    CHECK(memcmp(a2->data, a->data, (size_t)a->numel * sizeof(float)) == 0);
    Tensor *b2 = tensor_new_shape(1, 5);
    CHECK(st_load(st, "layer.b", b2) == 0);
    CHECK(memcmp(b2->data, b->data, 5 * sizeof(float)) == 0);
    /* wrong destination shape: both shapes in the message */
    CHECK(st_load(st, "layer.a", b2) != 0);
    CHECK_MSG(strstr(mvla_error_message(), "[2, 3, 4]") && strstr(mvla_error_message(), "[5]"), "message: %s",
              mvla_error_message());
    CHECK(st_load_new(st, "missing") == NULL);
    CHECK_MSG(strstr(mvla_error_message(), "missing"), "message: %s", mvla_error_message());
    CHECK(st_load_new(st, "six_dims") == NULL);
    CHECK_MSG(strstr(mvla_error_message(), "dimensions"), "message: %s", mvla_error_message());
    tensor_free(a), tensor_free(b), tensor_free(a2), tensor_free(b2);
    st_close(st);
}

TEST(st_scalar_loads_as_ndim0)
{
    float v = -7.5f;
    StWriter *w = st_writer_new();
    CHECK(st_writer_add(w, "s", ST_F32, 0, NULL, &v) == 0);
    char path[512];
    REQUIRE(st_writer_save(w, tmp_path(path, sizeof path, "s.safetensors")) == 0);
    st_writer_free(w);
    SafeTensors *st = NULL;
    REQUIRE(st_open(&st, path) == 0);
    Tensor *t = st_load_new(st, "s");
    REQUIRE(t);
    CHECK(t->ndim == 0 && t->numel == 1 && t->data[0] == -7.5f);
    tensor_free(t);
    st_close(st);
}

TEST(st_metadata_roundtrip)
{
    StWriter *w = st_writer_new();
    float x = 1;
    int64_t one = 1;
    CHECK(st_writer_set_metadata(w, "format", "mvla") == 0);
    CHECK(st_writer_set_metadata(w, "config", "{\"layers\": [1, 2], \"name\": \"tiny\"}") == 0);
    CHECK(st_writer_set_metadata(w, "empty", "") == 0);
    CHECK(st_writer_set_metadata(w, "format", "mvla-v2") == 0); /* replaces, keeps its place */
    CHECK(st_writer_add(w, "zeta", ST_F32, 1, &one, &x) == 0);
    CHECK(st_writer_add(w, "alpha", ST_F32, 1, &one, &x) == 0);
    char path[512];
    REQUIRE(st_writer_save(w, tmp_path(path, sizeof path, "meta.safetensors")) == 0);
    st_writer_free(w);

    SafeTensors *st = NULL;
    REQUIRE(st_open(&st, path) == 0);
    REQUIRE(st_metadata_count(st) == 3);
    CHECK(strcmp(st_metadata_key(st, 0), "format") == 0);
    CHECK(strcmp(st_metadata_key(st, 1), "config") == 0);
    CHECK(strcmp(st_metadata_key(st, 2), "empty") == 0);
    CHECK(st_metadata_key(st, 3) == NULL);
    CHECK(strcmp(st_metadata(st, "format"), "mvla-v2") == 0);
    CHECK(strcmp(st_metadata(st, "config"), "{\"layers\": [1, 2], \"name\": \"tiny\"}") == 0);
    CHECK(strcmp(st_metadata(st, "empty"), "") == 0);
    CHECK(st_metadata(st, "absent") == NULL);
    /* tensors stay in insertion order, not sorted */
    CHECK(strcmp(st_at(st, 0)->name, "zeta") == 0 && strcmp(st_at(st, 1)->name, "alpha") == 0);
    st_close(st);

    /* header padded with spaces to a multiple of 8 */
    FILE *fp = fopen(path, "rb");
    REQUIRE(fp);
    unsigned char head[8];
    CHECK(fread(head, 1, 8, fp) == 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | head[i];
    CHECK(n % 8 == 0 && n > 0 && n < 4096);
    char hdr[4096];
    CHECK(fread(hdr, 1, (size_t)n, fp) == n);
    hdr[n] = 0;
    fclose(fp);
    CHECK(hdr[0] == '{');
    CHECK(strstr(hdr, "\"zeta\"") < strstr(hdr, "\"alpha\""));
}

TEST(st_f16_bf16_conversion)
{
    static const struct {
        uint16_t bits;
        double value;
    } f16[] = {
        {0x3C00, 1.0},          {0xC000, -2.0},
        {0x7BFF, 65504.0},      {0x0001, 5.960464477539063e-08},
        {0x03FF, 6.097555160522461e-05}, {0x0400, 6.103515625e-05},
        {0x3555, 0.333251953125}, {0x0000, 0.0},
        {0x8001, -5.960464477539063e-08}, {0x3800, 0.5},
    };
    for (size_t i = 0; i < sizeof f16 / sizeof f16[0]; i++)
        CHECK_MSG(st_f16_to_f32(f16[i].bits) == (float)f16[i].value, "F16 0x%04X -> %.10g, expected %.10g", f16[i].bits,
                  st_f16_to_f32(f16[i].bits), f16[i].value);
    CHECK(isinf(st_f16_to_f32(0x7C00)) && st_f16_to_f32(0x7C00) > 0);
    CHECK(isinf(st_f16_to_f32(0xFC00)) && st_f16_to_f32(0xFC00) < 0);
    CHECK(isnan(st_f16_to_f32(0x7E00)) && isnan(st_f16_to_f32(0xFC01)));
    CHECK(signbit(st_f16_to_f32(0x8000)) && st_f16_to_f32(0x8000) == 0);
    CHECK(st_bf16_to_f32(0x3F80) == 1.0f);
    CHECK(st_bf16_to_f32(0xC040) == -3.0f);
    CHECK(st_bf16_to_f32(0x4049) == 3.140625f);
    CHECK(isinf(st_bf16_to_f32(0x7F80)) && isnan(st_bf16_to_f32(0x7FC0)));
    CHECK(st_bf16_to_f32(0x0001) == 0x1p-133f);

    /* the same through st_to_f32 on tensors in a file, little-endian, unaligned */
    uint16_t hv[4] = {0x3C00, 0xC000, 0x7BFF, 0x0001}, bv[2] = {0x3F80, 0xC040};
    unsigned char h_le[8], b_le[4];
    for (int i = 0; i < 4; i++) h_le[2 * i] = hv[i] & 0xff, h_le[2 * i + 1] = hv[i] >> 8;
    for (int i = 0; i < 2; i++) b_le[2 * i] = bv[i] & 0xff, b_le[2 * i + 1] = bv[i] >> 8;
    int8_t i8[3] = {-128, 0, 127};
    uint8_t u8[3] = {0, 200, 255};
    int16_t i16[2] = {-32768, 1234};
    int32_t i32[2] = {-5, 16777216};
    int64_t i64[2] = {-3, (int64_t)1 << 40};
    double f64[3] = {0.1, 1e300, -1e300};
    uint8_t b8[3] = {0, 1, 7};
    int64_t n1 = 1, n2 = 2, n3 = 3, n4 = 4;
    StWriter *w = st_writer_new();
    CHECK(st_writer_add(w, "pad", ST_U8, 1, &n1, u8) == 0); /* shifts everything to odd offsets */
    CHECK(st_writer_add(w, "h", ST_F16, 1, &n4, h_le) == 0);
    CHECK(st_writer_add(w, "b", ST_BF16, 1, &n2, b_le) == 0);
    CHECK(st_writer_add(w, "i8", ST_I8, 1, &n3, i8) == 0);
    CHECK(st_writer_add(w, "u8", ST_U8, 1, &n3, u8) == 0);
    CHECK(st_writer_add(w, "i16", ST_I16, 1, &n2, i16) == 0);
    CHECK(st_writer_add(w, "i32", ST_I32, 1, &n2, i32) == 0);
    CHECK(st_writer_add(w, "i64", ST_I64, 1, &n2, i64) == 0);
    CHECK(st_writer_add(w, "f64", ST_F64, 1, &n3, f64) == 0);
    CHECK(st_writer_add(w, "bool", ST_BOOL, 1, &n3, b8) == 0);
    char path[512];
    REQUIRE(st_writer_save(w, tmp_path(path, sizeof path, "conv.safetensors")) == 0);
    st_writer_free(w);
    SafeTensors *st = NULL;
    REQUIRE(st_open(&st, path) == 0);
    float out[4];
    REQUIRE(st_to_f32(st_find(st, "h"), out) == 0);
    CHECK(out[0] == 1.0f && out[1] == -2.0f && out[2] == 65504.0f && out[3] == (float)5.960464477539063e-08);
    REQUIRE(st_to_f32(st_find(st, "b"), out) == 0);
    CHECK(out[0] == 1.0f && out[1] == -3.0f);
    REQUIRE(st_to_f32(st_find(st, "i8"), out) == 0);
    CHECK(out[0] == -128.0f && out[1] == 0.0f && out[2] == 127.0f);
    REQUIRE(st_to_f32(st_find(st, "u8"), out) == 0);
    CHECK(out[0] == 0.0f && out[1] == 200.0f && out[2] == 255.0f);
    REQUIRE(st_to_f32(st_find(st, "i16"), out) == 0);
    CHECK(out[0] == -32768.0f && out[1] == 1234.0f);
    REQUIRE(st_to_f32(st_find(st, "i32"), out) == 0);
    CHECK(out[0] == -5.0f && out[1] == 16777216.0f);
    REQUIRE(st_to_f32(st_find(st, "i64"), out) == 0);
    CHECK(out[0] == -3.0f && out[1] == 0x1p40f);
    REQUIRE(st_to_f32(st_find(st, "f64"), out) == 0);
    CHECK(out[0] == 0.1f && isinf(out[1]) && out[1] > 0 && isinf(out[2]) && out[2] < 0);
    REQUIRE(st_to_f32(st_find(st, "bool"), out) == 0);
    CHECK(out[0] == 0.0f && out[1] == 1.0f && out[2] == 1.0f);
    Tensor *t = st_load_new(st, "h");
    REQUIRE(t);
    CHECK(t->data[2] == 65504.0f);
    tensor_free(t);
    st_close(st);
}

static int save_two(const char *path, const char *n1, const char *n2, float base)
{
    float v[4] = {base, base + 1, base + 2, base + 3};
    int64_t shape[2] = {2, 2};
    StWriter *w = st_writer_new();
    int rc = st_writer_add(w, n1, ST_F32, 2, shape, v) || st_writer_add(w, n2, ST_F32, 1, shape, v) ||
             st_writer_set_metadata(w, "shard_note", n1) || st_writer_save(w, path);
    st_writer_free(w);
    return rc;
}

static int write_text(const char *path, const char *text) { return write_bytes(path, text, strlen(text)); }

TEST(st_sharded_checkpoint)
{
    char dir[512], p1[600], p2[600], idx[600];
    snprintf(dir, sizeof dir, "%s/ckpt", test_tmpdir());
    REQUIRE(mkdir(dir, 0755) == 0);
    snprintf(p1, sizeof p1, "%s/model-00001-of-00002.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/model-00002-of-00002.safetensors", dir);
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    REQUIRE(save_two(p1, "enc.w", "enc.b", 0) == 0);
    REQUIRE(save_two(p2, "head.w", "head.b", 10) == 0);
    REQUIRE(write_text(idx, "{\"metadata\": {\"total_size\": 48, \"format\": \"pt\"},\n"
                            " \"weight_map\": {\"enc.b\": \"model-00001-of-00002.safetensors\",\n"
                            "                \"enc.w\": \"model-00001-of-00002.safetensors\",\n"
                            "                \"head.b\": \"model-00002-of-00002.safetensors\",\n"
                            "                \"head.w\": \"model-00002-of-00002.safetensors\"}}"));
    const char *opens[2] = {idx, dir};
    for (int k = 0; k < 2; k++) {
        SafeTensors *st = NULL;
        REQUIRE(st_open(&st, opens[k]) == 0);
        CHECK(st_count(st) == 4);
        const StTensor *hw = st_find(st, "head.w"), *eb = st_find(st, "enc.b");
        REQUIRE(hw && eb);
        float out[4];
        CHECK(st_to_f32(hw, out) == 0 && out[0] == 10 && out[3] == 13);
        CHECK(st_to_f32(eb, out) == 0 && out[0] == 0 && out[1] == 1);
        CHECK(strcmp(st_file_at(st, 0), p1) == 0 && strcmp(st_file_at(st, 3), p2) == 0);
        CHECK(st_metadata(st, "total_size") && strcmp(st_metadata(st, "total_size"), "48") == 0);
        CHECK(st_metadata(st, "format") && strcmp(st_metadata(st, "format"), "pt") == 0);
        CHECK(st_metadata(st, "shard_note") && strcmp(st_metadata(st, "shard_note"), "enc.w") == 0);
        st_close(st);
    }

    /* weight_map names a tensor the shard lacks / puts a tensor in the wrong shard / a missing shard */
    static const struct {
        const char *index, *keyword;
    } bad[] = {
        {"{\"weight_map\": {\"enc.w\": \"model-00001-of-00002.safetensors\", \"ghost\": \"model-00002-of-00002.safetensors\"}}",
         "ghost"},
        {"{\"weight_map\": {\"enc.w\": \"model-00002-of-00002.safetensors\", \"head.w\": \"model-00001-of-00002.safetensors\"}}",
         "weight_map says"},
        {"{\"weight_map\": {\"enc.w\": \"no-such-shard.safetensors\"}}", "no-such-shard"},
        {"{\"weights\": {}}", "weight_map"},
        {"{\"weight_map\": {\"enc.w\": 3}}", "shard file name"},
        {"{\"weight_map\": ", "JSON"},
    };
    char bidx[600];
    snprintf(bidx, sizeof bidx, "%s/bad.safetensors.index.json", dir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REQUIRE(write_text(bidx, bad[i].index));
        SafeTensors *st = (SafeTensors *)1;
        CHECK(st_open(&st, bidx) != 0 && st == NULL);
        CHECK_MSG(strstr(mvla_error_message(), bad[i].keyword), "index %zu: message '%s' lacks '%s'", i,
                  mvla_error_message(), bad[i].keyword);
    }

    /* a directory with only model.safetensors; an empty directory */
    char d2[512], m[600];
    snprintf(d2, sizeof d2, "%s/single", test_tmpdir());
    REQUIRE(mkdir(d2, 0755) == 0);
    SafeTensors *st = NULL;
    CHECK(st_open(&st, d2) != 0 && strstr(mvla_error_message(), "neither"));
    snprintf(m, sizeof m, "%s/model.safetensors", d2);
    REQUIRE(save_two(m, "x", "y", 1) == 0);
    REQUIRE(st_open(&st, d2) == 0);
    CHECK(st_count(st) == 2 && st_find(st, "y"));
    st_close(st);
}

typedef struct {
    const char *what, *header;
    long long hlen; /* -1: the header's length */
    size_t n_data;
    const char *keyword;
} BadCase;

static const BadCase bad_cases[] = {
    {"header longer than file", "{}", 1000, 0, "larger than the file"},
    {"data shorter than offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", -1, 8, "past the end"},
    {"offsets past the end", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]}}", -1, 16, "past the end"},
    {"bad JSON", "{\"w\": {\"dtype\": ", -1, 0, "not valid JSON"},
    {"empty header", "", -1, 0, "not valid JSON"},
    {"non-object header", "[1, 2, 3]", -1, 0, "not a JSON object"},
    {"entry not an object", "{\"w\": 3}", -1, 0, "expected an object"},
    {"overlapping ranges",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     -1, 16, "overlap"},
    {"contained range",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[15,16]}}",
     -1, 16, "overlap"},
    {"shape/size mismatch", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", -1, 16,
     "hold 12 bytes, expected 16 for F32 shape [2, 2]"},
    {"wrong dtype size", "{\"w\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}}", -1, 16, "expected 8"},
    {"unknown dtype", "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", -1, 4, "unknown dtype \"F8_E4M3\""},
    {"missing dtype", "{\"w\":{\"shape\":[4],\"data_offsets\":[0,4]}}", -1, 4, "dtype"},
    {"negative shape", "{\"w\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,0]}}", -1, 0, "shape[0]"},
    {"non-integer shape", "{\"w\":{\"dtype\":\"U8\",\"shape\":[2, 1.5],\"data_offsets\":[0,3]}}", -1, 4, "shape[1]"},
    {"shape not an array", "{\"w\":{\"dtype\":\"U8\",\"shape\":\"4\",\"data_offsets\":[0,4]}}", -1, 4, "shape"},
    {"too many dims", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", -1, 1, "dimensions"},
    {"numel overflow", "{\"w\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,1]}}", -1, 1,
     "too many elements"},
    {"begin > end", "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,2]}}", -1, 4, "begin > end"},
    {"negative offset", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", -1, 4, "data_offsets"},
    {"one offset", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1]}}", -1, 4, "data_offsets"},
    {"missing offsets", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1]}}", -1, 4, "data_offsets"},
    {"metadata value not a string", "{\"__metadata__\":{\"epochs\":3}}", -1, 0, "not a string"},
    {"metadata not an object", "{\"__metadata__\":[\"a\"]}", -1, 0, "__metadata__"},
    {"duplicate tensor", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
     -1, 2, "duplicate"},
};

TEST(st_rejects_malformed_files)
{
    char path[512];
    tmp_path(path, sizeof path, "bad.safetensors");
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const BadCase *c = &bad_cases[i];
        size_t size;
        unsigned char *img = raw_image(c->header, c->hlen, c->n_data, &size);
        REQUIRE(write_bytes(path, img, size));
        SafeTensors *st = (SafeTensors *)1;
        int rc = st_open(&st, path);
        CHECK_MSG(rc != 0 && st == NULL, "%s: opened without error", c->what);
        if (rc == 0) st_close(st);
        CHECK_MSG(strstr(mvla_error_message(), c->keyword), "%s: message '%s' lacks '%s'", c->what, mvla_error_message(),
                  c->keyword);
        CHECK_MSG(strncmp(mvla_error_message(), path, strlen(path)) == 0, "%s: message '%s' does not name the file", c->what,
                  mvla_error_message());
        /* the in-memory parser says the same */
        st = (SafeTensors *)1;
        rc = st_open_memory(&st, img, size, "mem");
        CHECK(rc != 0 && st == NULL);
        if (rc == 0) st_close(st);
        CHECK_MSG(strstr(mvla_error_message(), c->keyword), "%s (memory): '%s'", c->what, mvla_error_message());
        free(img);
    }
    CHECK(st_open_memory(&(SafeTensors *){NULL}, NULL, 0, "mem") == MVLA_ERR_FORMAT);
    /* unknown dtype is "unsupported", the rest "format" */
    size_t size;
    unsigned char *img = raw_image(bad_cases[11].header, -1, 4, &size);
    SafeTensors *st = NULL;
    CHECK(st_open_memory(&st, img, size, "mem") == MVLA_ERR_UNSUPPORTED);
    free(img);

    /* files shorter than the 8-byte length */
    for (size_t n = 0; n < 8; n++) {
        REQUIRE(write_bytes(path, "\x02\0\0\0\0\0\0", n));
        CHECK(st_open(&st, path) != 0 && strstr(mvla_error_message(), "too short"));
    }
    /* an absurd header length in a (sparse) file large enough to hold it */
    FILE *fp = fopen(path, "wb");
    REQUIRE(fp);
    unsigned char len[8] = {0, 0, 0, 0x08, 0, 0, 0, 0}; /* 128 MiB */
    CHECK(fwrite(len, 1, 8, fp) == 8);
    fclose(fp);
    REQUIRE(truncate(path, 200l << 20) == 0);
    CHECK(st_open(&st, path) != 0 && strstr(mvla_error_message(), "absurd"));
    unlink(path);
    CHECK(st_open(&st, path) != 0 && strstr(mvla_error_message(), "cannot open"));
    CHECK(st_open(&st, test_tmpdir()) != 0); /* a directory without a model */
    char fifo[512];
    tmp_path(fifo, sizeof fifo, "pipe.safetensors");
    REQUIRE(mkfifo(fifo, 0644) == 0);
    CHECK(st_open(&st, fifo) != 0 && strstr(mvla_error_message(), "not a regular file")); /* no hang */
}

TEST(st_accepts_edge_cases)
{
    /* zero-size tensors may share offsets; extra entry fields are ignored; trailing spaces pad */
    static const char *hdr = "{\"__metadata__\":{},\"e1\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                             "\"e2\":{\"dtype\":\"BOOL\",\"shape\":[0, 5],\"data_offsets\":[0,0]},"
                             "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2],\"extra\":1},"
                             "\"b\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[2,3]},"
                             "\"z\":{\"dtype\":\"U8\",\"shape\":[1048576,1048576,2147483647,0],\"data_offsets\":[3,3]}}    ";
    size_t size;
    unsigned char *img = raw_image(hdr, -1, 3, &size);
    SafeTensors *st = NULL;
    REQUIRE(st_open_memory(&st, img, size, "edge") == 0);
    CHECK(st_count(st) == 5 && st_metadata_count(st) == 0);
    /* empty, but its other dims are too large for an engine tensor: a clean error */
    CHECK(st_load_new(st, "z") == NULL && strstr(mvla_error_message(), "too large"));
    CHECK(st_find(st, "b")->ndim == 0 && st_find(st, "b")->numel == 1);
    CHECK(st_offset_at(st, 3) == 2 && st_offset_at(st, 5) == -1);
    float f[2];
    CHECK(st_to_f32(st_find(st, "e1"), f) == 0);
    Tensor *t = st_load_new(st, "e2");
    REQUIRE(t);
    CHECK(t->numel == 0 && t->ndim == 2);
    tensor_free(t);
    st_close(st);
    free(img);
}

TEST(st_writer_rejects_bad_input)
{
    StWriter *w = st_writer_new();
    float x[4] = {0};
    int64_t s1 = 4, neg = -2, nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(st_writer_add(w, "a", ST_F32, 1, &s1, x) == 0);
    CHECK(st_writer_add(w, "a", ST_F32, 1, &s1, x) != 0 && strstr(mvla_error_message(), "twice"));
    CHECK(st_writer_add(w, "__metadata__", ST_F32, 1, &s1, x) != 0 && strstr(mvla_error_message(), "reserved"));
    CHECK(st_writer_add(w, "n", ST_F32, 1, &neg, x) != 0 && strstr(mvla_error_message(), ">= 0"));
    CHECK(st_writer_add(w, "d", (StDtype)99, 1, &s1, x) != 0 && strstr(mvla_error_message(), "dtype"));
    CHECK(st_writer_add(w, "nine", ST_F32, 9, nine, x) != 0 && strstr(mvla_error_message(), "dimensions"));
    CHECK(st_writer_add(w, "nodata", ST_F32, 1, &s1, NULL) != 0 && strstr(mvla_error_message(), "no data"));
    CHECK(st_writer_add(w, NULL, ST_F32, 1, &s1, x) != 0);
    CHECK(st_writer_add_tensor(w, "t", NULL) != 0);
    CHECK(st_writer_set_metadata(w, "k", NULL) != 0);
    st_writer_free(w);
    st_writer_free(NULL);
}

TEST(st_atomic_save_keeps_original)
{
    char good[512], missing[512];
    tmp_path(good, sizeof good, "keep.safetensors");
    REQUIRE(save_two(good, "a", "b", 5) == 0);
    char *orig = NULL;
    size_t orig_n = 0;
    FILE *fp = fopen(good, "rb");
    REQUIRE(fp);
    orig = malloc(1 << 16);
    orig_n = fread(orig, 1, 1 << 16, fp);
    fclose(fp);

    /* a save into a directory that does not exist fails and touches nothing */
    float v = 1;
    int64_t one = 1;
    StWriter *w = st_writer_new();
    CHECK(st_writer_add(w, "z", ST_F32, 1, &one, &v) == 0);
    tmp_path(missing, sizeof missing, "no/such/dir/x.safetensors");
    CHECK(st_writer_save(w, missing) != 0);
    CHECK_MSG(strstr(mvla_error_message(), "no/such/dir/x.safetensors"), "message: %s", mvla_error_message());
    st_writer_free(w);
    /* a save over the existing file that fails (tensor name not valid UTF-8) leaves it as it was */
    w = st_writer_new();
    CHECK(st_writer_add(w, "bad\xff", ST_F32, 1, &one, &v) == 0);
    CHECK(st_writer_save(w, good) != 0 && strstr(mvla_error_message(), "UTF-8"));
    st_writer_free(w);
    /* saving over a directory fails at the rename: the temp file goes away */
    char dirpath[512];
    tmp_path(dirpath, sizeof dirpath, "adir");
    REQUIRE(mkdir(dirpath, 0755) == 0);
    char inner[600];
    snprintf(inner, sizeof inner, "%s/f", dirpath);
    REQUIRE(write_text(inner, "x"));
    w = st_writer_new();
    CHECK(st_writer_add(w, "z", ST_F32, 1, &one, &v) == 0);
    CHECK(st_writer_save(w, dirpath) != 0);
    st_writer_free(w);

    CHECK(file_equals(good, orig, orig_n));
    SafeTensors *st = NULL;
    CHECK(st_open(&st, good) == 0 && st_count(st) == 2);
    st_close(st);
    CHECK_MSG(count_tmp_files(test_tmpdir()) == 0, "temporary files left in %s", test_tmpdir());
    free(orig);
}

TEST(st_find_thousands)
{
    enum { N = 3000 };
    StWriter *w = st_writer_new();
    char name[32];
    int64_t one = 1;
    for (int i = 0; i < N; i++) {
        float v = (float)i;
        snprintf(name, sizeof name, "layer.%d.weight", (i * 7919) % N);
        CHECK(st_writer_add(w, name, ST_F32, 1, &one, &v) == 0);
    }
    char path[512];
    REQUIRE(st_writer_save(w, tmp_path(path, sizeof path, "many.safetensors")) == 0);
    st_writer_free(w);
    SafeTensors *st = NULL;
    REQUIRE(st_open(&st, path) == 0);
    REQUIRE(st_count(st) == N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "layer.%d.weight", (i * 7919) % N);
        const StTensor *t = st_find(st, name);
        float v;
        if (!t || st_to_f32(t, &v) || v != (float)i) bad++;
    }
    CHECK_MSG(bad == 0, "%d of %d lookups wrong", bad, N);
    CHECK(st_find(st, "layer.3000.weight") == NULL && st_find(st, "") == NULL);
    st_close(st);
}


TEST(st_mvla_inspect_cli)
{
    const char *bin = getenv("MVLA_BIN");
    if (!bin) {
        fprintf(stderr, "(skipped: MVLA_BIN not set; `make check` sets it) ");
        return;
    }
    char path[512], cmd[1600];
    tmp_path(path, sizeof path, "insp.safetensors");
    Tensor *a = tensor_new_shape(2, 3, 4), *b = tensor_new_shape(1, 7);
    StWriter *w = st_writer_new();
    CHECK(st_writer_add_tensor(w, "encoder.weight", a) == 0);
    CHECK(st_writer_add_tensor(w, "head.bias", b) == 0);
    CHECK(st_writer_set_metadata(w, "config", "{\"hidden\": 4}") == 0);
    REQUIRE(st_writer_save(w, path) == 0);
    st_writer_free(w);
    tensor_free(a), tensor_free(b);

    char *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' inspect '%s'", bin, path);
    CHECK(test_run_capture(cmd, &out) == 0);
    CHECK_MSG(strstr(out, "encoder.weight") && strstr(out, "head.bias") && strstr(out, "[3, 4]") &&
                  strstr(out, "19 parameters") && strstr(out, "hidden"),
              "table output:\n%s", out);
    free(out);

    snprintf(cmd, sizeof cmd, "'%s' --threads 1 inspect --json '%s'", bin, path);
    CHECK(test_run_capture(cmd, &out) == 0);
    json_error_t err;
    json_t *root = json_loads(out, 0, &err);
    CHECK_MSG(root, "--json output does not parse: %s\n%s", err.text, out);
    free(out);
    if (root) {
        json_t *ts = json_object_get(root, "tensors");
        CHECK(json_array_size(ts) == 2);
        json_t *t0 = json_array_get(ts, 0), *t1 = json_array_get(ts, 1);
        CHECK(strcmp(json_string_value(json_object_get(t0, "name")), "encoder.weight") == 0);
        json_t *s0 = json_object_get(t0, "shape"), *s1 = json_object_get(t1, "shape");
        CHECK(json_array_size(s0) == 2 && json_integer_value(json_array_get(s0, 0)) == 3 &&
              json_integer_value(json_array_get(s0, 1)) == 4);
        CHECK(json_array_size(s1) == 1 && json_integer_value(json_array_get(s1, 0)) == 7);
        CHECK(json_integer_value(json_object_get(t1, "offset")) == 48);
        CHECK(json_integer_value(json_object_get(t1, "bytes")) == 28);
        CHECK(json_integer_value(json_object_get(root, "total_parameters")) == 19);
        CHECK(json_integer_value(json_object_get(root, "total_bytes")) == 76);
        CHECK(strcmp(json_string_value(json_object_get(json_object_get(root, "metadata"), "config")), "{\"hidden\": 4}") == 0);
        json_decref(root);
    }

    /* a bad file: exit 1, message naming it */
    char bad[512];
    tmp_path(bad, sizeof bad, "bad.safetensors");
    REQUIRE(write_text(bad, "garbage!garbage!"));
    snprintf(cmd, sizeof cmd, "'%s' inspect '%s' 2>&1", bin, bad);
    CHECK(test_run_capture(cmd, &out) == 1);
    CHECK_MSG(strstr(out, "mvla: ") && strstr(out, bad), "error output: %s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' no-such-command 2>&1", bin);
    CHECK(test_run_capture(cmd, &out) == 2);
    CHECK(strstr(out, "unknown command") != NULL);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' --help", bin);
    CHECK(test_run_capture(cmd, &out) == 0);
    CHECK(strstr(out, "inspect") != NULL);
    free(out);
}
