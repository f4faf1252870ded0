/* INT8 inference: the GEMM kernels against the portable reference (bit for bit), activation
 * quantisation, and (below) quantised students through model files and the C API. */
#include "test.h"

#include "base/error.h"
#include "base/rng.h"
#include "tensor/int8_gemm.h"

#include <stdlib.h>
#include <string.h>

/* ---- kernels ---- */

/* Random u8 rows [M][lda] (padding included) and s8 weights [N][K] in -127..127. */
static void i8_random(Rng *r, int M, int K, int N, uint8_t *A, int lda, int8_t *w)
{
    for (long i = 0; i < (long)M * lda; i++) A[i] = (uint8_t)(rng_next(r) >> 56);
    for (int m = 0; m < M; m++)
        for (int k = K; k < lda; k++) A[(long)m * lda + k] = (uint8_t)(k & 0xFF); /* padding: any value works */
    for (long i = 0; i < (long)N * K; i++) w[i] = (int8_t)((int)(rng_next(r) % 255) - 127);
}

TEST(int8_gemm_kernels_match_reference)
{
    Rng r;
    rng_seed(&r, 11);
    /* odd shapes: M, N, K not multiples of 4 / 16 / 64; and the big-K and 1-row cases */
    static const int shapes[][3] = {{1, 1, 1},   {3, 5, 7},    {5, 17, 13},  {7, 33, 30},  {4, 64, 64},
                                    {9, 49, 101}, {1, 512, 128}, {13, 70, 3}, {2, 129, 333}, {6, 16, 4}};
    int n_checked = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], lda = i8_padded_k(K) + 3;
        uint8_t *A = malloc((size_t)M * lda);
        int8_t *w = malloc((size_t)N * K);
        float *scale = malloc(sizeof(float) * N), *bias = malloc(sizeof(float) * N);
        float *add = malloc(sizeof(float) * M * (N + 2)), *ref = malloc(sizeof(float) * M * N);
        float *got = malloc(sizeof(float) * M * N);
        REQUIRE(A && w && scale && bias && add && ref && got);
        i8_random(&r, M, K, N, A, lda, w);
        for (int n = 0; n < N; n++) scale[n] = 1e-4f * (float)(1 + n % 7), bias[n] = 0.01f * (float)(n % 5) - 0.02f;
        for (long i = 0; i < (long)M * (N + 2); i++) add[i] = (float)(i % 11) * 0.125f - 0.5f;
        I8Weights W;
        REQUIRE(i8_weights_pack(&W, w, N, K, K) == 0);
        for (int variant = 0; variant < 4; variant++) {
            I8Epilogue e = {.zero = variant * 60 + 3, .scale = scale, .bias = variant & 1 ? bias : NULL,
                            .act = variant % 3, .add = variant >= 2 ? add : NULL, .ldadd = N + 2};
            i8_gemm(I8_REF, M, A, lda, &W, &e, ref, N);
            /* the reference itself against a direct triple loop on the unpacked weights */
            double worst = 0;
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++) {
                    long acc = 0;
                    for (int k = 0; k < K; k++) acc += (long)((int)A[(long)m * lda + k] - e.zero) * w[(long)n * K + k];
                    double y = (double)acc * scale[n] + (e.bias ? bias[n] : 0);
                    if (e.act == I8_ACT_RELU) y = y > 0 ? y : 0;
                    if (e.act == I8_ACT_HARDSWISH) y = y <= -3 ? 0 : y >= 3 ? y : y * (y + 3) / 6;
                    if (e.add) y += add[(long)m * (N + 2) + n];
                    worst = fmax(worst, fabs(y - ref[(long)m * N + n]) / (1 + fabs(y)));
                }
            CHECK_MSG(worst < 1e-5, "reference %dx%dx%d variant %d: off by %g", M, N, K, variant, worst);
            for (int k = I8_REF + 1; k < I8_NKERNELS; k++) {
                if (!i8_kernel_available((I8Kernel)k)) continue;
                memset(got, 0xFF, sizeof(float) * M * N);
                i8_gemm((I8Kernel)k, M, A, lda, &W, &e, got, N);
                CHECK_MSG(memcmp(got, ref, sizeof(float) * M * N) == 0, "%s differs from ref at %dx%dx%d variant %d",
                          i8_kernel_name((I8Kernel)k), M, N, K, variant);
                n_checked++;
            }
        }
        i8_weights_free(&W);
        free(A), free(w), free(scale), free(bias), free(add), free(ref), free(got);
    }
    fprintf(stderr, "(%d SIMD comparisons, best kernel %s) ", n_checked, i8_kernel_name(i8_kernel_best()));
}

