/* CLIP: parity with ../shared/golden/clip/tiny (every model output of its README, through the library
 * and through `mvla backbone run`), config parsing and errors, other shapes, batching, the causal mask,
 * steady-state allocation, and gradients of the last block (finite differences and a fine-tuning step).
 * Golden files: $MVLA_GOLDEN_DIR, else ../shared/golden (tests run from the repository root). */
#include "gradcheck.h"
#include "golden.h"
#include "test.h"

#include "base/error.h"
#include "base/file.h"
#include "io/safetensors.h"
#include "models/clip.h"
#include "tensor/ops.h"
#include "tensor/optim.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define TOL 1e-4

/* ---- golden files ---- */

static const char *golden_clip_dir(void)
{
    static char dir[800];
    const char *root = golden_dir();
    if (!root) return NULL;
    snprintf(dir, sizeof dir, "%s/clip", root);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        test_fail(__FILE__, __LINE__, "golden folder %s not found: set MVLA_GOLDEN_DIR to the folder holding clip/",
                  dir);
        return NULL;
    }
    return dir;
}

static const char *tiny_dir(char *buf, size_t n)
{
    const char *d = golden_clip_dir();
    if (!d) return NULL;
    snprintf(buf, n, "%s/tiny", d);
    return buf;
}

static SafeTensors *open_io(void)
{
    char dir[1024], path[1200];
    if (!tiny_dir(dir, sizeof dir)) return NULL;
    snprintf(path, sizeof path, "%s/io.safetensors", dir);
    SafeTensors *st = NULL;
    if (st_open(&st, path)) {
        test_fail(__FILE__, __LINE__, "%s", mvla_error_message());
        return NULL;
    }
    return st;
}

static ClipModel *load_tiny(int towers)
{
    char dir[1024];
    if (!tiny_dir(dir, sizeof dir)) return NULL;
    ClipModel *m = NULL;
    if (clip_load(&m, dir, towers)) test_fail(__FILE__, __LINE__, "clip_load: %s", mvla_error_message());
    return m;
}

/* input_ids of io.safetensors (I64) as ints; *n rows of *len. malloc'd. */
static int *golden_ids(const SafeTensors *io, int *n, int *len)
{
    const StTensor *t = st_find(io, "input_ids");
    if (!t || t->dtype != ST_I64 || t->ndim != 2) {
        test_fail(__FILE__, __LINE__, "io.safetensors: input_ids: expected I64 [N, L]");
        return NULL;
    }
    *n = (int)t->shape[0], *len = (int)t->shape[1];
    int *ids = malloc((size_t)t->numel * sizeof *ids);
    for (int64_t i = 0; i < t->numel; i++) {
        int64_t v;
        memcpy(&v, (const char *)t->data + 8 * i, 8);
        ids[i] = (int)v;
    }
    return ids;
}

/* Compares data (with shape) against golden tensor `name` of st: same shape, max |diff| <= tol. */
static void check_against(const SafeTensors *st, const char *name, const Tensor *t, double tol)
{
    if (!t) {
        test_fail(__FILE__, __LINE__, "%s: no output computed", name);
        return;
    }
    Tensor *ref = st_load_new(st, name);
    if (!ref) {
        test_fail(__FILE__, __LINE__, "%s", mvla_error_message());
        return;
    }
    char a[64], b[64];
    if (!tensor_same_shape(ref, t)) {
        test_fail(__FILE__, __LINE__, "%s: shape %s, golden %s", name, tensor_shape_str(t, a, sizeof a),
                  tensor_shape_str(ref, b, sizeof b));
    } else {
        double d = max_abs_diff(ref->data, t->data, t->numel);
        CHECK_MSG(d <= tol, "%s: max abs diff %.3g > %.1g", name, d, tol);
    }
    tensor_free(ref);
}

/* ---- parity through the library ---- */

TEST(clip_golden_vision_matches)
{
    SafeTensors *io = open_io();
    ClipModel *m = load_tiny(CLIP_TOWER_VISION);
    REQUIRE(io && m);
    CHECK(m->towers == CLIP_TOWER_VISION && m->text.layers == NULL);
    Tensor *px = st_load_new(io, "pixel_values");
    REQUIRE(px);
    Graph *g = graph_new();
    graph_set_grad(g, 0);
    ClipOutput out;
    REQUIRE(clip_vision_forward(g, m, px, 1, &out) == 0);
    REQUIRE(out.n_hidden_states == m->cfg.vision.num_hidden_layers + 1);
    char name[64];
    for (int i = 0; i < out.n_hidden_states; i++) {
        snprintf(name, sizeof name, "vision_hidden_states.%d", i);
        check_against(io, name, out.hidden_states[i], TOL);
    }
    check_against(io, "vision_last_hidden_state", out.last_hidden_state, TOL);
    check_against(io, "vision_pooled", out.pooled, TOL);
    check_against(io, "image_embeds", out.embeds, TOL);

    /* the preprocessing goldens' pixels through the model */
    const char *pairs[2][2] = {{"pixel_values_from_image", "image_embeds_from_image"},
                               {"pixel_values_from_image2", "image_embeds_from_image2"}};
    for (int k = 0; k < 2; k++) {
        Tensor *p = st_load_new(io, pairs[k][0]);
        REQUIRE(p);
        graph_reset(g);
        REQUIRE(clip_vision_forward(g, m, p, 0, &out) == 0);
        CHECK(out.hidden_states == NULL);
        check_against(io, pairs[k][1], out.embeds, TOL);
        tensor_free(p);
    }
    tensor_free(px);
    graph_free(g);
    clip_free(m);
    st_close(io);
}

