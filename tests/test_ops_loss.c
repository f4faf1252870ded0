#include "gradcheck.h"
#include "ref.h"
#include "test.h"
#include "tensor/ops_elementwise.h"
#include "tensor/ops_loss.h"

#include "base/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In test_ops_elementwise.c. */

/* ---- regression losses ---- */

typedef struct {
    int kind;       /* 0 mse, 1 l1, 2 huber */
    float delta;
    Tensor *mask;   /* NULL: the plain loss */
    float amplify;  /* gradchecks: the loss is multiplied by this (0: not) so that per-element
                     * gradients of a mean are O(1) and the check's tolerance is meaningful */
} RegCtx;

static const char *const reg_names[] = {"mse", "l1", "huber"};

static Tensor *reg_loss(Graph *g, Tensor **in, const RegCtx *c)
{
    if (c->mask) {
        switch (c->kind) {
        case 0: return op_mse_loss_masked(g, in[0], in[1], c->mask);
        case 1: return op_l1_loss_masked(g, in[0], in[1], c->mask);
        default: return op_huber_loss_masked(g, in[0], in[1], c->mask, c->delta);
        }
    }
    switch (c->kind) {
    case 0: return op_mse_loss(g, in[0], in[1]);
    case 1: return op_l1_loss(g, in[0], in[1]);
    default: return op_huber_loss(g, in[0], in[1], c->delta);
    }
}

static Tensor *build_reg(Graph *g, Tensor **in, void *ctx)
{
    const RegCtx *c = ctx;
    Tensor *y = reg_loss(g, in, c);
    return c->amplify ? op_scale(g, y, c->amplify) : y;
}

/* Moves pred so that d = pred - target stays at least `margin` away from the loss's kinks
 * (0 for l1, +-delta for huber). */
static void push_diff_away(Tensor *pred, const Tensor *target, const RegCtx *c, float margin)
{
    float kinks[2] = {c->kind == 1 ? 0.0f : -c->delta, c->delta};
    int nk = c->kind == 0 ? 0 : c->kind == 1 ? 1 : 2;
    for (long i = 0; i < pred->numel; i++)
        for (int k = 0; k < nk; k++) {
            float d = pred->data[i] - target->data[i] - kinks[k];
            if (d > -margin && d < margin) pred->data[i] += (d < 0 ? -margin : margin) - d;
        }
}

TEST(loss_regression_gradcheck)
{
    Tensor *mask = tensor_new_shape(2, 3, 4), *mask_full = tensor_new_shape(3, 3, 4, 5);
    const float m[12] = {1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1};
    memcpy(mask->data, m, sizeof m);
    for (long i = 0; i < mask_full->numel; i++) mask_full->data[i] = (float)((i * 7) % 3 != 0) * 0.5f;
    for (int kind = 0; kind < 3; kind++)
        for (int variant = 0; variant < 3; variant++) {
            RegCtx c = {kind, kind == 2 ? 0.7f : 0, variant == 1 ? mask : variant == 2 ? mask_full : NULL, 60};
            Tensor *p = gc_input(10 + kind, 3, (int[]){3, 4, 5}), *t = gc_input(20 + kind, 3, (int[]){3, 4, 5});
            push_diff_away(p, t, &c, 0.05f);
            char label[48];
            snprintf(label, sizeof label, "%s%s", reg_names[kind], variant == 1 ? " masked" : variant ? " masked full" : "");
            gradcheck(label, build_reg, (Tensor *[]){p, t}, 2, &c, &(GradcheckOpts){.max_elems = 60});
            /* a target without grad gets none */
            t->requires_grad = 0;
            gradcheck(label, build_reg, (Tensor *[]){p, t}, 2, &c, NULL);
            long touched = 0;
            for (long i = 0; i < t->numel; i++) touched += t->grad[i] != 0;
            CHECK(touched == 0);
            tensor_free(p), tensor_free(t);
        }
    tensor_free(mask), tensor_free(mask_full);
}

