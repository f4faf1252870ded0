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

TEST(matmul_matches_pytorch)
{
    static const char *const names[] = {"a", "b"};
    static const char *const keys[] = {"matmul_t00", "matmul_t01", "matmul_t10", "matmul_t11", "matmul_shared"};
    static const int trans[][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {0, 0}};
    for (int i = 0; i < 5; i++)
        ref_check_op("linear.safetensors", keys[i], names, 2, build_matmul, (void *)trans[i], 1e-5, 1e-5, 1);
}

TEST(linear_matches_pytorch)
{
    static const char *const names[] = {"x", "w", "b"};
    ref_check_op("linear.safetensors", "linear", names, 3, build_linear, NULL, 1e-5, 1e-5, 1);
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