TEST(clip_golden_text_matches)
{
    SafeTensors *io = open_io();
    ClipModel *m = load_tiny(CLIP_TOWER_TEXT);
    REQUIRE(io && m);
    int n, len, *ids = golden_ids(io, &n, &len);
    REQUIRE(ids);
    const int eot[3] = {16, 5, 36}; /* README */
    REQUIRE(n == 3);
    for (int b = 0; b < n; b++) CHECK(clip_text_eot_position(&m->cfg.text, ids + b * len, len) == eot[b]);
    Graph *g = graph_new();
    graph_set_grad(g, 0);
    ClipOutput out;
    REQUIRE(clip_text_forward(g, m, ids, n, len, 1, &out) == 0);
    char name[64];
    for (int i = 0; i < out.n_hidden_states; i++) {
        snprintf(name, sizeof name, "text_hidden_states.%d", i);
        check_against(io, name, out.hidden_states[i], TOL);
    }
    check_against(io, "text_last_hidden_state", out.last_hidden_state, TOL);
    check_against(io, "text_pooled", out.pooled, TOL);
    check_against(io, "text_embeds", out.embeds, TOL);

    /* causal mask: the first 40 positions alone give the same states as in the 77-token run */
    int *short_ids = malloc((size_t)(n * 40) * sizeof *short_ids);
    for (int b = 0; b < n; b++) memcpy(short_ids + b * 40, ids + b * len, 40 * sizeof *short_ids);
    graph_reset(g);
    REQUIRE(clip_text_forward(g, m, short_ids, n, 40, 0, &out) == 0);
    Tensor *ref = st_load_new(io, "text_last_hidden_state");
    REQUIRE(ref && out.last_hidden_state->shape[1] == 40);
    int D = ref->shape[2];
    double worst = 0;
    for (int b = 0; b < n; b++) {
        double d = max_abs_diff(ref->data + (long)b * len * D, out.last_hidden_state->data + (long)b * 40 * D, 40L * D);
        if (d > worst) worst = d;
    }
    CHECK_MSG(worst <= TOL, "40-token prefix differs from the 77-token run by %.3g", worst);
    tensor_free(ref);
    free(short_ids);
    free(ids);
    graph_free(g);
    clip_free(m);
    st_close(io);
}

TEST(clip_golden_logits_and_batching)
{
    SafeTensors *io = open_io();
    ClipModel *m = load_tiny(0);
    REQUIRE(io && m);
    CHECK(m->towers == CLIP_TOWERS_BOTH && m->logit_scale != NULL);
    Tensor *px = st_load_new(io, "pixel_values");
    int n, len, *ids = golden_ids(io, &n, &len);
    REQUIRE(px && ids);
    Graph *g = graph_new();
    graph_set_grad(g, 0);
    ClipOutput vo, to;
    REQUIRE(clip_vision_forward(g, m, px, 0, &vo) == 0);
    REQUIRE(clip_text_forward(g, m, ids, n, len, 0, &to) == 0);
    Tensor *logits = tensor_new_shape(2, px->shape[0], n);
    REQUIRE(clip_logits(m, vo.embeds, to.embeds, logits->data) == 0);
    check_against(io, "logits_per_image", logits, TOL);

    /* one image / one text at a time gives the rows of the batched run */
    int B = px->shape[0];
    long per = px->numel / B;
    for (int b = 0; b < B; b++) {
        Tensor *one = tensor_new_shape(4, 1, px->shape[1], px->shape[2], px->shape[3]);
        memcpy(one->data, px->data + b * per, (size_t)per * sizeof(float));
        ClipOutput o1;
        REQUIRE(clip_vision_forward(g, m, one, 0, &o1) == 0);
        long e = o1.embeds->numel;
        CHECK(max_abs_diff(o1.embeds->data, vo.embeds->data + b * e, e) <= 1e-5);
        tensor_free(one);
    }
    for (int b = 0; b < n; b++) {
        ClipOutput o1;
        REQUIRE(clip_text_forward(g, m, ids + b * len, 1, len, 0, &o1) == 0);
        long e = o1.embeds->numel;
        CHECK(max_abs_diff(o1.embeds->data, to.embeds->data + b * e, e) <= 1e-5);
    }
    tensor_free(logits);
    tensor_free(px);
    free(ids);
    graph_free(g);
    clip_free(m);
    st_close(io);
}

