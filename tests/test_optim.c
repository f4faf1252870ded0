#include "ref.h"
#include "test.h"
#include "tensor/optim.h"
#include "tensor/schedule.h"

#include "base/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define OPTIM_REF "optim.safetensors"
#define OPTIM_STEPS 5

static const char *const names[3] = {"enc.w", "enc.b", "head.w"};

/* The generator's three parameters, at their initial values. */
static int load_params(ParamList *pl)
{
    params_init(pl);
    char key[64];
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "init.%s", names[i]);
        Tensor *t = ref_load(OPTIM_REF, key);
        if (!t || params_add(pl, t, names[i], i == 0 ? 1 : 0)) {
            tensor_free(t);
            return -1;
        }
    }
    return 0;
}

static int set_grads(ParamList *pl, int k)
{
    char key[64];
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "grad.%d.%s", k, names[i]);
        Tensor *g = ref_load(OPTIM_REF, key);
        if (!g) return -1;
        memcpy(pl->items[i].tensor->grad, g->data, (size_t)g->numel * sizeof(float));
        tensor_free(g);
    }
    return 0;
}

/* Runs the generator's 5-step trajectory and compares every parameter after every step. */
static void check_trajectory(const char *label, OptimKind kind, const OptimConfig *cfg, double rtol)
{
    ParamList pl;
    Tensor *lrs = ref_load(OPTIM_REF, "lrs");
    REQUIRE(lrs && load_params(&pl) == 0);
    Optimizer *opt = optim_new(kind, &pl, cfg);
    REQUIRE(opt);
    REQUIRE(optim_add_group(opt, "head.", 0.1f, 0.05f) == 0);
    CHECK(optim_param_weight_decay(opt, 0) == cfg->weight_decay);
    CHECK(optim_param_weight_decay(opt, 1) == 0.0f);
    CHECK(optim_param_lr_scale(opt, 2) == 0.1f);
    char key[64];
    for (int k = 0; k < OPTIM_STEPS; k++) {
        REQUIRE(set_grads(&pl, k) == 0);
        REQUIRE(optim_step(opt, lrs->data[k]) == 0);
        CHECK(optim_t(opt) == k + 1);
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof key, "%s.%d.%s", label, k, names[i]);
            ref_check(OPTIM_REF, key, pl.items[i].tensor->data, pl.items[i].tensor->numel, 1e-7, rtol);
        }
    }
    optim_free(opt);
    params_free(&pl, 1);
    tensor_free(lrs);
}

TEST(optim_adamw_matches_pytorch)
{
    OptimConfig c = optim_config_default(OPTIM_ADAMW);
    c.weight_decay = 0.01f;
    check_trajectory("adamw", OPTIM_ADAMW, &c, 1e-6);
}

TEST(optim_sgd_matches_pytorch)
{
    OptimConfig c = optim_config_default(OPTIM_SGD);
    c.momentum = 0.9f;
    c.weight_decay = 0.01f;
    check_trajectory("sgd", OPTIM_SGD, &c, 1e-6);
    c.nesterov = 1;
    check_trajectory("nesterov", OPTIM_SGD, &c, 1e-6);
    c = optim_config_default(OPTIM_SGD);
    check_trajectory("plainsgd", OPTIM_SGD, &c, 1e-6);
}

/* train.ema: the moving average is one more state slot; it never changes the updates, starts as the
 * parameters after step 1, follows e += (1 - decay) (p - e) after that, and swaps with the trainable
 * parameters (not with buffers), twice giving back the same values. */
