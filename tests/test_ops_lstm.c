#include "gradcheck.h"
#include "ref.h"
#include "test.h"
#include "nn/lstm.h"
#include "tensor/ops_lstm.h"

#include "base/error.h"
#include "base/threads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 2, T = 4, I = 3, H = 5 };

/* Which output the gradient check's loss reads. */
enum { OUT_SEQ, OUT_H_N, OUT_C_N };

/* in: x, w_ih, w_hh, b_ih, b_hh, h0, c0 */
static Tensor *build_lstm(Graph *g, Tensor **in, void *ctx)
{
    int which = *(const int *)ctx;
    Tensor *h_n, *c_n;
    Tensor *y = op_lstm_layer(g, in[0], in[1], in[2], in[3], in[4], in[5], in[6], &h_n, &c_n);
    return which == OUT_SEQ ? y : which == OUT_H_N ? h_n : c_n;
}

/* x, weights, biases, h0, c0 (weights scaled down so the gates are not saturated). */
static void make_inputs(Tensor **in)
{
    in[0] = gc_input(1, 3, (int[]){B, T, I});
    in[1] = gc_input(2, 2, (int[]){4 * H, I});
    in[2] = gc_input(3, 2, (int[]){4 * H, H});
    in[3] = gc_input(4, 1, (int[]){4 * H});
    in[4] = gc_input(5, 1, (int[]){4 * H});
    in[5] = gc_input(6, 2, (int[]){B, H});
    in[6] = gc_input(7, 2, (int[]){B, H});
    for (int k = 1; k < 5; k++)
        for (long i = 0; i < in[k]->numel; i++) in[k]->data[i] *= 0.5f;
}

static void free_inputs(Tensor **in)
{
    for (int k = 0; k < 7; k++) tensor_free(in[k]);
}

TEST(lstm_gradcheck_sequence)
{
    Tensor *in[7];
    make_inputs(in);
    int which = OUT_SEQ;
    GradcheckOpts o = {.max_elems = 100};
    gradcheck("lstm sequence", build_lstm, in, 7, &which, &o);
    free_inputs(in);
}

TEST(lstm_gradcheck_final_states)
{
    Tensor *in[7];
    make_inputs(in);
    GradcheckOpts o = {.max_elems = 100};
    int which = OUT_H_N;
    gradcheck("lstm h_n only", build_lstm, in, 7, &which, &o);
    which = OUT_C_N;
    gradcheck("lstm c_n only", build_lstm, in, 7, &which, &o);
    free_inputs(in);
}

TEST(lstm_gradcheck_no_bias_zero_state)
{
    Tensor *in[7];
    make_inputs(in);
    Tensor *partial[7] = {in[0], in[1], in[2], NULL, NULL, NULL, NULL};
    int which = OUT_SEQ;
    gradcheck("lstm no bias, zero state", build_lstm, partial, 7, &which, NULL);
    which = OUT_C_N;
    gradcheck("lstm no bias, zero state, c_n", build_lstm, partial, 7, &which, NULL);
    free_inputs(in);
}

/* Gradients from the sequence, h_n and c_n together add up (h_n and c_n seeded through
 * graph_grad before graph_backward on the sequence): compared with three separate passes. */
TEST(lstm_backward_sums_all_outputs)
{
    Tensor *in[7];
    make_inputs(in);
    float seeds[3][B * T * H];
    Rng r;
    rng_seed(&r, 9);
    for (int s = 0; s < 3; s++) rng_fill_normal(&r, seeds[s], B * T * H, 1.0f);
    float separate[B * T * I] = {0};
    for (int s = 0; s < 3; s++) {
        tensor_zero_grad(in[0]);
        Graph *g = graph_new();
        Tensor *outs[3];
        outs[0] = op_lstm_layer(g, in[0], in[1], in[2], in[3], in[4], in[5], in[6], &outs[1], &outs[2]);
        REQUIRE(outs[0] && outs[1] && outs[2]);
        REQUIRE(graph_backward(g, outs[s], seeds[s]) == 0);
        for (int i = 0; i < B * T * I; i++) separate[i] += in[0]->grad[i];
        graph_free(g);
    }
    tensor_zero_grad(in[0]);
    Graph *g = graph_new();
    Tensor *h_n, *c_n, *y = op_lstm_layer(g, in[0], in[1], in[2], in[3], in[4], in[5], in[6], &h_n, &c_n);
    REQUIRE(y);
    float *gh = graph_grad(g, h_n), *gc = graph_grad(g, c_n);
    REQUIRE(gh && gc);
    for (int i = 0; i < B * H; i++) gh[i] += seeds[1][i], gc[i] += seeds[2][i];
    REQUIRE(graph_backward(g, y, seeds[0]) == 0);
    CHECK(max_abs_diff(in[0]->grad, separate, B * T * I) < 1e-5);
    graph_free(g);
    free_inputs(in);
}

