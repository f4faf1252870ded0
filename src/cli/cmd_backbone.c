/* mvla backbone: run a Hugging Face CLIP folder on inputs, and tokenize text.
 *   mvla backbone run FOLDER --inputs IN.safetensors -o OUT.safetensors [--hidden-states] [--batch N]
 *   mvla backbone tokenize FOLDER [--pad] TEXT...
 * `run` reads `pixel_values` [B, C, R, R] (any float dtype) and/or `input_ids` [N, L] (an integer dtype)
 * from IN and writes the outputs under the names of ../shared/golden/clip/README.md:
 *   vision_last_hidden_state, vision_pooled, image_embeds, text_last_hidden_state, text_pooled,
 *   text_embeds, logits_per_image (both inputs), vision_hidden_states.I / text_hidden_states.I (--hidden-states). */
#include "cli/commands.h"

#include "base/error.h"
#include "base/progress.h"
#include "io/safetensors.h"
#include "models/clip.h"
#include "models/clip_tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void backbone_usage(FILE *fp)
{
    fprintf(fp,
            "usage: mvla backbone run FOLDER --inputs IN.safetensors -o OUT.safetensors [--hidden-states] [--batch N]\n"
            "       mvla backbone tokenize FOLDER [--pad] TEXT...\n\n"
            "run       runs a Hugging Face CLIP folder (config.json + model.safetensors or a sharded index):\n"
            "          the vision tower on IN's `pixel_values` [B, C, R, R] (already normalised) and/or the text\n"
            "          tower on `input_ids` [N, L]; writes vision_last_hidden_state, vision_pooled, image_embeds,\n"
            "          text_last_hidden_state, text_pooled, text_embeds and (both inputs) logits_per_image.\n"
            "  --hidden-states  also write vision_hidden_states.I / text_hidden_states.I (I = 0..layers)\n"
            "  --batch N        images or texts per forward pass (default 8; bounds memory)\n"
            "tokenize  prints one JSON array of token ids per TEXT ([<|startoftext|>] + BPE + [<|endoftext|>])\n"
            "          with FOLDER's vocab.json and merges.txt.\n"
            "  --pad            pad with 0 / truncate to the context length (77), as clip.tokenize does\n");
}

/* ---- outputs: full-size buffers filled chunk by chunk ---- */

#define MAX_OUTPUTS 160

typedef struct {
    char name[64];
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    float *data;
} OutBuf;

typedef struct {
    OutBuf v[MAX_OUTPUTS];
    int n;
} Outputs;

static void outputs_free(Outputs *o)
{
    for (int i = 0; i < o->n; i++) free(o->v[i].data);
    o->n = 0;
}

/* Copies t (chunk rows [row0, row0 + t->shape[0]) of a total of `total` rows) into output `name`. */
static int output_put(Outputs *o, const char *name, const Tensor *t, int row0, int total)
{
    OutBuf *b = NULL;
    for (int i = 0; i < o->n && !b; i++)
        if (strcmp(o->v[i].name, name) == 0) b = &o->v[i];
    long per_row = t->numel / t->shape[0];
    if (!b) {
        if (o->n == MAX_OUTPUTS) return mvla_fail(MVLA_ERR_ARG, "backbone: more than %d outputs", MAX_OUTPUTS);
        b = &o->v[o->n];
        snprintf(b->name, sizeof b->name, "%s", name);
        b->ndim = t->ndim;
        b->shape[0] = total;
        for (int d = 1; d < t->ndim; d++) b->shape[d] = t->shape[d];
        b->data = malloc((size_t)(per_row * total) * sizeof(float));
        if (!b->data) return mvla_fail(MVLA_ERR_NOMEM, "backbone: out of memory for output %s", name);
        o->n++;
    }
    memcpy(b->data + (long)row0 * per_row, t->data, (size_t)t->numel * sizeof(float));
    return MVLA_OK;
}

static int put_clip_output(Outputs *o, const ClipOutput *out, const char *prefix, const char *embeds_name, int row0,
                           int total)
{
    char name[64];
    snprintf(name, sizeof name, "%s_last_hidden_state", prefix);
    int rc = output_put(o, name, out->last_hidden_state, row0, total);
    snprintf(name, sizeof name, "%s_pooled", prefix);
    if (!rc) rc = output_put(o, name, out->pooled, row0, total);
    if (!rc && out->embeds) rc = output_put(o, embeds_name, out->embeds, row0, total);
    for (int i = 0; !rc && i < out->n_hidden_states; i++) {
        snprintf(name, sizeof name, "%s_hidden_states.%d", prefix, i);
        rc = output_put(o, name, out->hidden_states[i], row0, total);
    }
    return rc;
}

