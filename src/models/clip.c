/* CLIP on the tensor engine: the table of checkpoint tensors, loading/saving/random init, and the
 * vision and text forward passes (see clip.h). */
#include "models/clip.h"

#include "base/error.h"
#include "base/file.h"
#include "tensor/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One checkpoint tensor of the model. */
struct ClipSlot {
    TensorSlot s;
    char name[128];
    int tower;        /* CLIP_TOWER_* or 0 (logit_scale) */
    int layer;        /* encoder layer index, or -1 */
    int head;         /* final norm or projection */
    int optional;     /* may be absent from the checkpoint */
};

/* ---- the tensor table ---- */

typedef struct {
    struct ClipSlot *v;
    int n, cap;
} SlotList;

static int slot_add(SlotList *l, const char *name, Tensor **slot, int ndim, const int *shape, SlotRole role,
                    int tower, int layer, int head, int optional)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        struct ClipSlot *bigger = realloc(l->v, (size_t)cap * sizeof *bigger);
        if (!bigger) return mvla_fail(MVLA_ERR_NOMEM, "clip: out of memory for the tensor table");
        l->v = bigger;
        l->cap = cap;
    }
    struct ClipSlot *c = &l->v[l->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->s.slot = slot;
    c->s.ndim = ndim;
    for (int i = 0; i < ndim; i++) c->s.shape[i] = shape[i];
    c->s.role = role;
    c->tower = tower, c->layer = layer, c->head = head, c->optional = optional;
    return MVLA_OK;
}

static EncoderBlockConfig block_config(const ClipTowerConfig *t, int causal)
{
    return (EncoderBlockConfig){t->hidden_size, t->num_attention_heads, t->intermediate_size,
                                (float)t->layer_norm_eps, t->hidden_act, causal};
}

/* Adds one tower's tensors. projection_optional: single-tower checkpoints may have no projection. */
static int tower_slots(SlotList *l, ClipModel *m, int which, int projection_optional)
{
    int is_text = which == CLIP_TOWER_TEXT;
    ClipTower *t = is_text ? &m->text : &m->vision;
    const char *pre = is_text ? "text_model" : "vision_model";
    int D = t->cfg.hidden_size, P = m->cfg.projection_dim, rc = MVLA_OK;
    char name[128];
#define ADD(SLOT, ROLE, LAYER, HEAD, OPT, ...)                                                                \
    do {                                                                                                      \
        const int shape_[] = {__VA_ARGS__};                                                                   \
        if (!rc) rc = slot_add(l, name, &t->SLOT, (int)(sizeof shape_ / sizeof shape_[0]), shape_, ROLE, which, \
                               LAYER, HEAD, OPT);                                                             \
    } while (0)
    if (is_text) {
        snprintf(name, sizeof name, "%s.embeddings.token_embedding.weight", pre);
        ADD(token_embedding, SLOT_EMBEDDING, -1, 0, 0, t->cfg.vocab_size, D);
        snprintf(name, sizeof name, "%s.embeddings.position_embedding.weight", pre);
        ADD(position_embedding, SLOT_EMBEDDING, -1, 0, 0, t->cfg.max_position_embeddings, D);
    } else {
        int C = t->cfg.num_channels, Pz = t->cfg.patch_size;
        snprintf(name, sizeof name, "%s.embeddings.class_embedding", pre);
        ADD(class_embedding, SLOT_EMBEDDING, -1, 0, 0, D);
        snprintf(name, sizeof name, "%s.embeddings.patch_embedding.weight", pre);
        ADD(patch_embedding, SLOT_WEIGHT, -1, 0, 0, D, C, Pz, Pz);
        snprintf(name, sizeof name, "%s.embeddings.position_embedding.weight", pre);
        ADD(position_embedding, SLOT_EMBEDDING, -1, 0, 0, clip_vision_tokens(&t->cfg), D);
        snprintf(name, sizeof name, "%s.pre_layrnorm.weight", pre);
        ADD(pre_layrnorm_w, SLOT_NORM_WEIGHT, -1, 0, 0, D);
        snprintf(name, sizeof name, "%s.pre_layrnorm.bias", pre);
        ADD(pre_layrnorm_b, SLOT_NORM_BIAS, -1, 0, 0, D);
    }
    for (int i = 0; !rc && i < t->cfg.num_hidden_layers; i++) {
        TensorSlot bs[ENCODER_BLOCK_TENSORS];
        encoder_block_slots(&t->layers[i], &t->block, bs);
        for (int k = 0; !rc && k < ENCODER_BLOCK_TENSORS; k++) {
            snprintf(name, sizeof name, "%s.encoder.layers.%d.%s", pre, i, bs[k].name);
            rc = slot_add(l, name, bs[k].slot, bs[k].ndim, bs[k].shape, bs[k].role, which, i, 0, 0);
        }
    }
    const char *final_ln = is_text ? "final_layer_norm" : "post_layernorm";
    snprintf(name, sizeof name, "%s.%s.weight", pre, final_ln);
    ADD(final_ln_w, SLOT_NORM_WEIGHT, -1, 1, 0, D);
    snprintf(name, sizeof name, "%s.%s.bias", pre, final_ln);
    ADD(final_ln_b, SLOT_NORM_BIAS, -1, 1, 0, D);
    snprintf(name, sizeof name, "%s", is_text ? "text_projection.weight" : "visual_projection.weight");
    ADD(projection, SLOT_WEIGHT, -1, 1, projection_optional, P, D);
#undef ADD
    return rc;
}

