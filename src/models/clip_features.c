/* The frozen-backbone feature cache (see clip_features.h): key, build, open. */
#include "models/clip_features.h"

#include "base/error.h"
#include "base/file.h"
#include "base/hash.h"
#include "base/progress.h"
#include "data/batch.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FEATURES_FORMAT "mvla-clip-features"
#define FEATURES_VERSION 1
#define META_DESC "mvla.features"
#define META_KEY "mvla.features.key"
#define META_TEXTS "mvla.features.texts"

struct ClipFeatures {
    char *path;
    SafeTensors *st;
    const unsigned char *image, *tokens, *text, *mirrored; /* inside the mapping, not aligned */
    int V, E, P, T, Dv, n_texts;
    long N;
    char **texts;
    double seconds;
};

void clip_feature_options_default(ClipFeatureOptions *o)
{
    memset(o, 0, sizeof *o);
    augment_off(&o->aug);
}

void clip_features_free(ClipFeatures *f)
{
    if (!f) return;
    st_close(f->st);
    for (int i = 0; i < f->n_texts; i++) free(f->texts[i]);
    free(f->texts);
    free(f->path);
    free(f);
}

/* ---- the description and its key ---- */

/* The canonical description (compact JSON, malloc'd) or NULL when out of memory. */
static char *describe(const FrameCache *c, ClipBackbone *b, const ClipFeatureOptions *o)
{
    const Preprocess *pre = cache_preprocess(c);
    json_t *eps = json_array();
    for (int i = 0; i < cache_num_episodes(c); i++) {
        const CacheEpisode *e = cache_episode(c, i);
        json_array_append_new(eps, json_pack("[s, s, i, s]", e->file, e->hash, e->num_frames, e->instruction));
    }
    json_t *d = json_object();
    json_object_set_new(d, "format", json_string(FEATURES_FORMAT));
    json_object_set_new(d, "version", json_integer(FEATURES_VERSION));
    json_object_set_new(d, "backbone", json_string(clip_backbone_hash(b)));
    json_t *norm = clip_preprocess_to_json(&b->pre);
    json_object_set_new(d, "normalise", norm ? norm : json_null());
    json_object_set_new(d, "frames", json_pack("{s:i, s:i, s:s, s:s}", "width", pre->width, "height", pre->height, "crop",
                                               crop_name(pre->crop), "filter", filter_name(pre->filter)));
    json_object_set_new(d, "episodes", eps);
    json_object_set_new(d, "tokens", json_boolean(o->tokens));
    json_object_set_new(d, "copies", json_integer(o->copies));
    json_object_set_new(d, "augment", o->copies ? augment_params_json(&o->aug) : json_null());
    json_object_set_new(d, "seed", o->copies ? json_integer((json_int_t)o->seed) : json_null());
    char *text = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(d);
    return text;
}

/* ---- texts ---- */

static int text_find(char *const *texts, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(texts[i], s) == 0) return i;
    return -1;
}

/* Every episode's instruction and its swapped form, distinct, in first-seen order. */
static int collect_texts(const FrameCache *c, char ***out, int *n_out)
{
    int cap = 2 * cache_num_episodes(c) + 1, n = 0;
    char **t = calloc((size_t)cap, sizeof *t);
    if (!t) return mvla_fail(MVLA_ERR_NOMEM, "features: out of memory");
    for (int i = 0; i < cache_num_episodes(c); i++) {
        const char *ins = cache_episode(c, i)->instruction;
        char *sw = augment_swap_sides(ins);
        const char *both[2] = {ins, sw};
        for (int k = 0; k < 2 && sw; k++)
            if (text_find(t, n, both[k]) < 0 && !(t[n++] = strdup(both[k]))) sw = NULL;
        int ok = sw != NULL;
        free(sw);
        if (!ok) {
            for (int j = 0; j < n; j++) free(t[j]);
            free(t);
            return mvla_fail(MVLA_ERR_NOMEM, "features: out of memory");
        }
    }
    *out = t;
    *n_out = n;
    return 0;
}

/* ---- build ---- */

typedef struct {
    float *image, *tokens, *text;
    uint8_t *mirrored;
    uint8_t *scratch;            /* one episode's augmented frames */
    const uint8_t **rows;
} Buffers;

static void buffers_free(Buffers *b)
{
    free(b->image), free(b->tokens), free(b->text), free(b->mirrored), free(b->scratch), free(b->rows);
}