/* Shapes large enough for the threaded per-step loops: forward and backward with the
 * default thread count equal the single-threaded ones. */
TEST(lstm_threaded_matches_single_thread)
{
    enum { NB = 8, NT = 3, NI = 4, NH = 512 };
    Tensor *in[7] = {gc_input(1, 3, (int[]){NB, NT, NI}), gc_input(2, 2, (int[]){4 * NH, NI}),
                     gc_input(3, 2, (int[]){4 * NH, NH}), gc_input(4, 1, (int[]){4 * NH}), NULL,
                     gc_input(6, 2, (int[]){NB, NH}), gc_input(7, 2, (int[]){NB, NH})};
    for (long i = 0; i < in[2]->numel; i++) in[2]->data[i] *= 0.05f;
    float *y[2] = {NULL, NULL}, *gx[2] = {NULL, NULL}, *gw[2] = {NULL, NULL}, *gc0[2] = {NULL, NULL};
    long ny = (long)NB * NT * NH;
    float *seed = malloc(sizeof(float) * ny);
    for (long i = 0; i < ny; i++) seed[i] = (float)((i * 7919) % 13) / 13.0f - 0.5f;
    for (int run = 0; run < 2; run++) {
        mvla_set_threads(run ? 1 : 0);
        for (int k = 0; k < 7; k++)
            if (in[k]) tensor_zero_grad(in[k]);
        Graph *g = graph_new();
        Tensor *out = op_lstm_layer(g, in[0], in[1], in[2], in[3], in[4], in[5], in[6], NULL, NULL);
        if (out && graph_backward(g, out, seed) == 0) {
            y[run] = malloc(sizeof(float) * ny);
            memcpy(y[run], out->data, sizeof(float) * ny);
            gx[run] = malloc(sizeof(float) * in[0]->numel);
            memcpy(gx[run], in[0]->grad, sizeof(float) * in[0]->numel);
            gw[run] = malloc(sizeof(float) * in[2]->numel);
            memcpy(gw[run], in[2]->grad, sizeof(float) * in[2]->numel);
            gc0[run] = malloc(sizeof(float) * in[6]->numel);
            memcpy(gc0[run], in[6]->grad, sizeof(float) * in[6]->numel);
        }
        graph_free(g);
    }
    mvla_set_threads(0);
    CHECK(y[0] && y[1]);
    if (y[0] && y[1]) {
        CHECK(max_abs_diff(y[0], y[1], ny) < 1e-6);
        CHECK(max_abs_diff(gx[0], gx[1], in[0]->numel) < 1e-5);
        CHECK(max_abs_diff(gw[0], gw[1], in[2]->numel) < 1e-5);
        CHECK(max_abs_diff(gc0[0], gc0[1], in[6]->numel) < 1e-6);
    }
    for (int r = 0; r < 2; r++) free(y[r]), free(gx[r]), free(gw[r]), free(gc0[r]);
    free(seed);
    for (int k = 0; k < 7; k++) tensor_free(in[k]);
}

/* ---- parity with torch.nn.LSTM (2 layers, batch_first) through nn/lstm ---- */

static const char *REF = "lstm.safetensors";

/* Layer l of a reference [L, B, H] tensor as a new [B, H] tensor that requires grad. */
static Tensor *layer_of(const Tensor *t, int l)
{
    Tensor *s = tensor_new_shape(2, t->shape[1], t->shape[2]);
    memcpy(s->data, t->data + (long)l * s->numel, (size_t)s->numel * sizeof(float));
    tensor_requires_grad(s);
    return s;
}

