#include "gradcheck.h"
#include "ref.h"
#include "test.h"
#include "tensor/ops_linear.h"

#include "base/error.h"

#include <stdio.h>
#include <string.h>

static Tensor *build_matmul(Graph *g, Tensor **in, void *ctx)
{
    const int *t = ctx;
    return op_matmul(g, in[0], in[1], t[0], t[1]);
}

static Tensor *build_linear(Graph *g, Tensor **in, void *ctx)
{
    (void)ctx;
    return op_linear(g, in[0], in[1], in[2]);
}

TEST(matmul_gradcheck_all_transposes)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            Tensor *a = gc_input(1, 3, ta ? (int[]){2, 4, 3} : (int[]){2, 3, 4});
            Tensor *b = gc_input(2, 3, tb ? (int[]){2, 5, 4} : (int[]){2, 4, 5});
            int t[2] = {ta, tb};
            char label[32];
            snprintf(label, sizeof label, "matmul t%d%d", ta, tb);
            gradcheck(label, build_matmul, (Tensor *[]){a, b}, 2, t, NULL);
            tensor_free(a);
            tensor_free(b);
        }
}

TEST(matmul_gradcheck_shared_rhs)
{
    for (int ta = 0; ta < 2; ta++) {
        Tensor *a = gc_input(3, 3, ta ? (int[]){2, 4, 3} : (int[]){2, 3, 4});
        Tensor *b = gc_input(4, 2, (int[]){4, 6});
        int t[2] = {ta, 0};
        gradcheck("matmul shared", build_matmul, (Tensor *[]){a, b}, 2, t, NULL);
        tensor_free(a);
        tensor_free(b);
    }
}

TEST(linear_gradcheck)
{
    Tensor *x = gc_input(5, 3, (int[]){2, 3, 7}), *w = gc_input(6, 2, (int[]){5, 7}), *b = gc_input(7, 1, (int[]){5});
    gradcheck("linear", build_linear, (Tensor *[]){x, w, b}, 3, NULL, NULL);
    gradcheck("linear no bias", build_linear, (Tensor *[]){x, w, NULL}, 3, NULL, NULL);
    tensor_free(x);
    tensor_free(w);
    tensor_free(b);
}

/* Runs c = op(a, b) on the reference inputs, seeds backward with the reference upstream
 * gradient, and compares output and both input gradients with PyTorch's. */
static void check_matmul_ref(const char *key, int ta, int tb)
{
    char name[64];
    Tensor *in[4];
    const char *parts[4] = {"a", "b", "gc", "c"};
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.%s", key, parts[i]);
        in[i] = ref_load("linear.safetensors", name);
    }
    Tensor *a = in[0], *b = in[1];
    REQUIRE(a && b && in[2] && in[3]);
    tensor_requires_grad(a);
    tensor_requires_grad(b);
    Graph *g = graph_new();
    Tensor *c = op_matmul(g, a, b, ta, tb);
    REQUIRE(c);
    snprintf(name, sizeof name, "%s.c", key);
    ref_check("linear.safetensors", name, c->data, c->numel, 1e-5, 1e-5);
    REQUIRE(graph_backward(g, c, in[2]->data) == 0);
    snprintf(name, sizeof name, "%s.ga", key);
    ref_check("linear.safetensors", name, a->grad, a->numel, 1e-5, 1e-5);
    snprintf(name, sizeof name, "%s.gb", key);
    ref_check("linear.safetensors", name, b->grad, b->numel, 1e-5, 1e-5);
    graph_free(g);
    for (int i = 0; i < 4; i++) tensor_free(in[i]);
}

TEST(matmul_matches_pytorch)
{
    check_matmul_ref("matmul_t00", 0, 0);
    check_matmul_ref("matmul_t01", 0, 1);
    check_matmul_ref("matmul_t10", 1, 0);
    check_matmul_ref("matmul_t11", 1, 1);
    check_matmul_ref("matmul_shared", 0, 0);
}

TEST(linear_matches_pytorch)
{
    const char *f = "linear.safetensors";
    Tensor *x = ref_load(f, "linear.x"), *w = ref_load(f, "linear.w"), *b = ref_load(f, "linear.b");
    Tensor *gy = ref_load(f, "linear.gy");
    REQUIRE(x && w && b && gy);
    tensor_requires_grad(x);
    tensor_requires_grad(w);
    tensor_requires_grad(b);
    Graph *g = graph_new();
    Tensor *y = op_linear(g, x, w, b);
    REQUIRE(y);
    ref_check(f, "linear.y", y->data, y->numel, 1e-5, 1e-5);
    REQUIRE(graph_backward(g, y, gy->data) == 0);
    ref_check(f, "linear.gx", x->grad, x->numel, 1e-5, 1e-5);
    ref_check(f, "linear.gw", w->grad, w->numel, 1e-5, 1e-5);
    ref_check(f, "linear.gb", b->grad, b->numel, 1e-5, 1e-5);
    graph_free(g);
    tensor_free(x), tensor_free(w), tensor_free(b), tensor_free(gy);
}

TEST(matmul_rejects_bad_shapes)
{
    Graph *g = graph_new();
    Tensor *a = tensor_new_shape(2, 3, 4), *b = tensor_new_shape(2, 5, 6), *v = tensor_new_shape(1, 4);
    CHECK(op_matmul(g, a, b, 0, 0) == NULL);
    CHECK(strstr(mvla_error_message(), "do not match") != NULL);
    CHECK(op_matmul(g, a, v, 0, 0) == NULL);
    CHECK(op_linear(g, a, b, NULL) == NULL);
    CHECK(op_matmul(g, NULL, b, 0, 0) == NULL);
    graph_free(g);
    tensor_free(a), tensor_free(b), tensor_free(v);
}

TEST(no_grad_records_nothing)
{
    Graph *g = graph_new();
    Tensor *x = gc_input(1, 2, (int[]){2, 3}), *w = gc_input(2, 2, (int[]){4, 3});
    graph_set_grad(g, 0);
    Tensor *y = op_linear(g, x, w, NULL);
    CHECK(y && !y->requires_grad);
    CHECK(graph_tape_len(g) == 0);
    graph_set_grad(g, 1);
    y = op_linear(g, x, w, NULL);
    CHECK(y && y->requires_grad && graph_tape_len(g) == 1);
    graph_free(g);
    tensor_free(x), tensor_free(w);
}
