#include "gradcheck.h"
#include "ref.h"
#include "test.h"
#include "tensor/ops_attention.h"
#include "tensor/ops_linear.h"

#include "base/error.h"
#include "base/threads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int heads, causal;
    const unsigned char *pad;
    float scale;
    int self; /* 1: in[0] is used as q, k and v */
} AttnCase;

static Tensor *build_attention(Graph *g, Tensor **in, void *ctx)
{
    const AttnCase *c = ctx;
    if (c->self) return op_attention(g, in[0], in[0], in[0], c->heads, c->causal, c->pad, c->scale);
    return op_attention(g, in[0], in[1], in[2], c->heads, c->causal, c->pad, c->scale);
}

static void gradcheck_case(const char *label, int B, int Tq, int Tk, int D, int Dv, const AttnCase *c)
{
    Tensor *q = gc_input(11, 3, (int[]){B, Tq, D}), *k = gc_input(12, 3, (int[]){B, Tk, D});
    Tensor *v = gc_input(13, 3, (int[]){B, Tk, Dv});
    gradcheck(label, build_attention, (Tensor *[]){q, k, v}, 3, (void *)c, NULL);
    tensor_free(q), tensor_free(k), tensor_free(v);
}

TEST(attention_gradcheck)
{
    unsigned char pad[2 * 5] = {0, 0, 0, 1, 1, /* batch 1: */ 1, 0, 0, 0, 0};
    gradcheck_case("attention self", 2, 4, 4, 8, 8, &(AttnCase){2, 0, NULL, 0, 0});
    gradcheck_case("attention causal", 2, 4, 4, 8, 8, &(AttnCase){2, 1, NULL, 0, 0});
    gradcheck_case("attention cross 4 heads", 2, 3, 5, 8, 12, &(AttnCase){4, 0, NULL, 0.3f, 0});
    gradcheck_case("attention cross causal", 2, 3, 5, 4, 6, &(AttnCase){2, 1, NULL, 0, 0});
    gradcheck_case("attention padding", 2, 4, 5, 6, 4, &(AttnCase){2, 0, pad, 0, 0});
    gradcheck_case("attention padding causal", 2, 5, 5, 6, 4, &(AttnCase){2, 1, pad, 0, 0});
    /* Tq > Tk with the causal mask: the first two queries see no key (zero rows). */
    gradcheck_case("attention causal Tq > Tk", 2, 5, 3, 4, 4, &(AttnCase){1, 1, NULL, 0, 0});
}

TEST(attention_gradcheck_shared_input)
{
    /* q = k = v = x: the three gradients add up in one buffer. */
    Tensor *x = gc_input(21, 3, (int[]){2, 4, 6});
    gradcheck("attention q=k=v", build_attention, (Tensor *[]){x}, 1, &(AttnCase){3, 1, NULL, 0, 1}, NULL);
    tensor_free(x);
}

/* ---- parity with PyTorch ---- */

static const char *REF = "attention.safetensors";

static Tensor *load_part(const char *key, const char *part)
{
    char name[96];
    snprintf(name, sizeof name, "%s.%s", key, part);
    return ref_load(REF, name);
}

static void check_part(const char *key, const char *part, const float *data, long n)
{
    char name[96];
    snprintf(name, sizeof name, "%s.%s", key, part);
    ref_check(REF, name, data, n, 2e-5, 1e-4);
}

/* The reference float mask (1 = padded) as bytes; caller frees. */
static unsigned char *mask_bytes(const Tensor *m)
{
    unsigned char *b = malloc((size_t)m->numel);
    for (long i = 0; i < m->numel; i++) b[i] = m->data[i] != 0;
    return b;
}

