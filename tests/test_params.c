#include "test.h"

#include "base/error.h"
#include "nn/checkpoint.h"
#include "nn/params.h"
#include "tensor/optim.h"

#include <stdio.h>

TEST(params_buffers_are_saved_but_not_trained)
{
    ParamList p;
    params_init(&p);
    Tensor *w = params_new(&p, "w", 1, 1, (int[]){4});
    Tensor *running = params_new_buffer(&p, "running_mean", 1, (int[]){4});
    REQUIRE(w && running);
    CHECK(w->requires_grad && w->grad);
    CHECK(!running->requires_grad && !running->grad);
    CHECK(params_find(&p, "running_mean")->trainable == 0);
    CHECK(params_new_buffer(&p, "w", 1, (int[]){1}) == NULL); /* names stay unique */
    for (int i = 0; i < 4; i++) w->grad[i] = 1.0f, running->data[i] = 0.5f * i;
    Optimizer *opt = optim_new(OPTIM_ADAMW, &p, NULL);
    REQUIRE(opt);
    REQUIRE(optim_step(opt, 0.1f) == 0);
    CHECK(w->data[0] != 0.0f);
    for (int i = 0; i < 4; i++) CHECK(running->data[i] == 0.5f * i);
    char path[512];
    snprintf(path, sizeof path, "%s/p.safetensors", test_tmpdir());
    REQUIRE(checkpoint_save(path, &p, NULL, 1, NULL) == 0);
    for (int i = 0; i < 4; i++) running->data[i] = -1;
    REQUIRE(checkpoint_load(path, &p, NULL, NULL, NULL) == 0);
    for (int i = 0; i < 4; i++) CHECK(running->data[i] == 0.5f * i);
    optim_free(opt);
    params_free(&p, 1);
}