static void tower_free(ClipTower *t) { free(t->layers); }

void clip_free(ClipModel *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_slots; i++) {
        Tensor **slot = m->slots[i].s.slot;
        tensor_free(*slot);
        *slot = NULL;
    }
    free(m->slots);
    tower_free(&m->vision);
    tower_free(&m->text);
    free(m);
}

/* A model with its config and tensor table; the tensors are not allocated yet. */
static int clip_skeleton(ClipModel **out, const ClipConfig *cfg, int towers, int projection_optional)
{
    *out = NULL;
    if (towers == 0) towers = cfg->towers;
    if (towers & ~cfg->towers)
        return mvla_fail(MVLA_ERR_ARG, "clip: the %s tower was asked for, but the config describes %s",
                         (towers & ~cfg->towers) & CLIP_TOWER_TEXT ? "text" : "vision",
                         cfg->towers == CLIP_TOWER_TEXT ? "only the text tower" : "only the vision tower");
    int rc = clip_config_check(cfg, "clip config");
    if (rc) return rc;
    ClipModel *m = calloc(1, sizeof *m);
    if (!m) return mvla_fail(MVLA_ERR_NOMEM, "clip: out of memory");
    m->cfg = *cfg;
    m->towers = towers;
    m->text.cfg = cfg->text;
    m->vision.cfg = cfg->vision;
    m->text.block = block_config(&cfg->text, 1);
    m->vision.block = block_config(&cfg->vision, 0);
    SlotList l = {0};
    for (int w = CLIP_TOWER_TEXT; !rc && w <= CLIP_TOWER_VISION; w++) {
        if (!(towers & w)) continue;
        ClipTower *t = w == CLIP_TOWER_TEXT ? &m->text : &m->vision;
        int L = t->cfg.num_hidden_layers;
        t->layers = calloc((size_t)(L ? L : 1), sizeof *t->layers);
        if (!t->layers) rc = mvla_fail(MVLA_ERR_NOMEM, "clip: out of memory");
        if (!rc) rc = tower_slots(&l, m, w, projection_optional);
    }
    if (!rc) rc = slot_add(&l, "logit_scale", &m->logit_scale, 0, NULL, SLOT_SCALAR, 0, -1, 0, 1);
    m->slots = l.v;
    m->n_slots = l.n;
    if (rc) {
        clip_free(m);
        return rc;
    }
    *out = m;
    return MVLA_OK;
}