static void check_attention_ref(const char *key, int heads, int causal, int has_pad, float scale)
{
    Tensor *q = load_part(key, "q"), *k = load_part(key, "k"), *v = load_part(key, "v");
    Tensor *gout = load_part(key, "gout"), *padf = has_pad ? load_part(key, "pad") : NULL;
    REQUIRE(q && k && v && gout && (padf || !has_pad));
    unsigned char *pad = padf ? mask_bytes(padf) : NULL;
    tensor_requires_grad(q), tensor_requires_grad(k), tensor_requires_grad(v);
    Graph *g = graph_new();
    Tensor *out = op_attention(g, q, k, v, heads, causal, pad, scale);
    CHECK_MSG(out != NULL, "%s: %s", key, mvla_error_message());
    if (out) {
        check_part(key, "out", out->data, out->numel);
        CHECK(graph_backward(g, out, gout->data) == 0);
        check_part(key, "gq", q->grad, q->numel);
        check_part(key, "gk", k->grad, k->numel);
        check_part(key, "gv", v->grad, v->numel);
    }
    graph_free(g);
    free(pad);
    tensor_free(q), tensor_free(k), tensor_free(v), tensor_free(gout), tensor_free(padf);
}

TEST(attention_matches_pytorch)
{
    check_attention_ref("self_causal_2h", 2, 1, 0, 0);
    check_attention_ref("cross_4h", 4, 0, 0, 0.3f);
    check_attention_ref("pad_2h", 2, 0, 1, 0);
    check_attention_ref("pad_causal_4h", 4, 1, 1, 0);
    check_attention_ref("cross_causal_2h", 2, 1, 0, 0);
    check_attention_ref("causal_tq_gt_tk_1h", 1, 1, 0, 0);
}

/* Rows [r0, r0 + rows) of m [*, cols] as a new tensor that requires grad. */
static Tensor *rows_of(const Tensor *m, int r0, int rows)
{
    int cols = m->ndim == 2 ? m->shape[1] : 1;
    Tensor *t = m->ndim == 2 ? tensor_new_shape(2, rows, cols) : tensor_new_shape(1, rows);
    memcpy(t->data, m->data + (long)r0 * cols, (size_t)rows * cols * sizeof(float));
    tensor_requires_grad(t);
    return t;
}

/* torch.nn.MultiheadAttention = op_linear projections (in_proj_weight split into q, k, v rows)
 * + op_attention + op_linear out_proj. */
TEST(attention_mha_matches_pytorch)
{
    const int E = 8, heads = 2;
    Tensor *x = load_part("mha", "x"), *in_w = load_part("mha", "in_w"), *in_b = load_part("mha", "in_b");
    Tensor *out_w = load_part("mha", "out_w"), *out_b = load_part("mha", "out_b"), *gy = load_part("mha", "gy");
    Tensor *padf = load_part("mha", "pad");
    REQUIRE(x && in_w && in_b && out_w && out_b && gy && padf);
    unsigned char *pad = mask_bytes(padf);
    Tensor *w[3], *b[3];
    for (int i = 0; i < 3; i++) w[i] = rows_of(in_w, i * E, E), b[i] = rows_of(in_b, i * E, E);
    tensor_requires_grad(x), tensor_requires_grad(out_w), tensor_requires_grad(out_b);
    Graph *g = graph_new();
    Tensor *q = op_linear(g, x, w[0], b[0]), *k = op_linear(g, x, w[1], b[1]), *v = op_linear(g, x, w[2], b[2]);
    Tensor *y = op_linear(g, op_attention(g, q, k, v, heads, 1, pad, 0), out_w, out_b);
    CHECK_MSG(y != NULL, "mha: %s", mvla_error_message());
    if (y) {
        check_part("mha", "y", y->data, y->numel);
        CHECK(graph_backward(g, y, gy->data) == 0);
        check_part("mha", "gx", x->grad, x->numel);
        check_part("mha", "g_out_w", out_w->grad, out_w->numel);
        check_part("mha", "g_out_b", out_b->grad, out_b->numel);
        float gw[3 * 8 * 8], gb[3 * 8];
        for (int i = 0; i < 3; i++) {
            memcpy(gw + i * E * E, w[i]->grad, (size_t)E * E * sizeof(float));
            memcpy(gb + i * E, b[i]->grad, (size_t)E * sizeof(float));
        }
        check_part("mha", "g_in_w", gw, 3 * E * E);
        check_part("mha", "g_in_b", gb, 3 * E);
    }
    graph_free(g);
    free(pad);
    for (int i = 0; i < 3; i++) tensor_free(w[i]), tensor_free(b[i]);
    tensor_free(x), tensor_free(in_w), tensor_free(in_b), tensor_free(out_w), tensor_free(out_b);
    tensor_free(gy), tensor_free(padf);
}