TEST(int8_weights_refuse_minus_128_and_bad_shapes)
{
    int8_t w[6] = {1, 2, 3, -128, 5, 6};
    I8Weights W;
    CHECK(i8_weights_pack(&W, w, 2, 3, 3) == MVLA_ERR_ARG);
    CHECK_MSG(strstr(mvla_error_message(), "row 1 column 0 is -128") != NULL, "%s", mvla_error_message());
    CHECK(i8_weights_pack(&W, w, 0, 3, 3) == MVLA_ERR_ARG);
    CHECK(i8_weights_pack(&W, w, 2, 3, 2) == MVLA_ERR_ARG);
    CHECK(W.w == NULL && W.wsum == NULL);
}

TEST(int8_quantize_round_trip)
{
    /* q = round(x / s) + z, clamped; dequantised (q - z) s is within s/2 of x inside the range. */
    const int K = 37, M = 3, lda = 44;
    float x[3 * 37];
    uint8_t q[3 * 44];
    Rng r;
    rng_seed(&r, 5);
    rng_fill_normal(&r, x, M * K, 2.0f);
    x[0] = 1e9f, x[1] = -1e9f, x[2] = NAN; /* clamped, clamped, NaN -> 0 */
    float lo = -3.0f, hi = 5.0f, s = (hi - lo) / 255.0f;
    int z = (int)(-lo / s + 0.5f);
    memset(q, 0xAB, sizeof q);
    i8_quantize_rows(M, K, x, K, 1.0f / s, z, q, lda);
    CHECK(q[0] == 255 && q[1] == 0 && q[2] == 0);
    double worst = 0;
    for (int m = 0; m < M; m++) {
        for (int k = 0; k < K; k++) {
            float v = x[m * K + k];
            if (m == 0 && k < 3) continue;
            float deq = (float)((int)q[m * lda + k] - z) * s;
            float lo_r = (float)(0 - z) * s, hi_r = (float)(255 - z) * s;
            float want = v < lo_r ? lo_r : v > hi_r ? hi_r : v;
            worst = fmax(worst, fabs(deq - want));
        }
        for (int k = K; k < i8_padded_k(K); k++) CHECK(q[m * lda + k] == 0);
        for (int k = i8_padded_k(K); k < lda; k++) CHECK(q[m * lda + k] == 0xAB); /* nothing past the padding */
    }
    CHECK_MSG(worst <= 0.5 * s * 1.0001, "round trip off by %g, half a step is %g", worst, 0.5 * s);
}

/* ---- the engine and int8 model files ---- */

#include "io/safetensors.h"
#include "models/policy_int8.h"
#include "tensor/ops_activation.h"
#include "runtime/model_file.h"
#include "runtime/quantize.h"

#include <jansson.h>
#include <mvla.h>

#define Q_W 32
#define Q_H 24

/* A tiny policy of the given kinds, with non-trivial batch norm statistics and action stats. */
static int q_policy(StudentPolicy *p, const char *fusion, const char *head, const char *action, const char *pool,
                    uint64_t seed)
{
    char json[1400];
    snprintf(json, sizeof json,
             "{\"name\": \"q\", \"feature_dim\": 24, \"dropout\": 0,"
             " \"encoder\": {\"input_width\": %d, \"input_height\": %d, \"width_mult\": 1.0, \"stem_channels\": 8,"
             "   \"pool\": \"%s\", \"blocks\": [{\"kernel\": 3, \"expand\": 8, \"out\": 16, \"stride\": 2, \"se\": true},"
             "   {\"kernel\": 5, \"expand\": 40, \"out\": 16, \"stride\": 1, \"act\": \"hardswish\"},"
             "   {\"kernel\": 7, \"expand\": 24, \"out\": 24, \"stride\": 2, \"se\": true}], \"final_channels\": 20},"
             " \"instruction\": {\"vocab\": 1024, \"dim\": 8, \"hidden\": 16, \"out_dim\": 8, \"max_tokens\": 24},"
             " \"fusion\": {\"kind\": \"%s\"}, \"head\": {\"kind\": \"%s\", \"window\": %d, \"hidden\": 20, \"heads\": 2,"
             " \"ff\": 32}, \"action\": {\"kind\": \"%s\", \"chunk\": 3}}",
             Q_W, Q_H, pool, fusion, head, strcmp(head, "none") ? 4 : 1, action);
    StudentConfig c;
    int rc = student_config_parse(&c, json, "q");
    if (!rc) rc = student_init(p, &c, seed);
    if (rc) return rc;
    Rng r;
    rng_seed(&r, seed + 1);
    /* batch norm statistics as training leaves them, and FiLM away from the identity */
    for (int i = 0; i < p->params.count; i++) {
        Param *pr = &p->params.items[i];
        if (strstr(pr->name, "running_var")) tensor_fill_uniform(pr->tensor, &r, 0.5f, 2.0f);
        else if (strstr(pr->name, "running_mean") || strstr(pr->name, "bn.bias") || strstr(pr->name, "_bn.bias"))
            tensor_fill_uniform(pr->tensor, &r, -0.2f, 0.2f);
        else if (strstr(pr->name, "film.")) tensor_fill_uniform(pr->tensor, &r, -0.3f, 0.3f);
    }
    const float mean[3] = {0.1f, -0.05f, 0.02f}, scale[3] = {1.2f, 0.8f, 1.5f};
    return student_set_action_stats(p, mean, scale);
}