TEST(optim_ema_slot_tracks_the_parameters)
{
    for (int kind = 0; kind < 2; kind++) {
        OptimConfig c = optim_config_default((OptimKind)kind);
        c.momentum = 0.9f, c.weight_decay = 0.01f, c.ema = 0.8f;
        const char *label = kind == OPTIM_ADAMW ? "adamw" : "sgd";
        ParamList pl;
        Tensor *lrs = ref_load(OPTIM_REF, "lrs");
        REQUIRE(lrs && load_params(&pl) == 0);
        Tensor *buf = params_new_buffer(&pl, "bn.running_mean", 1, (int[]){3});
        REQUIRE(buf);
        buf->data[0] = 4, buf->data[1] = 5, buf->data[2] = 6;
        Optimizer *opt = optim_new((OptimKind)kind, &pl, &c);
        REQUIRE(opt && optim_add_group(opt, "head.", 0.1f, 0.05f) == 0);
        int slots = optim_state_slots(opt), e = slots - 1;
        CHECK(slots == (kind == OPTIM_ADAMW ? 3 : 2) &&
              !strcmp(optim_state_slot_name(opt, e - 1), kind == OPTIM_ADAMW ? "v" : "momentum"));
        CHECK(!strcmp(optim_state_slot_name(opt, e), "ema"));
        double avg[3][64] = {{0}};
        char key[64];
        for (int k = 0; k < OPTIM_STEPS; k++) {
            REQUIRE(set_grads(&pl, k) == 0);
            REQUIRE(optim_step(opt, lrs->data[k]) == 0);
            for (int i = 0; i < 3; i++) {
                const Tensor *t = pl.items[i].tensor;
                REQUIRE(t->numel <= 64);
                snprintf(key, sizeof key, "%s.%d.%s", label, k, names[i]);
                ref_check(OPTIM_REF, key, t->data, t->numel, 1e-7, 1e-6); /* the same updates as without ema */
                for (long j = 0; j < t->numel; j++) avg[i][j] = k == 0 ? t->data[j] : avg[i][j] + 0.2 * (t->data[j] - avg[i][j]);
                double worst = 0;
                for (long j = 0; j < t->numel; j++) worst = fmax(worst, fabs(optim_state(opt, i, e)[j] - avg[i][j]));
                CHECK_MSG(worst < 1e-6, "%s step %d %s: the average is off by %g", label, k, names[i], worst);
            }
        }
        float before = pl.items[0].tensor->data[0], avg0 = optim_state(opt, 0, e)[0];
        REQUIRE(optim_swap_ema(opt) == 0);
        CHECK(pl.items[0].tensor->data[0] == avg0 && optim_state(opt, 0, e)[0] == before);
        CHECK(buf->data[0] == 4 && buf->data[2] == 6);
        REQUIRE(optim_swap_ema(opt) == 0);
        CHECK(pl.items[0].tensor->data[0] == before && optim_state(opt, 0, e)[0] == avg0);
        optim_free(opt);
        params_free(&pl, 1);
        tensor_free(lrs);
    }
}

TEST(optim_state_layout)
{
    ParamList pl;
    params_init(&pl);
    REQUIRE(params_new(&pl, "a", 1, 2, (int[]){2, 3}) && params_new(&pl, "b", 0, 1, (int[]){5}));
    Optimizer *adam = optim_new(OPTIM_ADAMW, &pl, NULL), *sgd = optim_new(OPTIM_SGD, &pl, NULL);
    OptimConfig mc = optim_config_default(OPTIM_SGD);
    mc.momentum = 0.5f;
    Optimizer *mom = optim_new(OPTIM_SGD, &pl, &mc);
    REQUIRE(adam && sgd && mom);
    CHECK(optim_state_slots(adam) == 2 && strcmp(optim_state_slot_name(adam, 1), "v") == 0);
    CHECK(optim_state_slots(sgd) == 0 && optim_state(sgd, 0, 0) == NULL);
    CHECK(optim_state_slots(mom) == 1 && strcmp(optim_state_slot_name(mom, 0), "momentum") == 0);
    /* buffers are distinct and sized like their parameters */
    CHECK(optim_state(adam, 0, 1) - optim_state(adam, 0, 0) == 6);
    CHECK(optim_state(adam, 1, 0) - optim_state(adam, 0, 1) == 6);
    CHECK(optim_kind_from_name("adamw") == OPTIM_ADAMW && optim_kind_from_name("sgd") == OPTIM_SGD);
    CHECK(optim_kind_from_name("adam") == -1);
    /* a parameter added after optim_new is refused at step time */
    REQUIRE(params_new(&pl, "c", 1, 1, (int[]){2}));
    CHECK(optim_step(adam, 1e-3f) != 0);
    CHECK(strstr(mvla_error_message(), "built for 2") != NULL);
    optim_free(adam), optim_free(sgd), optim_free(mom);
    params_free(&pl, 1);
}

