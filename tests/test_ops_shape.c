#include "gradcheck.h"
#include "ref.h"
#include "test.h"
#include "tensor/ops_shape.h"

#include "base/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *REF = "shape.safetensors";

/* ---- build functions for gradcheck and parity (ctx carries the op's settings) ---- */

typedef struct {
    int ndim, shape[TENSOR_MAX_DIMS];
} ShapeArg;

static Tensor *build_reshape(Graph *g, Tensor **in, void *ctx)
{
    const ShapeArg *s = ctx;
    return op_reshape(g, in[0], s->ndim, s->shape);
}

/* ctx: {which, dim}: 0 flatten, 1 unsqueeze, 2 squeeze; composed with a permute so that the
 * aliased view feeds a real consumer. */
static Tensor *build_view(Graph *g, Tensor **in, void *ctx)
{
    const int *a = ctx;
    Tensor *v = a[0] == 0   ? op_flatten(g, in[0], a[1])
                : a[0] == 1 ? op_unsqueeze(g, in[0], a[1])
                            : op_squeeze(g, in[0], a[1]);
    return v ? op_transpose(g, v, 0, -1) : NULL;
}

static Tensor *build_flatten(Graph *g, Tensor **in, void *ctx) { return op_flatten(g, in[0], *(const int *)ctx); }

static Tensor *build_permute(Graph *g, Tensor **in, void *ctx) { return op_permute(g, in[0], ctx); }

static Tensor *build_transpose(Graph *g, Tensor **in, void *ctx)
{
    const int *d = ctx;
    return op_transpose(g, in[0], d[0], d[1]);
}

static Tensor *build_slice(Graph *g, Tensor **in, void *ctx)
{
    const int *a = ctx;
    return op_slice(g, in[0], a[0], a[1], a[2]);
}

/* ctx: {n, dim}; the inputs are in[0..n-1]. */
static Tensor *build_concat(Graph *g, Tensor **in, void *ctx)
{
    const int *a = ctx;
    return op_concat(g, in, a[0], a[1]);
}

/* cat(x, slice(x)) along dim 1: x's gradient arrives from two ops and must accumulate. */
static Tensor *build_concat_self(Graph *g, Tensor **in, void *ctx)
{
    (void)ctx;
    Tensor *parts[2] = {in[0], op_slice(g, in[0], 1, 1, 3)};
    return parts[1] ? op_concat(g, parts, 2, 1) : NULL;
}

typedef struct {
    const int *ids;
    int ndim, shape[TENSOR_MAX_DIMS];
} IdsArg;

static Tensor *build_embedding(Graph *g, Tensor **in, void *ctx)
{
    const IdsArg *a = ctx;
    return op_embedding(g, in[0], a->ids, a->ndim, a->shape);
}

typedef struct {
    int dim, n;
    const int *index;
} IndexArg;

static Tensor *build_index_select(Graph *g, Tensor **in, void *ctx)
{
    const IndexArg *a = ctx;
    return op_index_select(g, in[0], a->dim, a->index, a->n);
}

static Tensor *build_select_per_batch(Graph *g, Tensor **in, void *ctx) { return op_select_per_batch(g, in[0], ctx); }

static Tensor *build_expand(Graph *g, Tensor **in, void *ctx) { return op_expand_leading(g, in[0], *(const int *)ctx); }

/* Runs an op twice on the same input and concatenates the results: the input's gradient then
 * comes from two backward calls, so a backward that overwrites instead of adding fails. */
typedef struct {
    BuildFn build;
    void *ctx;
} TwiceArg;

static Tensor *build_twice(Graph *g, Tensor **in, void *ctx)
{
    const TwiceArg *t = ctx;
    Tensor *parts[2] = {t->build(g, in, t->ctx), t->build(g, in, t->ctx)};
    return parts[0] && parts[1] ? op_concat(g, parts, 2, 0) : NULL;
}

/* gradcheck of build alone and of build used twice. */
static void gradcheck2(const char *label, BuildFn build, Tensor **in, int n_in, void *ctx, const GradcheckOpts *opts)
{
    char twice[64];
    snprintf(twice, sizeof twice, "%s (used twice)", label);
    if (gradcheck(label, build, in, n_in, ctx, opts))
        gradcheck(twice, build_twice, in, n_in, &(TwiceArg){build, ctx}, opts);
}