TEST(clip_no_grad_steady_state)
{
    SafeTensors *io = open_io();
    ClipModel *m = load_tiny(0);
    REQUIRE(io && m);
    Tensor *px = st_load_new(io, "pixel_values");
    int n, len, *ids = golden_ids(io, &n, &len);
    REQUIRE(px && ids);
    Graph *g = graph_new();
    graph_set_grad(g, 0);
    size_t cap = 0;
    for (int it = 0; it < 3; it++) {
        graph_reset(g);
        ClipOutput vo, to;
        REQUIRE(clip_vision_forward(g, m, px, 0, &vo) == 0);
        REQUIRE(clip_text_forward(g, m, ids, n, len, 0, &to) == 0);
        CHECK(graph_tape_len(g) == 0);
        if (it == 1) cap = arena_capacity(graph_arena(g));
        if (it == 2) CHECK_MSG(arena_capacity(graph_arena(g)) == cap, "arena grew from %zu to %zu bytes", cap,
                               arena_capacity(graph_arena(g)));
    }
    tensor_free(px);
    free(ids);
    graph_free(g);
    clip_free(m);
    st_close(io);
}

TEST(clip_eot_position_rules)
{
    ClipConfig c;
    clip_config_default(&c);
    int a[6] = {49406, 320, 49407, 0, 0, 0};
    CHECK(clip_text_eot_position(&c.text, a, 6) == 2);
    int hf_pad[6] = {49406, 320, 49407, 49407, 49407, 49407}; /* HF pads with EOT: first one */
    CHECK(clip_text_eot_position(&c.text, hf_pad, 6) == 2);
    int none[3] = {320, 5000, 7};                               /* no EOT: argmax */
    CHECK(clip_text_eot_position(&c.text, none, 3) == 1);
    c.text.eos_token_id = 2;                                     /* legacy configs: argmax */
    int legacy[5] = {49406, 2, 320, 49407, 0};
    CHECK(clip_text_eot_position(&c.text, legacy, 5) == 3);
}

/* ---- config ---- */

TEST(clip_config_defaults_and_layouts)
{
    ClipConfig c;
    REQUIRE(clip_config_parse(&c, "{}", "x.json") == 0);
    CHECK(c.towers == CLIP_TOWERS_BOTH && c.projection_dim == 512);
    CHECK(c.text.hidden_size == 512 && c.text.intermediate_size == 2048 && c.text.num_attention_heads == 8);
    CHECK(c.text.num_hidden_layers == 12 && c.text.vocab_size == 49408 && c.text.max_position_embeddings == 77);
    CHECK(c.text.eos_token_id == 49407 && c.text.hidden_act == MLP_ACT_QUICK_GELU);
    CHECK(c.vision.hidden_size == 768 && c.vision.intermediate_size == 3072 && c.vision.num_attention_heads == 12);
    CHECK(c.vision.image_size == 224 && c.vision.patch_size == 32 && c.vision.num_channels == 3);
    CHECK_NEAR(c.vision.layer_norm_eps, 1e-5, 1e-12);
    CHECK(clip_vision_tokens(&c.vision) == 50);

    REQUIRE(clip_config_parse(&c, "{\"text_config_dict\": {\"hidden_size\": 64, \"num_attention_heads\": 4}, "
                                  "\"vision_config\": {\"hidden_act\": \"gelu\", \"patch_size\": 14, "
                                  "\"hidden_size\": 1024, \"num_attention_heads\": 16}, \"projection_dim\": 768}",
                              "legacy.json") == 0);
    CHECK(c.text.hidden_size == 64 && c.vision.hidden_act == MLP_ACT_GELU && c.vision.patch_size == 14);
    CHECK(c.projection_dim == 768 && clip_vision_tokens(&c.vision) == 257);

    REQUIRE(clip_config_parse(&c, "{\"model_type\": \"clip_vision_model\", \"patch_size\": 16, "
                                  "\"projection_dim\": 256}", "v.json") == 0);
    CHECK(c.towers == CLIP_TOWER_VISION && c.vision.patch_size == 16 && c.projection_dim == 256);

    /* presets survive to_json -> parse */
    const char *presets[] = {"ViT-B/32", "ViT-B/16", "ViT-L/14"};
    for (int i = 0; i < 3; i++) {
        ClipConfig p, q;
        REQUIRE(clip_config_preset(&p, presets[i]) == 0);
        char *json = clip_config_to_json(&p);
        REQUIRE(json);
        CHECK(clip_config_parse(&q, json, presets[i]) == 0);
        CHECK(memcmp(&p, &q, sizeof p) == 0);
        free(json);
    }
    ClipConfig l14;
    clip_config_preset(&l14, "ViT-L/14");
    CHECK(l14.vision.num_hidden_layers == 24 && clip_vision_tokens(&l14.vision) == 257 && l14.projection_dim == 768);
    CHECK(clip_config_preset(&l14, "ViT-H/14") != 0);
}