/* A big loss runs the threaded loops; a float scalar is too coarse for finite differences over
 * 60000 elements, so loss and gradients are checked against plain double-precision loops. */
TEST(loss_regression_large_matches_naive)
{
    Tensor *mask = tensor_new_shape(1, 200);
    for (int i = 0; i < 200; i++) mask->data[i] = (float)(i % 4 != 0);
    for (int kind = 0; kind < 3; kind++)
        for (int masked = 0; masked < 2; masked++) {
            RegCtx c = {kind, 1.0f, masked ? mask : NULL, 0};
            Tensor *p = gc_input(30 + kind, 2, (int[]){200, 300}), *t = gc_input(40 + kind, 2, (int[]){200, 300});
            Graph *g = graph_new();
            Tensor *y = build_reg(g, (Tensor *[]){p, t}, &c);
            REQUIRE(y && graph_backward(g, y, NULL) == 0);
            double total = 0, weight = 0, worst = 0;
            for (long i = 0; i < p->numel; i++) {
                double w = masked ? mask->data[i / 300] : 1, d = (double)p->data[i] - t->data[i], a = fabs(d);
                total += w * (kind == 0 ? d * d : kind == 1 ? a : a <= 1 ? 0.5 * d * d : a - 0.5);
                weight += w;
            }
            for (long i = 0; i < p->numel; i++) {
                double w = masked ? mask->data[i / 300] : 1, d = (double)p->data[i] - t->data[i];
                double slope = kind == 0 ? 2 * d : kind == 1 ? (d > 0) - (d < 0) : fmax(-1, fmin(1, d));
                worst = fmax(worst, fabs(p->grad[i] - w * slope / weight));
                worst = fmax(worst, fabs(t->grad[i] + w * slope / weight));
            }
            CHECK_NEAR(y->data[0], total / weight, 1e-6 * total / weight);
            CHECK_MSG(worst < 1e-10, "%s: gradient off by %g", reg_names[kind], worst);
            graph_free(g);
            tensor_free(p), tensor_free(t);
        }
    tensor_free(mask);
}

TEST(loss_regression_matches_pytorch)
{
    const char *pt[] = {"pred", "target"};
    RegCtx plain[] = {{0, 0, NULL, 0}, {1, 0, NULL, 0}, {2, 0.7f, NULL, 0}, {2, 1.0f, NULL, 0}};
    const char *keys[] = {"mse", "l1", "huber", "huber1"};
    for (int i = 0; i < 4; i++) ref_check_op("pointwise.safetensors", keys[i], pt, 2, build_reg, &plain[i], 1e-6, 1e-5, 0);
    Tensor *mask = ref_load("pointwise.safetensors", "masked.mask");
    Tensor *mask_full = ref_load("pointwise.safetensors", "masked.mask_full");
    REQUIRE(mask && mask_full);
    char key[48];
    for (int kind = 0; kind < 3; kind++)
        for (int full = 0; full < 2; full++) {
            RegCtx c = {kind, 0.7f, full ? mask_full : mask, 0};
            snprintf(key, sizeof key, "%s_masked%s", reg_names[kind], full ? "_full" : "");
            ref_check_op("pointwise.safetensors", key, pt, 2, build_reg, &c, 1e-6, 1e-5, 0);
        }
    tensor_free(mask), tensor_free(mask_full);
}