/* ---- gradient checks ---- */

TEST(shape_reshape_gradcheck)
{
    Tensor *x = gc_input(1, 3, (int[]){2, 3, 4});
    ShapeArg s = {2, {4, -1}};
    gradcheck2("reshape 4,-1", build_reshape, &x, 1, &s, NULL);
    ShapeArg s5 = {5, {1, 2, -1, 2, 1}};
    gradcheck2("reshape 5-d", build_reshape, &x, 1, &s5, NULL);
    int flat[2] = {0, 1}, unsq[2] = {1, -1};
    gradcheck2("flatten", build_view, &x, 1, flat, NULL);
    gradcheck2("unsqueeze", build_view, &x, 1, unsq, NULL);
    Tensor *y = gc_input(2, 3, (int[]){2, 1, 4});
    int sq[2] = {2, 1};
    gradcheck2("squeeze", build_view, &y, 1, sq, NULL);
    tensor_free(x);
    tensor_free(y);
}

TEST(shape_permute_gradcheck)
{
    Tensor *x = gc_input(3, 4, (int[]){2, 3, 4, 5});
    int perms[][4] = {{0, 2, 1, 3}, {0, 1, 3, 2}, {3, 1, 0, 2}, {0, 2, 3, 1}, {0, 1, 2, 3}, {-1, 0, -2, 1}};
    for (int i = 0; i < 6; i++) {
        char label[32];
        snprintf(label, sizeof label, "permute #%d", i);
        gradcheck2(label, build_permute, &x, 1, perms[i], NULL);
    }
    Tensor *x5 = gc_input(4, 5, (int[]){2, 3, 1, 4, 2});
    gradcheck2("permute 5-d", build_permute, &x5, 1, (int[]){4, 0, 3, 2, 1}, NULL);
    int tr[][2] = {{-1, -2}, {0, 2}, {1, 1}};
    for (int i = 0; i < 3; i++) gradcheck2("transpose", build_transpose, &x, 1, tr[i], NULL);
    tensor_free(x);
    tensor_free(x5);
}

TEST(shape_slice_gradcheck)
{
    Tensor *x = gc_input(5, 3, (int[]){2, 5, 3});
    int cases[][3] = {{1, 1, 4}, {1, 3, 5}, {-1, -2, 3}, {0, 1, 2}, {2, 0, 3}};
    for (int i = 0; i < 5; i++) gradcheck2("slice", build_slice, &x, 1, cases[i], NULL);
    tensor_free(x);
}

TEST(shape_concat_gradcheck)
{
    Tensor *xs[10];
    for (int i = 0; i < 3; i++) xs[i] = gc_input(10 + i, 3, (int[]){2, i + 1, 3});
    gradcheck2("concat 3 middle", build_concat, xs, 3, (int[]){3, 1}, NULL);
    for (int i = 0; i < 3; i++) tensor_free(xs[i]);
    /* more inputs than a node holds: joined in groups */
    for (int i = 0; i < 10; i++) xs[i] = gc_input(20 + i, 2, (int[]){2, 1 + i % 3});
    gradcheck2("concat 10 last", build_concat, xs, 10, (int[]){10, -1}, &(GradcheckOpts){.max_elems = 8});
    for (int i = 0; i < 10; i++) tensor_free(xs[i]);
    Tensor *x = gc_input(30, 3, (int[]){2, 4, 3});
    gradcheck2("concat self", build_concat_self, &x, 1, NULL, NULL);
    tensor_free(x);
}

