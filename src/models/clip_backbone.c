/* A CLIP checkpoint as a frozen feature extractor (see clip_backbone.h). */
#include "models/clip_backbone.h"

#include "base/error.h"
#include "base/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ENCODE_BATCH 16 /* frames per vision forward */

void clip_backbone_free(ClipBackbone *b)
{
    if (!b) return;
    clip_free(b->model);
    clip_tokenizer_free(b->tok);
    graph_free(b->g);
    free(b->path);
    free(b->vocab);
    free(b->merges);
    free(b);
}

/* Checks the model has what a backbone needs and finishes b (preprocessing, graph, path). */
static int finish(ClipBackbone *b, const char *label)
{
    const ClipModel *m = b->model;
    if (m->towers != CLIP_TOWERS_BOTH || !m->vision.projection || !m->text.projection)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: a CLIP backbone needs both towers and both projections "
                         "(visual_projection.weight, text_projection.weight): expected a CLIPModel checkpoint", label);
    int R = m->cfg.vision.image_size;
    clip_preprocess_default(&b->pre, R);
    b->pre.resize = 0; /* frames arrive at R x R: the frame preprocessing resized and cropped them */
    if (!(b->g = graph_new()) || !(b->path = strdup(label))) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", label);
    graph_set_grad(b->g, 0);
    return 0;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int clip_backbone_open(ClipBackbone **out, const char *folder)
{
    *out = NULL;
    if (!folder || !*folder) return mvla_fail(MVLA_ERR_ARG, "backbone: no folder given");
    static const char need[] = "a CLIP backbone folder holds config.json, model.safetensors (or "
                               "model.safetensors.index.json and its shards), vocab.json and merges.txt";
    struct stat st;
    if (stat(folder, &st) != 0 || !S_ISDIR(st.st_mode))
        return mvla_fail(MVLA_ERR_ARG, "backbone %s: not a folder: %s", folder, need);
    char path[4200];
    static const char *const files[] = {"config.json", "vocab.json", "merges.txt"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", folder, files[i]);
        if (!exists(path)) return mvla_fail(MVLA_ERR_ARG, "backbone %s: %s is missing: %s", folder, files[i], need);
    }
    char idx[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", folder);
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", folder);
    if (!exists(path) && !exists(idx))
        return mvla_fail(MVLA_ERR_ARG, "backbone %s: model.safetensors is missing: %s", folder, need);
    ClipBackbone *b = calloc(1, sizeof *b);
    if (!b) return mvla_fail(MVLA_ERR_NOMEM, "backbone %s: out of memory", folder);
    int rc = clip_load(&b->model, folder, 0);
    char vpath[4200], mpath[4200];
    snprintf(vpath, sizeof vpath, "%s/vocab.json", folder);
    snprintf(mpath, sizeof mpath, "%s/merges.txt", folder);
    if (!rc) rc = file_read_all(vpath, &b->vocab, &b->vocab_size);
    if (!rc) rc = file_read_all(mpath, &b->merges, &b->merges_size);
    if (!rc) rc = finish(b, folder);
    if (rc) {
        clip_backbone_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* A copy of a U8 tensor of st. */
static int copy_bytes(const SafeTensors *st, const char *name, const char *label, char **out, size_t *n)
{
    const StTensor *t = st_find(st, name);
    if (!t || t->dtype != ST_U8 || t->ndim != 1)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: tensor \"%s\": expected the backbone's tokenizer file as a U8 vector",
                         label, name);
    *n = t->nbytes;
    if (!(*out = malloc(*n ? *n : 1))) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", label);
    memcpy(*out, t->data, *n);
    return 0;
}

int clip_backbone_open_embedded(ClipBackbone **out, const SafeTensors *st, const json_t *config, const char *label)
{
    *out = NULL;
    if (!json_is_object(config))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: backbone.config: expected the CLIP config.json object", label);
    char *text = json_dumps(config, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (!text) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", label);
    char where[600];
    snprintf(where, sizeof where, "%s: backbone.config", label);
    ClipConfig cfg;
    int rc = clip_config_parse(&cfg, text, where);
    free(text);
    if (rc) return rc;
    ClipBackbone *b = calloc(1, sizeof *b);
    if (!b) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", label);
    rc = clip_load_from(&b->model, &cfg, st, CLIP_TOWERS_BOTH);
    if (!rc) rc = copy_bytes(st, "tokenizer.vocab_json", label, &b->vocab, &b->vocab_size);
    if (!rc) rc = copy_bytes(st, "tokenizer.merges_txt", label, &b->merges, &b->merges_size);
    if (!rc) rc = finish(b, label);
    if (rc) {
        clip_backbone_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

int clip_backbone_embed(const ClipBackbone *b, StWriter *w)
{
    int rc = 0;
    for (int i = 0; !rc && i < clip_tensor_count(b->model); i++) {
        const Tensor *t = clip_tensor_at(b->model, i);
        if (t) rc = st_writer_add_tensor(w, clip_tensor_name(b->model, i), t);
    }
    int64_t nv = (int64_t)b->vocab_size, nm = (int64_t)b->merges_size;
    if (!rc) rc = st_writer_add(w, "tokenizer.vocab_json", ST_U8, 1, &nv, b->vocab);
    if (!rc) rc = st_writer_add(w, "tokenizer.merges_txt", ST_U8, 1, &nm, b->merges);
    return rc;
}

static json_t *config_json(const ClipBackbone *b)
{
    char *text = clip_config_to_json(&b->model->cfg);
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return j;
}

/* Feeds a 64-bit digest of a byte range (hash64: fast; the SHA-256 on top only sees the digests). */
static void feed_digest(Sha256 *s, const void *data, size_t n)
{
    uint64_t d = hash64(data, n, 0x6d766c61636c6970ull);
    sha256_update(s, &d, sizeof d);
}

const char *clip_backbone_hash(ClipBackbone *b)
{
    if (b->hash[0]) return b->hash;
    Sha256 s;
    sha256_init(&s);
    char *cfg = clip_config_to_json(&b->model->cfg);
    if (cfg) sha256_update(&s, cfg, strlen(cfg) + 1);
    free(cfg);
    for (int i = 0; i < clip_tensor_count(b->model); i++) {
        const Tensor *t = clip_tensor_at(b->model, i);
        if (!t) continue;
        const char *name = clip_tensor_name(b->model, i);
        int32_t dims[1 + TENSOR_MAX_DIMS] = {t->ndim};
        for (int d = 0; d < t->ndim; d++) dims[1 + d] = t->shape[d];
        sha256_update(&s, name, strlen(name) + 1);
        sha256_update(&s, dims, sizeof(int32_t) * (size_t)(1 + t->ndim));
        feed_digest(&s, t->data, sizeof(float) * (size_t)t->numel);
    }
    sha256_update(&s, "vocab.json", 11);
    feed_digest(&s, b->vocab, b->vocab_size);
    sha256_update(&s, "merges.txt", 11);
    feed_digest(&s, b->merges, b->merges_size);
    uint8_t d[32];
    char hex[65];
    sha256_final(&s, d);
    sha256_hex(d, hex);
    snprintf(b->hash, sizeof b->hash, "sha256:%s", hex);
    return b->hash;
}

json_t *clip_backbone_json(ClipBackbone *b)
{
    json_t *cfg = config_json(b);
    if (!cfg) return NULL;
    return json_pack("{s:s, s:s, s:o}", "source", b->path, "hash", clip_backbone_hash(b), "config", cfg);
}

int clip_backbone_image_size(const ClipBackbone *b) { return b->model->cfg.vision.image_size; }
int clip_backbone_embed_dim(const ClipBackbone *b) { return b->model->cfg.projection_dim; }
int clip_backbone_tokens(const ClipBackbone *b) { return clip_vision_tokens(&b->model->cfg.vision); }
int clip_backbone_token_dim(const ClipBackbone *b) { return b->model->cfg.vision.hidden_size; }

int clip_backbone_encode_images(ClipBackbone *b, const uint8_t *const *rgb, int n, float *embeds, float *tokens)
{
    int R = clip_backbone_image_size(b), P = clip_backbone_embed_dim(b);
    long tok = (long)clip_backbone_tokens(b) * clip_backbone_token_dim(b), plane = 3L * R * R;
    for (int i0 = 0; i0 < n; i0 += ENCODE_BATCH) {
        int m = n - i0 < ENCODE_BATCH ? n - i0 : ENCODE_BATCH;
        graph_reset(b->g);
        Tensor *px = graph_tensor(b->g, 4, (int[]){m, 3, R, R});
        if (!px) return mvla_fail(MVLA_ERR_NOMEM, "backbone: out of memory for %d frames", m);
        int rc = 0;
        for (int i = 0; !rc && i < m; i++)
            rc = clip_preprocess_image(&b->pre, rgb[i0 + i], R, R, CLIP_RGB, px->data + i * plane);
        ClipOutput o;
        if (!rc) rc = clip_vision_forward(b->g, b->model, px, 0, &o);
        if (rc) return mvla_fail(rc, "backbone %s: image: %s", b->path, mvla_error_message());
        memcpy(embeds + (long)i0 * P, o.embeds->data, sizeof(float) * (size_t)m * P);
        if (tokens) memcpy(tokens + i0 * tok, o.last_hidden_state->data, sizeof(float) * (size_t)(m * tok));
    }
    graph_reset(b->g);
    return 0;
}

int clip_backbone_tokenizer(ClipBackbone *b, const ClipTokenizer **out)
{
    if (!b->tok) {
        char vl[4200], ml[4200];
        snprintf(vl, sizeof vl, "%s: vocab.json", b->path);
        snprintf(ml, sizeof ml, "%s: merges.txt", b->path);
        int rc = clip_tokenizer_load_memory(&b->tok, b->vocab, b->vocab_size, b->merges, b->merges_size, vl, ml);
        if (rc) return rc;
    }
    *out = b->tok;
    return 0;
}

int clip_backbone_encode_text(ClipBackbone *b, const char *text, float *embed)
{
    int L = b->model->cfg.text.max_position_embeddings, n = 0;
    if (L > CLIP_CONTEXT_LENGTH) L = CLIP_CONTEXT_LENGTH;
    int ids[CLIP_CONTEXT_LENGTH];
    const ClipTokenizer *tok = NULL;
    int rc = clip_backbone_tokenizer(b, &tok);
    if (!rc) rc = clip_tokenize(tok, text ? text : "", L, ids, &n, 1);
    if (rc) return mvla_fail(rc, "backbone %s: instruction: %s", b->path, mvla_error_message());
    if (n > L) n = L;
    /* The text tower is causal and pools at the end-of-text token, so the padding after it changes
     * nothing: run the [SOT] text [EOT] prefix only. */
    graph_reset(b->g);
    ClipOutput o;
    rc = clip_text_forward(b->g, b->model, ids, 1, n, 0, &o);
    if (rc) return mvla_fail(rc, "backbone %s: instruction: %s", b->path, mvla_error_message());
    memcpy(embed, o.embeds->data, sizeof(float) * (size_t)clip_backbone_embed_dim(b));
    graph_reset(b->g);
    return 0;
}
