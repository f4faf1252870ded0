#include "gradcheck.h"
#include "ref.h"
#include "test.h"
#include "tensor/ops_pool.h"

#include "base/error.h"

#include <stdio.h>
#include <string.h>

enum { MAX, AVG, AVG_EX, GAVG, GMAX };

/* One pooling setting, mirrored by CASES in tests/ref/gen_pool.py. */
typedef struct {
    const char *name;
    int kind, x[4];
    Pool2dOpts o;
} PoolCase;

static const PoolCase CASES[] = {
    {"max_k3s2p1", MAX, {2, 3, 7, 7}, {3, 3, 2, 2, 1, 1}},
    {"max_k2s2", MAX, {1, 2, 6, 5}, {2, 2, 2, 2, 0, 0}},
    {"max_k3s1p1", MAX, {1, 2, 5, 5}, {3, 3, 1, 1, 1, 1}},
    {"max_rect", MAX, {1, 2, 7, 6}, {3, 2, 2, 1, 1, 1}},
    {"avg_k3s2p1", AVG, {2, 3, 7, 7}, {3, 3, 2, 2, 1, 1}},
    {"avg_k3s2p1_ex", AVG_EX, {2, 3, 7, 7}, {3, 3, 2, 2, 1, 1}},
    {"avg_k2s2", AVG, {1, 2, 7, 6}, {2, 2, 0, 0, 0, 0}}, /* stride 0: the kernel size */
    {"avg_rect_ex", AVG_EX, {1, 2, 6, 7}, {3, 2, 1, 2, 1, 1}},
    {"gavg", GAVG, {2, 3, 4, 5}, {0}},
    {"gmax", GMAX, {2, 3, 4, 5}, {0}},
};
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])

static Tensor *run_case(Graph *g, const PoolCase *c, Tensor *x)
{
    switch (c->kind) {
    case MAX: return op_maxpool2d(g, x, c->o);
    case AVG: return op_avgpool2d(g, x, c->o, 1);
    case AVG_EX: return op_avgpool2d(g, x, c->o, 0);
    case GAVG: return op_global_avgpool(g, x);
    default: return op_global_maxpool(g, x);
    }
}

static Tensor *build_pool(Graph *g, Tensor **in, void *ctx) { return run_case(g, ctx, in[0]); }

/* Distinct values 0.05 apart in shuffled order, so a finite-difference step of 1e-3 never changes
 * which element a max window picks. */
static Tensor *distinct_input(unsigned seed, const int *shape)
{
    Tensor *x = gc_input(seed, 4, shape);
    Rng r;
    rng_seed(&r, seed);
    for (long i = 0; i < x->numel; i++) x->data[i] = 0.05f * (float)(i - x->numel / 2);
    for (long i = x->numel - 1; i > 0; i--) {
        long j = rng_below(&r, (uint32_t)(i + 1));
        float t = x->data[i];
        x->data[i] = x->data[j], x->data[j] = t;
    }
    return x;
}

TEST(pool_gradcheck_every_kind)
{
    GradcheckOpts opts = {.eps = 1e-3, .tol = 1e-2, .max_elems = 64};
    for (int i = 0; i < N_CASES; i++) {
        const PoolCase *c = &CASES[i];
        Tensor *x = distinct_input(60 + i, c->x);
        char label[64];
        snprintf(label, sizeof label, "pool %s", c->name);
        gradcheck(label, build_pool, (Tensor *[]){x}, 1, (void *)c, &opts);
        tensor_free(x);
    }
}

/* Output and input gradient against PyTorch, backward seeded with the reference gy. */
TEST(pool_matches_pytorch)
{
    const char *f = "pool.safetensors";
    for (int i = 0; i < N_CASES; i++) {
        const PoolCase *c = &CASES[i];
        char name[64];
#define NAME(part) (snprintf(name, sizeof name, "%s." part, c->name), name)
        Tensor *x = ref_load(f, NAME("x")), *gy = ref_load(f, NAME("gy"));
        Graph *g = graph_new();
        if (x && gy) {
            tensor_requires_grad(x);
            Tensor *y = run_case(g, c, x);
            CHECK_MSG(y != NULL, "%s: %s", c->name, mvla_error_message());
            if (y) {
                ref_check(f, NAME("y"), y->data, y->numel, 1e-6, 1e-5);
                CHECK(graph_backward(g, y, gy->data) == 0);
                ref_check(f, NAME("gx"), x->grad, x->numel, 1e-6, 1e-5);
            }
        }
#undef NAME
        graph_free(g);
        tensor_free(x), tensor_free(gy);
    }
}

TEST(pool_no_grad_saves_nothing)
{
    Tensor *x = distinct_input(5, (int[]){2, 3, 8, 8});
    Graph *g = graph_new();
    graph_set_grad(g, 0);
    Tensor *y = op_maxpool2d(g, x, pool2d_opts(3, 2, 1)), *z = op_global_maxpool(g, x);
    CHECK(y && z && !y->requires_grad && !z->requires_grad && graph_tape_len(g) == 0);
    CHECK(y && y->shape[2] == 4 && y->shape[3] == 4);
    graph_free(g);
    tensor_free(x);
}

TEST(pool_rejects_bad_shapes)
{
    Graph *g = graph_new();
    Tensor *x = tensor_new_shape(4, 1, 2, 4, 4), *x3 = tensor_new_shape(3, 2, 4, 4), *x2 = tensor_new_shape(2, 2, 4);
    CHECK(op_maxpool2d(g, x, pool2d_opts(5, 1, 0)) == NULL);
    CHECK(strstr(mvla_error_message(), "larger than the padded input") != NULL);
    CHECK(op_avgpool2d(g, x, pool2d_opts(3, 1, 2), 1) == NULL);
    CHECK(strstr(mvla_error_message(), "more than half the kernel") != NULL);
    CHECK(op_maxpool2d(g, x3, pool2d_opts(2, 2, 0)) == NULL);
    CHECK(strstr(mvla_error_message(), "[N, C, H, W]") != NULL);
    CHECK(op_avgpool2d(g, x, pool2d_opts(0, 1, 0), 1) == NULL);
    CHECK(op_avgpool2d(g, x, pool2d_opts(2, -1, 0), 1) == NULL);
    CHECK(op_global_avgpool(g, x2) == NULL);
    CHECK(strstr(mvla_error_message(), "global_avgpool") != NULL);
    CHECK(op_global_maxpool(g, x2) == NULL);
    CHECK(op_maxpool2d(g, NULL, pool2d_opts(2, 2, 0)) == NULL);
    CHECK(op_global_avgpool(g, NULL) == NULL);
    CHECK(op_maxpool2d(g, x, pool2d_opts(5, 1, 2)) != NULL); /* 5x5 window on 4x4 padded by 2 is fine */
    graph_free(g);
    tensor_free(x), tensor_free(x3), tensor_free(x2);
}
