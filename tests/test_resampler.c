/* The Perceiver resampler: shapes and names, parity (output and every gradient) with the PyTorch
 * re-implementation in tests/ref/gen_resampler.py, a finite-difference gradient check, bad inputs. */
#include "gradcheck.h"
#include "ref.h"
#include "test.h"

#include "base/error.h"
#include "models/resampler.h"

#include <stdio.h>
#include <string.h>

TEST(resampler_shapes_and_names)
{
    ParamList p;
    params_init(&p);
    Rng rng;
    rng_seed(&rng, 3);
    ResamplerConfig c = resampler_config_default(32);
    c.media_dim = 48, c.dim_head = 16, c.heads = 4, c.depth = 3, c.num_latents = 10;
    Resampler r;
    REQUIRE(resampler_init(&r, &p, "resampler", &c, &rng) == 0);
    int D = 32, M = 48, inner = 64, F = 128, N = 10;
    long per_layer = 6L * D + 3L * inner * D + (long)D * inner + 2L * F * D;
    CHECK(params_numel(&p) == (long)N * D + (long)D * M + D + 3 * per_layer + 2 * D);
    CHECK(params_find(&p, "resampler.latents") != NULL);
    CHECK(params_find(&p, "resampler.in_proj.weight") != NULL);
    CHECK(params_find(&p, "resampler.layers.2.attn.to_v.weight") != NULL);
    CHECK(params_find(&p, "resampler.layers.0.ff.fc2.weight") != NULL);
    CHECK(params_find(&p, "resampler.norm.bias") != NULL);
    CHECK(params_find(&p, "resampler.layers.3.attn.to_q.weight") == NULL);

    Graph *g = graph_new();
    Tensor *x = tensor_new_shape(3, 2, 9, M);
    tensor_fill_normal(x, &rng, 1.0f);
    Tensor *y = resampler_forward(g, &r, x);
    REQUIRE(y);
    CHECK(y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == N && y->shape[2] == D);

    /* a different number of visual tokens gives the same number of outputs */
    Tensor *x2 = tensor_new_shape(3, 1, 50, M);
    tensor_fill_normal(x2, &rng, 1.0f);
    y = resampler_forward(g, &r, x2);
    REQUIRE(y);
    CHECK(y->shape[0] == 1 && y->shape[1] == N && y->shape[2] == D);

    /* wrong width: a clear error */
    Tensor *bad = tensor_new_shape(3, 2, 9, D);
    CHECK(resampler_forward(g, &r, bad) == NULL);
    CHECK_MSG(strstr(mvla_error_message(), "resampler") && strstr(mvla_error_message(), "[B, T, 48]"), "%s",
              mvla_error_message());

    /* steady state: no_grad calls reuse the arena */
    graph_set_grad(g, 0);
    graph_reset(g);
    CHECK(resampler_forward(g, &r, x) != NULL);
    graph_reset(g);
    CHECK(resampler_forward(g, &r, x) != NULL);
    size_t cap = arena_capacity(graph_arena(g));
    graph_reset(g);
    CHECK(resampler_forward(g, &r, x) != NULL);
    CHECK(arena_capacity(graph_arena(g)) == cap);
    CHECK(graph_tape_len(g) == 0);

    tensor_free(x), tensor_free(x2), tensor_free(bad);
    graph_free(g);
    params_free(&p, 1);
}

TEST(resampler_rejects_bad_config)
{
    ParamList p;
    params_init(&p);
    Rng rng;
    rng_seed(&rng, 1);
    Resampler r;
    ResamplerConfig c = resampler_config_default(16);
    c.depth = 0;
    CHECK(resampler_init(&r, &p, "r", &c, &rng) != 0);
    CHECK_MSG(strstr(mvla_error_message(), "depth 0"), "%s", mvla_error_message());
    c = resampler_config_default(16);
    c.kv_latents = 2;
    CHECK(resampler_init(&r, &p, "r", &c, &rng) != 0);
    CHECK(strstr(mvla_error_message(), "kv_latents") != NULL);
    CHECK(p.count == 0);
    params_free(&p, 1);
}

/* ---- parity with tests/ref/gen_resampler.py ---- */