TEST(shape_lookup_gradcheck)
{
    Tensor *w = gc_input(40, 2, (int[]){7, 4});
    int ids[] = {1, 3, 3, 6, 0, 3};
    IdsArg e = {ids, 2, {2, 3}};
    gradcheck2("embedding", build_embedding, &w, 1, &e, NULL);
    IdsArg e0 = {ids + 5, 0, {0}};
    gradcheck2("embedding scalar id", build_embedding, &w, 1, &e0, NULL);
    Tensor *x = gc_input(41, 3, (int[]){3, 4, 5});
    int index[] = {2, 0, 2, 3};
    for (int dim = 0; dim < 3; dim++) {
        IndexArg a = {dim, 2 + dim, index};
        gradcheck2("index_select", build_index_select, &x, 1, &a, NULL);
    }
    int t[] = {3, 0, 3};
    gradcheck2("select_per_batch", build_select_per_batch, &x, 1, t, NULL);
    int n = 3;
    gradcheck2("expand_leading", build_expand, &w, 1, &n, NULL);
    tensor_free(w);
    tensor_free(x);
}

/* ---- parity with PyTorch ---- */

/* Loads <key>.x and <key>.gy, runs build, compares <key>.y and, after backward seeded
 * with gy, <key>.gx. */
static void check_single(const char *key, BuildFn build, void *ctx)
{
    char name[64];
    snprintf(name, sizeof name, "%s.x", key);
    Tensor *x = ref_load(REF, name);
    snprintf(name, sizeof name, "%s.gy", key);
    Tensor *gy = ref_load(REF, name);
    Graph *g = graph_new();
    if (x && gy && tensor_requires_grad(x) == 0) {
        Tensor *y = build(g, &x, ctx);
        if (!y) {
            test_fail(__FILE__, __LINE__, "%s: %s", key, mvla_error_message());
        } else {
            snprintf(name, sizeof name, "%s.y", key);
            ref_check(REF, name, y->data, y->numel, 0, 0);
            if (y->numel != gy->numel || graph_backward(g, y, gy->data)) {
                test_fail(__FILE__, __LINE__, "%s: backward: %s", key, mvla_error_message());
            } else {
                snprintf(name, sizeof name, "%s.gx", key);
                ref_check(REF, name, x->grad, x->numel, 1e-6, 1e-6);
            }
        }
    }
    graph_free(g);
    tensor_free(x);
    tensor_free(gy);
}

/* Reference indices are stored as floats: loads them as ints (caller frees). */
static int *load_indices(const char *name, int *count)
{
    Tensor *t = ref_load(REF, name);
    if (!t) return NULL;
    int *v = malloc((size_t)t->numel * sizeof *v);
    for (long i = 0; i < t->numel; i++) v[i] = (int)t->data[i];
    *count = (int)t->numel;
    tensor_free(t);
    return v;
}

TEST(shape_permute_matches_pytorch)
{
    check_single("permute_bthd", build_permute, (int[]){0, 2, 1, 3});
    check_single("permute_general", build_permute, (int[]){3, 1, 0, 2});
    check_single("permute_5d", build_permute, (int[]){4, 0, 3, 2, 1});
    check_single("transpose_last", build_transpose, (int[]){-1, -2});
    check_single("transpose_outer", build_transpose, (int[]){0, 2});
}

TEST(shape_reshape_slice_matches_pytorch)
{
    check_single("reshape", build_reshape, &(ShapeArg){2, {4, -1}});
    check_single("flatten", build_flatten, (int[]){1});
    check_single("slice_mid", build_slice, (int[]){1, 1, 4});
    check_single("slice_end", build_slice, (int[]){1, 3, 5});
    check_single("slice_neg", build_slice, (int[]){-1, -2, 3});
    check_single("expand", build_expand, (int[]){4});
}

TEST(shape_lookup_matches_pytorch)
{
    int n = 0;
    int *index = load_indices("index_select.index", &n);
    if (index) check_single("index_select", build_index_select, &(IndexArg){1, n, index});
    free(index);
    int *t = load_indices("select_per_batch.t", &n);
    if (t) check_single("select_per_batch", build_select_per_batch, t);
    free(t);
    int *ids = load_indices("embedding.ids", &n);
    if (ids) check_single("embedding", build_embedding, &(IdsArg){ids, 2, {2, 3}});
    free(ids);
}