static const OutBuf *output_get(const Outputs *o, const char *name)
{
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->v[i].name, name) == 0) return &o->v[i];
    return NULL;
}

/* ---- inputs ---- */

/* A view of rows [row0, row0 + rows) of a persistent tensor (no copy). */
static Tensor row_view(const Tensor *t, int row0, int rows)
{
    Tensor v = *t;
    v.persistent = 0;
    v.grad = NULL;
    v.requires_grad = 0;
    v.shape[0] = rows;
    v.numel = t->numel / t->shape[0] * rows;
    v.data = t->data + (long)row0 * (t->numel / t->shape[0]);
    return v;
}

static int read_ids(const StTensor *t, const char *file, int **ids, int *n, int *len)
{
    if (t->ndim != 2 || t->shape[0] < 1 || t->shape[1] < 1 || t->shape[0] > (1 << 24) || t->shape[1] > (1 << 16))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: input_ids: expected 2 dimensions [N, L] with N, L >= 1", file);
    if (t->dtype != ST_I64 && t->dtype != ST_I32 && t->dtype != ST_I16 && t->dtype != ST_U8 && t->dtype != ST_I8)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: input_ids: dtype %s, expected an integer dtype (I64, I32, I16, I8, U8)",
                         file, st_dtype_name(t->dtype));
    *n = (int)t->shape[0], *len = (int)t->shape[1];
    *ids = malloc((size_t)t->numel * sizeof **ids);
    if (!*ids) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory for input_ids", file);
    const unsigned char *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        int64_t v = 0;
        if (t->dtype == ST_I64) {
            int64_t x;
            memcpy(&x, p + 8 * i, 8);
            v = x;
        } else if (t->dtype == ST_I32) {
            int32_t x;
            memcpy(&x, p + 4 * i, 4);
            v = x;
        } else if (t->dtype == ST_I16) {
            int16_t x;
            memcpy(&x, p + 2 * i, 2);
            v = x;
        } else {
            v = t->dtype == ST_U8 ? (int64_t)p[i] : (int64_t)(int8_t)p[i];
        }
        if (v < 0 || v > 0x7fffffff) {
            free(*ids);
            *ids = NULL;
            return mvla_fail(MVLA_ERR_FORMAT, "%s: input_ids[%lld][%lld] = %lld: expected a token id >= 0", file,
                             (long long)(i / *len), (long long)(i % *len), (long long)v);
        }
        (*ids)[i] = (int)v;
    }
    return MVLA_OK;
}

static Tensor *read_pixels(const SafeTensors *in, const StTensor *t, const char *file)
{
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16 && t->dtype != ST_F64) {
        mvla_fail(MVLA_ERR_FORMAT, "%s: pixel_values: dtype %s, expected a float dtype (F32, F16, BF16, F64)", file,
                  st_dtype_name(t->dtype));
        return NULL;
    }
    if (t->ndim != 4 || t->shape[0] < 1) {
        mvla_fail(MVLA_ERR_FORMAT, "%s: pixel_values: %d dimensions, expected [B, C, R, R] with B >= 1", file, t->ndim);
        return NULL;
    }
    return st_load_new(in, "pixel_values");
}

/* ---- run ---- */

typedef struct {
    const char *folder, *inputs, *output;
    int hidden, batch;
} RunArgs;

static int run_vision(Graph *g, const ClipModel *m, const Tensor *px, const RunArgs *a, Outputs *o)
{
    int B = px->shape[0];
    Progress pr;
    int show = B > a->batch;
    if (show) progress_start(&pr, "vision", B, "image");
    for (int b0 = 0; b0 < B; b0 += a->batch) {
        int rows = B - b0 < a->batch ? B - b0 : a->batch;
        Tensor chunk = row_view(px, b0, rows);
        ClipOutput out;
        graph_reset(g);
        int rc = clip_vision_forward(g, m, &chunk, a->hidden, &out);
        if (!rc) rc = put_clip_output(o, &out, "vision", "image_embeds", b0, B);
        if (rc) return rc;
        if (show) progress_update(&pr, b0 + rows, NULL);
    }
    if (show) progress_finish(&pr);
    return MVLA_OK;
}

