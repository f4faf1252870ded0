/* The MobileNet encoder: every stage's output shape, gradients by finite differences, parity with a
 * PyTorch re-implementation (tests/ref/gen_mobilenet.py: eval output, training output, gradients and
 * updated running statistics), and batch norm folding. */
#include "gradcheck.h"
#include "ref.h"
#include "test.h"

#include "base/error.h"
#include "base/threads.h"
#include "io/safetensors.h"
#include "models/mobilenet.h"

#include <stdlib.h>
#include <string.h>

/* A small encoder: expand/no-expand, SE, both activations, strides 1 and 2, kernels 3 and 5. */
static void tiny_encoder_config(EncoderConfig *e, int w, int h)
{
    StudentConfig c;
    student_config_default(&c);
    *e = c.encoder;
    e->input_width = w, e->input_height = h;
    e->width_mult = 0.5;
    e->stem_channels = 16;
    const BlockConfig blocks[] = {
        {3, 16, 16, 1, 1, BLOCK_ACT_RELU}, {3, 48, 24, 2, 0, BLOCK_ACT_RELU},
        {5, 64, 24, 1, 1, BLOCK_ACT_HARDSWISH}, {5, 64, 32, 2, 1, BLOCK_ACT_HARDSWISH},
    };
    e->n_blocks = 4;
    memcpy(e->blocks, blocks, sizeof blocks);
    e->final_channels = 16;
}

TEST(mobilenet_every_stage_has_the_expected_shape)
{
    const int sizes[][2] = {{32, 32}, {128, 72}, {17, 23}};
    for (int s = 0; s < 3; s++) {
        EncoderConfig e;
        tiny_encoder_config(&e, sizes[s][0], sizes[s][1]);
        ParamList p;
        params_init(&p);
        MobileNet m;
        Rng rng;
        rng_seed(&rng, 1);
        REQUIRE(mobilenet_init(&m, &p, "encoder", &e, &rng) == 0);
        Tensor *x = tensor_new_shape(4, 2, 3, e.input_height, e.input_width);
        tensor_fill_normal(x, &rng, 1);
        Graph *g = graph_new();
        int h = (e.input_height - 1) / 2 + 1, w = (e.input_width - 1) / 2 + 1;
        Tensor *y = mobilenet_stem(g, &m, x, 0);
        REQUIRE(y);
        CHECK(y->shape[0] == 2 && y->shape[1] == student_scaled_channels(16, 0.5) && y->shape[2] == h &&
              y->shape[3] == w);
        for (int i = 0; i < m.n_blocks; i++) {
            y = mobilenet_block(g, &m, i, y, 0);
            REQUIRE(y);
            h = (h - 1) / e.blocks[i].stride + 1, w = (w - 1) / e.blocks[i].stride + 1;
            CHECK_MSG(y->ndim == 4 && y->shape[0] == 2 && y->shape[1] == student_scaled_channels(e.blocks[i].out, 0.5) &&
                          y->shape[2] == h && y->shape[3] == w && m.block_h[i] == h && m.block_w[i] == w,
                      "size %dx%d block %d: shape [%d, %d, %d, %d], expected [2, %d, %d, %d]", sizes[s][0],
                      sizes[s][1], i, y->shape[0], y->shape[1], y->shape[2], y->shape[3],
                      student_scaled_channels(e.blocks[i].out, 0.5), h, w);
        }
        y = mobilenet_final(g, &m, y, 0);
        REQUIRE(y);
        CHECK(y->shape[1] == 16 && y->shape[2] == h && y->shape[3] == w);
        CHECK(m.out_channels == 16 && m.out_h == h && m.out_w == w);
        /* Channel rounding and structure: block 0 has no expand conv and is residual, block 1 neither. */
        CHECK(!m.blocks[0].has_expand && m.blocks[0].residual && !m.blocks[1].residual && m.blocks[2].residual);
        CHECK(mobilenet_macs(&m) > 0);
        /* A wrong input size is an error naming the expected shape. */
        Tensor *bad = tensor_new_shape(4, 1, 3, e.input_height + 1, e.input_width);
        CHECK(mobilenet_forward(g, &m, bad, 0) == NULL);
        CHECK(strstr(mvla_error_message(), "expected [N, 3,") != NULL);
        tensor_free(bad);
        graph_free(g);
        tensor_free(x);
        mobilenet_free(&m);
        params_free(&p, 1);
    }
    CHECK(student_scaled_channels(16, 0.75) == 16 && student_scaled_channels(24, 0.75) == 24 &&
          student_scaled_channels(72, 0.75) == 56 && student_scaled_channels(3, 1.0) == 8);
}

typedef struct {
    MobileNet *m;
    int training;
} EncCtx;

static Tensor *build_encoder(Graph *g, Tensor **in, void *ctx)
{
    EncCtx *c = ctx;
    return mobilenet_forward(g, c->m, in[0], c->training);
}