TEST(shape_concat_matches_pytorch)
{
    Tensor *x[3] = {ref_load(REF, "cat3.a"), ref_load(REF, "cat3.b"), ref_load(REF, "cat3.c")};
    Tensor *gy = ref_load(REF, "cat3.gy");
    Graph *g = graph_new();
    if (x[0] && x[1] && x[2] && gy) {
        for (int i = 0; i < 3; i++) tensor_requires_grad(x[i]);
        Tensor *y = op_concat(g, x, 3, 1);
        CHECK_MSG(y != NULL, "concat: %s", mvla_error_message());
        if (y) {
            ref_check(REF, "cat3.y", y->data, y->numel, 0, 0);
            CHECK(graph_backward(g, y, gy->data) == 0);
            ref_check(REF, "cat3.ga", x[0]->grad, x[0]->numel, 0, 0);
            ref_check(REF, "cat3.gb", x[1]->grad, x[1]->numel, 0, 0);
            ref_check(REF, "cat3.gc", x[2]->grad, x[2]->numel, 0, 0);
        }
    }
    graph_free(g);
    for (int i = 0; i < 3; i++) tensor_free(x[i]);
    tensor_free(gy);
}

/* ---- permute against a plain index loop, every permutation (exercises the fast paths) ---- */

/* dst = src permuted, and dsrc[i] = seed[j] where output j reads input i (the exact adjoint). */
static void naive_permute(const float *src, const float *seed, float *dst, float *dsrc, int nd, const int *shape,
                          const int *perm)
{
    long stride[TENSOR_MAX_DIMS], s = 1, numel = shape_numel(nd, shape);
    for (int i = nd - 1; i >= 0; i--) stride[i] = s, s *= shape[i];
    for (long o = 0; o < numel; o++) {
        long rem = o, off = 0;
        for (int i = nd - 1; i >= 0; i--) {
            int size = shape[perm[i]];
            off += rem % size * stride[perm[i]];
            rem /= size;
        }
        dst[o] = src[off];
        dsrc[off] = seed[o];
    }
}

/* Checks op_permute's output and gradient for every permutation of x's dims; returns how many. */
static int check_all_perms(int nd, const int *shape, unsigned seed)
{
    Tensor *x = gc_input(seed, nd, shape);
    long numel = x->numel;
    float *want = malloc((size_t)numel * sizeof *want), *want_dx = malloc((size_t)numel * sizeof *want_dx);
    float *gy = malloc((size_t)numel * sizeof *gy);
    Rng r;
    rng_seed(&r, seed + 1);
    rng_fill_normal(&r, gy, numel, 1.0f);
    Graph *g = graph_new();
    int count = 0, total = 1;
    for (int i = 0; i < nd; i++) total *= nd;
    for (int code = 0; code < total; code++) {
        int perm[TENSOR_MAX_DIMS], seen = 0, c = code, ok = 1;
        for (int i = 0; i < nd; i++, c /= nd) {
            perm[i] = c % nd;
            ok &= !(seen >> perm[i] & 1);
            seen |= 1 << perm[i];
        }
        if (!ok) continue;
        count++;
        graph_reset(g);
        tensor_zero_grad(x);
        Tensor *y = op_permute(g, x, perm);
        if (!y || graph_backward(g, y, gy)) {
            test_fail(__FILE__, __LINE__, "permute code %d: %s", code, mvla_error_message());
            break;
        }
        naive_permute(x->data, gy, want, want_dx, nd, shape, perm);
        for (int i = 0; i < nd; i++) CHECK(y->shape[i] == shape[perm[i]]);
        double e1 = max_abs_diff(y->data, want, numel), e2 = max_abs_diff(x->grad, want_dx, numel);
        if (e1 != 0 || e2 != 0) {
            test_fail(__FILE__, __LINE__, "%d-d permute (%d %d %d %d %d): output off by %g, gradient by %g", nd, perm[0],
                      nd > 1 ? perm[1] : -1, nd > 2 ? perm[2] : -1, nd > 3 ? perm[3] : -1, nd > 4 ? perm[4] : -1, e1, e2);
            break;
        }
    }
    graph_free(g);
    tensor_free(x);
    free(want), free(want_dx), free(gy);
    return count;
}