static int alloc_slot(struct ClipSlot *c)
{
    *c->s.slot = tensor_new(c->s.ndim, c->s.shape);
    if (!*c->s.slot) return mvla_fail(MVLA_ERR_NOMEM, "clip: out of memory for tensor '%s'", c->name);
    return MVLA_OK;
}

int clip_load_from(ClipModel **out, const ClipConfig *cfg, const SafeTensors *st, int towers)
{
    ClipModel *m;
    int rc = clip_skeleton(&m, cfg, towers, cfg->towers != CLIP_TOWERS_BOTH);
    if (rc) return rc;
    for (int i = 0; !rc && i < m->n_slots; i++) {
        struct ClipSlot *c = &m->slots[i];
        if (c->optional && !st_find(st, c->name)) continue;
        rc = alloc_slot(c);
        if (!rc && st_load(st, c->name, *c->s.slot)) {
            char msg[768];
            snprintf(msg, sizeof msg, "%s", mvla_error_message());
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s (CLIP checkpoint: does config.json match the weights?)", msg);
        }
    }
    if (rc) {
        clip_free(m);
        return rc;
    }
    *out = m;
    return MVLA_OK;
}

int clip_load(ClipModel **out, const char *folder, int towers)
{
    *out = NULL;
    if (!folder) return mvla_fail(MVLA_ERR_ARG, "clip: no folder given");
    /* config.json sits in the folder, or beside the given checkpoint file */
    char dir[4096];
    struct stat sb;
    snprintf(dir, sizeof dir, "%s", folder);
    if (stat(folder, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
    }
    ClipConfig cfg;
    int rc = clip_config_load(&cfg, dir);
    if (rc) return rc;
    SafeTensors *st = NULL;
    rc = st_open(&st, folder);
    if (rc) return rc;
    rc = clip_load_from(out, &cfg, st, towers);
    st_close(st);
    return rc;
}

int clip_create_random(ClipModel **out, const ClipConfig *cfg, int towers, uint64_t seed)
{
    ClipModel *m;
    int rc = clip_skeleton(&m, cfg, towers, 0);
    if (rc) return rc;
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; !rc && i < m->n_slots; i++) {
        struct ClipSlot *c = &m->slots[i];
        rc = alloc_slot(c);
        if (rc) break;
        Tensor *t = *c->s.slot;
        switch (c->s.role) {
        case SLOT_WEIGHT: {
            double s = 1.0 / sqrt((double)(t->numel / t->shape[0]));
            tensor_fill_normal(t, &r, (float)(s < 0.02 ? 0.02 : s > 0.1 ? 0.1 : s));
            break;
        }
        case SLOT_NORM_WEIGHT:
            tensor_fill_normal(t, &r, 0.1f);
            for (long k = 0; k < t->numel; k++) t->data[k] += 1.0f;
            break;
        case SLOT_BIAS:
        case SLOT_NORM_BIAS: tensor_fill_normal(t, &r, 0.05f); break;
        case SLOT_EMBEDDING: tensor_fill_normal(t, &r, 0.1f); break;
        case SLOT_SCALAR: t->data[0] = (float)cfg->logit_scale_init_value; break;
        }
    }
    if (rc) {
        clip_free(m);
        return rc;
    }
    *out = m;
    return MVLA_OK;
}

int clip_save(const ClipModel *m, const char *dir)
{
    char path[4096];
    ClipConfig cfg = m->cfg;
    cfg.towers = m->towers;
    /* a single-tower file carries the projection width in the tower's own object */
    if (m->towers == CLIP_TOWER_VISION) cfg.vision.projection_dim = cfg.projection_dim;
    if (m->towers == CLIP_TOWER_TEXT) cfg.text.projection_dim = cfg.projection_dim;
    char *json = clip_config_to_json(&cfg);
    if (!json) return mvla_fail(MVLA_ERR_NOMEM, "clip: out of memory for config.json");
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = file_write_atomic(path, json, strlen(json));
    free(json);
    if (rc) return rc;
    StWriter *w = st_writer_new();
    if (!w) return mvla_fail(MVLA_ERR_NOMEM, "clip: out of memory for the writer");
    rc = st_writer_set_metadata(w, "format", "pt");
    for (int i = 0; !rc && i < m->n_slots; i++)
        if (*m->slots[i].s.slot) rc = st_writer_add_tensor(w, m->slots[i].name, *m->slots[i].s.slot);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!rc) rc = st_writer_save(w, path);
    st_writer_free(w);
    return rc;
}