TEST(lstm_matches_pytorch)
{
    enum { L = 2 };
    Tensor *x = ref_load(REF, "x"), *h0r = ref_load(REF, "h0"), *c0r = ref_load(REF, "c0");
    Tensor *gy = ref_load(REF, "gy"), *ghn = ref_load(REF, "ghn"), *gcn = ref_load(REF, "gcn");
    REQUIRE(x && h0r && c0r && gy && ghn && gcn);
    ParamList p;
    params_init(&p);
    LSTM m;
    Rng rng;
    rng_seed(&rng, 1);
    REQUIRE(lstm_init(&m, &p, "lstm", I, H, L, &rng) == 0);
    CHECK(p.count == 4 * L);
    for (int i = 0; i < p.count; i++) {
        Tensor *want = ref_load(REF, p.items[i].name);
        REQUIRE(want && want->numel == p.items[i].tensor->numel);
        tensor_copy_data(p.items[i].tensor, want);
        tensor_free(want);
    }
    tensor_requires_grad(x);
    Tensor *h0[L], *c0[L], *hn[L], *cn[L];
    for (int l = 0; l < L; l++) h0[l] = layer_of(h0r, l), c0[l] = layer_of(c0r, l);

    Graph *g = graph_new();
    Tensor *y = lstm_forward(g, &m, x, h0, c0, hn, cn);
    REQUIRE(y);
    const double atol = 2e-5, rtol = 1e-4;
    ref_check(REF, "y", y->data, y->numel, atol, rtol);
    float stacked[2][L * B * H];
    for (int l = 0; l < L; l++) {
        memcpy(stacked[0] + l * B * H, hn[l]->data, sizeof(float) * B * H);
        memcpy(stacked[1] + l * B * H, cn[l]->data, sizeof(float) * B * H);
        float *gh = graph_grad(g, hn[l]), *gc = graph_grad(g, cn[l]);
        for (int i = 0; i < B * H; i++) gh[i] += ghn->data[l * B * H + i], gc[i] += gcn->data[l * B * H + i];
    }
    ref_check(REF, "hn", stacked[0], L * B * H, atol, rtol);
    ref_check(REF, "cn", stacked[1], L * B * H, atol, rtol);
    REQUIRE(graph_backward(g, y, gy->data) == 0);
    ref_check(REF, "gx", x->grad, x->numel, atol, rtol);
    for (int l = 0; l < L; l++) {
        memcpy(stacked[0] + l * B * H, h0[l]->grad, sizeof(float) * B * H);
        memcpy(stacked[1] + l * B * H, c0[l]->grad, sizeof(float) * B * H);
    }
    ref_check(REF, "gh0", stacked[0], L * B * H, atol, rtol);
    ref_check(REF, "gc0", stacked[1], L * B * H, atol, rtol);
    for (int i = 0; i < p.count; i++) {
        char name[96];
        snprintf(name, sizeof name, "grad.%s", p.items[i].name + strlen("lstm."));
        ref_check(REF, name, p.items[i].tensor->grad, p.items[i].tensor->numel, atol, rtol);
    }
    graph_free(g);
    params_free(&p, 1);
    for (int l = 0; l < L; l++) tensor_free(h0[l]), tensor_free(c0[l]);
    tensor_free(x), tensor_free(h0r), tensor_free(c0r), tensor_free(gy), tensor_free(ghn), tensor_free(gcn);
}

TEST(lstm_init_names_and_bounds)
{
    ParamList p;
    params_init(&p);
    LSTM m;
    Rng rng;
    rng_seed(&rng, 3);
    REQUIRE(lstm_init(&m, &p, "head.rnn", 6, 4, 3, &rng) == 0);
    const char *names[] = {"head.rnn.weight_ih_l0", "head.rnn.weight_hh_l0", "head.rnn.bias_ih_l0",
                           "head.rnn.bias_hh_l0", "head.rnn.weight_ih_l2", "head.rnn.bias_hh_l2"};
    for (int i = 0; i < 6; i++) {
        Param *q = params_find(&p, names[i]);
        CHECK_MSG(q != NULL, "missing %s", names[i]);
        if (q) CHECK_MSG(q->decay == (strstr(names[i], "weight") != NULL), "%s: decay %d", names[i], q->decay);
    }
    CHECK(m.w_ih[0]->shape[0] == 16 && m.w_ih[0]->shape[1] == 6);
    CHECK(m.w_ih[1]->shape[1] == 4 && m.w_hh[2]->shape[1] == 4 && m.b_ih[1]->shape[0] == 16);
    CHECK(params_numel(&p) == (16 * 6 + 16 * 4 + 32) + 2 * (16 * 4 + 16 * 4 + 32));
    float lo = 1, hi = -1;
    for (int i = 0; i < p.count; i++)
        for (long e = 0; e < p.items[i].tensor->numel; e++) {
            float v = p.items[i].tensor->data[e];
            lo = v < lo ? v : lo, hi = v > hi ? v : hi;
        }
    CHECK(lo >= -0.5f && hi <= 0.5f && hi - lo > 0.8f); /* U(-1/sqrt(4), 1/sqrt(4)) */
    params_free(&p, 1);
    params_init(&p);
    CHECK(lstm_init(&m, &p, "x", 3, 4, LSTM_MAX_LAYERS + 1, &rng) != 0);
    CHECK(strstr(mvla_error_message(), "layers") != NULL);
    params_free(&p, 1);
}