TEST(mobilenet_gradcheck_train_and_eval)
{
    EncoderConfig e;
    tiny_encoder_config(&e, 32, 24);
    ParamList p;
    params_init(&p);
    MobileNet m;
    Rng rng;
    rng_seed(&rng, 2);
    REQUIRE(mobilenet_init(&m, &p, "encoder", &e, &rng) == 0);
    /* Non-trivial statistics and affine maps. */
    for (int i = 0; i < p.count; i++) {
        const char *n = p.items[i].name;
        Tensor *t = p.items[i].tensor;
        if (strstr(n, "running_var")) tensor_fill_uniform(t, &rng, 0.5f, 1.5f);
        else if (strstr(n, "running_mean") || (strstr(n, "bn.bias"))) tensor_fill_normal(t, &rng, 0.1f);
        else if (strstr(n, "bn.weight")) tensor_fill_uniform(t, &rng, 0.8f, 1.2f);
    }
    Tensor *x = gc_input(3, 4, (int[]){2, 3, 24, 32});
    /* Eval mode: the input and weights of every kind (stem conv, depthwise conv, SE linear, BN scale,
     * final conv). Training mode: a weight early in the net moves every batch statistic and crosses
     * many relu/hardswish kinks within any finite-difference step, so there the input and the later
     * weights are checked (tests/ref parity covers every gradient exactly). */
    const char *names[2][5] = {
        {"encoder.stem.conv.weight", "encoder.blocks.2.dw.weight", "encoder.blocks.3.se.reduce.weight",
         "encoder.blocks.1.project_bn.weight", "encoder.final.conv.weight"},
        {"encoder.blocks.3.dw.weight", "encoder.blocks.3.se.expand.weight", "encoder.blocks.3.project.weight",
         "encoder.blocks.3.project_bn.weight", "encoder.final.conv.weight"},
    };
    GradcheckOpts o = {.eps = 1e-3, .tol = 2e-2, .max_elems = 12};
    int threads = mvla_get_threads(); /* tiny tensors: threads only add waiting */
    mvla_set_threads(1);
    for (int training = 0; training <= 1; training++) {
        Tensor *in[6] = {x};
        for (int i = 0; i < 5; i++) {
            Param *pp = params_find(&p, names[training][i]);
            REQUIRE(pp);
            in[i + 1] = pp->tensor;
        }
        EncCtx c = {&m, training};
        gradcheck(training ? "mobilenet train" : "mobilenet eval", build_encoder, in, 6, &c, &o);
    }
    mvla_set_threads(threads);
    tensor_free(x);
    mobilenet_free(&m);
    params_free(&p, 1);
}

/* Builds the reference's encoder and loads its weights. */
static int load_reference_encoder(MobileNet *m, ParamList *p)
{
    const char *dir = getenv("MVLA_REF_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/mobilenet.safetensors", dir ? dir : "tests/ref");
    SafeTensors *st;
    if (st_open(&st, path)) return -1;
    StudentConfig c;
    const char *meta = st_metadata(st, "config");
    int rc = meta ? student_config_parse(&c, meta, path) : -1;
    Rng rng;
    rng_seed(&rng, 9);
    params_init(p);
    if (!rc) rc = mobilenet_init(m, p, "encoder", &c.encoder, &rng);
    for (int i = 0; !rc && i < p->count; i++) rc = st_load(st, p->items[i].name, p->items[i].tensor);
    st_close(st);
    return rc;
}

TEST(mobilenet_matches_pytorch)
{
    const char *f = "mobilenet.safetensors";
    MobileNet m;
    ParamList p;
    REQUIRE(load_reference_encoder(&m, &p) == 0);
    Tensor *x = ref_load(f, "x"), *gy = ref_load(f, "gy");
    REQUIRE(x && gy);
    tensor_requires_grad(x);
    Graph *g = graph_new();
    /* Eval mode: running statistics. */
    Tensor *y = mobilenet_forward(g, &m, x, 0);
    REQUIRE(y);
    ref_check(f, "y_eval", y->data, y->numel, 1e-5, 1e-4);
    /* Training mode: batch statistics, gradients, running statistics updated once. */
    graph_reset(g);
    y = mobilenet_forward(g, &m, x, 1);
    REQUIRE(y);
    ref_check(f, "y_train", y->data, y->numel, 1e-5, 1e-4);
    REQUIRE(graph_backward(g, y, gy->data) == 0);
    ref_check(f, "grad.x", x->grad, x->numel, 1e-5, 1e-3);
    int checked = 0;
    for (int i = 0; i < p.count; i++) {
        char name[300];
        Tensor *t = p.items[i].tensor;
        if (p.items[i].trainable) {
            snprintf(name, sizeof name, "grad.%s", p.items[i].name);
            checked += ref_check(f, name, t->grad, t->numel, 1e-4, 1e-3);
        } else {
            snprintf(name, sizeof name, "after.%s", p.items[i].name);
            checked += ref_check(f, name, t->data, t->numel, 1e-6, 1e-5);
        }
    }
    CHECK_MSG(checked == p.count, "%d of %d parameters matched", checked, p.count);
    graph_free(g);
    tensor_free(x), tensor_free(gy);
    mobilenet_free(&m);
    params_free(&p, 1);
}

TEST(mobilenet_fold_batchnorm_keeps_eval_outputs)
{
    MobileNet m;
    ParamList p;
    REQUIRE(load_reference_encoder(&m, &p) == 0);
    Tensor *x = ref_load("mobilenet.safetensors", "x");
    REQUIRE(x);
    Graph *g = graph_new();
    graph_set_grad(g, 0);
    Tensor *y = mobilenet_forward(g, &m, x, 0);
    REQUIRE(y);
    float *before = malloc((size_t)y->numel * sizeof *before);
    long n = y->numel;
    memcpy(before, y->data, (size_t)n * sizeof *before);
    REQUIRE(mobilenet_fold_batchnorm(&m) == 0);
    graph_reset(g);
    y = mobilenet_forward(g, &m, x, 0);
    REQUIRE(y);
    CHECK_MSG(max_abs_diff(y->data, before, n) < 1e-5, "folded outputs differ by %g", max_abs_diff(y->data, before, n));
    /* Folding again is a no-op; training a folded encoder is refused. */
    REQUIRE(mobilenet_fold_batchnorm(&m) == 0);
    graph_reset(g);
    CHECK(mobilenet_forward(g, &m, x, 1) == NULL);
    CHECK(strstr(mvla_error_message(), "folded") != NULL);
    free(before);
    graph_free(g);
    tensor_free(x);
    mobilenet_free(&m);
    params_free(&p, 1);
}