static void check_case(const char *key, ResamplerConfig c)
{
    ParamList p;
    params_init(&p);
    Rng rng;
    rng_seed(&rng, 9);
    Resampler r;
    REQUIRE(resampler_init(&r, &p, "", &c, &rng) == 0);
    char nm[160];
    for (int i = 0; i < p.count; i++) {
        snprintf(nm, sizeof nm, "%s.p.%s", key, p.items[i].name);
        Tensor *ref = ref_load("resampler.safetensors", nm);
        REQUIRE(ref);
        CHECK_MSG(ref->numel == p.items[i].tensor->numel, "%s: %ld elements, mvla has %ld", nm, ref->numel,
                  p.items[i].tensor->numel);
        if (ref->numel == p.items[i].tensor->numel) tensor_copy_data(p.items[i].tensor, ref);
        tensor_free(ref);
    }
    snprintf(nm, sizeof nm, "%s.x", key);
    Tensor *x = ref_load("resampler.safetensors", nm);
    snprintf(nm, sizeof nm, "%s.gy", key);
    Tensor *gy = ref_load("resampler.safetensors", nm);
    REQUIRE(x && gy);
    tensor_requires_grad(x);
    Graph *g = graph_new();
    Tensor *y = resampler_forward(g, &r, x);
    REQUIRE(y);
    snprintf(nm, sizeof nm, "%s.y", key);
    ref_check("resampler.safetensors", nm, y->data, y->numel, 1e-5, 1e-5);
    REQUIRE(y->numel == gy->numel);
    REQUIRE(graph_backward(g, y, gy->data) == 0);
    snprintf(nm, sizeof nm, "%s.gx", key);
    ref_check("resampler.safetensors", nm, x->grad, x->numel, 1e-5, 1e-4);
    for (int i = 0; i < p.count; i++) {
        snprintf(nm, sizeof nm, "%s.g.%s", key, p.items[i].name);
        ref_check("resampler.safetensors", nm, p.items[i].tensor->grad, p.items[i].tensor->numel, 1e-5, 1e-4);
    }
    tensor_free(x), tensor_free(gy);
    graph_free(g);
    params_free(&p, 1);
}

TEST(resampler_matches_pytorch)
{
    ResamplerConfig flamingo = {.dim = 16, .media_dim = 24, .num_latents = 5, .depth = 2, .heads = 2, .dim_head = 8,
                                .ff_mult = 2, .kv_latents = 1, .eps = 1e-5f};
    check_case("flamingo", flamingo);
    ResamplerConfig media_only = {.dim = 12, .media_dim = 12, .num_latents = 3, .depth = 1, .heads = 4,
                                  .dim_head = 4, .ff_mult = 4, .kv_latents = 0, .eps = 1e-5f};
    check_case("media_only", media_only);
}

/* ---- finite differences ---- */

typedef struct {
    const Resampler *r;
    Tensor *x;
} ResCtx;

static Tensor *build_resampler(Graph *g, Tensor **in, void *ctx)
{
    (void)in;
    const ResCtx *c = ctx;
    return resampler_forward(g, c->r, c->x);
}

TEST(resampler_gradcheck)
{
    ParamList p;
    params_init(&p);
    Rng rng;
    rng_seed(&rng, 5);
    ResamplerConfig c = {.dim = 8, .media_dim = 6, .num_latents = 3, .depth = 2, .heads = 2, .dim_head = 4,
                         .ff_mult = 2, .kv_latents = 1, .eps = 1e-5f};
    Resampler r;
    REQUIRE(resampler_init(&r, &p, "r", &c, &rng) == 0);
    Tensor *x = gc_input(11, 3, (int[]){2, 4, 6});
    ResCtx ctx = {&r, x};
    Tensor *in[] = {x, r.latents, r.in_proj_w, r.layers[0].to_q, r.layers[0].to_k, r.layers[0].norm_media_w,
                    r.layers[1].to_v, r.layers[1].to_out, r.layers[1].ff1, r.layers[1].ff_norm_b, r.norm_w};
    GradcheckOpts o = {.eps = 1e-2, .tol = 2e-2, .max_elems = 24};
    gradcheck("resampler", build_resampler, in, (int)(sizeof in / sizeof in[0]), &ctx, &o);
    tensor_free(x);
    params_free(&p, 1);
}