/* Shapes large enough for the threaded loops: the output with saved probabilities (grad
 * mode), with per-thread scratch (no_grad) and a plain double-precision loop agree. */
TEST(attention_threaded_matches_naive)
{
    enum { NB = 2, TQ = 24, TK = 32, NH = 4, HD = 16, HDV = 8 };
    const int D = NH * HD, Dv = NH * HDV;
    Tensor *q = gc_input(51, 3, (int[]){NB, TQ, D}), *k = gc_input(52, 3, (int[]){NB, TK, D});
    Tensor *v = gc_input(53, 3, (int[]){NB, TK, Dv});
    unsigned char pad[NB * TK] = {0};
    pad[5] = pad[TK + 30] = pad[TK + 31] = 1;
    Graph *g = graph_new();
    Tensor *a = op_attention(g, q, k, v, NH, 1, pad, 0);
    graph_set_grad(g, 0);
    Tensor *b = op_attention(g, q, k, v, NH, 1, pad, 0);
    REQUIRE(a && b);
    CHECK(max_abs_diff(a->data, b->data, a->numel) == 0);
    double worst = 0, s[TK];
    for (int n = 0; n < NB; n++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < TQ; i++) {
                double mx = -1e300, sum = 0;
                for (int j = 0; j < TK; j++) {
                    s[j] = -1e300;
                    if (pad[n * TK + j] || j > i + (TK - TQ)) continue;
                    double dot = 0;
                    for (int e = 0; e < HD; e++)
                        dot += (double)q->data[(n * TQ + i) * D + h * HD + e] * k->data[(n * TK + j) * D + h * HD + e];
                    s[j] = dot / 4.0; /* 1/sqrt(16) */
                    mx = s[j] > mx ? s[j] : mx;
                }
                for (int j = 0; j < TK; j++) sum += s[j] > -1e299 ? exp(s[j] - mx) : 0;
                for (int e = 0; e < HDV; e++) {
                    double o = 0;
                    for (int j = 0; j < TK; j++)
                        if (s[j] > -1e299) o += exp(s[j] - mx) / sum * v->data[(n * TK + j) * Dv + h * HDV + e];
                    double d = fabs(o - a->data[(n * TQ + i) * Dv + h * HDV + e]);
                    worst = d > worst ? d : worst;
                }
            }
    CHECK_MSG(worst < 1e-5, "threaded attention differs from the naive loop by %g", worst);
    /* backward: the threaded gradients equal the single-threaded ones */
    float *seed = malloc(sizeof(float) * a->numel), *grads[2][3];
    for (long i = 0; i < a->numel; i++) seed[i] = (float)((i * 7919) % 13) / 13.0f - 0.5f;
    Tensor *in[3] = {q, k, v};
    for (int run = 0; run < 2; run++) {
        mvla_set_threads(run ? 1 : 0);
        graph_reset(g);
        graph_set_grad(g, 1);
        for (int t = 0; t < 3; t++) tensor_zero_grad(in[t]);
        Tensor *o = op_attention(g, q, k, v, NH, 1, pad, 0);
        REQUIRE(o && graph_backward(g, o, seed) == 0);
        for (int t = 0; t < 3; t++) {
            grads[run][t] = malloc(sizeof(float) * in[t]->numel);
            memcpy(grads[run][t], in[t]->grad, sizeof(float) * in[t]->numel);
        }
    }
    mvla_set_threads(0);
    for (int t = 0; t < 3; t++) {
        CHECK(max_abs_diff(grads[0][t], grads[1][t], in[t]->numel) < 1e-6);
        free(grads[0][t]), free(grads[1][t]);
    }
    free(seed);
    graph_free(g);
    tensor_free(q), tensor_free(k), tensor_free(v);
}

/* ---- masks, no_grad, bad input ---- */