/* Variant v of episode e into the buffers. */
static int build_episode(const FrameCache *c, ClipBackbone *bb, const ClipFeatureOptions *o, int v, int e, Buffers *b,
                         long N, int P, long tok)
{
    const CacheEpisode *ep = cache_episode(c, e);
    const Preprocess *pre = cache_preprocess(c);
    int W = pre->width, H = pre->height, T = ep->num_frames;
    size_t fb = cache_frame_bytes(c);
    AugmentDraw d;
    augment_identity(&d);
    if (v > 0) {
        Rng r;
        rng_seed(&r, batch_seed_mix(o->seed, (uint64_t)v, hash64(ep->file, strlen(ep->file), 0x636c6970)));
        augment_draw(&o->aug, &r, W, H, &d);
        b->mirrored[(long)v * cache_num_episodes(c) + e] = (uint8_t)(d.mirror != 0);
    }
    for (int t = 0; t < T; t++) {
        const uint8_t *src = cache_frame(c, e, t);
        if (augment_is_identity(&d)) {
            b->rows[t] = src;
        } else {
            uint8_t *dst = b->scratch + (size_t)t * fb;
            int rc = augment_image(&d, t, src, dst, W, H);
            if (rc) return rc;
            b->rows[t] = dst;
        }
    }
    long row = (long)v * N + ep->frame_offset;
    return clip_backbone_encode_images(bb, b->rows, T, b->image + row * P, b->tokens ? b->tokens + row * tok : NULL);
}

static int build(const char *path, const FrameCache *c, ClipBackbone *bb, const ClipFeatureOptions *o, const char *desc,
                 const char *key, char **texts, int n_texts)
{
    const Preprocess *pre = cache_preprocess(c);
    int R = clip_backbone_image_size(bb);
    if (pre->width != R || pre->height != R)
        return mvla_fail(MVLA_ERR_ARG, "features: frame cache %s holds %dx%d frames: expected the backbone's %dx%d",
                         cache_path(c), pre->width, pre->height, R, R);
    int V = 1 + o->copies, E = cache_num_episodes(c), P = clip_backbone_embed_dim(bb), maxT = 1;
    long N = cache_total_frames(c), tok = (long)clip_backbone_tokens(bb) * clip_backbone_token_dim(bb);
    for (int e = 0; e < E; e++)
        if (cache_episode(c, e)->num_frames > maxT) maxT = cache_episode(c, e)->num_frames;
    Buffers b = {0};
    b.image = malloc(sizeof(float) * (size_t)(V * N * P));
    b.tokens = o->tokens ? malloc(sizeof(float) * (size_t)(V * N * tok)) : NULL;
    b.text = malloc(sizeof(float) * (size_t)(n_texts ? n_texts : 1) * (size_t)P);
    b.mirrored = calloc((size_t)(V * E), 1);
    b.scratch = malloc(cache_frame_bytes(c) * (size_t)maxT);
    b.rows = malloc(sizeof *b.rows * (size_t)maxT);
    int rc = 0;
    if (!b.image || (o->tokens && !b.tokens) || !b.text || !b.mirrored || !b.scratch || !b.rows)
        rc = mvla_fail(MVLA_ERR_NOMEM, "features: out of memory for %ld frames", V * N);
    long done = 0;
    for (int v = 0; !rc && v < V; v++)
        for (int e = 0; !rc && e < E; e++) {
            rc = build_episode(c, bb, o, v, e, &b, N, P, tok);
            done += cache_episode(c, e)->num_frames;
            if (!rc && o->progress) o->progress(o->progress_ctx, done, V * N);
        }
    for (int i = 0; !rc && i < n_texts; i++) rc = clip_backbone_encode_text(bb, texts[i], b.text + (long)i * P);
    StWriter *w = rc ? NULL : st_writer_new();
    if (!rc && !w) rc = mvla_fail(MVLA_ERR_NOMEM, "features: out of memory");
    json_t *tj = json_array();
    for (int i = 0; i < n_texts; i++) json_array_append_new(tj, json_string(texts[i]));
    char *tt = json_dumps(tj, JSON_COMPACT);
    json_decref(tj);
    if (!rc && !tt) rc = mvla_fail(MVLA_ERR_NOMEM, "features: out of memory");
    if (!rc) rc = st_writer_add(w, "image_embeds", ST_F32, 2, (int64_t[]){V * N, P}, b.image);
    if (!rc && o->tokens)
        rc = st_writer_add(w, "tokens", ST_F32, 3, (int64_t[]){V * N, clip_backbone_tokens(bb), clip_backbone_token_dim(bb)},
                           b.tokens);
    if (!rc) rc = st_writer_add(w, "text_embeds", ST_F32, 2, (int64_t[]){n_texts, P}, b.text);
    if (!rc) rc = st_writer_add(w, "mirrored", ST_U8, 2, (int64_t[]){V, E}, b.mirrored);
    if (!rc) rc = st_writer_set_metadata(w, META_DESC, desc);
    if (!rc) rc = st_writer_set_metadata(w, META_KEY, key);
    if (!rc) rc = st_writer_set_metadata(w, META_TEXTS, tt);
    if (!rc) rc = st_writer_save(w, path);
    free(tt);
    st_writer_free(w);
    buffers_free(&b);
    return rc;
}