TEST(loss_regression_values)
{
    Graph *g = graph_new();
    Tensor *p = tensor_new_shape(2, 2, 2), *t = tensor_new_shape(2, 2, 2), *m = tensor_new_shape(1, 2);
    const float pv[4] = {1, 2, 3, 4}, tv[4] = {1, 0, 3, 1};
    memcpy(p->data, pv, sizeof pv);
    memcpy(t->data, tv, sizeof tv);
    Tensor *mse = op_mse_loss(g, p, t), *l1 = op_l1_loss(g, p, t), *hub = op_huber_loss(g, p, t, 1.0f);
    REQUIRE(mse && l1 && hub);
    CHECK(mse->ndim == 0 && mse->data[0] == (0 + 4 + 0 + 9) / 4.0f);
    CHECK(l1->data[0] == (0 + 2 + 0 + 3) / 4.0f);
    CHECK(hub->data[0] == (1.5f + 2.5f) / 4);
    m->data[0] = 0, m->data[1] = 1;   /* keep the second row only */
    Tensor *mm = op_mse_loss_masked(g, p, t, m);
    REQUIRE(mm);
    CHECK(mm->data[0] == 9 / 2.0f);
    m->data[1] = 0;                   /* nothing kept: 0, and a zero gradient */
    tensor_requires_grad(p);
    mm = op_l1_loss_masked(g, p, t, m);
    REQUIRE(mm && graph_backward(g, mm, NULL) == 0);
    CHECK(mm->data[0] == 0);
    for (int i = 0; i < 4; i++) CHECK(p->grad[i] == 0);
    graph_free(g);
    tensor_free(p), tensor_free(t), tensor_free(m);
}

/* ---- cross-entropy ---- */

typedef struct {
    const int *targets;
    int ignore;
    float amplify;  /* as in RegCtx */
} CeCtx;

static Tensor *build_ce(Graph *g, Tensor **in, void *ctx)
{
    const CeCtx *c = ctx;
    Tensor *y = op_cross_entropy(g, in[0], c->targets, c->ignore);
    return c->amplify ? op_scale(g, y, c->amplify) : y;
}

TEST(cross_entropy_gradcheck)
{
    Tensor *x = gc_input(50, 2, (int[]){6, 5});
    for (long i = 0; i < x->numel; i++) x->data[i] *= 2;
    const int t[6] = {0, 4, 2, -100, 1, 2};
    CeCtx with_ignored = {t, -100, 5}, ignore2 = {(int[]){0, 4, 2, 3, 1, 2}, 2, 4};
    gradcheck("cross_entropy", build_ce, &x, 1, &with_ignored, NULL);
    gradcheck("cross_entropy ignore 2", build_ce, &x, 1, &ignore2, NULL);
    Tensor *big = gc_input(51, 2, (int[]){300, 150});
    int *tb = malloc(300 * sizeof *tb);
    for (int i = 0; i < 300; i++) tb[i] = (i * 37) % 150;
    CeCtx cb = {tb, -1, 300};
    gradcheck("cross_entropy large", build_ce, &big, 1, &cb, &(GradcheckOpts){.eps = 0.05, .max_elems = 24});
    free(tb);
    tensor_free(x), tensor_free(big);
}

static Tensor *targets_from_ref(const char *name, int *out, int n)
{
    Tensor *t = ref_load("pointwise.safetensors", name);
    if (t && t->numel == n)
        for (int i = 0; i < n; i++) out[i] = (int)t->data[i];
    return t;
}

TEST(cross_entropy_matches_pytorch)
{
    const char *logits[] = {"logits"};
    int t[6], t2[6];
    Tensor *a = targets_from_ref("ce.targets", t, 6), *b = targets_from_ref("ce_ignore2.targets", t2, 6);
    REQUIRE(a && b && a->numel == 6 && b->numel == 6);
    CeCtx c = {t, -100, 0}, c2 = {t2, 2, 0};
    ref_check_op("pointwise.safetensors", "ce", logits, 1, build_ce, &c, 1e-6, 1e-5, 0);
    ref_check_op("pointwise.safetensors", "ce_ignore2", logits, 1, build_ce, &c2, 1e-6, 1e-5, 0);
    tensor_free(a), tensor_free(b);
}