/* ---- forward ---- */

static int no_tower(const char *which)
{
    return mvla_fail(MVLA_ERR_ARG, "clip: the %s tower is not loaded", which);
}

/* Runs the blocks; hidden[i + 1] receives layer i's output when hidden is not NULL. */
static Tensor *run_layers(Graph *g, const ClipTower *t, Tensor *x, Tensor **hidden)
{
    if (hidden) hidden[0] = x;
    for (int i = 0; x && i < t->cfg.num_hidden_layers; i++) {
        x = encoder_block_forward(g, &t->layers[i], &t->block, x);
        if (hidden) hidden[i + 1] = x;
    }
    return x;
}

int clip_tower_finish(Graph *g, const ClipTower *t, Tensor *last, Tensor *pooled_in, Tensor **hidden, ClipOutput *out,
                      const char *what)
{
    Tensor *pooled = pooled_in;
    Tensor *embeds = pooled && t->projection ? op_linear(g, pooled, t->projection, NULL) : NULL;
    if (!last || !pooled || (t->projection && !embeds)) {
        char msg[768];
        snprintf(msg, sizeof msg, "%s", mvla_error_message());
        return mvla_fail(MVLA_ERR_ARG, "clip %s: %s", what, msg);
    }
    out->last_hidden_state = last;
    out->pooled = pooled;
    out->embeds = embeds;
    out->hidden_states = hidden;
    out->n_hidden_states = hidden ? t->cfg.num_hidden_layers + 1 : 0;
    return MVLA_OK;
}

static Tensor **hidden_array(Graph *g, const ClipTower *t, int want)
{
    return want ? graph_alloc(g, (size_t)(t->cfg.num_hidden_layers + 1) * sizeof(Tensor *)) : NULL;
}

/* pixels [B, C, R, R] -> patches [B, G*G, C*P*P], patch (gy, gx) at row gy*G + gx, flattened in
 * (channel, ky, kx) order like the conv weight: two reshape/transpose pairs, no custom op. */
static Tensor *patchify(Graph *g, Tensor *x, int B, int C, int R, int P)
{
    int G = R / P;
    if (G * P != R) { /* a strided conv ignores the pixels past the last full patch */
        x = op_slice(g, op_slice(g, x, 2, 0, G * P), 3, 0, G * P);
    }
    x = op_reshape(g, x, 4, (int[]){B * C * G, P, G, P});       /* (b c gy) ky gx kx */
    x = op_transpose(g, x, 1, 2);                                /* (b c gy) gx ky kx */
    x = op_reshape(g, x, 4, (int[]){B, C, G * G, P * P});       /* b c (gy gx) (ky kx) */
    x = op_transpose(g, x, 1, 2);                                /* b (gy gx) c (ky kx) */
    return op_reshape(g, x, 3, (int[]){B, G * G, C * P * P});
}

int clip_check_pixels(const ClipTower *t, const Tensor *px, const char *who)
{
    int C = t->cfg.num_channels, R = t->cfg.image_size;
    char sx[64];
    if (!px || px->ndim != 4 || px->shape[0] < 1 || px->shape[1] != C || px->shape[2] != R || px->shape[3] != R)
        return mvla_fail(MVLA_ERR_ARG, "%s: pixel_values %s: expected [B, %d, %d, %d] with B >= 1", who,
                         px ? tensor_shape_str(px, sx, sizeof sx) : "(none)", C, R, R);
    return 0;
}