TEST(shape_permute_all_orders_match_index_loop)
{
    CHECK(check_all_perms(3, (int[]){2, 37, 45}, 1) == 6);        /* partial 32x32 tiles */
    CHECK(check_all_perms(4, (int[]){3, 4, 5, 6}, 2) == 24);
    CHECK(check_all_perms(4, (int[]){1, 3, 1, 4}, 3) == 24);       /* size-1 dims dropped */
    CHECK(check_all_perms(5, (int[]){2, 3, 1, 4, 5}, 4) == 120);
    CHECK(check_all_perms(3, (int[]){4, 100, 130}, 5) == 6);      /* large enough for threads */
    CHECK(check_all_perms(1, (int[]){7}, 6) == 1);
}

/* ---- edge cases ---- */

TEST(shape_reshape_infers_and_aliases)
{
    Graph *g = graph_new();
    Tensor *x = gc_input(1, 3, (int[]){2, 3, 4});
    Tensor *y = op_reshape(g, x, 2, (int[]){-1, 6});
    REQUIRE(y);
    CHECK(y->ndim == 2 && y->shape[0] == 4 && y->shape[1] == 6 && y->numel == 24);
    CHECK(y->data == x->data);   /* a view, no copy */
    Tensor *s = op_reshape(g, x, 0, NULL);
    CHECK(s == NULL);
    CHECK(strstr(mvla_error_message(), "reshape") != NULL);
    Tensor *one = tensor_new_shape(3, 1, 1, 1);
    Tensor *scalar = op_reshape(g, one, 0, NULL);
    CHECK(scalar && scalar->ndim == 0 && scalar->numel == 1);
    CHECK(op_reshape(g, x, 2, (int[]){-1, -1}) == NULL);
    CHECK(op_reshape(g, x, 2, (int[]){5, -1}) == NULL);
    CHECK(strstr(mvla_error_message(), "[5, -1]") != NULL);
    CHECK(op_reshape(g, x, 2, (int[]){4, 5}) == NULL);
    CHECK(strstr(mvla_error_message(), "[2, 3, 4]") != NULL);
    CHECK(op_reshape(g, x, 3, (int[]){0, -1, 2}) == NULL);
    CHECK(op_reshape(g, x, 2, (int[]){-2, -12}) == NULL);
    CHECK(op_reshape(g, x, 6, (int[]){1, 1, 1, 2, 3, 4}) == NULL);
    Tensor *f = op_flatten(g, x, -2);
    CHECK(f && f->ndim == 2 && f->shape[0] == 2 && f->shape[1] == 12);
    Tensor *u = op_unsqueeze(g, x, 3);
    CHECK(u && u->ndim == 4 && u->shape[3] == 1 && u->shape[2] == 4);
    u = op_unsqueeze(g, x, -4);
    CHECK(u && u->ndim == 4 && u->shape[0] == 1 && u->shape[1] == 2);
    CHECK(op_squeeze(g, x, 1) == NULL);
    CHECK(strstr(mvla_error_message(), "squeeze") != NULL);
    CHECK(op_flatten(g, x, 3) == NULL);
    CHECK(op_unsqueeze(g, x, 4) == NULL);
    graph_free(g);
    tensor_free(x);
    tensor_free(one);
}

TEST(shape_permute_identity_and_bad_dims)
{
    Graph *g = graph_new();
    Tensor *x = gc_input(2, 3, (int[]){2, 3, 4});
    Tensor *y = op_permute(g, x, (int[]){0, 1, 2});
    REQUIRE(y);
    CHECK(y->data != x->data && max_abs_diff(y->data, x->data, x->numel) == 0);
    CHECK(op_permute(g, x, (int[]){0, 0, 1}) == NULL);
    CHECK(strstr(mvla_error_message(), "permute") && strstr(mvla_error_message(), "(0, 0, 1)"));
    CHECK(op_permute(g, x, (int[]){0, 1, 3}) == NULL);
    CHECK(op_permute(g, x, NULL) == NULL);
    CHECK(op_transpose(g, x, 0, 3) == NULL);
    CHECK(strstr(mvla_error_message(), "transpose") && strstr(mvla_error_message(), "0 and 3"));
    CHECK(op_transpose(g, x, -4, 1) == NULL);
    Tensor *t = op_transpose(g, x, 0, -1);
    CHECK(t && t->shape[0] == 4 && t->shape[1] == 3 && t->shape[2] == 2);
    CHECK(t && t->data[1] == x->data[12]);   /* t[0, 0, 1] = x[1, 0, 0] */
    graph_free(g);
    tensor_free(x);
}