TEST(lstm_no_grad_matches_grad_mode)
{
    Tensor *in[7];
    make_inputs(in);
    Graph *g = graph_new();
    Tensor *h1, *c1, *y1 = op_lstm_layer(g, in[0], in[1], in[2], in[3], in[4], in[5], in[6], &h1, &c1);
    REQUIRE(y1 && y1->requires_grad && h1->requires_grad && c1->requires_grad);
    int tape = graph_tape_len(g);
    graph_set_grad(g, 0);
    Tensor *h2, *c2, *y2 = op_lstm_layer(g, in[0], in[1], in[2], in[3], in[4], in[5], in[6], &h2, &c2);
    REQUIRE(y2 && !y2->requires_grad && graph_tape_len(g) == tape);
    CHECK(max_abs_diff(y1->data, y2->data, y1->numel) == 0);
    CHECK(max_abs_diff(h1->data, h2->data, h1->numel) == 0);
    CHECK(max_abs_diff(c1->data, c2->data, c1->numel) == 0);
    /* h_n is the last step of the sequence */
    for (int b = 0; b < B; b++) CHECK(max_abs_diff(h2->data + b * H, y2->data + (b * T + T - 1) * H, H) == 0);
    graph_free(g);
    free_inputs(in);
}

TEST(lstm_rejects_bad_shapes)
{
    Tensor *in[7];
    make_inputs(in);
    Graph *g = graph_new();
    Tensor *w_ih_bad = tensor_new_shape(2, 4 * H, I + 1), *w_hh_bad = tensor_new_shape(2, 4 * H, H + 1);
    Tensor *b_bad = tensor_new_shape(1, 3 * H), *h_bad = tensor_new_shape(2, B + 1, H), *x2 = tensor_new_shape(2, T, I);
    Tensor *h_n = in[0];
    CHECK(op_lstm_layer(g, in[0], w_ih_bad, in[2], in[3], in[4], in[5], in[6], &h_n, NULL) == NULL);
    CHECK(h_n == NULL);
    CHECK(strstr(mvla_error_message(), "lstm: x [2, 4, 3], w_ih [20, 4]") != NULL);
    CHECK(strstr(mvla_error_message(), "expected") != NULL);
    CHECK(op_lstm_layer(g, in[0], in[1], w_hh_bad, in[3], in[4], in[5], in[6], NULL, NULL) == NULL);
    CHECK(op_lstm_layer(g, in[0], in[1], in[2], b_bad, in[4], in[5], in[6], NULL, NULL) == NULL);
    CHECK(op_lstm_layer(g, in[0], in[1], in[2], in[3], b_bad, in[5], in[6], NULL, NULL) == NULL);
    CHECK(op_lstm_layer(g, in[0], in[1], in[2], in[3], in[4], h_bad, in[6], NULL, NULL) == NULL);
    CHECK(op_lstm_layer(g, in[0], in[1], in[2], in[3], in[4], in[5], h_bad, NULL, NULL) == NULL);
    CHECK(op_lstm_layer(g, x2, in[1], in[2], NULL, NULL, NULL, NULL, NULL, NULL) == NULL);
    CHECK(op_lstm_layer(g, NULL, in[1], in[2], NULL, NULL, NULL, NULL, NULL, NULL) == NULL);
    graph_free(g);
    tensor_free(w_ih_bad), tensor_free(w_hh_bad), tensor_free(b_bad), tensor_free(h_bad), tensor_free(x2);
    free_inputs(in);
}