/* ---- open ---- */

static const unsigned char *tensor_data(const SafeTensors *st, const char *name, StDtype dt, int ndim, const int64_t *shape,
                                        const char *path)
{
    const StTensor *t = st_find(st, name);
    int ok = t && t->dtype == dt && t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        mvla_fail(MVLA_ERR_FORMAT, "%s: tensor \"%s\": missing or not the shape this feature cache needs", path, name);
        return NULL;
    }
    return t->data;
}

/* Opens path when it holds the features of key; *match = 0 when it does not (no error then). */
static int open_file(ClipFeatures *f, const char *path, const char *key, const FrameCache *c, ClipBackbone *bb, int tokens,
                     int V, int *match)
{
    *match = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    fclose(fp);
    if (st_open(&f->st, path)) return 0; /* unreadable: rebuilt */
    const char *k = st_metadata(f->st, META_KEY), *tt = st_metadata(f->st, META_TEXTS);
    if (!k || strcmp(k, key) != 0 || !tt) {
        st_close(f->st);
        f->st = NULL;
        return 0;
    }
    f->V = V, f->E = cache_num_episodes(c), f->N = cache_total_frames(c), f->P = clip_backbone_embed_dim(bb);
    f->T = clip_backbone_tokens(bb), f->Dv = clip_backbone_token_dim(bb);
    json_t *tj = json_loads(tt, 0, NULL);
    int rc = json_is_array(tj) ? 0 : mvla_fail(MVLA_ERR_FORMAT, "%s: %s: expected a JSON array", path, META_TEXTS);
    f->n_texts = (int)json_array_size(tj);
    if (!rc && !(f->texts = calloc((size_t)f->n_texts + 1, sizeof *f->texts))) rc = mvla_fail(MVLA_ERR_NOMEM, "out of memory");
    for (int i = 0; !rc && i < f->n_texts; i++) {
        const char *s = json_string_value(json_array_get(tj, (size_t)i));
        if (!s || !(f->texts[i] = strdup(s))) rc = mvla_fail(MVLA_ERR_FORMAT, "%s: %s[%d]: expected a string", path, META_TEXTS, i);
    }
    json_decref(tj);
    if (!rc && !(f->image = tensor_data(f->st, "image_embeds", ST_F32, 2, (int64_t[]){V * f->N, f->P}, path))) rc = MVLA_ERR_FORMAT;
    if (!rc && tokens &&
        !(f->tokens = tensor_data(f->st, "tokens", ST_F32, 3, (int64_t[]){V * f->N, f->T, f->Dv}, path)))
        rc = MVLA_ERR_FORMAT;
    if (!rc && !(f->text = tensor_data(f->st, "text_embeds", ST_F32, 2, (int64_t[]){f->n_texts, f->P}, path)))
        rc = MVLA_ERR_FORMAT;
    if (!rc && !(f->mirrored = tensor_data(f->st, "mirrored", ST_U8, 2, (int64_t[]){V, f->E}, path))) rc = MVLA_ERR_FORMAT;
    if (!rc) *match = 1;
    return rc;
}

/* Forgets what open_file read (a damaged file is then rebuilt). */
static void forget_file(ClipFeatures *f)
{
    st_close(f->st);
    for (int i = 0; i < f->n_texts; i++) free(f->texts[i]);
    free(f->texts);
    f->st = NULL, f->texts = NULL, f->n_texts = 0;
    f->image = f->tokens = f->text = f->mirrored = NULL;
    mvla_error_clear();
}