int clip_vision_forward(Graph *g, const ClipModel *m, Tensor *pixel_values, int want_hidden, ClipOutput *out)
{
    memset(out, 0, sizeof *out);
    if (!(m->towers & CLIP_TOWER_VISION)) return no_tower("vision");
    const ClipTower *t = &m->vision;
    int C = t->cfg.num_channels, R = t->cfg.image_size, P = t->cfg.patch_size, D = t->cfg.hidden_size;
    Tensor *px = pixel_values;
    int rc = clip_check_pixels(t, px, "clip vision");
    if (rc) return rc;
    int B = px->shape[0];
    Tensor *patches = patchify(g, px, B, C, R, P);
    Tensor *w = op_reshape(g, t->patch_embedding, 2, (int[]){D, C * P * P});
    Tensor *emb = op_linear(g, patches, w, NULL);                                     /* [B, T-1, D] */
    Tensor *cls = op_expand_leading(g, op_reshape(g, t->class_embedding, 2, (int[]){1, D}), B); /* [B, 1, D] */
    Tensor *x = op_concat(g, (Tensor *[]){cls, emb}, 2, 1);                           /* [B, T, D] */
    x = op_add(g, x, t->position_embedding);
    x = op_layernorm(g, x, t->pre_layrnorm_w, t->pre_layrnorm_b, (float)t->cfg.layer_norm_eps);
    Tensor **hidden = hidden_array(g, t, want_hidden);
    if (want_hidden && !hidden) return MVLA_ERR_NOMEM;
    Tensor *last = run_layers(g, t, x, hidden);
    Tensor *first = op_reshape(g, op_slice(g, last, 1, 0, 1), 2, (int[]){B, D});      /* class token */
    Tensor *pooled = op_layernorm(g, first, t->final_ln_w, t->final_ln_b, (float)t->cfg.layer_norm_eps);
    return clip_tower_finish(g, t, last, pooled, hidden, out, "vision");
}

int clip_text_eot_position(const ClipTowerConfig *text, const int *ids, int len)
{
    int best = 0;
    for (int j = 0; j < len; j++) {
        if (text->eos_token_id != 2 && ids[j] == text->eos_token_id) return j;
        if (ids[j] > ids[best]) best = j;
    }
    return best;
}

