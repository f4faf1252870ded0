#include "test.h"
#include "nn/checkpoint.h"
#include "io/safetensors.h"

#include "base/error.h"
#include "base/file.h"

#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

/* A small model: two decayed weights and a bias. values = 1: random values, else zeros. */
static int make_params(ParamList *pl, int values)
{
    params_init(pl);
    Tensor *a = params_new(pl, "enc.w", 1, 2, (int[]){3, 4});
    Tensor *b = params_new(pl, "enc.b", 0, 1, (int[]){3});
    Tensor *c = params_new(pl, "head.w", 1, 3, (int[]){2, 1, 3});
    if (!a || !b || !c) return -1;
    if (values) {
        Rng r;
        rng_seed(&r, 11);
        for (int i = 0; i < pl->count; i++) tensor_fill_normal(pl->items[i].tensor, &r, 1.0f);
    }
    return 0;
}

/* Deterministic fake gradients for step k. */
static void fake_grads(ParamList *pl, int k)
{
    for (int i = 0; i < pl->count; i++) {
        Tensor *t = pl->items[i].tensor;
        for (long j = 0; j < t->numel; j++) t->grad[j] = sinf(0.7f * (float)j + 1.3f * (float)k + (float)i) + 0.1f * t->data[j];
    }
}

static Optimizer *make_opt(OptimKind kind, ParamList *pl)
{
    OptimConfig c = optim_config_default(kind);
    c.momentum = 0.9f;
    c.weight_decay = 0.05f;
    Optimizer *o = optim_new(kind, pl, &c);
    if (o && optim_add_group(o, "head.", 0.5f, 0.01f)) {
        optim_free(o);
        return NULL;
    }
    return o;
}

static int same_bits(const float *a, const float *b, long n) { return memcmp(a, b, (size_t)n * sizeof(float)) == 0; }

/* A scratch path in the test's directory (slot 0..3: separate buffers). */
static const char *ckpt_path(int slot, const char *file)
{
    static char paths[4][512];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", test_tmpdir(), file);
    return paths[slot];
}

/* Train a few steps, save, load into fresh parameters and a fresh optimiser, step both once:
 * everything must agree bit for bit. */
static void round_trip(OptimKind kind)
{
    ParamList a, b;
    REQUIRE(make_params(&a, 1) == 0 && make_params(&b, 0) == 0);
    Optimizer *oa = make_opt(kind, &a), *ob = make_opt(kind, &b);
    REQUIRE(oa && ob);
    for (int k = 0; k < 3; k++) {
        fake_grads(&a, k);
        REQUIRE(optim_step(oa, 1e-2f * (float)(k + 1)) == 0);
    }
    const char *path = ckpt_path(0, "ck.safetensors");
    const char *meta = "{\"run\": \"unit\", \"epochs\": 2}";
    REQUIRE(checkpoint_save(path, &a, oa, 42, meta) == 0);

    long step = -1;
    char *meta_back = NULL;
    REQUIRE(checkpoint_load(path, &b, ob, &step, &meta_back) == 0);
    CHECK(step == 42);
    CHECK(optim_t(ob) == 3);
    CHECK(meta_back && strcmp(meta_back, meta) == 0);
    free(meta_back);
    for (int i = 0; i < a.count; i++) {
        const Tensor *ta = a.items[i].tensor, *tb = b.items[i].tensor;
        CHECK_MSG(same_bits(ta->data, tb->data, ta->numel), "parameter %s differs after load", a.items[i].name);
        for (int s = 0; s < optim_state_slots(oa); s++)
            CHECK_MSG(same_bits(optim_state(oa, i, s), optim_state(ob, i, s), ta->numel), "state %s.%s differs",
                      a.items[i].name, optim_state_slot_name(oa, s));
    }
    /* one more step on both */
    fake_grads(&a, 3);
    fake_grads(&b, 3);
    REQUIRE(optim_step(oa, 5e-3f) == 0 && optim_step(ob, 5e-3f) == 0);
    for (int i = 0; i < a.count; i++)
        CHECK_MSG(same_bits(a.items[i].tensor->data, b.items[i].tensor->data, a.items[i].tensor->numel),
                  "parameter %s differs after the resumed step", a.items[i].name);
    CHECK(optim_t(oa) == 4 && optim_t(ob) == 4);
    optim_free(oa), optim_free(ob);
    params_free(&a, 1), params_free(&b, 1);
}

TEST(checkpoint_round_trip_adamw_bit_identical) { round_trip(OPTIM_ADAMW); }
TEST(checkpoint_round_trip_sgd_bit_identical) { round_trip(OPTIM_SGD); }

TEST(checkpoint_file_layout)
{
    ParamList a;
    REQUIRE(make_params(&a, 1) == 0);
    Optimizer *o = make_opt(OPTIM_ADAMW, &a);
    REQUIRE(o);
    fake_grads(&a, 0);
    REQUIRE(optim_step(o, 1e-3f) == 0);
    const char *path = ckpt_path(0, "layout.safetensors");
    REQUIRE(checkpoint_save(path, &a, o, 7, NULL) == 0);
    SafeTensors *st = NULL;
    REQUIRE(st_open(&st, path) == 0);
    CHECK(st_count(st) == 9);
    const StTensor *m = st_find(st, "optim.head.w.m");
    CHECK(m && m->ndim == 3 && m->shape[0] == 2 && m->shape[2] == 3 && m->dtype == ST_F32);
    CHECK(st_find(st, "optim.enc.b.v") != NULL);
    CHECK(st_metadata(st, "mvla.step") && strcmp(st_metadata(st, "mvla.step"), "7") == 0);
    const char *js = st_metadata(st, "mvla.optim");
    CHECK(js && strstr(js, "\"kind\":\"adamw\"") && strstr(js, "\"t\":1") && strstr(js, "\"prefix\":\"head.\""));
    CHECK(st_metadata(st, "mvla.metadata") == NULL);
    st_close(st);
    optim_free(o);
    params_free(&a, 1);
}