/* A smooth, textured RGB frame (the kind of image calibration expects). */
static void q_frame(uint8_t *px, int t)
{
    for (int y = 0; y < Q_H; y++)
        for (int x = 0; x < Q_W; x++)
            for (int c = 0; c < 3; c++) {
                double v = 128 + 90 * sin(0.3 * x + 0.2 * y * (c + 1) + 0.4 * t) + 30 * cos(0.9 * (x - y) + t);
                px[(y * Q_W + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
}

static const char *const q_kinds[][4] = {
    {"film", "lstm", "continuous", "flatten"},
    {"concat", "lstm", "discrete", "avg"},
    {"concat", "none", "continuous", "flatten"},
    {"film", "transformer", "continuous", "avg"},
};

TEST(int8_engine_fp32_matches_graph)
{
    /* The engine with every site in fp32 computes what the graph computes (other order of sums). */
    for (size_t v = 0; v < sizeof q_kinds / sizeof q_kinds[0]; v++) {
        StudentPolicy a, b;
        REQUIRE(q_policy(&a, q_kinds[v][0], q_kinds[v][1], q_kinds[v][2], q_kinds[v][3], 3 + v) == 0);
        REQUIRE(q_policy(&b, q_kinds[v][0], q_kinds[v][1], q_kinds[v][2], q_kinds[v][3], 3 + v) == 0);
        REQUIRE(student_fold_batchnorm(&a) == 0 && student_fold_batchnorm(&b) == 0);
        REQUIRE(student_int8_attach(&b, NULL, 0) == 0);
        CHECK(student_int8_count(&b) == 0);
        StudentRunner *ra = student_runner_new(&a), *rb = student_runner_new(&b);
        REQUIRE(ra && rb);
        REQUIRE(student_runner_set_instruction(ra, "go left") == 0 && student_runner_set_instruction(rb, "go left") == 0);
        uint8_t px[Q_W * Q_H * 3];
        double worst = 0;
        int K = a.cfg.action.chunk, V = a.out_dim;
        for (int t = 0; t < 6; t++) {
            q_frame(px, t);
            float xa[3], xb[3];
            REQUIRE(student_runner_step_rgb(ra, px, xa, NULL) == 0 && student_runner_step_rgb(rb, px, xb, NULL) == 0);
            worst = fmax(worst, max_abs_diff(student_runner_output(ra), student_runner_output(rb), (long)K * V));
        }
        CHECK_MSG(worst < 2e-5, "%s/%s/%s/%s: engine vs graph differ by %g", q_kinds[v][0], q_kinds[v][1],
                  q_kinds[v][2], q_kinds[v][3], worst);
        /* batched: two windows at once (padding in the first), as student_forward runs them */
        int W = a.cfg.head.window;
        Tensor *frames = tensor_new_shape(5, 2, W, 3, Q_H, Q_W);
        REQUIRE(frames);
        Rng r;
        rng_seed(&r, 77);
        tensor_fill_normal(frames, &r, 1.0f);
        float mask[2 * 64];
        for (int i = 0; i < 2 * W; i++) mask[i] = i != 0 || W == 1;
        Graph *ga = graph_new(), *gb = graph_new();
        REQUIRE(ga && gb);
        graph_set_grad(ga, 0), graph_set_grad(gb, 0);
        const char *texts[2] = {"go left", "stop"};
        Tensor *ya = student_forward(ga, &a, frames, mask, student_encode_texts(ga, &a, texts, 2, 0, NULL), 0, NULL);
        Tensor *yb = student_forward(gb, &b, frames, mask, student_encode_texts(gb, &b, texts, 2, 0, NULL), 0, NULL);
        REQUIRE(ya && yb && ya->numel == yb->numel);
        double wb = max_abs_diff(ya->data, yb->data, ya->numel);
        CHECK_MSG(wb < 2e-5, "%s/%s: batched engine vs graph differ by %g", q_kinds[v][0], q_kinds[v][1], wb);
        graph_free(ga);
        graph_free(gb);
        tensor_free(frames);
        student_runner_free(ra);
        student_runner_free(rb);
        student_free(&a);
        student_free(&b);
    }
}

#include "models/policy_int8_internal.h"
#include "tensor/ops_conv.h"

TEST(int8_engine_convs_match_conv2d)
{
    /* channels-last stem and depthwise convs against op_conv2d, channel counts hitting the 16-, 8- and
     * 1-wide paths, kernels 3 / 5 (unrolled inside the image) and 7, strides 1 and 2, odd sizes */
    Rng r;
    rng_seed(&r, 21);
    Graph *g = graph_new();
    REQUIRE(g);
    graph_set_grad(g, 0);
    static const int cases[][4] = {{29, 3, 1, 11}, {13, 3, 2, 10}, {24, 5, 1, 9}, {5, 5, 2, 7}, {40, 7, 2, 12}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int C = cases[i][0], k = cases[i][1], s = cases[i][2], H = cases[i][3], W = H + 3;
        int Ho = (H + 2 * (k / 2) - k) / s + 1, Wo = (W + 2 * (k / 2) - k) / s + 1;
        graph_reset(g);
        Tensor *x = graph_tensor(g, 4, (int[]){1, C, H, W}), *w = graph_tensor(g, 4, (int[]){C, 1, k, k});
        Tensor *bias = graph_tensor(g, 1, &C);
        REQUIRE(x && w && bias);
        rng_fill_normal(&r, x->data, x->numel, 1.0f);
        rng_fill_normal(&r, w->data, w->numel, 0.3f);
        rng_fill_normal(&r, bias->data, C, 0.5f);
        Tensor *ref = op_hardswish(g, op_conv2d(g, x, w, bias, conv2d_opts(s, k / 2, C)));
        float *xl = graph_alloc(g, sizeof(float) * (size_t)C * H * W);
        float *wl = graph_alloc(g, sizeof(float) * (size_t)C * k * k);
        float *y = graph_alloc(g, sizeof(float) * (size_t)C * Ho * Wo);
        REQUIRE(ref && xl && wl && y);
        for (int c = 0; c < C; c++) {
            for (int p = 0; p < H * W; p++) xl[(long)p * C + c] = x->data[(long)c * H * W + p];
            for (int t = 0; t < k * k; t++) wl[t * C + c] = w->data[c * k * k + t];
        }
        nhwc_depthwise(xl, H, W, C, wl, bias->data, k, s, I8_ACT_HARDSWISH, y, Ho, Wo);
        double worst = 0;
        for (int c = 0; c < C; c++)
            for (int p = 0; p < Ho * Wo; p++)
                worst = fmax(worst, fabs(y[(long)p * C + c] - ref->data[(long)c * Ho * Wo + p]));
        CHECK_MSG(worst < 1e-5, "depthwise C %d k %d s %d: off by %g", C, k, s, worst);
        /* the stem: 3 input channels, C outputs, CHW input */
        Tensor *x3 = graph_tensor(g, 4, (int[]){1, 3, H, W}), *w3 = graph_tensor(g, 4, (int[]){C, 3, k, k});
        REQUIRE(x3 && w3);
        rng_fill_normal(&r, x3->data, x3->numel, 1.0f);
        rng_fill_normal(&r, w3->data, w3->numel, 0.3f);
        Tensor *ref3 = op_relu(g, op_conv2d(g, x3, w3, bias, conv2d_opts(s, k / 2, 1)));
        float *w3l = graph_alloc(g, sizeof(float) * (size_t)C * 3 * k * k);
        REQUIRE(ref3 && w3l);
        for (int c = 0; c < C; c++)
            for (int t = 0; t < 3 * k * k; t++) w3l[t * C + c] = w3->data[c * 3 * k * k + t];
        nhwc_stem_conv(x3->data, H, W, w3l, bias->data, C, k, conv2d_opts(s, k / 2, 1), I8_ACT_RELU, y, Ho, Wo);
        worst = 0;
        for (int c = 0; c < C; c++)
            for (int p = 0; p < Ho * Wo; p++)
                worst = fmax(worst, fabs(y[(long)p * C + c] - ref3->data[(long)c * Ho * Wo + p]));
        CHECK_MSG(worst < 1e-5, "stem C %d k %d s %d: off by %g", C, k, s, worst);
    }
    graph_free(g);
}

/* Checkpoint -> model file -> int8 model file from 16 calibration frames, in the scratch folder. */
static int q_make_files(size_t v, char *fp32, char *int8, size_t n, uint8_t *frames, int T, QuantizeReport *rep)
{
    char ckpt[1024];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt%zu.safetensors", test_tmpdir(), v);
    snprintf(fp32, n, "%s/model%zu.safetensors", test_tmpdir(), v);
    snprintf(int8, n, "%s/model%zu-int8.safetensors", test_tmpdir(), v);
    StudentPolicy p;
    int rc = q_policy(&p, q_kinds[v][0], q_kinds[v][1], q_kinds[v][2], q_kinds[v][3], 40 + v);
    if (rc) return rc;
    rc = student_save(&p, ckpt, NULL, 0);
    student_free(&p);
    if (!rc) rc = model_export(ckpt, fp32);
    for (int t = 0; t < T; t++) q_frame(frames + (size_t)t * Q_W * Q_H * 3, 100 + t);
    CalibSegment seg[2] = {{"go left", frames, NULL, T / 2, Q_W, Q_H},
                           {"go right", frames + (size_t)(T / 2) * Q_W * Q_H * 3, NULL, T - T / 2, Q_W, Q_H}};
    if (!rc) rc = model_quantize(fp32, int8, seg, 2, NULL, rep);
    return rc;
}

/* Every quantised weight of int8 (T, T_scale) is within half a step of fp32's T: |w - q s| <= s / 2. */
static void q_check_weight_round_trip(const char *fp32, const char *int8)
{
    SafeTensors *a, *b;
    if (st_open(&a, fp32) || st_open(&b, int8)) {
        CHECK_MSG(0, "%s", mvla_error_message());
        return;
    }
    int checked = 0;
    for (int i = 0; i < st_count(b); i++) {
        const StTensor *q = st_at(b, i), *f = st_find(a, q->name);
        if (q->dtype != ST_I8 || !f) continue;
        char name[512];
        snprintf(name, sizeof name, "%s_scale", q->name);
        const StTensor *sc = st_find(b, name);
        REQUIRE(sc && sc->shape[0] == q->shape[0] && f->numel == q->numel);
        float *w = malloc(sizeof(float) * (size_t)f->numel), *scale = malloc(sizeof(float) * (size_t)sc->numel);
        REQUIRE(w && scale && st_to_f32(f, w) == 0 && st_to_f32(sc, scale) == 0);
        long cols = (long)(q->numel / q->shape[0]);
        double worst = 0;
        for (long e = 0; e < q->numel; e++) {
            float s = scale[e / cols], deq = (float)((const int8_t *)q->data)[e] * s;
            worst = fmax(worst, fabs(w[e] - deq) / s);
        }
        CHECK_MSG(worst <= 0.5 + 1e-4, "%s: off by %g steps", q->name, worst);
        checked++;
        free(w), free(scale);
    }
    CHECK(checked >= 5);
    st_close(a);
    st_close(b);
}

TEST(int8_model_file_close_to_fp32)
{
    for (size_t v = 0; v < sizeof q_kinds / sizeof q_kinds[0]; v++) {
        char fp32[1024], int8[1024];
        uint8_t frames[16 * Q_W * Q_H * 3];
        QuantizeReport rep;
        REQUIRE(q_make_files(v, fp32, int8, sizeof fp32, frames, 16, &rep) == 0);
        CHECK(rep.frames == 16 && rep.n_sites > 0);
        if (v == 0) q_check_weight_round_trip(fp32, int8);
        CHECK_MSG(rep.bytes_out < rep.bytes_in, "int8 file %ld bytes, fp32 %ld", rep.bytes_out, rep.bytes_in);
        ModelFile mf;
        REQUIRE(model_open(&mf, int8) == 0);
        CHECK_MSG(student_int8_count(&mf.policy) == rep.n_sites, "%d of %d sites run in int8",
                  student_int8_count(&mf.policy), rep.n_sites);
        /* steady state allocates nothing: the graph arena stops growing once the window is full */
        StudentRunner *run = student_runner_new(&mf.policy);
        REQUIRE(run);
        size_t grown = 0;
        for (int t = 0; t < 12; t++) {
            float act[3];
            REQUIRE(student_runner_step_rgb(run, frames + (size_t)(t % 16) * Q_W * Q_H * 3, act, NULL) == 0);
            if (t == 7) grown = student_runner_arena_bytes(run);
        }
        CHECK(student_runner_arena_bytes(run) == grown);
        student_runner_free(run);
        model_file_free(&mf);
        /* through the C API, on frames calibration did not see */
        mvla_model *a = NULL, *b = NULL;
        REQUIRE(mvla_open(&a, fp32, NULL) == MVLA_OK);
        REQUIRE(mvla_open(&b, int8, NULL) == MVLA_OK);
        REQUIRE(mvla_set_instruction(a, "go right") == MVLA_OK && mvla_set_instruction(b, "go right") == MVLA_OK);
        double worst = 0, mean = 0;
        int same_key = 0, steps = 8;
        for (int t = 0; t < steps; t++) {
            uint8_t px[Q_W * Q_H * 3];
            q_frame(px, 7 * t + 1);
            float xa[3], xb[3], ca[9], cb[9];
            REQUIRE(mvla_step(a, px, Q_W, Q_H, MVLA_RGB, xa, ca) == MVLA_OK);
            REQUIRE(mvla_step(b, px, Q_W, Q_H, MVLA_RGB, xb, cb) == MVLA_OK);
            worst = fmax(worst, max_abs_diff(ca, cb, 9));
            for (int j = 0; j < 3; j++) mean += fabs(xa[j] - xb[j]) / (3.0 * steps);
            same_key += max_abs_diff(xa, xb, 3) == 0;
        }
        if (!strcmp(q_kinds[v][2], "discrete")) {
            /* the argmax key: int8 may flip a near tie, rarely */
            CHECK_MSG(same_key >= steps - 2, "%s: %d of %d steps picked the same key", q_kinds[v][1], same_key, steps);
        } else {
            /* stated tolerance: 0.05 raw units (m/s, rad/s) at worst over every chunk entry */
            CHECK_MSG(worst < 0.05, "%s/%s: int8 vs fp32 differ by %g (mean %g)", q_kinds[v][0], q_kinds[v][1], worst,
                      mean);
            CHECK_MSG(worst > 0, "%s/%s: int8 equals fp32 bit for bit: is the int8 engine running?", q_kinds[v][0],
                      q_kinds[v][1]);
        }
        fprintf(stderr, "[%s/%s: max %.4f mean %.4f, %d sites] ", q_kinds[v][0], q_kinds[v][1], worst, mean, rep.n_sites);
        mvla_close(a);
        mvla_close(b);
    }
}

/* Copies src to dst without tensor `drop`, with tensor `swap` (if any) replaced by an F32 [n] of
 * value `fill`, and with the model metadata replaced by meta (NULL: kept). */
static int q_rewrite(const char *src, const char *dst, const char *drop, const char *swap, int n, float fill,
                     const char *meta)
{
    SafeTensors *st;
    int rc = st_open(&st, src);
    if (rc) return rc;
    StWriter *w = st_writer_new();
    float vals[64];
    for (int i = 0; i < 64; i++) vals[i] = fill;
    for (int i = 0; i < st_count(st) && !rc; i++) {
        const StTensor *t = st_at(st, i);
        if (drop && !strcmp(drop, t->name)) continue;
        if (swap && !strcmp(swap, t->name)) rc = st_writer_add(w, t->name, ST_F32, 1, (int64_t[]){n}, vals);
        else rc = st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    if (!rc) rc = st_writer_set_metadata(w, MODEL_META_KEY, meta ? meta : st_metadata(st, MODEL_META_KEY));
    if (!rc) rc = st_writer_save(w, dst);
    st_writer_free(w);
    st_close(st);
    return rc;
}

/* The metadata of path with quantization.<key> set to value (a JSON text; NULL deletes the key). */
static char *q_meta_with(const char *path, const char *key, const char *value)
{
    SafeTensors *st;
    if (st_open(&st, path)) return NULL;
    json_t *root = json_loads(st_metadata(st, MODEL_META_KEY), 0, NULL);
    st_close(st);
    json_t *q = json_object_get(root, "quantization");
    if (value) json_object_set_new(q, key, json_loads(value, JSON_DECODE_ANY, NULL));
    else json_object_del(q, key);
    char *text = json_dumps(root, 0);
    json_decref(root);
    return text;
}

/* Opening path fails with code and a message containing want. */
static void q_expect_refused(const char *path, int code, const char *want)
{
    mvla_model *m = NULL;
    int rc = mvla_open(&m, path, NULL);
    CHECK_MSG(rc == code && m == NULL, "%s: status %d, expected %d (%s)", want, rc, code, mvla_last_error());
    CHECK_MSG(strstr(mvla_last_error(), want) != NULL, "expected \"%s\" in: %s", want, mvla_last_error());
    mvla_close(m);
}

TEST(int8_tampered_files_refused)
{
    char fp32[1024], int8[1024], bad[1024];
    uint8_t frames[4 * Q_W * Q_H * 3];
    REQUIRE(q_make_files(0, fp32, int8, sizeof fp32, frames, 4, NULL) == 0);
    const char *w = "encoder.blocks.1.project.weight"; /* [16, 40, 1, 1] */
    snprintf(bad, sizeof bad, "%s/bad.safetensors", test_tmpdir());
    /* a scale tensor missing, of the wrong shape, of a bad value */
    REQUIRE(q_rewrite(int8, bad, "encoder.blocks.1.project.weight_scale", NULL, 0, 0, NULL) == 0);
    q_expect_refused(bad, MVLA_ERR_FORMAT, "\"encoder.blocks.1.project.weight_scale\" is missing");
    REQUIRE(q_rewrite(int8, bad, NULL, "encoder.blocks.1.project.weight_scale", 15, 0.01f, NULL) == 0);
    q_expect_refused(bad, MVLA_ERR_FORMAT, "\"encoder.blocks.1.project.weight_scale\": F32 with 1 dims (first 15): "
                                           "expected F32 [16]");
    REQUIRE(q_rewrite(int8, bad, NULL, "encoder.blocks.1.project.weight_scale", 16, -1.0f, NULL) == 0);
    q_expect_refused(bad, MVLA_ERR_FORMAT, "\"encoder.blocks.1.project.weight_scale\"[0] = -1");
    REQUIRE(q_rewrite(int8, bad, "neck.weight_input_zero_point", NULL, 0, 0, NULL) == 0);
    q_expect_refused(bad, MVLA_ERR_FORMAT, "\"neck.weight_input_zero_point\" is missing");
    REQUIRE(q_rewrite(int8, bad, "instruction.embed.weight_scale", NULL, 0, 0, NULL) == 0); /* a weight_only one */
    q_expect_refused(bad, MVLA_ERR_FORMAT, "\"instruction.embed.weight_scale\" is missing");
    REQUIRE(q_rewrite(int8, bad, NULL, "neck.weight_input_scale", 1, NAN, NULL) == 0);
    q_expect_refused(bad, MVLA_ERR_FORMAT, "\"neck.weight_input_scale\" = nan");
    /* the weight itself not I8 */
    REQUIRE(q_rewrite(int8, bad, NULL, w, 16, 0.5f, NULL) == 0);
    q_expect_refused(bad, MVLA_ERR_FORMAT, "\"encoder.blocks.1.project.weight\" (listed in quantization.tensors): F32");
    /* bad quantization metadata */
    struct { const char *key, *value; int code; const char *want; } cases[] = {
        {"kind", "\"int4\"", MVLA_ERR_UNSUPPORTED, "quantization.kind \"int4\""},
        {"kind", NULL, MVLA_ERR_FORMAT, "quantization.kind: expected a string"},
        {"weights", "\"per-tensor\"", MVLA_ERR_FORMAT, "quantization.weights: expected \"per-channel symmetric\""},
        {"activations", "3", MVLA_ERR_FORMAT, "quantization.activations"},
        {"tensors", "[]", MVLA_ERR_FORMAT, "quantization.tensors: expected a non-empty array"},
        {"tensors", "[\"neck.weight\", \"neck.weight\"]", MVLA_ERR_FORMAT, "\"neck.weight\" is listed twice"},
        /* an I8 tensor the list leaves out would load as if fp32 */
        {"tensors", "[\"neck.weight\"]", MVLA_ERR_FORMAT, "\"encoder.blocks.0.project.weight\" is I8: expected F32"},
        {"weight_only", NULL, MVLA_ERR_FORMAT, "\"instruction.embed.weight\" is I8: expected F32"},
        {"weight_only", "{}", MVLA_ERR_FORMAT, "quantization.weight_only: expected an array"},
        {"weight_only", "[\"instruction.embed.weight\", \"neck.weight\"]", MVLA_ERR_FORMAT,
         "\"neck.weight\" is listed twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *meta = q_meta_with(int8, cases[i].key, cases[i].value);
        REQUIRE(meta);
        REQUIRE(q_rewrite(int8, bad, NULL, NULL, 0, 0, meta) == 0);
        q_expect_refused(bad, cases[i].code, cases[i].want);
        free(meta);
    }
    /* a listed name that is no parameter; quantization neither "none" nor an object */
    SafeTensors *st;
    REQUIRE(st_open(&st, int8) == 0);
    json_t *root = json_loads(st_metadata(st, MODEL_META_KEY), 0, NULL);
    st_close(st);
    REQUIRE(root);
    json_t *qm = json_object_get(root, "quantization");
    CHECK(json_array_size(json_object_get(qm, "weight_only")) >= 1); /* the instruction embedding, at least */
    json_array_append_new(json_object_get(qm, "tensors"), json_string("no.such.weight"));
    char *meta = json_dumps(root, 0);
    REQUIRE(q_rewrite(int8, bad, NULL, NULL, 0, 0, meta) == 0);
    free(meta);
    q_expect_refused(bad, MVLA_ERR_FORMAT, "quantization.tensors: \"no.such.weight\" is not a parameter");
    json_object_set_new(root, "quantization", json_string("int8"));
    meta = json_dumps(root, 0);
    json_decref(root);
    REQUIRE(q_rewrite(int8, bad, NULL, NULL, 0, 0, meta) == 0);
    free(meta);
    q_expect_refused(bad, MVLA_ERR_UNSUPPORTED, "quantization: expected \"none\" or an int8 object");
    /* the good ones still open; quantising twice is refused */
    mvla_model *m = NULL;
    REQUIRE(mvla_open(&m, int8, NULL) == MVLA_OK);
    mvla_close(m);
    CalibSegment seg = {NULL, frames, NULL, 4, Q_W, Q_H};
    snprintf(bad, sizeof bad, "%s/twice.safetensors", test_tmpdir());
    CHECK(model_quantize(int8, bad, &seg, 1, NULL, NULL) == MVLA_ERR_ARG);
    CHECK_MSG(strstr(mvla_error_message(), "already quantised") != NULL, "%s", mvla_error_message());
    /* calibration frames of another size */
    seg.width = Q_W + 1;
    CHECK(model_quantize(fp32, bad, &seg, 1, NULL, NULL) == MVLA_ERR_ARG);
    CHECK_MSG(strstr(mvla_error_message(), "input size 32x24") != NULL, "%s", mvla_error_message());
}

/* ---- mvla quantize ---- */

#include "data/split.h"
#include "data_testutil.h"

TEST(int8_cli_quantize_and_run)
{
    if (!getenv("MVLA_BIN")) {
        fprintf(stderr, "(skipped: MVLA_BIN not set) ");
        return;
    }
    char out[8192];
    if (dt_run_mvla("quantize --help", out, sizeof out) != 0) {
        fprintf(stderr, "(skipped: `mvla quantize` is not registered) ");
        return;
    }
    static const char *names[] = {
        "episode_20250101_120000_1box_vert_left_core_medium.h5", "episode_20250101_120500_2box_hori_right_variant_far.h5",
        "episode_20250101_121000_1box_hori_left_core_close.h5", "episode_20250101_121500_1box_vert_right_core_far.h5"};
    static const int lengths[] = {6, 5, 7, 4};
    FrameCache *c = dt_make_cache(names, lengths, 4, Q_W, Q_H, "q.cache");
    REQUIRE(c);
    /* a manifest: the first three episodes train, the last one test */
    SplitItem items[4];
    for (int i = 0; i < 4; i++) items[i] = (SplitItem){names[i], cache_episode(c, cache_find(c, names[i]))->hash, "s"};
    SplitOptions so;
    split_options_default(&so);
    so.train = 0.75, so.val = 0, so.test = 0.25;
    SplitManifest *man = NULL;
    char manifest[1024], cache[1024], fp32[1024], int8[1024], cmd[8192];
    snprintf(manifest, sizeof manifest, "%s/split.json", test_tmpdir());
    REQUIRE(split_make(items, 4, &so, &man) == 0 && split_write(man, manifest) == 0);
    split_manifest_free(man);
    cache_close(c);
    snprintf(cache, sizeof cache, "%s/q.cache", test_tmpdir());
    uint8_t frames[4 * Q_W * Q_H * 3];
    REQUIRE(q_make_files(0, fp32, int8, sizeof fp32, frames, 4, NULL) == 0);
    snprintf(int8, sizeof int8, "%s/cli-int8.safetensors", test_tmpdir());
    snprintf(cmd, sizeof cmd, "quantize '%s' --cache '%s' --manifest '%s' --frames 8 --out '%s'", fp32, cache, manifest,
             int8);
    int rc = dt_run_mvla(cmd, out, sizeof out);
    CHECK_MSG(rc == 0, "mvla %s: %d\n%s", cmd, rc, out);
    CHECK_MSG(strstr(out, "calibration: 8 frames from 3 episodes, percentile 99.999"), "%s", out);
    CHECK_MSG(strstr(out, "test split: 1 episodes, 3 frames scored"), "%s", out); /* 4 frames, the first not scored */
    CHECK_MSG(strstr(out, "| head.lstm.weight_hh_l0 |"), "%s", out);
    SafeTensors *st;
    REQUIRE(st_open(&st, int8) == 0);
    json_t *root = json_loads(st_metadata(st, MODEL_META_KEY), 0, NULL);
    json_t *q = json_object_get(root, "quantization"), *cal = json_object_get(q, "calibration");
    CHECK(json_integer_value(json_object_get(q, "calibration_frames")) == 8);
    CHECK(!strcmp(json_string_value(json_object_get(cal, "split")), "train"));
    CHECK(!strcmp(json_string_value(json_object_get(q, "kind")), "int8"));
    CHECK(json_is_object(json_object_get(root, "architecture")) && json_is_object(json_object_get(root, "action")));
    json_decref(root);
    st_close(st);
    /* the int8 file runs under `mvla run` */
    snprintf(cmd, sizeof cmd, "run '%s' --source '%s/eps/%s'", int8, test_tmpdir(), names[0]);
    rc = dt_run_mvla(cmd, out, sizeof out);
    CHECK_MSG(rc == 0 && strstr(out, "\"step\": 5"), "mvla %s: %d\n%s", cmd, rc, out);
    /* bad options fail with usage errors; an episode missing from the cache is named */
    snprintf(cmd, sizeof cmd, "quantize '%s' --cache '%s' --calibration median --out x", fp32, cache);
    CHECK(dt_run_mvla(cmd, out, sizeof out) == 2 && strstr(out, "--calibration: expected percentile or max"));
    snprintf(cmd, sizeof cmd, "quantize '%s' --cache '%s' --manifest '%s' --split val --out x", fp32, cache, manifest);
    CHECK_MSG(dt_run_mvla(cmd, out, sizeof out) == 1 && strstr(out, "the val split is empty"), "%s", out);
}
