/* CLIP vision tower in int8 (models/clip_int8.h): against the fp32 forward on the tiny golden CLIP
 * (../shared/golden/clip/tiny) and on a random model with odd shapes (widths not a multiple of 16, unused
 * border pixels, more rows than one GEMM tile), same output structure, identical results for any thread
 * count and any kernel, steady-state allocation, and bad inputs.
 *
 * Tolerances, measured: 8-bit per-token activation scales and per-channel weight scales (a rounding step of
 * max/127, at most 0.4% of a row's largest value per element) leave, through the tiny model's 2 blocks, a
 * smallest per-token cosine similarity to fp32 of 0.99971 (last_hidden_state; pooled 0.99988, image_embeds
 * 0.99986) and a max abs difference of at most 2.4% of the fp32 output's largest magnitude (image_embeds
 * 0.0525 on values up to 2.21; last_hidden_state 0.103 on 6.36); the odd-shaped model: cosine >= 0.99982,
 * <= 1.4%. The checks, cosine >= 0.999 for every row and max abs diff <= 6% of max |fp32|, leave a margin of
 * 2.5-3x; a wrong scale, transposed weight or missing bias/residual breaks both by far. Results with the
 * int8 path do not depend on the thread count or kernel at all (checked bit for bit).
 */
#include "golden.h"
#include "test.h"

#include "base/arena.h"
#include "base/error.h"
#include "base/threads.h"
#include "io/safetensors.h"
#include "models/clip.h"
#include "models/clip_int8.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static ClipModel *load_tiny_vision(void)
{
    const char *root = golden_dir();
    if (!root) return NULL;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/clip/tiny", root);
    ClipModel *m = NULL;
    if (clip_load(&m, dir, CLIP_TOWER_VISION)) test_fail(__FILE__, __LINE__, "clip_load: %s", mvla_error_message());
    return m;
}

static Tensor *tiny_pixels(void)
{
    const char *root = golden_dir();
    if (!root) return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/clip/tiny/io.safetensors", root);
    SafeTensors *st = NULL;
    if (st_open(&st, path)) {
        test_fail(__FILE__, __LINE__, "%s", mvla_error_message());
        return NULL;
    }
    Tensor *px = st_load_new(st, "pixel_values");
    st_close(st);
    return px;
}

/* Smallest cosine similarity between matching rows of a and b ([rows, n]). */
static double min_row_cosine(const Tensor *a, const Tensor *b)
{
    int n = a->shape[a->ndim - 1];
    long rows = a->numel / n;
    double worst = 1.0;
    for (long r = 0; r < rows; r++) {
        double ab = 0, aa = 0, bb = 0;
        for (int k = 0; k < n; k++) {
            double x = a->data[r * n + k], y = b->data[r * n + k];
            ab += x * y, aa += x * x, bb += y * y;
        }
        double c = ab / (sqrt(aa) * sqrt(bb) + 1e-30);
        if (c < worst) worst = c;
    }
    return worst;
}

static double max_abs(const Tensor *t)
{
    double m = 0;
    for (long i = 0; i < t->numel; i++) m = fmax(m, fabs((double)t->data[i]));
    return m;
}

/* Same shape; cosine per row >= min_cos; max |a - b| <= rel * max |ref|. */
static void check_close(const char *what, const Tensor *ref, const Tensor *q, double min_cos, double rel)
{
    if (!ref || !q) {
        test_fail(__FILE__, __LINE__, "%s: missing output", what);
        return;
    }
    char a[64], b[64];
    if (!tensor_same_shape(ref, q)) {
        test_fail(__FILE__, __LINE__, "%s: int8 shape %s, fp32 %s", what, tensor_shape_str(q, a, sizeof a),
                  tensor_shape_str(ref, b, sizeof b));
        return;
    }
    double c = min_row_cosine(ref, q), d = max_abs_diff(ref->data, q->data, ref->numel), s = max_abs(ref);
    CHECK_MSG(c >= min_cos, "%s: cosine %.6f < %.4f", what, c, min_cos);
    CHECK_MSG(d <= rel * s, "%s: max abs diff %.3g > %.3g (%.2g x max |fp32| %.3g)", what, d, rel * s, rel, s);
}