TEST(checkpoint_params_only)
{
    ParamList a, b;
    REQUIRE(make_params(&a, 1) == 0 && make_params(&b, 0) == 0);
    const char *path = ckpt_path(0, "weights.safetensors");
    REQUIRE(checkpoint_save(path, &a, NULL, 0, NULL) == 0);
    char *meta = (char *)"unset";
    long step = -1;
    REQUIRE(checkpoint_load(path, &b, NULL, &step, &meta) == 0);
    CHECK(step == 0 && meta == NULL);
    for (int i = 0; i < a.count; i++) CHECK(same_bits(a.items[i].tensor->data, b.items[i].tensor->data, a.items[i].tensor->numel));
    /* asking for optimiser state that is not there */
    Optimizer *o = make_opt(OPTIM_ADAMW, &b);
    REQUIRE(o);
    CHECK(checkpoint_load(path, &b, o, NULL, NULL) != 0);
    CHECK(strstr(mvla_error_message(), "no optimiser state") != NULL);
    optim_free(o);
    params_free(&a, 1), params_free(&b, 1);
}

TEST(checkpoint_load_errors)
{
    ParamList a;
    REQUIRE(make_params(&a, 1) == 0);
    Optimizer *oa = make_opt(OPTIM_ADAMW, &a);
    REQUIRE(oa);
    const char *path = ckpt_path(0, "err.safetensors");
    REQUIRE(checkpoint_save(path, &a, oa, 5, NULL) == 0);

    /* missing tensor: nothing is changed */
    ParamList b;
    REQUIRE(make_params(&b, 0) == 0);
    REQUIRE(params_new(&b, "extra.w", 1, 1, (int[]){4}));
    CHECK(checkpoint_load(path, &b, NULL, NULL, NULL) != 0);
    CHECK(strstr(mvla_error_message(), "extra.w") && strstr(mvla_error_message(), "missing"));
    CHECK(strstr(mvla_error_message(), "err.safetensors") != NULL);
    CHECK(b.items[0].tensor->data[0] == 0.0f);
    params_free(&b, 1);

    /* wrong shape: the message names the file, the tensor and both shapes */
    params_init(&b);
    REQUIRE(params_new(&b, "enc.w", 1, 2, (int[]){4, 3}));
    CHECK(checkpoint_load(path, &b, NULL, NULL, NULL) != 0);
    const char *msg = mvla_error_message();
    CHECK_MSG(strstr(msg, "err.safetensors") && strstr(msg, "enc.w") && strstr(msg, "[3, 4]") && strstr(msg, "[4, 3]"),
              "message: %s", msg);
    params_free(&b, 1);

    /* optimiser kind mismatch */
    REQUIRE(make_params(&b, 0) == 0);
    Optimizer *sgd = make_opt(OPTIM_SGD, &b);
    REQUIRE(sgd);
    CHECK(checkpoint_load(path, &b, sgd, NULL, NULL) != 0);
    CHECK_MSG(strstr(mvla_error_message(), "adamw") && strstr(mvla_error_message(), "sgd"), "message: %s",
              mvla_error_message());
    CHECK(optim_t(sgd) == 0);
    /* an optimiser built on another list */
    CHECK(checkpoint_load(path, &a, sgd, NULL, NULL) != 0);
    CHECK(checkpoint_save(path, &a, sgd, 0, NULL) != 0);
    optim_free(sgd);

    /* truncated file */
    char *bytes = NULL;
    size_t size = 0;
    REQUIRE(file_read_all(path, &bytes, &size) == 0);
    const char *cut = ckpt_path(1, "cut.safetensors");
    REQUIRE(file_write_atomic(cut, bytes, size - 40) == 0);
    CHECK(checkpoint_load(cut, &b, NULL, NULL, NULL) != 0);
    CHECK(strstr(mvla_error_message(), "cut.safetensors") != NULL);
    REQUIRE(file_write_atomic(cut, bytes, 6) == 0);
    CHECK(checkpoint_load(cut, &b, NULL, NULL, NULL) != 0);
    free(bytes);
    CHECK(checkpoint_load(ckpt_path(2, "absent.safetensors"), &b, NULL, NULL, NULL) != 0);
    params_free(&b, 1);

    /* bad metadata is refused at save time, and the old file stays */
    CHECK(checkpoint_save(path, &a, oa, 6, "{not json") != 0);
    CHECK(strstr(mvla_error_message(), "JSON") != NULL);
    long step = 0;
    REQUIRE(make_params(&b, 0) == 0);
    CHECK_MSG(checkpoint_load(path, &b, NULL, &step, NULL) == 0 && step == 5, "%s", mvla_error_message());
    params_free(&b, 1);

    optim_free(oa);
    params_free(&a, 1);
}

TEST(file_make_dirs_creates_parents)
{
    char path[512], file[600];
    snprintf(path, sizeof path, "%s/a/b/c", test_tmpdir());
    REQUIRE(file_make_dirs(path) == 0);
    REQUIRE(file_make_dirs(path) == 0); /* existing: fine */
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    snprintf(file, sizeof file, "%s/f", path);
    REQUIRE(file_write_atomic(file, "x", 1) == 0);
    snprintf(file, sizeof file, "%s/f/g", path);
    CHECK(file_make_dirs(file) == MVLA_ERR_IO && strstr(mvla_error_message(), "/a/b/c/f"));
}