static void expect_config_error(const char *json, const char *part1, const char *part2)
{
    ClipConfig c;
    int rc = clip_config_parse(&c, json, "cfg.json");
    CHECK_MSG(rc != 0, "accepted: %s", json);
    const char *msg = mvla_error_message();
    CHECK_MSG(strstr(msg, "cfg.json") && strstr(msg, part1) && (!part2 || strstr(msg, part2)),
              "for %s: message '%s' lacks '%s' / '%s'", json, msg, part1, part2 ? part2 : "");
}

TEST(clip_config_rejects_bad_values)
{
    expect_config_error("{\"text_config\": {", "invalid JSON", NULL);
    expect_config_error("[1, 2]", "expected a JSON object", NULL);
    expect_config_error("{\"text_config\": {\"hidden_size\": \"abc\"}}", "text_config.hidden_size",
                        "expected an integer >= 1, got \"abc\"");
    expect_config_error("{\"vision_config\": {\"num_attention_heads\": 0}}", "vision_config.num_attention_heads",
                        "got 0");
    expect_config_error("{\"vision_config\": {\"hidden_size\": 100, \"num_attention_heads\": 12}}",
                        "vision_config.hidden_size 100", "multiple of num_attention_heads 12");
    expect_config_error("{\"vision_config\": {\"hidden_act\": \"swish\"}}", "vision_config.hidden_act", "\"swish\"");
    expect_config_error("{\"vision_config\": {\"layer_norm_eps\": -1}}", "layer_norm_eps", "a number > 0");
    expect_config_error("{\"vision_config\": {\"image_size\": 16, \"patch_size\": 32}}", "patch_size 32",
                        "at most image_size 16");
    expect_config_error("{\"text_config\": 5}", "text_config", "expected an object");
    expect_config_error("{\"model_type\": \"bert\"}", "model_type", "\"bert\"");
    expect_config_error("{\"projection_dim\": 1.5}", "projection_dim", "got 1.5");

    ClipConfig c;
    char path[600];
    snprintf(path, sizeof path, "%s/nowhere", test_tmpdir());
    CHECK(clip_config_load(&c, path) != 0);
    CHECK_MSG(strstr(mvla_error_message(), "nowhere/config.json") || strstr(mvla_error_message(), "nowhere"), "%s",
              mvla_error_message());
}

/* ---- loading errors ---- */

static int copy_file(const char *from, const char *to)
{
    char *data = NULL;
    size_t n = 0;
    int rc = file_read_all(from, &data, &n);
    if (!rc) rc = file_write_atomic(to, data, n);
    free(data);
    return rc;
}

/* A copy of the tiny checkpoint in tmp/<sub>/ without tensor `skip` (NULL: all), and config.json. */
static int tiny_copy(const char *sub, const char *skip, char *dir, size_t n)
{
    char src[1024], path[1200];
    if (!tiny_dir(src, sizeof src)) return -1;
    snprintf(dir, n, "%s/%s", test_tmpdir(), sub);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    SafeTensors *st = NULL;
    if (st_open(&st, path)) return -1;
    StWriter *w = st_writer_new();
    int rc = 0;
    for (int i = 0; !rc && i < st_count(st); i++) {
        const StTensor *t = st_at(st, i);
        if (skip && strcmp(t->name, skip) == 0) continue;
        rc = st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!rc) rc = st_writer_save(w, path);
    st_writer_free(w);
    st_close(st);
    char from[1200];
    snprintf(from, sizeof from, "%s/config.json", src);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!rc) rc = copy_file(from, path);
    return rc;
}

TEST(clip_load_reports_missing_and_misshaped_tensors)
{
    char dir[800], path[1000];
    const char *gone = "vision_model.encoder.layers.1.mlp.fc2.bias";
    REQUIRE(tiny_copy("missing", gone, dir, sizeof dir) == 0);
    ClipModel *m = NULL;
    CHECK(clip_load(&m, dir, 0) != 0 && m == NULL);
    CHECK_MSG(strstr(mvla_error_message(), gone) && strstr(mvla_error_message(), "model.safetensors"), "%s",
              mvla_error_message());
    /* the text tower alone does not need it */
    CHECK(clip_load(&m, dir, CLIP_TOWER_TEXT) == 0);
    clip_free(m);
    m = NULL;

    /* config.json says 100 for the text MLP; the file has 192 */
    REQUIRE(tiny_copy("shape", NULL, dir, sizeof dir) == 0);
    ClipConfig c;
    REQUIRE(clip_config_load(&c, dir) == 0);
    c.text.intermediate_size = 100;
    char *json = clip_config_to_json(&c);
    snprintf(path, sizeof path, "%s/config.json", dir);
    REQUIRE(json && file_write_atomic(path, json, strlen(json)) == 0);
    free(json);
    CHECK(clip_load(&m, dir, 0) != 0 && m == NULL);
    const char *msg = mvla_error_message();
    CHECK_MSG(strstr(msg, "text_model.encoder.layers.0.mlp.fc1.weight") && strstr(msg, "[192, 48]") &&
                  strstr(msg, "[100, 48]"),
              "%s", msg);

    /* a bad config.json is reported before any weight is read */
    REQUIRE(file_write_atomic(path, "{\"vision_config\": {\"patch_size\": \"16\"}}", 40) == 0);
    CHECK(clip_load(&m, dir, 0) != 0);
    CHECK_MSG(strstr(mvla_error_message(), "config.json") && strstr(mvla_error_message(), "vision_config.patch_size"),
              "%s", mvla_error_message());
}