static int run_text(Graph *g, const ClipModel *m, const int *ids, int n, int len, const RunArgs *a, Outputs *o)
{
    Progress pr;
    int show = n > a->batch;
    if (show) progress_start(&pr, "text", n, "text");
    for (int b0 = 0; b0 < n; b0 += a->batch) {
        int rows = n - b0 < a->batch ? n - b0 : a->batch;
        ClipOutput out;
        graph_reset(g);
        int rc = clip_text_forward(g, m, ids + (long)b0 * len, rows, len, a->hidden, &out);
        if (!rc) rc = put_clip_output(o, &out, "text", "text_embeds", b0, n);
        if (rc) return rc;
        if (show) progress_update(&pr, b0 + rows, NULL);
    }
    if (show) progress_finish(&pr);
    return MVLA_OK;
}

static int add_logits(const ClipModel *m, Outputs *o)
{
    const OutBuf *ie = output_get(o, "image_embeds"), *te = output_get(o, "text_embeds");
    if (!ie || !te || !m->logit_scale) return MVLA_OK;
    Tensor ti = {0}, tt = {0};
    ti.ndim = tt.ndim = 2;
    ti.shape[0] = (int)ie->shape[0], ti.shape[1] = (int)ie->shape[1], ti.data = ie->data;
    tt.shape[0] = (int)te->shape[0], tt.shape[1] = (int)te->shape[1], tt.data = te->data;
    ti.numel = (long)ti.shape[0] * ti.shape[1], tt.numel = (long)tt.shape[0] * tt.shape[1];
    if (o->n == MAX_OUTPUTS) return mvla_fail(MVLA_ERR_ARG, "backbone: too many outputs");
    OutBuf *b = &o->v[o->n];
    snprintf(b->name, sizeof b->name, "logits_per_image");
    b->ndim = 2;
    b->shape[0] = ti.shape[0], b->shape[1] = tt.shape[0];
    b->data = malloc((size_t)(ti.shape[0] * tt.shape[0]) * sizeof(float));
    if (!b->data) return mvla_fail(MVLA_ERR_NOMEM, "backbone: out of memory for logits_per_image");
    o->n++;
    return clip_logits(m, &ti, &tt, b->data);
}

static int write_outputs(const Outputs *o, const char *path)
{
    StWriter *w = st_writer_new();
    if (!w) return mvla_fail(MVLA_ERR_NOMEM, "backbone: out of memory");
    int rc = MVLA_OK;
    for (int i = 0; !rc && i < o->n; i++)
        rc = st_writer_add(w, o->v[i].name, ST_F32, o->v[i].ndim, o->v[i].shape, o->v[i].data);
    if (!rc) rc = st_writer_save(w, path);
    st_writer_free(w);
    return rc;
}

static int parse_positive(const char *s, int *out)
{
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || v < 1 || v > 1 << 20) return -1;
    *out = (int)v;
    return 0;
}