TEST(cross_entropy_large_logits_and_all_ignored)
{
    Graph *g = graph_new();
    Tensor *x = tensor_new_shape(2, 2, 3);
    const float v[6] = {1000, 0, -1000, 5000, 5001, 5000};
    memcpy(x->data, v, sizeof v);
    tensor_requires_grad(x);
    Tensor *y = op_cross_entropy(g, x, (int[]){0, 1}, -100);
    REQUIRE(y && y->ndim == 0);
    double want = (0 + (log(2 + exp(1.0)) - 1)) / 2;
    CHECK_NEAR(y->data[0], want, 1e-6);
    graph_reset(g);
    tensor_zero_grad(x);
    y = op_cross_entropy(g, x, (int[]){-1, -1}, -1);
    REQUIRE(y && graph_backward(g, y, NULL) == 0);
    CHECK(y->data[0] == 0);
    for (int i = 0; i < 6; i++) CHECK(x->grad[i] == 0);
    graph_free(g);
    tensor_free(x);
}

/* ---- errors and no_grad ---- */

TEST(loss_rejects_bad_input)
{
    Graph *g = graph_new();
    Tensor *a = tensor_new_shape(2, 2, 3), *b = tensor_new_shape(2, 3, 2), *e = tensor_new_shape(1, 0);
    Tensor *m_bad = tensor_new_shape(1, 3), *v = tensor_new_shape(1, 5);
    CHECK(op_mse_loss(g, a, b) == NULL);
    CHECK(strstr(mvla_error_message(), "mse_loss: prediction [2, 3] and target [3, 2]") != NULL);
    CHECK(op_l1_loss(g, a, NULL) == NULL && op_mse_loss(g, NULL, a) == NULL);
    CHECK(op_l1_loss(g, e, e) == NULL);
    CHECK(strstr(mvla_error_message(), "empty") != NULL);
    CHECK(op_huber_loss(g, a, a, 0.0f) == NULL);
    CHECK(strstr(mvla_error_message(), "huber_loss: delta 0") != NULL);
    CHECK(op_huber_loss(g, a, a, NAN) == NULL);
    CHECK(op_mse_loss_masked(g, a, a, m_bad) == NULL);
    CHECK(strstr(mvla_error_message(), "mask [3] does not fit prediction [2, 3]") != NULL);
    CHECK(op_l1_loss_masked(g, a, a, NULL) == NULL);
    CHECK(op_huber_loss_masked(g, a, a, b, 1.0f) == NULL);
    CHECK(op_cross_entropy(g, v, (int[]){0}, -100) == NULL);
    CHECK(strstr(mvla_error_message(), "cross_entropy: logits [5], expected [N, C]") != NULL);
    CHECK(op_cross_entropy(g, a, (int[]){0, 3}, -100) == NULL);
    CHECK(strstr(mvla_error_message(), "target[1] = 3, expected a class id in 0..2") != NULL);
    CHECK(op_cross_entropy(g, a, (int[]){-1, 0}, -100) == NULL);
    CHECK(op_cross_entropy(g, a, NULL, -100) == NULL);
    CHECK(op_cross_entropy(g, NULL, (int[]){0, 0}, -100) == NULL);
    graph_free(g);
    tensor_free(a), tensor_free(b), tensor_free(e), tensor_free(m_bad), tensor_free(v);
}

TEST(loss_no_grad_records_nothing)
{
    Graph *g = graph_new();
    Tensor *p = gc_input(60, 2, (int[]){2, 3}), *t = gc_input(61, 2, (int[]){2, 3});
    graph_set_grad(g, 0);
    Tensor *ys[] = {op_mse_loss(g, p, t), op_l1_loss(g, p, t), op_huber_loss(g, p, t, 1.0f),
                    op_cross_entropy(g, p, (int[]){0, 2}, -100)};
    for (int i = 0; i < 4; i++) CHECK(ys[i] && !ys[i]->requires_grad);
    CHECK(graph_tape_len(g) == 0);
    graph_set_grad(g, 1);
    Tensor *y = op_cross_entropy(g, p, (int[]){0, 2}, -100);
    CHECK(y && y->requires_grad && graph_tape_len(g) == 1);
    graph_free(g);
    tensor_free(p), tensor_free(t);
}