/* A sharded checkpoint (two shards + model.safetensors.index.json) and a direct file path load the same model. */
TEST(clip_load_sharded_and_file_path)
{
    char src[1024], path[1200], dir[800];
    if (!tiny_dir(src, sizeof src)) return;
    snprintf(dir, sizeof dir, "%s/sharded", test_tmpdir());
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    SafeTensors *st = NULL;
    REQUIRE(st_open(&st, path) == 0);
    StWriter *w[2] = {st_writer_new(), st_writer_new()};
    const char *shard[2] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
    size_t cap = 1 << 16, used = 0;
    char *index = malloc(cap);
    used += (size_t)snprintf(index, cap, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
    for (int i = 0; i < st_count(st); i++) {
        const StTensor *t = st_at(st, i);
        int k = strncmp(t->name, "vision_model.", 13) == 0 ? 0 : 1;
        CHECK(st_writer_add(w[k], t->name, t->dtype, t->ndim, t->shape, t->data) == 0);
        used += (size_t)snprintf(index + used, cap - used, "%s\"%s\": \"%s\"", i ? ", " : "", t->name, shard[k]);
    }
    snprintf(index + used, cap - used, "}}");
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, shard[k]);
        CHECK(st_writer_save(w[k], path) == 0);
        st_writer_free(w[k]);
    }
    st_close(st);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    REQUIRE(file_write_atomic(path, index, strlen(index)) == 0);
    free(index);
    char from[1200];
    snprintf(from, sizeof from, "%s/config.json", src);
    snprintf(path, sizeof path, "%s/config.json", dir);
    REQUIRE(copy_file(from, path) == 0);

    SafeTensors *io = open_io();
    REQUIRE(io);
    Tensor *px = st_load_new(io, "pixel_values");
    int n, len, *ids = golden_ids(io, &n, &len);
    REQUIRE(px && ids);
    Graph *g = graph_new();
    graph_set_grad(g, 0);
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    const char *where[2] = {dir, path}; /* the sharded folder; the unsharded file itself */
    for (int k = 0; k < 2; k++) {
        ClipModel *m = NULL;
        CHECK_MSG(clip_load(&m, where[k], 0) == 0, "%s: %s", where[k], mvla_error_message());
        if (!m) continue;
        ClipOutput vo, to;
        graph_reset(g);
        REQUIRE(clip_vision_forward(g, m, px, 0, &vo) == 0);
        REQUIRE(clip_text_forward(g, m, ids, n, len, 0, &to) == 0);
        check_against(io, "image_embeds", vo.embeds, TOL);
        check_against(io, "text_embeds", to.embeds, TOL);
        clip_free(m);
    }
    graph_free(g);
    tensor_free(px);
    free(ids);
    st_close(io);
}

/* ---- other shapes, random weights ---- */

static ClipConfig small_config(void)
{
    ClipConfig c;
    clip_config_default(&c);
    ClipTowerConfig *v = &c.vision, *t = &c.text;
    v->hidden_size = 24, v->intermediate_size = 40, v->num_hidden_layers = 3, v->num_attention_heads = 3;
    v->image_size = 42, v->patch_size = 8, v->hidden_act = MLP_ACT_GELU; /* 42 = 5 * 8 + 2 unused pixels */
    t->hidden_size = 20, t->intermediate_size = 36, t->num_hidden_layers = 2, t->num_attention_heads = 5;
    t->vocab_size = 300, t->max_position_embeddings = 16, t->eos_token_id = 299, t->hidden_act = MLP_ACT_GELU_TANH;
    c.projection_dim = 12;
    return c;
}