static int backbone_run(int argc, char **argv)
{
    RunArgs a = {0};
    a.batch = 8;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--inputs") == 0 && i + 1 < argc) a.inputs = argv[++i];
        else if ((strcmp(s, "-o") == 0 || strcmp(s, "--output") == 0) && i + 1 < argc) a.output = argv[++i];
        else if (strcmp(s, "--hidden-states") == 0) a.hidden = 1;
        else if (strcmp(s, "--batch") == 0 && i + 1 < argc) {
            if (parse_positive(argv[++i], &a.batch)) {
                fprintf(stderr, "mvla: backbone run: --batch needs a positive integer, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            backbone_usage(stdout);
            return 0;
        } else if (s[0] == '-' && s[1]) {
            fprintf(stderr, "mvla: backbone run: unknown option or missing value '%s'\n", s);
            return 2;
        } else if (!a.folder) {
            a.folder = s;
        } else {
            fprintf(stderr, "mvla: backbone run: one folder at a time ('%s' and '%s')\n", a.folder, s);
            return 2;
        }
    }
    if (!a.folder || !a.inputs || !a.output) {
        fprintf(stderr, "mvla: backbone run: FOLDER, --inputs and -o are required\n");
        backbone_usage(stderr);
        return 2;
    }
    SafeTensors *in = NULL;
    ClipModel *m = NULL;
    Graph *g = NULL;
    Tensor *px = NULL;
    int *ids = NULL, n_ids = 0, len = 0;
    Outputs *o = calloc(1, sizeof *o);
    int rc = o ? st_open(&in, a.inputs) : mvla_fail(MVLA_ERR_NOMEM, "backbone: out of memory");
    const StTensor *tp = NULL, *ti = NULL;
    if (!rc) {
        tp = st_find(in, "pixel_values"), ti = st_find(in, "input_ids");
        if (!tp && !ti)
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: neither pixel_values nor input_ids: expected at least one of them",
                           a.inputs);
    }
    if (!rc && tp) {
        px = read_pixels(in, tp, a.inputs);
        if (!px) rc = MVLA_ERR_FORMAT;
    }
    if (!rc && ti) rc = read_ids(ti, a.inputs, &ids, &n_ids, &len);
    if (!rc) rc = clip_load(&m, a.folder, (tp ? CLIP_TOWER_VISION : 0) | (ti ? CLIP_TOWER_TEXT : 0));
    if (!rc && !(g = graph_new())) rc = mvla_fail(MVLA_ERR_NOMEM, "backbone: out of memory");
    if (!rc) graph_set_grad(g, 0);
    if (!rc && px) rc = run_vision(g, m, px, &a, o);
    if (!rc && ids) rc = run_text(g, m, ids, n_ids, len, &a, o);
    if (!rc) rc = add_logits(m, o);
    if (!rc) rc = write_outputs(o, a.output);
    if (rc) fprintf(stderr, "mvla: backbone run: %s\n", mvla_error_message());
    else fprintf(stderr, "wrote %s: %d tensors\n", a.output, o->n);
    if (o) outputs_free(o);
    free(o);
    free(ids);
    tensor_free(px);
    graph_free(g);
    clip_free(m);
    st_close(in);
    return rc ? 1 : 0;
}

/* ---- tokenize ---- */

static int backbone_tokenize(int argc, char **argv)
{
    const char *folder = NULL;
    int pad = 0, first_text = -1;
    for (int i = 1; i < argc && first_text < 0; i++) {
        if (strcmp(argv[i], "--pad") == 0) pad = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            backbone_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--") == 0) first_text = i + 1;
        else if (!folder) folder = argv[i];
        else first_text = i;
    }
    if (!folder || first_text < 0 || first_text >= argc) {
        fprintf(stderr, "mvla: backbone tokenize: FOLDER and at least one TEXT are required\n");
        backbone_usage(stderr);
        return 2;
    }
    ClipTokenizer *tok = NULL;
    if (clip_tokenizer_load(&tok, folder)) {
        fprintf(stderr, "mvla: backbone tokenize: %s\n", mvla_error_message());
        return 1;
    }
    int rc = 0;
    for (int i = first_text; i < argc && !rc; i++) {
        int *ids = NULL, n = 0, full = 0;
        int ctx[CLIP_CONTEXT_LENGTH];
        if (pad) {
            rc = clip_tokenize(tok, argv[i], CLIP_CONTEXT_LENGTH, ctx, &full, 1);
            ids = ctx, n = CLIP_CONTEXT_LENGTH;
        } else {
            rc = clip_encode(tok, argv[i], &ids, &n);
        }
        if (rc) {
            fprintf(stderr, "mvla: backbone tokenize: text %d: %s\n", i - first_text + 1, mvla_error_message());
            break;
        }
        printf("[");
        if (!pad) printf("%d, ", clip_sot_id(tok));
        for (int k = 0; k < n; k++) printf("%s%d", k ? ", " : "", ids[k]);
        if (!pad) printf("%s%d", n ? ", " : "", clip_eot_id(tok));
        printf("]\n");
        if (!pad) free(ids);
    }
    clip_tokenizer_free(tok);
    return rc ? 1 : 0;
}

int cmd_backbone(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        backbone_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "run") == 0) return backbone_run(argc - 1, argv + 1);
    if (strcmp(argv[1], "tokenize") == 0) return backbone_tokenize(argc - 1, argv + 1);
    fprintf(stderr, "mvla: backbone: unknown subcommand '%s' (run, tokenize)\n", argv[1]);
    return 2;
}