int clip_text_forward(Graph *g, const ClipModel *m, const int *ids, int n, int len, int want_hidden, ClipOutput *out)
{
    memset(out, 0, sizeof *out);
    if (!(m->towers & CLIP_TOWER_TEXT)) return no_tower("text");
    const ClipTower *t = &m->text;
    int V = t->cfg.vocab_size, maxpos = t->cfg.max_position_embeddings;
    if (!ids || n < 1 || len < 1 || len > maxpos)
        return mvla_fail(MVLA_ERR_ARG, "clip text: input_ids [%d, %d]: expected [N, L] with N >= 1 and 1 <= L <= %d "
                         "(max_position_embeddings)", n, len, maxpos);
    for (long i = 0; i < (long)n * len; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return mvla_fail(MVLA_ERR_ARG, "clip text: input_ids[%ld][%ld] = %d: expected a token id in [0, %d)",
                             i / len, i % len, ids[i], V);
    int *eot = graph_alloc(g, (size_t)n * sizeof *eot);
    if (!eot) return MVLA_ERR_NOMEM;
    for (int b = 0; b < n; b++) eot[b] = clip_text_eot_position(&t->cfg, ids + (long)b * len, len);
    Tensor *pos = len == maxpos ? t->position_embedding : op_slice(g, t->position_embedding, 0, 0, len);
    Tensor *x = op_add(g, op_embedding(g, t->token_embedding, ids, 2, (int[]){n, len}), pos);
    Tensor **hidden = hidden_array(g, t, want_hidden);
    if (want_hidden && !hidden) return MVLA_ERR_NOMEM;
    x = run_layers(g, t, x, hidden);
    Tensor *last = op_layernorm(g, x, t->final_ln_w, t->final_ln_b, (float)t->cfg.layer_norm_eps);
    Tensor *pooled = op_select_per_batch(g, last, eot);
    return clip_tower_finish(g, t, last, pooled, hidden, out, "text");
}

int clip_logits(const ClipModel *m, const Tensor *image_embeds, const Tensor *text_embeds, float *logits)
{
    char si[64], st[64];
    if (!m->logit_scale) return mvla_fail(MVLA_ERR_ARG, "clip logits: the checkpoint has no logit_scale");
    if (!image_embeds || !text_embeds || image_embeds->ndim != 2 || text_embeds->ndim != 2 ||
        image_embeds->shape[1] != text_embeds->shape[1])
        return mvla_fail(MVLA_ERR_ARG, "clip logits: image_embeds %s and text_embeds %s: expected [Ni, P] and [Nt, P]",
                         image_embeds ? tensor_shape_str(image_embeds, si, sizeof si) : "(none)",
                         text_embeds ? tensor_shape_str(text_embeds, st, sizeof st) : "(none)");
    int ni = image_embeds->shape[0], nt = text_embeds->shape[0], P = image_embeds->shape[1];
    double scale = exp((double)m->logit_scale->data[0]);
    for (int i = 0; i < ni; i++) {
        const float *a = image_embeds->data + (long)i * P;
        double na = 0;
        for (int k = 0; k < P; k++) na += (double)a[k] * a[k];
        for (int j = 0; j < nt; j++) {
            const float *b = text_embeds->data + (long)j * P;
            double nb = 0, dot = 0;
            for (int k = 0; k < P; k++) nb += (double)b[k] * b[k], dot += (double)a[k] * b[k];
            double den = sqrt(na) * sqrt(nb);
            logits[(long)i * nt + j] = (float)(den > 0 ? scale * dot / den : 0.0);
        }
    }
    return MVLA_OK;
}

int clip_trainable(ClipModel *m, int tower, int n_blocks, int with_head, ParamList *p)
{
    if ((tower != CLIP_TOWER_TEXT && tower != CLIP_TOWER_VISION) || !(m->towers & tower))
        return mvla_fail(MVLA_ERR_ARG, "clip trainable: tower %d is not a loaded tower", tower);
    const ClipTower *t = tower == CLIP_TOWER_TEXT ? &m->text : &m->vision;
    int L = t->cfg.num_hidden_layers;
    if (n_blocks < 0 || n_blocks > L)
        return mvla_fail(MVLA_ERR_ARG, "clip trainable: %d blocks: expected 0..%d", n_blocks, L);
    for (int i = 0; i < m->n_slots; i++) {
        struct ClipSlot *c = &m->slots[i];
        if (c->tower != tower || !*c->s.slot) continue;
        int pick = (c->layer >= L - n_blocks && c->layer >= 0) || (with_head && c->head);
        if (!pick) continue;
        int decay = c->s.role == SLOT_WEIGHT;
        int rc = params_add(p, *c->s.slot, c->name, decay);
        if (rc) return rc;
    }
    return MVLA_OK;
}

int clip_tensor_count(const ClipModel *m) { return m->n_slots; }
const char *clip_tensor_name(const ClipModel *m, int i) { return i >= 0 && i < m->n_slots ? m->slots[i].name : NULL; }
const Tensor *clip_tensor_at(const ClipModel *m, int i) { return i >= 0 && i < m->n_slots ? *m->slots[i].s.slot : NULL; }

double clip_vision_macs(const ClipModel *m)
{
    const ClipTower *t = &m->vision;
    int T = clip_vision_tokens(&t->cfg), P = t->cfg.patch_size, D = t->cfg.hidden_size;
    double macs = (double)(T - 1) * D * t->cfg.num_channels * P * P;
    macs += t->cfg.num_hidden_layers * encoder_block_macs(&t->block, T);
    if (t->projection) macs += (double)D * t->projection->shape[0];
    return macs;
}