TEST(attention_fully_masked_row_is_zero)
{
    const int B = 2, T = 3, D = 4;
    Tensor *q = gc_input(31, 3, (int[]){B, T, D}), *k = gc_input(32, 3, (int[]){B, T, D});
    Tensor *v = gc_input(33, 3, (int[]){B, T, D});
    unsigned char pad[2 * 3] = {0, 1, 0, /* batch 1: every key padded */ 1, 1, 1};
    Graph *g = graph_new();
    Tensor *out = op_attention(g, q, k, v, 2, 0, pad, 0);
    REQUIRE(out);
    int finite = 1, zero = 1;
    for (long i = 0; i < out->numel; i++) finite &= isfinite(out->data[i]);
    for (long i = (long)T * D; i < 2L * T * D; i++) zero &= out->data[i] == 0.0f;
    CHECK(finite);
    CHECK(zero);
    float seed[2 * 3 * 4];
    for (int i = 0; i < B * T * D; i++) seed[i] = 1.0f;
    REQUIRE(graph_backward(g, out, seed) == 0);
    Tensor *all[3] = {q, k, v};
    for (int t = 0; t < 3; t++) {
        for (long i = 0; i < all[t]->numel; i++) finite &= isfinite(all[t]->grad[i]);
        for (long i = (long)T * D; i < 2L * T * D; i++) zero &= all[t]->grad[i] == 0.0f;
    }
    CHECK_MSG(finite && zero, "gradients of a fully masked batch must be finite and zero");
    graph_free(g);
    tensor_free(q), tensor_free(k), tensor_free(v);
}

TEST(attention_no_grad_matches_grad_mode)
{
    Tensor *q = gc_input(41, 3, (int[]){2, 4, 8}), *k = gc_input(42, 3, (int[]){2, 6, 8});
    Tensor *v = gc_input(43, 3, (int[]){2, 6, 4});
    Graph *g = graph_new();
    Tensor *a = op_attention(g, q, k, v, 2, 1, NULL, 0);
    REQUIRE(a && a->requires_grad && graph_tape_len(g) == 1);
    graph_set_grad(g, 0);
    Tensor *b = op_attention(g, q, k, v, 2, 1, NULL, 0);
    REQUIRE(b && !b->requires_grad && graph_tape_len(g) == 1);
    CHECK(max_abs_diff(a->data, b->data, a->numel) == 0);
    graph_free(g);
    tensor_free(q), tensor_free(k), tensor_free(v);
}

TEST(attention_rejects_bad_shapes)
{
    Graph *g = graph_new();
    Tensor *q = tensor_new_shape(3, 2, 4, 8), *k = tensor_new_shape(3, 2, 5, 8), *v = tensor_new_shape(3, 2, 5, 6);
    Tensor *k_bad = tensor_new_shape(3, 2, 5, 7), *v_bad = tensor_new_shape(3, 2, 4, 6);
    Tensor *b_bad = tensor_new_shape(3, 3, 5, 8), *flat = tensor_new_shape(2, 4, 8);
    CHECK(op_attention(g, q, k, v, 2, 0, NULL, 0) != NULL);
    CHECK(op_attention(g, q, k_bad, v, 2, 0, NULL, 0) == NULL); /* D differs */
    CHECK(strstr(mvla_error_message(), "attention: q [2, 4, 8], k [2, 5, 7]") != NULL);
    CHECK(op_attention(g, q, k, v_bad, 2, 0, NULL, 0) == NULL); /* Tk differs */
    CHECK(op_attention(g, q, b_bad, v, 2, 0, NULL, 0) == NULL); /* batch differs */
    CHECK(op_attention(g, q, k, v, 3, 0, NULL, 0) == NULL);     /* 8 % 3 */
    CHECK(strstr(mvla_error_message(), "divisible") != NULL);
    CHECK(op_attention(g, q, k, v, 4, 0, NULL, 0) == NULL);     /* Dv 6 % 4 */
    CHECK(op_attention(g, q, k, v, 0, 0, NULL, 0) == NULL);
    CHECK(op_attention(g, flat, flat, flat, 2, 0, NULL, 0) == NULL);
    CHECK(op_attention(g, NULL, k, v, 2, 0, NULL, 0) == NULL);
    graph_free(g);
    tensor_free(q), tensor_free(k), tensor_free(v), tensor_free(k_bad), tensor_free(v_bad);
    tensor_free(b_bad), tensor_free(flat);
}