TEST(shape_slice_and_concat_edges)
{
    Graph *g = graph_new();
    Tensor *x = gc_input(3, 3, (int[]){2, 5, 3});
    Tensor *end = op_slice(g, x, 1, 4, 5);
    REQUIRE(end);
    CHECK(end->shape[1] == 1 && end->data[0] == x->data[12] && end->data[3] == x->data[27]);
    Tensor *empty = op_slice(g, x, 1, 5, 5);
    CHECK(empty && empty->numel == 0);
    Tensor *neg = op_slice(g, x, -2, -1, 5);
    CHECK(neg && neg->shape[1] == 1 && neg->data[0] == x->data[12]);
    CHECK(op_slice(g, x, 1, 3, 2) == NULL);
    CHECK(strstr(mvla_error_message(), "slice") && strstr(mvla_error_message(), "3:2"));
    CHECK(op_slice(g, x, 1, 0, 6) == NULL);
    CHECK(op_slice(g, x, 1, -6, 2) == NULL);
    CHECK(op_slice(g, x, 3, 0, 1) == NULL);
    CHECK(strstr(mvla_error_message(), "dim 3"));

    Tensor *a = tensor_new_shape(3, 2, 1, 3), *b = tensor_new_shape(3, 2, 2, 4), *c = tensor_new_shape(2, 2, 3);
    CHECK(op_concat(g, (Tensor *[]){a, b}, 2, 1) == NULL);
    CHECK(strstr(mvla_error_message(), "concat") && strstr(mvla_error_message(), "[2, 2, 4]"));
    CHECK(op_concat(g, (Tensor *[]){a, c}, 2, 0) == NULL);
    CHECK(op_concat(g, (Tensor *[]){a, a}, 2, 3) == NULL);
    CHECK(op_concat(g, (Tensor *[]){a}, 0, 0) == NULL);
    Tensor *one = op_concat(g, (Tensor *[]){a}, 1, -1);
    CHECK(one && tensor_same_shape(one, a));
    graph_free(g);
    tensor_free(x), tensor_free(a), tensor_free(b), tensor_free(c);
}

TEST(shape_embedding_repeated_ids_and_range)
{
    Graph *g = graph_new();
    Tensor *w = gc_input(4, 2, (int[]){5, 3});
    int ids[] = {4, 1, 4, 4};
    Tensor *y = op_embedding(g, w, ids, 2, (int[]){2, 2});
    REQUIRE(y);
    CHECK(y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 2 && y->shape[2] == 3);
    CHECK(y->data[0] == w->data[12] && y->data[3] == w->data[3]);
    float seed[12];
    for (int i = 0; i < 12; i++) seed[i] = (float)(i + 1);
    REQUIRE(graph_backward(g, y, seed) == 0);
    for (int d = 0; d < 3; d++) {
        CHECK_NEAR(w->grad[4 * 3 + d], seed[d] + seed[6 + d] + seed[9 + d], 0);   /* id 4 three times */
        CHECK_NEAR(w->grad[1 * 3 + d], seed[3 + d], 0);
        CHECK_NEAR(w->grad[0 * 3 + d], 0, 0);
    }
    CHECK(op_embedding(g, w, (int[]){0, 5}, 1, (int[]){2}) == NULL);
    CHECK(strstr(mvla_error_message(), "embedding") && strstr(mvla_error_message(), "id 5") &&
          strstr(mvla_error_message(), "[0, 5)"));
    CHECK(op_embedding(g, w, (int[]){-1}, 1, (int[]){1}) == NULL);
    CHECK(strstr(mvla_error_message(), "id -1"));
    CHECK(op_embedding(g, w, ids, 5, (int[]){1, 1, 1, 1, 4}) == NULL);
    CHECK(op_embedding(g, w, NULL, 1, (int[]){2}) == NULL);
    Tensor *v = tensor_new_shape(1, 5);
    CHECK(op_embedding(g, v, ids, 1, (int[]){1}) == NULL);
    CHECK(strstr(mvla_error_message(), "[V, D]"));
    graph_free(g);
    tensor_free(w);
    tensor_free(v);
}