/* The tiny golden vision tower, its pixels, its int8 version and a no-grad graph; NULL on failure. */
typedef struct {
    ClipModel *m;
    Tensor *px;
    ClipVisionInt8 *q;
    Graph *g;
} TinyInt8;

static void tiny_int8_close(TinyInt8 *t)
{
    graph_free(t->g);
    clip_vision_int8_free(t->q);
    clip_free(t->m);
    tensor_free(t->px);
}

static int tiny_int8_open(TinyInt8 *t)
{
    memset(t, 0, sizeof *t);
    t->m = load_tiny_vision();
    t->px = tiny_pixels();
    if (!t->m || !t->px || clip_vision_int8_new(&t->q, t->m) || !(t->g = graph_new())) return -1;
    graph_set_grad(t->g, 0);
    return 0;
}

TEST(clip_int8_tiny_golden_close_to_fp32)
{
    TinyInt8 t;
    REQUIRE(tiny_int8_open(&t) == 0);
    ClipOutput f, o;
    REQUIRE(clip_vision_forward(t.g, t.m, t.px, 1, &f) == 0);
    REQUIRE(clip_vision_int8_forward(t.g, t.q, t.px, 1, &o) == 0);
    REQUIRE(o.n_hidden_states == f.n_hidden_states && o.hidden_states);
    char name[64];
    for (int i = 0; i < f.n_hidden_states; i++) {
        snprintf(name, sizeof name, "hidden_states.%d", i);
        check_close(name, f.hidden_states[i], o.hidden_states[i], 0.999, 0.06);
    }
    check_close("last_hidden_state", f.last_hidden_state, o.last_hidden_state, 0.999, 0.06);
    check_close("pooled", f.pooled, o.pooled, 0.999, 0.06);
    check_close("image_embeds", f.embeds, o.embeds, 0.999, 0.06);
    CHECK(graph_tape_len(t.g) == 0);
    /* without hidden states */
    graph_reset(t.g);
    REQUIRE(clip_vision_int8_forward(t.g, t.q, t.px, 0, &o) == 0);
    CHECK(o.hidden_states == NULL && o.n_hidden_states == 0 && o.embeds);
    tiny_int8_close(&t);
}

/* Widths 40 (not a multiple of 16) and 72, 42 px with 8 px patches (2 unused border pixels), batch 9:
 * 225 patch rows and 234 token rows, several row tiles of the threaded GEMM. */
static ClipConfig odd_config(void)
{
    ClipConfig c;
    clip_config_default(&c);
    ClipTowerConfig *v = &c.vision;
    v->hidden_size = 40, v->intermediate_size = 72, v->num_hidden_layers = 2, v->num_attention_heads = 5;
    v->image_size = 42, v->patch_size = 8, v->hidden_act = MLP_ACT_GELU;
    ClipTowerConfig *t = &c.text;
    t->hidden_size = 20, t->intermediate_size = 36, t->num_hidden_layers = 1, t->num_attention_heads = 5;
    t->vocab_size = 300, t->max_position_embeddings = 16, t->eos_token_id = 299;
    c.projection_dim = 12;
    return c;
}