TEST(clip_other_shapes_save_load_roundtrip)
{
    ClipConfig c = small_config();
    ClipModel *a = NULL, *b = NULL;
    REQUIRE(clip_create_random(&a, &c, 0, 42) == 0);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/small", test_tmpdir());
    mkdir(dir, 0755);
    REQUIRE(clip_save(a, dir) == 0);
    REQUIRE(clip_load(&b, dir, 0) == 0);
    CHECK(b->cfg.vision.hidden_act == MLP_ACT_GELU && b->cfg.text.hidden_act == MLP_ACT_GELU_TANH);
    CHECK(b->vision.position_embedding->shape[0] == 26);

    Rng r;
    rng_seed(&r, 7);
    Tensor *px = tensor_new_shape(4, 3, 3, 42, 42);
    tensor_fill_normal(px, &r, 1.0f);
    int ids[2 * 9] = {1, 5, 7, 299, 0, 0, 0, 0, 0, 3, 4, 5, 6, 7, 8, 9, 10, 299};
    Graph *g = graph_new();
    graph_set_grad(g, 0);
    ClipOutput va, vb, ta, tb;
    REQUIRE(clip_vision_forward(g, a, px, 0, &va) == 0);
    REQUIRE(clip_vision_forward(g, b, px, 0, &vb) == 0);
    REQUIRE(clip_text_forward(g, a, ids, 2, 9, 0, &ta) == 0);
    REQUIRE(clip_text_forward(g, b, ids, 2, 9, 0, &tb) == 0);
    CHECK(va.last_hidden_state->shape[1] == 26 && va.embeds->shape[1] == 12);
    CHECK(max_abs_diff(va.last_hidden_state->data, vb.last_hidden_state->data, va.last_hidden_state->numel) == 0);
    CHECK(max_abs_diff(va.embeds->data, vb.embeds->data, va.embeds->numel) == 0);
    CHECK(max_abs_diff(ta.embeds->data, tb.embeds->data, ta.embeds->numel) == 0);
    CHECK(ta.embeds->shape[0] == 2 && ta.embeds->shape[1] == 12);

    /* the last 2 pixel rows/columns lie outside every patch (a stride-8 conv ignores them) */
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < 42; y++) px->data[(ch * 42 + y) * 42 + 41] += 5.0f, px->data[(ch * 42 + 41) * 42 + y] -= 3.0f;
    ClipOutput vc;
    REQUIRE(clip_vision_forward(g, b, px, 0, &vc) == 0);
    CHECK(max_abs_diff(va.embeds->data, vc.embeds->data, va.embeds->numel) == 0);

    /* bad inputs */
    Tensor *wrong = tensor_new_shape(4, 1, 3, 40, 40);
    CHECK(clip_vision_forward(g, b, wrong, 0, &vc) != 0);
    CHECK_MSG(strstr(mvla_error_message(), "[B, 3, 42, 42]"), "%s", mvla_error_message());
    int bad_ids[3] = {1, 300, 2};
    CHECK(clip_text_forward(g, b, bad_ids, 1, 3, 0, &tb) != 0);
    CHECK_MSG(strstr(mvla_error_message(), "input_ids[0][1] = 300"), "%s", mvla_error_message());
    int long_ids[17] = {0};
    CHECK(clip_text_forward(g, b, long_ids, 1, 17, 0, &tb) != 0);
    CHECK(strstr(mvla_error_message(), "max_position_embeddings") != NULL);

    tensor_free(wrong);
    tensor_free(px);
    graph_free(g);
    clip_free(a);
    clip_free(b);
}

/* ---- gradients of the last block ---- */

static ClipConfig grad_config(void)
{
    ClipConfig c = small_config();
    c.vision.image_size = 16, c.vision.patch_size = 8, c.vision.hidden_size = 8, c.vision.num_attention_heads = 2;
    c.vision.intermediate_size = 12, c.vision.num_hidden_layers = 2, c.vision.hidden_act = MLP_ACT_QUICK_GELU;
    c.text.hidden_size = 8, c.text.num_attention_heads = 2, c.text.intermediate_size = 12;
    c.text.vocab_size = 20, c.text.max_position_embeddings = 6, c.text.eos_token_id = 19;
    c.text.hidden_act = MLP_ACT_QUICK_GELU;
    c.projection_dim = 4;
    return c;
}

typedef struct {
    ClipModel *m;
    int tower;
    Tensor *px;
    const int *ids;
} GradCtx;

/* [last_hidden_state ; embeds] flattened into one row, so both feed the checked loss. */
static Tensor *build_clip(Graph *g, Tensor **in, void *ctx)
{
    (void)in;
    GradCtx *c = ctx;
    ClipOutput o;
    int rc = c->tower == CLIP_TOWER_VISION ? clip_vision_forward(g, c->m, c->px, 0, &o)
                                           : clip_text_forward(g, c->m, c->ids, 2, 6, 0, &o);
    if (rc) return NULL;
    Tensor *a = op_reshape(g, o.last_hidden_state, 2, (int[]){1, -1});
    Tensor *b = op_reshape(g, o.embeds, 2, (int[]){1, -1});
    return op_concat(g, (Tensor *[]){a, b}, 2, 1);
}