TEST(shape_index_and_expand_edges)
{
    Graph *g = graph_new();
    Tensor *x = gc_input(5, 3, (int[]){2, 4, 3});
    Tensor *s = op_select_per_batch(g, x, (int[]){3, 1});
    REQUIRE(s);
    CHECK(s->ndim == 2 && s->shape[0] == 2 && s->shape[1] == 3);
    CHECK(s->data[0] == x->data[9] && s->data[3] == x->data[15]);
    CHECK(op_select_per_batch(g, x, (int[]){0, 4}) == NULL);
    CHECK(strstr(mvla_error_message(), "select_per_batch") && strstr(mvla_error_message(), "index 4"));
    Tensor *v = tensor_new_shape(1, 4);
    CHECK(op_select_per_batch(g, v, (int[]){0}) == NULL);
    CHECK(op_index_select(g, x, 1, (int[]){0, 4}, 2) == NULL);
    CHECK(strstr(mvla_error_message(), "index_select") && strstr(mvla_error_message(), "[0, 4)"));
    CHECK(op_index_select(g, x, 3, (int[]){0}, 1) == NULL);
    Tensor *none = op_index_select(g, x, 2, NULL, 0);
    CHECK(none && none->numel == 0 && none->shape[2] == 0);
    Tensor *e = op_expand_leading(g, x, 3);
    CHECK(e && e->ndim == 4 && e->shape[0] == 3 && e->data[2 * 24 + 5] == x->data[5]);
    CHECK(op_expand_leading(g, x, -1) == NULL);
    Tensor *big = tensor_new_shape(5, 1, 1, 1, 1, 1);
    CHECK(op_expand_leading(g, big, 2) == NULL);
    CHECK(op_unsqueeze(g, big, 0) == NULL);
    graph_free(g);
    tensor_free(x), tensor_free(v), tensor_free(big);
}

TEST(shape_null_inputs_and_no_grad)
{
    Graph *g = graph_new();
    CHECK(op_reshape(g, NULL, 1, (int[]){-1}) == NULL);
    CHECK(op_flatten(g, NULL, 0) == NULL);
    CHECK(op_permute(g, NULL, (int[]){0}) == NULL);
    CHECK(op_transpose(g, NULL, 0, 1) == NULL);
    CHECK(op_slice(g, NULL, 0, 0, 1) == NULL);
    CHECK(op_concat(g, (Tensor *[]){NULL, NULL}, 2, 0) == NULL);
    CHECK(op_embedding(g, NULL, (int[]){0}, 1, (int[]){1}) == NULL);
    CHECK(op_index_select(g, NULL, 0, (int[]){0}, 1) == NULL);
    CHECK(op_select_per_batch(g, NULL, (int[]){0}) == NULL);
    CHECK(op_expand_leading(g, NULL, 2) == NULL);

    Tensor *x = gc_input(6, 3, (int[]){2, 3, 4});
    graph_set_grad(g, 0);
    Tensor *y = op_permute(g, op_slice(g, op_reshape(g, x, 2, (int[]){6, 4}), 0, 1, 5), (int[]){1, 0});
    y = op_expand_leading(g, op_concat(g, (Tensor *[]){y, y}, 2, 0), 2);
    CHECK(y && !y->requires_grad && y->shape[0] == 2 && y->shape[1] == 8);
    Tensor *rows = op_embedding(g, op_reshape(g, x, 2, (int[]){6, 4}), (int[]){2, 5}, 2, (int[]){1, 2});
    y = op_select_per_batch(g, rows, (int[]){1});
    y = op_index_select(g, y, 0, (int[]){0, 0}, 2);
    CHECK(y && !y->requires_grad && y->numel == 8 && y->data[7] == x->data[23]);
    CHECK(graph_tape_len(g) == 0);
    graph_set_grad(g, 1);
    y = op_transpose(g, x, 0, 1);
    CHECK(y && y->requires_grad && graph_tape_len(g) == 1);
    graph_free(g);
    tensor_free(x);
}