int clip_features_open_or_build(ClipFeatures **out, const FrameCache *c, ClipBackbone *b, const ClipFeatureOptions *o,
                                int *built)
{
    *out = NULL;
    if (built) *built = 0;
    if (o->copies < 0 || o->copies > 64)
        return mvla_fail(MVLA_ERR_ARG, "features: copies %d: expected 0..64", o->copies);
    if (o->copies && augment_validate(&o->aug)) return mvla_fail(MVLA_ERR_ARG, "features: %s", mvla_error_message());
    char *desc = describe(c, b, o);
    if (!desc) return mvla_fail(MVLA_ERR_NOMEM, "features: out of memory");
    uint8_t digest[32];
    char hex[65], key[32];
    sha256(desc, strlen(desc), digest);
    sha256_hex(digest, hex);
    snprintf(key, sizeof key, "%.24s", hex);
    size_t n = strlen(cache_path(c)) + 64;
    char *dir = malloc(n);
    ClipFeatures *f = calloc(1, sizeof *f);
    int rc = dir && f ? 0 : mvla_fail(MVLA_ERR_NOMEM, "features: out of memory");
    if (!rc && !(f->path = malloc(n))) rc = mvla_fail(MVLA_ERR_NOMEM, "features: out of memory");
    if (!rc) {
        snprintf(dir, n, "%s.features", cache_path(c));
        snprintf(f->path, n, "%s/%s.safetensors", dir, key);
    }
    int match = 0, V = 1 + o->copies;
    if (!rc && open_file(f, f->path, key, c, b, o->tokens, V, &match)) {
        forget_file(f); /* the right name but unreadable contents: computed again */
        match = 0;
    }
    if (!rc && !match) {
        char **texts = NULL;
        int n_texts = 0;
        double t0 = time_now();
        rc = file_make_dirs(dir);
        if (!rc) rc = collect_texts(c, &texts, &n_texts);
        if (!rc) rc = build(f->path, c, b, o, desc, key, texts, n_texts);
        for (int i = 0; i < n_texts; i++) free(texts[i]);
        free(texts);
        if (!rc) rc = open_file(f, f->path, key, c, b, o->tokens, V, &match);
        if (!rc && !match) rc = mvla_fail(MVLA_ERR_IO, "%s: cannot read back the features just written", f->path);
        f->seconds = time_now() - t0;
        if (!rc && built) *built = 1;
    }
    free(desc);
    free(dir);
    if (rc) {
        clip_features_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* ---- access ---- */

const char *clip_features_path(const ClipFeatures *f) { return f->path; }
int clip_features_variants(const ClipFeatures *f) { return f->V; }
int clip_features_dim(const ClipFeatures *f) { return f->P; }
int clip_features_has_tokens(const ClipFeatures *f) { return f->tokens != NULL; }
int clip_features_token_count(const ClipFeatures *f) { return f->T; }
int clip_features_token_dim(const ClipFeatures *f) { return f->Dv; }
double clip_features_seconds(const ClipFeatures *f) { return f->seconds; }
int clip_features_text_count(const ClipFeatures *f) { return f->n_texts; }

void clip_features_image(const ClipFeatures *f, int v, long frame, float *dst)
{
    memcpy(dst, f->image + sizeof(float) * (size_t)((v * f->N + frame) * f->P), sizeof(float) * (size_t)f->P);
}

void clip_features_tokens(const ClipFeatures *f, int v, long frame, float *dst)
{
    size_t n = (size_t)f->T * (size_t)f->Dv;
    memcpy(dst, f->tokens + sizeof(float) * n * (size_t)(v * f->N + frame), sizeof(float) * n);
}

int clip_features_mirrored(const ClipFeatures *f, int v, int e) { return f->mirrored[(long)v * f->E + e] != 0; }

int clip_features_text_index(const ClipFeatures *f, const char *text)
{
    return text_find(f->texts, f->n_texts, text ? text : "");
}

void clip_features_text(const ClipFeatures *f, int i, float *dst)
{
    memcpy(dst, f->text + sizeof(float) * (size_t)i * (size_t)f->P, sizeof(float) * (size_t)f->P);
}