/* A big tensor takes the threaded path; elementwise updates must equal the small, serial ones. */
TEST(optim_threaded_update_matches_serial)
{
    const int big = 40000, small = 97;
    for (int kind = 0; kind < 2; kind++) {
        ParamList a, b;
        params_init(&a), params_init(&b);
        Tensor *pa = params_new(&a, "w", 1, 1, &big), *pb = params_new(&b, "w", 1, 1, &small);
        REQUIRE(pa && pb);
        Rng r;
        rng_seed(&r, 7);
        tensor_fill_normal(pa, &r, 1.0f);
        for (int i = 0; i < big; i++) pa->grad[i] = 0.01f * (float)((i * 37) % 101) - 0.5f;
        memcpy(pb->data, pa->data, sizeof(float) * (size_t)small);
        memcpy(pb->grad, pa->grad, sizeof(float) * (size_t)small);
        OptimConfig c = optim_config_default((OptimKind)kind);
        c.momentum = 0.9f;
        Optimizer *oa = optim_new((OptimKind)kind, &a, &c), *ob = optim_new((OptimKind)kind, &b, &c);
        REQUIRE(oa && ob);
        for (int s = 0; s < 3; s++) {
            REQUIRE(optim_step(oa, 1e-2f) == 0);
            REQUIRE(optim_step(ob, 1e-2f) == 0);
        }
        CHECK(memcmp(pa->data, pb->data, sizeof(float) * (size_t)small) == 0);
        CHECK(max_abs_diff(pa->data, pb->data, small) == 0);
        optim_free(oa), optim_free(ob);
        params_free(&a, 1), params_free(&b, 1);
    }
}

TEST(optim_rejects_bad_settings)
{
    ParamList pl;
    params_init(&pl);
    REQUIRE(params_new(&pl, "enc.w", 1, 2, (int[]){2, 2}));
    OptimConfig c = optim_config_default(OPTIM_ADAMW);
    c.beta1 = 1.0f;
    CHECK(optim_new(OPTIM_ADAMW, &pl, &c) == NULL);
    CHECK(strstr(mvla_error_message(), "betas") != NULL);
    c = optim_config_default(OPTIM_ADAMW);
    c.eps = 0;
    CHECK(optim_new(OPTIM_ADAMW, &pl, &c) == NULL);
    c = optim_config_default(OPTIM_SGD);
    c.nesterov = 1;
    CHECK(optim_new(OPTIM_SGD, &pl, &c) == NULL);
    CHECK(strstr(mvla_error_message(), "nesterov") != NULL);
    c.lr = -1;
    CHECK(optim_new(OPTIM_SGD, &pl, &c) == NULL);
    CHECK(optim_new(OPTIM_SGD, NULL, NULL) == NULL);
    Optimizer *o = optim_new(OPTIM_ADAMW, &pl, NULL);
    REQUIRE(o);
    CHECK(optim_add_group(o, "dec.", 0.1f, 0) != 0);
    CHECK(strstr(mvla_error_message(), "dec.") != NULL);
    CHECK(optim_add_group(o, "enc.", -1, 0) != 0);
    CHECK(optim_group_count(o) == 0);
    CHECK(optim_add_group(o, "enc.", 0.5f, 0) == 0 && optim_group_count(o) == 1);
    CHECK(optim_step(o, -1e-3f) != 0);
    CHECK(optim_t(o) == 0);
    CHECK(optim_swap_ema(o) != 0 && strstr(mvla_error_message(), "moving average"));
    c = optim_config_default(OPTIM_ADAMW);
    c.ema = 1.0f;
    CHECK(optim_new(OPTIM_ADAMW, &pl, &c) == NULL);
    CHECK(strstr(mvla_error_message(), "ema") != NULL);
    optim_free(o);
    params_free(&pl, 1);
}

TEST(clip_grad_norm_matches_pytorch)
{
    const char *labels[2] = {"clip", "noclip"};
    const float max_norms[2] = {1.0f, 100.0f};
    char key[64];
    for (int l = 0; l < 2; l++) {
        ParamList pl;
        REQUIRE(load_params(&pl) == 0);
        REQUIRE(set_grads(&pl, 0) == 0);
        double measured = grad_norm(&pl);
        float norm = clip_grad_norm(&pl, max_norms[l]);
        CHECK_NEAR(norm, measured, 1e-6 * measured);
        snprintf(key, sizeof key, "%s.norm", labels[l]);
        ref_check(OPTIM_REF, key, &norm, 1, 0, 1e-6);
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof key, "%s.%s", labels[l], names[i]);
            ref_check(OPTIM_REF, key, pl.items[i].tensor->grad, pl.items[i].tensor->numel, 1e-7, 1e-6);
        }
        if (l == 0) CHECK_NEAR(grad_norm(&pl), 1.0, 1e-5);
        params_free(&pl, 1);
    }
}