static void gradcheck_tower(int tower)
{
    ClipConfig c = grad_config();
    ClipModel *m = NULL;
    REQUIRE(clip_create_random(&m, &c, 0, 11) == 0);
    ParamList p;
    params_init(&p);
    REQUIRE(clip_trainable(m, tower, 1, 1, &p) == 0);
    CHECK(p.count == ENCODER_BLOCK_TENSORS + 3); /* last block + final norm (2) + projection */
    const char *pre = tower == CLIP_TOWER_VISION ? "vision_model" : "text_model";
    char nm[128];
    snprintf(nm, sizeof nm, "%s.encoder.layers.1.self_attn.k_proj.weight", pre);
    CHECK(params_find(&p, nm) != NULL);
    snprintf(nm, sizeof nm, "%s.encoder.layers.0.self_attn.k_proj.weight", pre);
    CHECK(params_find(&p, nm) == NULL);

    Rng r;
    rng_seed(&r, 3);
    Tensor *px = tensor_new_shape(4, 2, 3, 16, 16);
    tensor_fill_normal(px, &r, 1.0f);
    const int ids[12] = {1, 4, 19, 0, 0, 0, 2, 3, 5, 7, 11, 19};
    GradCtx ctx = {m, tower, px, ids};
    Tensor *in[ENCODER_BLOCK_TENSORS + 3];
    for (int i = 0; i < p.count; i++) in[i] = p.items[i].tensor;
    GradcheckOpts o = {.eps = 1e-2, .tol = 2e-2, .max_elems = 12};
    char label[64];
    snprintf(label, sizeof label, "clip %s last block", tower == CLIP_TOWER_VISION ? "vision" : "text");
    gradcheck(label, build_clip, in, p.count, &ctx, &o);

    /* frozen layers record nothing and get no gradient */
    Graph *g = graph_new();
    Tensor *y = build_clip(g, NULL, &ctx);
    REQUIRE(y);
    int tape = graph_tape_len(g);
    const ClipTower *t = tower == CLIP_TOWER_VISION ? &m->vision : &m->text;
    CHECK(t->layers[0].q_w->requires_grad == 0 && t->layers[0].q_w->grad == NULL);
    CHECK(tape > 0 && tape < 20);
    graph_free(g);

    tensor_free(px);
    params_free(&p, 0);
    clip_free(m);
}

TEST(clip_gradcheck_last_block_vision) { gradcheck_tower(CLIP_TOWER_VISION); }

TEST(clip_gradcheck_last_block_text) { gradcheck_tower(CLIP_TOWER_TEXT); }

/* Gradients reach the input pixels through every layer, the patch embedding (reshape/transpose GEMM) and the
 * class token / position embedding concat, with no parameter trainable. */
TEST(clip_gradcheck_pixels)
{
    ClipConfig c = grad_config();
    ClipModel *m = NULL;
    REQUIRE(clip_create_random(&m, &c, CLIP_TOWER_VISION, 4) == 0);
    Tensor *px = gc_input(21, 4, (int[]){1, 3, 16, 16});
    GradCtx ctx = {m, CLIP_TOWER_VISION, px, NULL};
    GradcheckOpts o = {.eps = 1e-2, .tol = 2e-2, .max_elems = 32};
    gradcheck("clip vision pixels", build_clip, (Tensor *[]){px}, 1, &ctx, &o);
    tensor_free(px);
    clip_free(m);
}

/* Fine-tuning the last block and the head moves image_embeds toward a target. */
TEST(clip_finetune_last_block_reduces_loss)
{
    ClipConfig c = grad_config();
    ClipModel *m = NULL;
    REQUIRE(clip_create_random(&m, &c, CLIP_TOWER_VISION, 5) == 0);
    ParamList p;
    params_init(&p);
    REQUIRE(clip_trainable(m, CLIP_TOWER_VISION, 1, 1, &p) == 0);
    OptimConfig oc = optim_config_default(OPTIM_ADAMW);
    Optimizer *opt = optim_new(OPTIM_ADAMW, &p, &oc);
    REQUIRE(opt);
    Rng r;
    rng_seed(&r, 8);
    Tensor *px = tensor_new_shape(4, 4, 3, 16, 16), *target = tensor_new_shape(2, 4, 4);
    tensor_fill_normal(px, &r, 1.0f);
    tensor_fill_normal(target, &r, 1.0f);
    Graph *g = graph_new();
    float first = 0, last = 0;
    for (int step = 0; step < 30; step++) {
        graph_reset(g);
        optim_zero_grad(opt);
        ClipOutput o;
        REQUIRE(clip_vision_forward(g, m, px, 0, &o) == 0);
        Tensor *loss = op_mse_loss(g, o.embeds, target);
        REQUIRE(loss && graph_backward(g, loss, NULL) == 0);
        REQUIRE(optim_step(opt, 1e-2f) == 0);
        if (step == 0) first = loss->data[0];
        last = loss->data[0];
    }
    CHECK_MSG(last < 0.5f * first, "loss %g -> %g", first, last);
    graph_free(g);
    optim_free(opt);
    tensor_free(px), tensor_free(target);
    params_free(&p, 0);
    clip_free(m);
}

/* ---- the command line ---- */


static const char *mvla_bin(void)
{
    const char *bin = getenv("MVLA_BIN");
    if (!bin) fprintf(stderr, "(skipped: MVLA_BIN not set; `make check` sets it) ");
    return bin;
}