TEST(clip_int8_odd_shapes_threads_and_kernels)
{
    ClipConfig c = odd_config();
    ClipModel *m = NULL;
    REQUIRE(clip_create_random(&m, &c, CLIP_TOWER_VISION, 5) == 0);
    ClipVisionInt8 *q = NULL;
    REQUIRE(clip_vision_int8_new(&q, m) == 0);
    Rng r;
    rng_seed(&r, 11);
    Tensor *px = tensor_new_shape(4, 9, 3, 42, 42);
    tensor_fill_normal(px, &r, 1.0f);
    Graph *g = graph_new();
    graph_set_grad(g, 0);
    ClipOutput f, o1, o2, oref;
    int threads = mvla_get_threads();
    REQUIRE(clip_vision_forward(g, m, px, 0, &f) == 0);
    mvla_set_threads(1);
    REQUIRE(clip_vision_int8_forward(g, q, px, 0, &o1) == 0);
    mvla_set_threads(2);
    REQUIRE(clip_vision_int8_forward(g, q, px, 0, &o2) == 0);
    check_close("last_hidden_state", f.last_hidden_state, o1.last_hidden_state, 0.999, 0.06);
    check_close("pooled", f.pooled, o1.pooled, 0.999, 0.06);
    check_close("image_embeds", f.embeds, o1.embeds, 0.999, 0.06);
    CHECK(max_abs_diff(o1.last_hidden_state->data, o2.last_hidden_state->data, o1.last_hidden_state->numel) == 0);
    CHECK(max_abs_diff(o1.embeds->data, o2.embeds->data, o1.embeds->numel) == 0);
    /* the portable kernel gives the same bits as the fastest one */
    I8Kernel best = clip_vision_int8_kernel(q);
    REQUIRE(clip_vision_int8_set_kernel(q, I8_REF) == 0);
    REQUIRE(clip_vision_int8_forward(g, q, px, 0, &oref) == 0);
    CHECK_MSG(max_abs_diff(o1.embeds->data, oref.embeds->data, o1.embeds->numel) == 0, "kernel %s vs ref",
              i8_kernel_name(best));
    CHECK(max_abs_diff(o1.last_hidden_state->data, oref.last_hidden_state->data, o1.last_hidden_state->numel) == 0);
    mvla_set_threads(threads);

    /* the border pixels no patch covers do not matter */
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < 42; y++) px->data[(ch * 42 + y) * 42 + 41] += 5.0f;
    REQUIRE(clip_vision_int8_forward(g, q, px, 0, &o2) == 0);
    CHECK(max_abs_diff(oref.embeds->data, o2.embeds->data, o1.embeds->numel) == 0);
    graph_free(g);
    tensor_free(px);
    clip_vision_int8_free(q);
    clip_free(m);
}

TEST(clip_int8_steady_state_and_bad_inputs)
{
    TinyInt8 t;
    REQUIRE(tiny_int8_open(&t) == 0);
    size_t cap = 0;
    ClipOutput o;
    for (int it = 0; it < 3; it++) {
        graph_reset(t.g);
        REQUIRE(clip_vision_int8_forward(t.g, t.q, t.px, 0, &o) == 0);
        if (it == 1) cap = arena_capacity(graph_arena(t.g));
        if (it == 2) CHECK_MSG(arena_capacity(graph_arena(t.g)) == cap, "arena grew from %zu to %zu bytes", cap,
                               arena_capacity(graph_arena(t.g)));
    }
    /* wrong pixel shape */
    Tensor *wrong = tensor_new_shape(4, 1, 3, 32, 32);
    CHECK(clip_vision_int8_forward(t.g, t.q, wrong, 0, &o) != 0);
    CHECK_MSG(strstr(mvla_error_message(), "[B, 3, 64, 64]"), "%s", mvla_error_message());
    CHECK(clip_vision_int8_forward(t.g, t.q, NULL, 0, &o) != 0);
    /* inference only */
    graph_set_grad(t.g, 1);
    CHECK(clip_vision_int8_forward(t.g, t.q, t.px, 0, &o) != 0);
    CHECK_MSG(strstr(mvla_error_message(), "graph_set_grad"), "%s", mvla_error_message());
    /* a kernel index that does not exist */
    CHECK(clip_vision_int8_set_kernel(t.q, I8_NKERNELS) != 0);
    tensor_free(wrong);
    tiny_int8_close(&t);

    /* a model without the vision tower */
    ClipConfig c = odd_config();
    ClipModel *text = NULL;
    REQUIRE(clip_create_random(&text, &c, CLIP_TOWER_TEXT, 1) == 0);
    ClipVisionInt8 *q = NULL;
    CHECK(clip_vision_int8_new(&q, text) != 0 && q == NULL);
    CHECK_MSG(strstr(mvla_error_message(), "vision tower"), "%s", mvla_error_message());
    clip_free(text);
}