TEST(clip_grad_norm_measure_only_and_nonfinite)
{
    ParamList pl;
    params_init(&pl);
    Tensor *t = params_new(&pl, "w", 1, 1, (int[]){2});
    REQUIRE(t);
    t->grad[0] = 3, t->grad[1] = 4;
    CHECK(clip_grad_norm(&pl, 0) == 5.0f);
    CHECK(t->grad[0] == 3 && t->grad[1] == 4);
    t->grad[1] = INFINITY;
    CHECK(isinf(clip_grad_norm(&pl, 1.0f)));
    CHECK(t->grad[0] == 3);
    params_free(&pl, 1);
}

TEST(lr_schedule_formula)
{
    LrSchedule s = {LR_WARMUP_COSINE, 1.0f, 10, 110, 0.1f};
    CHECK(lr_schedule_check(&s) == 0);
    CHECK_NEAR(lr_at(&s, 0), 0.0, 0);
    CHECK_NEAR(lr_at(&s, -3), 0.0, 0);
    CHECK_NEAR(lr_at(&s, 5), 0.5, 1e-7);
    CHECK_NEAR(lr_at(&s, 10), 1.0, 1e-7);
    CHECK_NEAR(lr_at(&s, 35), 0.1 + 0.9 * 0.5 * (1 + cos(M_PI * 0.25)), 1e-6);
    CHECK_NEAR(lr_at(&s, 60), 0.55, 1e-6);
    CHECK_NEAR(lr_at(&s, 110), 0.1, 1e-7);
    CHECK_NEAR(lr_at(&s, 1000), 0.1, 1e-7);
    s.kind = LR_WARMUP_LINEAR;
    CHECK_NEAR(lr_at(&s, 5), 0.5, 1e-7);
    CHECK_NEAR(lr_at(&s, 35), 0.1 + 0.9 * 0.75, 1e-6);
    CHECK_NEAR(lr_at(&s, 60), 0.55, 1e-6);
    CHECK_NEAR(lr_at(&s, 110), 0.1, 1e-7);
    CHECK_NEAR(lr_at(&s, 111), 0.1, 1e-7);
    s.kind = LR_CONSTANT;
    CHECK_NEAR(lr_at(&s, 5), 0.5, 1e-7);
    CHECK_NEAR(lr_at(&s, 10), 1.0, 0);
    CHECK_NEAR(lr_at(&s, 5000), 1.0, 0);
    s.warmup_steps = 0;
    CHECK_NEAR(lr_at(&s, 0), 1.0, 0);
    /* no warmup, cosine: full rate at step 0 */
    LrSchedule c0 = {LR_WARMUP_COSINE, 2.0f, 0, 4, 0};
    CHECK_NEAR(lr_at(&c0, 0), 2.0, 0);
    CHECK_NEAR(lr_at(&c0, 2), 1.0, 1e-6);
    CHECK_NEAR(lr_at(&c0, 4), 0.0, 1e-7);

    CHECK(lr_schedule_kind_from_name("cosine") == LR_WARMUP_COSINE);
    CHECK(lr_schedule_kind_from_name("linear") == LR_WARMUP_LINEAR);
    CHECK(lr_schedule_kind_from_name("constant") == LR_CONSTANT);
    CHECK(lr_schedule_kind_from_name("step") == -1);
    CHECK(strcmp(lr_schedule_kind_name(LR_WARMUP_COSINE), "cosine") == 0);
    LrSchedule bad = {LR_WARMUP_LINEAR, 1.0f, 10, 5, 0};
    CHECK(lr_schedule_check(&bad) != 0);
    CHECK(strstr(mvla_error_message(), "total_steps 5") != NULL);
    bad = (LrSchedule){LR_CONSTANT, -1.0f, 0, 0, 0};
    CHECK(lr_schedule_check(&bad) != 0);
}

TEST(lr_schedule_matches_lambdalr)
{
    /* the generator's settings: base 3e-4, warmup 4, total 20, min_lr 3e-5, 24 steps */
    const char *kinds[3] = {"constant", "cosine", "linear"};
    for (int k = 0; k < 3; k++) {
        LrSchedule s = {(LrScheduleKind)lr_schedule_kind_from_name(kinds[k]), 3e-4f, 4, 20, 3e-5f};
        float lrs[24];
        for (int i = 0; i < 24; i++) lrs[i] = lr_at(&s, i);
        char key[32];
        snprintf(key, sizeof key, "sched.%s", kinds[k]);
        ref_check(OPTIM_REF, key, lrs, 24, 1e-12, 1e-6);
    }
}