TEST(clip_cli_run_matches_golden)
{
    const char *bin = mvla_bin();
    char dir[1024];
    if (!bin || !tiny_dir(dir, sizeof dir)) return;
    static const char *const names[] = {
        "vision_hidden_states.0", "vision_hidden_states.1", "vision_hidden_states.2", "vision_last_hidden_state",
        "vision_pooled", "image_embeds", "text_hidden_states.0", "text_hidden_states.1", "text_hidden_states.2",
        "text_last_hidden_state", "text_pooled", "text_embeds", "logits_per_image"};
    const char *batches[] = {"", "--batch 1"}; /* one pass, and one image/text per pass */
    for (int k = 0; k < 2; k++) {
        char out_path[600], cmd[3000], *out = NULL;
        snprintf(out_path, sizeof out_path, "%s/out%d.safetensors", test_tmpdir(), k);
        snprintf(cmd, sizeof cmd, "'%s' --threads 2 backbone run '%s' --inputs '%s/io.safetensors' -o '%s' "
                 "--hidden-states %s 2>&1", bin, dir, dir, out_path, batches[k]);
        int rc = test_run_capture(cmd, &out);
        CHECK_MSG(rc == 0, "%s -> %d:\n%s", cmd, rc, out);
        free(out);
        SafeTensors *got = NULL, *io = open_io();
        REQUIRE(io);
        if (st_open(&got, out_path)) {
            test_fail(__FILE__, __LINE__, "%s", mvla_error_message());
            st_close(io);
            return;
        }
        CHECK(st_count(got) == (int)(sizeof names / sizeof names[0]));
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            Tensor *t = st_load_new(got, names[i]);
            CHECK_MSG(t, "%s", mvla_error_message());
            if (t) check_against(io, names[i], t, TOL);
            tensor_free(t);
        }
        st_close(got);
        st_close(io);
    }
}

TEST(clip_cli_errors_and_tokenize)
{
    const char *bin = mvla_bin();
    char dir[1024];
    if (!bin || !tiny_dir(dir, sizeof dir)) return;
    char cmd[3000], *out = NULL, path[600];
    /* an input file with neither pixel_values nor input_ids */
    snprintf(path, sizeof path, "%s/empty_in.safetensors", test_tmpdir());
    Tensor *x = tensor_new_shape(1, 3);
    StWriter *w = st_writer_new();
    CHECK(st_writer_add_tensor(w, "something", x) == 0);
    REQUIRE(st_writer_save(w, path) == 0);
    st_writer_free(w);
    tensor_free(x);
    snprintf(cmd, sizeof cmd, "'%s' backbone run '%s' --inputs '%s' -o '%s/o.safetensors' 2>&1", bin, dir, path,
             test_tmpdir());
    CHECK(test_run_capture(cmd, &out) == 1);
    CHECK_MSG(strstr(out, "mvla: ") && strstr(out, "neither pixel_values nor input_ids"), "%s", out);
    free(out);
    /* wrong pixel size */
    w = st_writer_new();
    x = tensor_new_shape(4, 1, 3, 32, 32);
    CHECK(st_writer_add_tensor(w, "pixel_values", x) == 0);
    REQUIRE(st_writer_save(w, path) == 0);
    st_writer_free(w);
    tensor_free(x);
    CHECK(test_run_capture(cmd, &out) == 1);
    CHECK_MSG(strstr(out, "pixel_values [1, 3, 32, 32]") && strstr(out, "[B, 3, 64, 64]"), "%s", out);
    free(out);
    /* missing arguments */
    snprintf(cmd, sizeof cmd, "'%s' backbone run '%s' 2>&1", bin, dir);
    CHECK(test_run_capture(cmd, &out) == 2);
    free(out);

    /* tokenize: ids of the golden input_ids row 1 ("go to the cup") */
    SafeTensors *io = open_io();
    REQUIRE(io);
    int n, len, *ids = golden_ids(io, &n, &len);
    REQUIRE(ids);
    snprintf(cmd, sizeof cmd, "'%s' backbone tokenize '%s' 'go to the cup' 'Go  to the CUP' 2>&1", bin,
             golden_clip_dir());
    CHECK(test_run_capture(cmd, &out) == 0);
    char want[512];
    int used = snprintf(want, sizeof want, "[");
    for (int k = 0; k <= 5; k++) used += snprintf(want + used, sizeof want - used, "%s%d", k ? ", " : "", ids[len + k]);
    snprintf(want + used, sizeof want - used, "]\n");
    char twice[1100];
    snprintf(twice, sizeof twice, "%s%s", want, want);
    CHECK_MSG(strcmp(out, twice) == 0, "got:\n%swant:\n%s", out, twice);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' backbone tokenize '%s' --pad 'go to the cup' 2>&1", bin, golden_clip_dir());
    CHECK(test_run_capture(cmd, &out) == 0);
    used = snprintf(want, sizeof want, "[");
    for (int k = 0; k < len; k++) used += snprintf(want + used, sizeof want - used, "%s%d", k ? ", " : "", ids[len + k]);
    snprintf(want + used, sizeof want - used, "]\n");
    CHECK_MSG(strcmp(out, want) == 0, "got:\n%swant:\n%s", out, want);
    free(out);
    free(ids);
    st_close(io);
}
