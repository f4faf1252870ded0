/* The student policy: config parsing and its errors, the tokenizer, gradients end to end for each head,
 * learning to follow left/right instructions, step mode against the batched forward, batch norm folding,
 * checkpoints, padding masks and the steady-state step's memory. */
#include "gradcheck.h"
#include "test.h"

#include "base/error.h"
#include "base/threads.h"
#include "data/actions.h"
#include "models/policy.h"
#include "nn/checkpoint.h"
#include "tensor/ops_shape.h"
#include "tensor/optim.h"

#include <stdlib.h>
#include <string.h>

static const char *LEFT = "Navigate around obstacles and reach the front of the beverage bottle on the left";
static const char *RIGHT = "Navigate around obstacles and reach the front of the beverage bottle on the right";

/* A tiny policy: 32x32 input, 3 blocks (final map 2x2), small widths. `extra` holds more top-level
 * keys (head, action, fusion, ...), e.g. "\"head\": {\"kind\": \"lstm\"}"; a small instruction encoder
 * unless extra has its own. */
static int tiny_policy(StudentPolicy *p, const char *extra, uint64_t seed)
{
    char json[2048];
    const char *instr = extra && strstr(extra, "\"instruction\"") ? ""
                        : ", \"instruction\": {\"vocab\": 64, \"dim\": 8, \"hidden\": 16, \"out_dim\": 8, \"max_tokens\": 24}";
    snprintf(json, sizeof json,
             "{\"feature_dim\": 16, \"dropout\": 0,"
             " \"encoder\": {\"input_width\": 32, \"input_height\": 32, \"width_mult\": 0.5, \"stem_channels\": 16,"
             "   \"blocks\": [{\"kernel\": 3, \"expand\": 16, \"out\": 16, \"stride\": 2, \"se\": true},"
             "              {\"kernel\": 3, \"expand\": 32, \"out\": 16, \"stride\": 2, \"act\": \"hardswish\"},"
             "              {\"kernel\": 3, \"expand\": 32, \"out\": 24, \"stride\": 2, \"se\": true, \"act\": \"hardswish\"}],"
             "   \"final_channels\": 16}%s%s%s}",
             instr, extra && *extra ? ", " : "", extra ? extra : "");
    StudentConfig c;
    int rc = student_config_parse(&c, json, "tiny");
    return rc ? rc : student_init(p, &c, seed);
}

/* Random batch norm statistics and affine maps, and FiLM away from the identity, so eval mode and the
 * instruction both matter. */
static void randomize_policy(StudentPolicy *p, uint64_t seed)
{
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < p->params.count; i++) {
        const char *n = p->params.items[i].name;
        Tensor *t = p->params.items[i].tensor;
        if (strstr(n, "running_var")) tensor_fill_uniform(t, &r, 0.5f, 1.5f);
        else if (strstr(n, "running_mean") || strstr(n, "bn.bias")) tensor_fill_normal(t, &r, 0.1f);
        else if (strstr(n, "bn.weight")) tensor_fill_uniform(t, &r, 0.8f, 1.2f);
        else if (strncmp(n, "film.", 5) == 0 || strcmp(n, "head.pad") == 0) tensor_fill_normal(t, &r, 0.2f);
    }
}

static Tensor *random_frames(int B, const StudentConfig *c, uint64_t seed)
{
    Tensor *f = tensor_new_shape(5, B, c->head.window, 3, c->encoder.input_height, c->encoder.input_width);
    Rng r;
    rng_seed(&r, seed);
    if (f) tensor_fill_normal(f, &r, 1.0f);
    return f;
}

/* ---- config ---- */

TEST(policy_config_defaults_round_trip_and_presets)
{
    StudentConfig a, b, d;
    student_config_default(&d);
    REQUIRE(student_config_parse(&a, "{}", "empty") == 0);
    CHECK(memcmp(&a, &d, sizeof a) == 0);
    CHECK(d.encoder.n_blocks == 7 && d.n_film == 2 && d.film_stages[0] == 2 && d.film_stages[1] == 6);
    /* Every preset parses, and to_json -> parse gives the same config back. */
    const char *presets[] = {"configs/student.json", "configs/student-film.json", "configs/student-nohistory.json",
                             "configs/student-discrete.json"};
    for (int i = 0; i < 4; i++) {
        CHECK_MSG(student_config_load(&a, presets[i]) == 0, "%s: %s", presets[i], mvla_error_message());
        char *json = student_config_to_json(&a);
        REQUIRE(json);
        CHECK_MSG(student_config_parse(&b, json, "round trip") == 0, "%s", mvla_error_message());
        CHECK_MSG(memcmp(&a, &b, sizeof a) == 0, "%s: to_json/parse changed the config", presets[i]);
        free(json);
    }
    REQUIRE(student_config_load(&a, "configs/student.json") == 0);
    CHECK(strcmp(a.name, "student") == 0 && a.head.kind == HEAD_LSTM && a.action.kind == ACTION_CONTINUOUS &&
          a.fusion == FUSION_CONCAT);
    CHECK_MSG(memcmp(&a, &d, sizeof a) == 0, "configs/student.json is not the built-in default written out");
    REQUIRE(student_config_load(&a, "configs/student-discrete.json") == 0);
    CHECK(a.action.kind == ACTION_DISCRETE);
    REQUIRE(student_config_load(&a, "configs/student-nohistory.json") == 0);
    CHECK(a.head.kind == HEAD_NONE && a.head.window == 1);
    REQUIRE(student_config_load(&a, "configs/student-film.json") == 0);
    CHECK(a.fusion == FUSION_FILM);
    /* Block defaults: expand 4x the input, out = input; default FiLM stages follow the block count. */
    REQUIRE(student_config_parse(&a, "{\"encoder\": {\"stem_channels\": 8, \"blocks\": [{}, {\"out\": 16}, {}]}}",
                                 "blocks") == 0);
    CHECK(a.encoder.blocks[0].expand == 32 && a.encoder.blocks[0].out == 8 && a.encoder.blocks[2].out == 16 &&
          a.encoder.blocks[2].expand == 64);
    CHECK(a.n_film == 2 && a.film_stages[0] == 0 && a.film_stages[1] == 2);
    REQUIRE(student_config_parse(&a, "{\"fusion\": {\"stages\": [5, 1]}}", "stages") == 0);
    CHECK(a.n_film == 2 && a.film_stages[0] == 1 && a.film_stages[1] == 5);
}

TEST(policy_config_errors_name_the_key)
{
    static const struct { const char *json, *expect; } cases[] = {
        {"{\"encoder\": {\"widht_mult\": 1}}", "cfg: encoder.widht_mult: unknown key (expected one of: input_width"},
        {"{\"colour\": 1}", "cfg: colour: unknown key"},
        {"{\"encoder\": {\"blocks\": [{}, {}, {\"kernel\": 4}]}}", "encoder.blocks[2].kernel: expected an odd integer"},
        {"{\"encoder\": {\"blocks\": [{\"kernal\": 3}]}}", "encoder.blocks[0].kernal: unknown key"},
        {"{\"encoder\": {\"blocks\": []}}", "encoder.blocks: expected an array of 1..16"},
        {"{\"encoder\": {\"width_mult\": 0}}", "encoder.width_mult: expected a number in (0, 4], got 0"},
        {"{\"encoder\": {\"input_width\": 8}}", "encoder.input_width: expected an integer in 16..1024, got 8"},
        {"{\"encoder\": {\"pixel_std\": [0.2, 0, 0.2]}}", "encoder.pixel_std: expected an array of 3 numbers"},
        {"{\"encoder\": {\"pool\": \"max\"}}", "encoder.pool: expected one of \"flatten\", \"avg\", got \"max\""},
        {"{\"dropout\": \"x\"}", "dropout: expected a number in [0, 0.9], got \"x\""},
        {"{\"feature_dim\": 1.5}", "feature_dim: expected an integer"},
        {"{\"head\": {\"kind\": \"none\", \"window\": 4}}", "head.window: head \"none\" looks at the current frame only"},
        {"{\"head\": {\"kind\": \"gru\"}}", "head.kind: expected one of \"none\", \"lstm\", \"transformer\""},
        {"{\"head\": {\"kind\": \"transformer\", \"heads\": 5}}", "head.heads: expected a divisor of feature_dim 128"},
        {"{\"fusion\": {\"kind\": \"film\", \"stages\": [7]}}", "fusion.stages[0]: expected a block index in 0..6"},
        {"{\"fusion\": {\"stages\": [1, 1]}}", "fusion.stages: block 1 appears twice"},
        {"{\"fusion\": {\"kind\": \"add\"}}", "fusion.kind: expected one of \"film\", \"concat\""},
        {"{\"action\": {\"loss\": \"l2\"}}", "action.loss: expected one of \"l1\", \"huber\", \"mse\""},
        {"{\"action\": {\"ensemble\": 1}}", "action.ensemble: expected true or false, got 1"},
        {"{\"action\": {\"chunk\": 0}}", "action.chunk: expected an integer in 1..64, got 0"},
        {"{\"instruction\": {\"ngram_min\": 3, \"ngram_max\": 2}}", "instruction.ngram_min: expected 1 <= ngram_min"},
        {"{\"instruction\": {\"encoder\": \"transformer\", \"heads\": 3}}", "instruction.heads: expected a divisor"},
        {"{\"encoder\": []}", "cfg: encoder: expected an object, got []"},
        {"[1, 2]", "cfg: expected a JSON object at the top"},
        {"{\"name\": \"x\",}", "cfg: line 1 column"},
        {"{\"name\": \"\"}", "name: expected a string of 1..63 bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        StudentConfig c;
        int rc = student_config_parse(&c, cases[i].json, "cfg");
        CHECK_MSG(rc != 0, "%s: accepted", cases[i].json);
        CHECK_MSG(strstr(mvla_error_message(), cases[i].expect) != NULL, "%s: message \"%s\", expected \"%s\"",
                  cases[i].json, mvla_error_message(), cases[i].expect);
        StudentConfig d;
        student_config_default(&d);
        CHECK(memcmp(&c, &d, sizeof c) == 0); /* failure leaves the defaults */
    }
    StudentConfig c;
    CHECK(student_config_load(&c, "configs/no-such-file.json") != 0);
    CHECK(strstr(mvla_error_message(), "no-such-file.json") != NULL);
}

/* ---- tokenizer ---- */

static int same_tokens(const InstrTokens *a, const InstrTokens *b)
{
    return a->n == b->n && memcmp(a->ids, b->ids, (size_t)a->n * sizeof(int)) == 0;
}

TEST(instruction_tokenizer_english_and_korean)
{
    StudentConfig c;
    student_config_default(&c);
    InstrConfig *ic = &c.instruction;
    ic->ngram_min = 2, ic->ngram_max = 3; /* words, then n-grams up to max_tokens */
    InstrTokens a, b;
    REQUIRE(instr_tokenize(ic, LEFT, &a) == 0);
    REQUIRE(instr_tokenize(ic, RIGHT, &b) == 0);
    CHECK(a.n == ic->max_tokens && !same_tokens(&a, &b));
    /* Words come first, in order: only the last word differs. */
    CHECK(memcmp(a.ids, b.ids, 13 * sizeof(int)) == 0 && a.ids[13] != b.ids[13]);
    for (int i = 0; i < a.n; i++) CHECK(a.ids[i] >= 2 && a.ids[i] < ic->vocab);
    /* Case and punctuation do not matter; the same text always gives the same ids. */
    REQUIRE(instr_tokenize(ic, "  NAVIGATE around obstacles, and reach the front of the beverage bottle on the LEFT!",
                           &b) == 0);
    CHECK(same_tokens(&a, &b));
    /* Korean: the two sides differ; "왼쪽" and "왼쪽으로" share n-grams. */
    const char *kl = "가장 왼쪽 외곽으로 돌아 컵까지 가세요", *kr = "가장 오른쪽 외곽으로 돌아 컵까지 가세요";
    REQUIRE(instr_tokenize(ic, kl, &a) == 0);
    REQUIRE(instr_tokenize(ic, kr, &b) == 0);
    CHECK(a.n > 6 && !same_tokens(&a, &b) && a.ids[0] == b.ids[0] && a.ids[1] != b.ids[1]);
    InstrConfig words = *ic;
    words.ngram_min = words.ngram_max = 2;
    REQUIRE(instr_tokenize(&words, "왼쪽", &a) == 0);
    REQUIRE(instr_tokenize(&words, "왼쪽으로", &b) == 0);
    CHECK(a.n == 4 && b.n == 6 && a.ids[1] == b.ids[1] && a.ids[2] == b.ids[2]); /* "<왼", "왼쪽" */
    /* Whole words only; truncation; the empty instruction. */
    words.ngram_min = words.ngram_max = 0;
    REQUIRE(instr_tokenize(&words, "go left now", &a) == 0);
    CHECK(a.n == 3);
    words.max_tokens = 2;
    REQUIRE(instr_tokenize(&words, "go left now", &a) == 0);
    CHECK(a.n == 2);
    REQUIRE(instr_tokenize(ic, " ,.!? ", &a) == 0);
    CHECK(a.n == 1 && a.ids[0] == INSTR_EMPTY_ID);
    REQUIRE(instr_tokenize(ic, NULL, &b) == 0);
    CHECK(same_tokens(&a, &b));
    /* Invalid UTF-8 is an error naming the byte. */
    CHECK(instr_tokenize(ic, "go \xC3\x28 left", &a) != 0);
    CHECK(strstr(mvla_error_message(), "byte 3: invalid UTF-8") != NULL);
    CHECK(instr_tokenize(ic, "\xED\xA0\x80", &a) != 0); /* a surrogate */
    CHECK(instr_tokenize(ic, "\xE2\x82", &a) != 0);     /* truncated */
}

/* ---- gradients ---- */

typedef struct {
    StudentPolicy *p;
    InstrTokens tok[2];
    float mask[2 * 3];
    float targets[2 * 2 * 3], tmask[2 * 2];
    int training;
} GcCtx;

/* Loss of the policy on 2 windows (the first padded at its start), from frames in[0]. */
static Tensor *build_policy_loss(Graph *g, Tensor **in, void *ctx)
{
    GcCtx *c = ctx;
    Tensor *e = student_encode_tokens(g, c->p, c->tok, 2, c->training, NULL);
    Tensor *out = student_forward(g, c->p, in[0], c->mask, e, c->training, NULL);
    return student_loss(g, c->p, out, c->targets, c->tmask);
}

typedef struct {
    StudentPolicy *p;
    InstrTokens tok[2];
    float mask[2 * 4];
    float targets[2 * 4 * 2 * 3], tmask[2 * 4 * 2];
} SeqCtx;

static Tensor *build_sequence_loss(Graph *g, Tensor **in, void *ctx)
{
    SeqCtx *c = ctx;
    Tensor *e = student_encode_tokens(g, c->p, c->tok, 2, 1, NULL);
    return student_loss(g, c->p, student_forward_sequence(g, c->p, in[0], c->mask, e, 1, NULL), c->targets, c->tmask);
}

/* The sequence forward in training mode: 2 sequences of 4 frames, the second starting with padding. */
TEST(policy_gradcheck_sequence_forward)
{
    int threads = mvla_get_threads();
    mvla_set_threads(1);
    StudentPolicy p;
    REQUIRE(tiny_policy(&p, "\"head\": {\"kind\": \"transformer\", \"window\": 3, \"heads\": 2, \"ff\": 16}, "
                            "\"action\": {\"chunk\": 2, \"loss\": \"mse\"}", 31) == 0);
    randomize_policy(&p, 32);
    SeqCtx c = {.p = &p, .mask = {1, 1, 1, 1, 0, 1, 1, 1}};
    REQUIRE(instr_tokenize(&p.cfg.instruction, LEFT, &c.tok[0]) == 0);
    REQUIRE(instr_tokenize(&p.cfg.instruction, RIGHT, &c.tok[1]) == 0);
    Rng r;
    rng_seed(&r, 33);
    for (int i = 0; i < 2 * 4 * 2 * 3; i++) c.targets[i] = rng_normal(&r);
    for (int i = 0; i < 2 * 4 * 2; i++) c.tmask[i] = i / 2 != 4; /* the padded position's targets */
    Tensor *frames = tensor_new_shape(5, 2, 4, 3, 32, 32);
    REQUIRE(frames);
    tensor_fill_normal(frames, &r, 1.0f);
    tensor_requires_grad(frames);
    Tensor *in[6] = {frames, params_find(&p.params, "neck.weight")->tensor, params_find(&p.params, "head.pos")->tensor,
                     params_find(&p.params, "head.pad")->tensor,
                     params_find(&p.params, "head.transformer.layers.0.attn.k.weight")->tensor,
                     params_find(&p.params, "out.weight")->tensor};
    GradcheckOpts o = {.eps = 1e-3, .tol = 2e-2, .max_elems = 16};
    gradcheck("policy sequence forward", build_sequence_loss, in, 6, &c, &o);
    tensor_free(frames);
    student_free(&p);
    mvla_set_threads(threads);
}

TEST(policy_gradcheck_each_head)
{
    static const char *variants[] = {
        "\"head\": {\"kind\": \"none\", \"window\": 1, \"hidden\": 16}, \"action\": {\"chunk\": 2, \"loss\": \"huber\", "
        "\"huber_delta\": 0.5}",
        "\"head\": {\"kind\": \"lstm\", \"window\": 3, \"hidden\": 12, \"layers\": 2}, \"action\": {\"chunk\": 2, "
        "\"loss\": \"mse\"}",
        "\"head\": {\"kind\": \"transformer\", \"window\": 3, \"heads\": 2, \"ff\": 24}, \"action\": {\"chunk\": 2, "
        "\"kind\": \"discrete\"}, \"instruction\": {\"encoder\": \"transformer\", \"vocab\": 64, \"dim\": 8, "
        "\"hidden\": 16, \"out_dim\": 8, \"heads\": 2, \"ff\": 16, \"max_tokens\": 24}",
        "\"head\": {\"kind\": \"lstm\", \"window\": 3, \"hidden\": 12}, \"fusion\": {\"kind\": \"concat\"}, "
        "\"action\": {\"chunk\": 2, \"loss\": \"mse\"}",
    };
    /* Head-side parameters (checked in training mode too) and encoder-side ones (eval mode: an early
     * weight under training-mode batch norm crosses too many relu kinks for finite differences). */
    static const char *head_params[] = {"neck.weight", "head.pad", "head.mlp.weight", "head.lstm.weight_hh_l1",
                                        "head.lstm.weight_ih_l0", "head.transformer.layers.0.attn.q.weight",
                                        "head.pos", "out.weight", "out.bias"};
    static const char *enc_params[] = {"film.0.gamma.weight", "film.1.beta.weight", "instruction.mlp.fc1.weight",
                                       "instruction.transformer.layers.0.mlp.fc1.weight", "encoder.blocks.1.dw.weight"};
    int threads = mvla_get_threads(); /* tiny tensors: threads only add waiting */
    mvla_set_threads(1);
    for (int v = 0; v < 4; v++) {
        StudentPolicy p;
        REQUIRE(tiny_policy(&p, variants[v], 10 + v) == 0);
        randomize_policy(&p, 20 + v);
        GcCtx c = {.p = &p};
        REQUIRE(instr_tokenize(&p.cfg.instruction, LEFT, &c.tok[0]) == 0);
        REQUIRE(instr_tokenize(&p.cfg.instruction, "가장 오른쪽 외곽으로 돌아 컵까지 가세요", &c.tok[1]) == 0);
        int W = p.cfg.head.window;
        for (int i = 0; i < 2 * W; i++) c.mask[i] = !(i == 0 && W > 1); /* window 0 starts with padding */
        const float acts[4][3] = {{1.15f, 0, 0}, {0, 1.15f, 0}, {0.3f, -0.9f, 0.2f}, {0, 0, -1.15f}};
        for (int i = 0; i < 4; i++) memcpy(c.targets + 3 * i, acts[i], sizeof acts[i]), c.tmask[i] = i != 3;
        Tensor *frames = random_frames(2, &p.cfg, 30 + v);
        REQUIRE(frames && tensor_requires_grad(frames) == 0);
        for (int training = 0; training <= 1; training++) {
            Tensor *in[16] = {frames};
            int n = 1;
            for (size_t k = 0; k < sizeof head_params / sizeof *head_params; k++) {
                Param *pp = params_find(&p.params, head_params[k]);
                if (pp) in[n++] = pp->tensor;
            }
            for (size_t k = 0; !training && k < sizeof enc_params / sizeof *enc_params; k++) {
                Param *pp = params_find(&p.params, enc_params[k]);
                if (pp) in[n++] = pp->tensor;
            }
            c.training = training;
            char label[64];
            snprintf(label, sizeof label, "policy variant %d %s", v, training ? "train" : "eval");
            GradcheckOpts o = {.eps = 1e-3, .tol = 2e-2, .max_elems = 16};
            gradcheck(label, build_policy_loss, in, n, &c, &o);
        }
        tensor_free(frames);
        student_free(&p);
    }
    mvla_set_threads(threads);
}

/* ---- learning ---- */

/* 4 windows of random frames, each seen with the left and the right instruction: linear_y must be
 * +1.15 for left and -1.15 for right. Images alone cannot tell them apart, so a low loss needs the
 * instruction. Returns the final training loss and writes the eval-mode linear_y per window, from the
 * batched forward and from step mode. */
static float train_left_right(StudentPolicy *p, int steps, float *y_eval, float *y_step)
{
    const StudentConfig *c = &p->cfg;
    int B = 8, K = c->action.chunk;
    Tensor *frames = random_frames(B, c, 77);
    Tensor *base = random_frames(4, c, 78);
    long per = frames->numel / B;
    const char *texts[8];
    float *targets = calloc((size_t)B * K * 3, sizeof *targets);
    for (int b = 0; b < B; b++) {
        memcpy(frames->data + b * per, base->data + (b % 4) * per, (size_t)per * sizeof(float));
        texts[b] = b < 4 ? LEFT : RIGHT;
        for (int k = 0; k < K; k++) targets[(b * K + k) * 3 + 1] = b < 4 ? 1.15f : -1.15f;
    }
    OptimConfig oc = optim_config_default(OPTIM_ADAMW);
    oc.lr = 3e-3f, oc.weight_decay = 1e-4f;
    Optimizer *opt = optim_new(OPTIM_ADAMW, &p->params, &oc);
    Graph *g = graph_new();
    Rng rng;
    rng_seed(&rng, 5);
    float loss_value = -1;
    for (int s = 0; s < steps; s++) {
        graph_reset(g);
        Tensor *e = student_encode_texts(g, p, texts, B, 1, &rng);
        Tensor *loss = student_loss(g, p, student_forward(g, p, frames, NULL, e, 1, &rng), targets, NULL);
        if (!loss) break;
        optim_zero_grad(opt);
        if (graph_backward(g, loss, NULL)) break;
        clip_grad_norm(&p->params, 1.0f);
        optim_step(opt, oc.lr);
        loss_value = loss->data[0];
    }
    graph_reset(g);
    graph_set_grad(g, 0);
    Tensor *e = student_encode_texts(g, p, texts, B, 0, NULL);
    Tensor *out = student_forward(g, p, frames, NULL, e, 0, NULL);
    for (int b = 0; b < B && out; b++) {
        float a[3];
        student_output_to_actions(p, out->data + (long)b * K * p->out_dim, 1, a);
        y_eval[b] = a[1];
    }
    /* Step mode over the same windows, one instruction per episode: the same answers. */
    StudentRunner *run = student_runner_new(p);
    for (int b = 0; b < B && run; b++) {
        float a[3] = {0};
        if (student_runner_set_instruction(run, texts[b])) break;
        for (int t = 0; t < c->head.window; t++)
            student_runner_step(run, frames->data + b * per + t * (per / c->head.window), a, NULL);
        y_step[b] = a[1];
    }
    student_runner_free(run);
    graph_free(g);
    optim_free(opt);
    free(targets);
    tensor_free(frames), tensor_free(base);
    return out ? loss_value : -1;
}

TEST(policy_learns_to_follow_left_right_instructions)
{
    static const char *variants[] = {
        "\"head\": {\"kind\": \"lstm\", \"window\": 2, \"hidden\": 16}, \"action\": {\"chunk\": 2, "
        "\"kind\": \"continuous\"}, \"fusion\": {\"kind\": \"film\"}",
        "\"head\": {\"kind\": \"lstm\", \"window\": 2, \"hidden\": 16}, \"action\": {\"chunk\": 2, "
        "\"kind\": \"continuous\"}",
        "\"head\": {\"kind\": \"none\", \"window\": 1, \"hidden\": 16}, \"action\": {\"chunk\": 2, "
        "\"kind\": \"discrete\"}",
    };
    /* Tiny tensors gain nothing from threads, and on a busy machine OpenMP's waiting costs seconds. */
    int threads = mvla_get_threads();
    mvla_set_threads(1);
    for (int v = 0; v < 3; v++) {
        StudentPolicy p;
        if (tiny_policy(&p, variants[v], 3)) {
            mvla_set_threads(threads);
            REQUIRE(0);
        }
        float y[8], ys[8] = {0};
        float loss = train_left_right(&p, 150, y, ys);
        CHECK_MSG(loss >= 0 && loss < 0.05f, "variant %d: training loss %.4f after 150 steps (%s)", v, loss,
                  mvla_error_message());
        for (int b = 0; b < 8; b++)
            CHECK_MSG(fabsf(y[b] - (b < 4 ? 1.15f : -1.15f)) < 0.2f,
                      "variant %d window %d (%s): eval linear_y %.3f", v, b, b < 4 ? "left" : "right", y[b]);
        for (int b = 0; b < 8; b++) CHECK_NEAR(ys[b], y[b], 1e-4);
        student_free(&p);
    }
    mvla_set_threads(threads);
}

/* ---- step mode ---- */

TEST(policy_step_mode_matches_batched_forward)
{
    static const char *variants[] = {
        "\"head\": {\"kind\": \"lstm\", \"window\": 3, \"hidden\": 12, \"layers\": 2}, \"action\": {\"chunk\": 2}",
        "\"head\": {\"kind\": \"transformer\", \"window\": 3, \"heads\": 2, \"ff\": 24}, \"action\": {\"chunk\": 3}",
        "\"head\": {\"kind\": \"none\", \"window\": 1, \"hidden\": 16}, \"action\": {\"chunk\": 2, "
        "\"kind\": \"discrete\"}",
        "\"head\": {\"kind\": \"lstm\", \"window\": 4, \"hidden\": 12}, \"fusion\": {\"kind\": \"concat\"}",
    };
    for (int v = 0; v < 4; v++) {
        StudentPolicy p;
        REQUIRE(tiny_policy(&p, variants[v], 40 + v) == 0);
        randomize_policy(&p, 50 + v);
        const StudentConfig *c = &p.cfg;
        int W = c->head.window, K = c->action.chunk, T = W + 3, V = p.out_dim;
        long fsz = 3L * c->encoder.input_width * c->encoder.input_height;
        Tensor *seq = tensor_new_shape(2, T, fsz);
        Rng r;
        rng_seed(&r, 60 + v);
        tensor_fill_normal(seq, &r, 1.0f);
        StudentRunner *run = student_runner_new(&p);
        REQUIRE(run);
        REQUIRE(student_runner_set_instruction(run, RIGHT) == 0);
        float *step_out = malloc((size_t)T * K * V * sizeof(float));
        for (int t = 0; t < T; t++) {
            float a[3], chunk[64 * 3];
            REQUIRE(student_runner_step(run, seq->data + t * fsz, a, chunk) == 0);
            memcpy(step_out + (long)t * K * V, student_runner_output(run), (size_t)K * V * sizeof(float));
            float expect[64 * 3];
            student_output_to_actions(&p, step_out + (long)t * K * V, K, expect);
            CHECK(memcmp(chunk, expect, (size_t)K * 3 * sizeof(float)) == 0 && memcmp(a, chunk, sizeof a) == 0);
        }
        /* All T windows as one batch, the early ones padded at their start (garbage pixels there). */
        Tensor *frames = random_frames(T, c, 99);
        float *mask = malloc((size_t)T * W * sizeof *mask);
        for (int t = 0; t < T; t++)
            for (int j = 0; j < W; j++) {
                int f = t - W + 1 + j;
                mask[t * W + j] = f >= 0;
                if (f >= 0) memcpy(frames->data + ((long)t * W + j) * fsz, seq->data + f * fsz, (size_t)fsz * sizeof(float));
            }
        Graph *g = graph_new();
        graph_set_grad(g, 0);
        const char **texts = malloc((size_t)T * sizeof *texts);
        for (int t = 0; t < T; t++) texts[t] = RIGHT;
        Tensor *e = student_encode_texts(g, &p, texts, T, 0, NULL);
        Tensor *out = student_forward(g, &p, frames, mask, e, 0, NULL);
        REQUIRE(out);
        double d = max_abs_diff(out->data, step_out, out->numel);
        CHECK_MSG(d < 1e-5, "variant %d: step mode and batched forward differ by %g", v, d);
        /* The sequence forward: every position of the T frames at once, each frame encoded once. */
        graph_reset(g);
        Tensor *seq5 = op_reshape(g, seq, 5, (int[]){1, T, 3, c->encoder.input_height, c->encoder.input_width});
        Tensor *all = student_forward_sequence(g, &p, seq5, NULL, student_encode_texts(g, &p, texts, 1, 0, NULL), 0,
                                               NULL);
        REQUIRE(all);
        CHECK(all->ndim == 3 && all->shape[0] == T && all->shape[1] == K && all->shape[2] == V);
        d = max_abs_diff(all->data, step_out, all->numel);
        CHECK_MSG(d < 1e-5, "variant %d: step mode and sequence forward differ by %g", v, d);
        /* A reset starts over: the first step again sees only padding before it. */
        student_runner_reset(run);
        float a[3];
        REQUIRE(student_runner_step(run, seq->data, a, NULL) == 0);
        CHECK(max_abs_diff(student_runner_output(run), step_out, K * V) < 1e-6);
        free(texts);
        graph_free(g);
        free(mask);
        tensor_free(frames);
        free(step_out);
        student_runner_free(run);
        tensor_free(seq);
        student_free(&p);
    }
}

TEST(policy_temporal_ensembling_weights_older_chunks)
{
    StudentPolicy p;
    REQUIRE(tiny_policy(&p, "\"head\": {\"kind\": \"lstm\", \"window\": 2, \"hidden\": 8}, "
                            "\"action\": {\"chunk\": 3, \"kind\": \"continuous\", \"ensemble\": true, "
                            "\"ensemble_m\": 0.5}", 7) == 0);
    randomize_policy(&p, 8);
    long fsz = 3L * 32 * 32;
    Tensor *seq = tensor_new_shape(2, 6, fsz);
    Rng r;
    rng_seed(&r, 9);
    tensor_fill_normal(seq, &r, 1.0f);
    StudentRunner *run = student_runner_new(&p);
    REQUIRE(run);
    float chunks[6][9], a[3];
    for (int t = 0; t < 6; t++) {
        REQUIRE(student_runner_step(run, seq->data + t * fsz, a, chunks[t]) == 0);
        /* Expected: the chunks of steps t-j (j < 3) predict step t at entry j; weight exp(-m i), i = 0 oldest. */
        int n = t + 1 < 3 ? t + 1 : 3;
        double acc[3] = {0}, wsum = 0;
        for (int j = 0; j < n; j++) {
            double w = exp(-0.5 * (n - 1 - j));
            for (int k = 0; k < 3; k++) acc[k] += w * chunks[t - j][j * 3 + k];
            wsum += w;
        }
        for (int k = 0; k < 3; k++) CHECK_NEAR(a[k], acc[k] / wsum, 1e-5);
    }
    /* The chunks differ from step to step, so the ensemble is not just the newest chunk's first entry. */
    CHECK(fabsf(a[0] - chunks[5][0]) > 1e-6 || fabsf(a[1] - chunks[5][1]) > 1e-6);
    student_runner_free(run);
    student_free(&p);
    /* Discrete: the key with the largest weighted mean probability. */
    REQUIRE(tiny_policy(&p, "\"head\": {\"kind\": \"none\", \"window\": 1, \"hidden\": 8}, "
                            "\"action\": {\"chunk\": 3, \"kind\": \"discrete\", \"ensemble\": true, \"ensemble_m\": 0.3}",
                        10) == 0);
    randomize_policy(&p, 11);
    tensor_fill_normal(p.out.weight, &r, 2.0f); /* confident, varied logits */
    REQUIRE(run = student_runner_new(&p));
    float probs[6][3 * 11];
    for (int t = 0; t < 6; t++) {
        REQUIRE(student_runner_step(run, seq->data + t * fsz, a, NULL) == 0);
        const float *z = student_runner_output(run);
        for (int i = 0; i < 3; i++) {
            double mx = -1e30, sum = 0;
            for (int k = 0; k < 11; k++) mx = fmax(mx, z[i * 11 + k]);
            for (int k = 0; k < 11; k++) sum += exp(z[i * 11 + k] - mx);
            for (int k = 0; k < 11; k++) probs[t][i * 11 + k] = (float)(exp(z[i * 11 + k] - mx) / sum);
        }
        int n = t + 1 < 3 ? t + 1 : 3, best = 0;
        double mean[11] = {0};
        for (int j = 0; j < n; j++)
            for (int k = 0; k < 11; k++) mean[k] += exp(-0.3 * (n - 1 - j)) * probs[t - j][j * 11 + k];
        for (int k = 1; k < 11; k++)
            if (mean[k] > mean[best]) best = k;
        float expect[3];
        key_to_action(ACTION_KEYS[best], 1.15f, expect);
        CHECK_MSG(memcmp(a, expect, sizeof a) == 0, "step %d: ensembled action (%g, %g, %g), expected key '%c'", t,
                  a[0], a[1], a[2], ACTION_KEYS[best]);
    }
    student_runner_free(run);
    tensor_free(seq);
    student_free(&p);
}

TEST(policy_step_allocates_nothing_in_steady_state)
{
    StudentPolicy p;
    REQUIRE(tiny_policy(&p, "\"head\": {\"kind\": \"transformer\", \"window\": 3, \"heads\": 2}", 11) == 0);
    StudentRunner *run = student_runner_new(&p);
    REQUIRE(run);
    long fsz = 3L * 32 * 32;
    float *frame = calloc((size_t)fsz, sizeof *frame), a[3];
    size_t cap = 0;
    for (int t = 0; t < 30; t++) {
        REQUIRE(student_runner_step(run, frame, a, NULL) == 0);
        if (t == 3) cap = student_runner_arena_bytes(run);
    }
    CHECK_MSG(student_runner_arena_bytes(run) == cap, "arena grew from %zu to %zu bytes", cap,
              student_runner_arena_bytes(run));
    CHECK(cap > 0);
    /* A training step too: forward + backward reuse the arena. */
    Tensor *frames = random_frames(2, &p.cfg, 3);
    float targets[2 * 4 * 3] = {0};
    const char *texts[2] = {LEFT, RIGHT};
    Graph *g = graph_new();
    Rng rng;
    rng_seed(&rng, 1);
    for (int s = 0; s < 5; s++) {
        graph_reset(g);
        if (s == 2) cap = arena_capacity(graph_arena(g));
        Tensor *e = student_encode_texts(g, &p, texts, 2, 1, &rng);
        Tensor *loss = student_loss(g, &p, student_forward(g, &p, frames, NULL, e, 1, &rng), targets, NULL);
        REQUIRE(loss && graph_backward(g, loss, NULL) == 0);
    }
    CHECK(arena_capacity(graph_arena(g)) == cap);
    graph_free(g);
    tensor_free(frames);
    free(frame);
    student_runner_free(run);
    student_free(&p);
}

/* ---- folding, checkpoints ---- */

static float *eval_outputs(StudentPolicy *p, Tensor *frames, const char *text, long *n)
{
    Graph *g = graph_new();
    graph_set_grad(g, 0);
    int B = frames->shape[0];
    const char **texts = malloc((size_t)B * sizeof *texts);
    for (int b = 0; b < B; b++) texts[b] = text;
    Tensor *out = student_forward(g, p, frames, NULL, student_encode_texts(g, p, texts, B, 0, NULL), 0, NULL);
    float *copy = NULL;
    if (out) {
        copy = malloc((size_t)out->numel * sizeof *copy);
        memcpy(copy, out->data, (size_t)out->numel * sizeof *copy);
        *n = out->numel;
    }
    free(texts);
    graph_free(g);
    return copy;
}

TEST(policy_fold_batchnorm_keeps_eval_outputs)
{
    StudentPolicy p;
    REQUIRE(tiny_policy(&p, "\"head\": {\"kind\": \"lstm\", \"window\": 2, \"hidden\": 8}", 12) == 0);
    randomize_policy(&p, 13);
    Tensor *frames = random_frames(3, &p.cfg, 14);
    long n = 0, m = 0;
    float *before = eval_outputs(&p, frames, LEFT, &n);
    REQUIRE(before);
    REQUIRE(student_fold_batchnorm(&p) == 0);
    float *after = eval_outputs(&p, frames, LEFT, &m);
    REQUIRE(after && m == n);
    CHECK_MSG(max_abs_diff(before, after, n) < 1e-5, "folding changed eval outputs by %g", max_abs_diff(before, after, n));
    char path[512];
    snprintf(path, sizeof path, "%s/folded.safetensors", test_tmpdir());
    CHECK(student_save(&p, path, NULL, 0) != 0);
    CHECK(strstr(mvla_error_message(), "folded") != NULL);
    free(before), free(after);
    tensor_free(frames);
    student_free(&p);
}

TEST(policy_checkpoint_round_trip_gives_identical_outputs)
{
    StudentPolicy p, q;
    REQUIRE(tiny_policy(&p, "\"head\": {\"kind\": \"transformer\", \"window\": 2, \"heads\": 2}, "
                            "\"instruction\": {\"encoder\": \"transformer\", \"vocab\": 64, \"dim\": 8, \"hidden\": 16, "
                            "\"out_dim\": 8, \"heads\": 2, \"max_tokens\": 24}", 15) == 0);
    randomize_policy(&p, 16);
    const float mean[3] = {0.5f, 0, 0}, scale[3] = {1, 1.3f, 0.7f};
    REQUIRE(student_set_action_stats(&p, mean, scale) == 0);
    Tensor *frames = random_frames(2, &p.cfg, 17);
    char path[512];
    snprintf(path, sizeof path, "%s/policy.safetensors", test_tmpdir());
    REQUIRE(student_save(&p, path, NULL, 42) == 0);
    REQUIRE(student_load(&q, path) == 0);
    char *a = student_config_to_json(&p.cfg), *b = student_config_to_json(&q.cfg);
    CHECK(a && b && strcmp(a, b) == 0);
    free(a), free(b);
    long n = 0, m = 0;
    float *x = eval_outputs(&p, frames, RIGHT, &n), *y = eval_outputs(&q, frames, RIGHT, &m);
    REQUIRE(x && y && n == m);
    CHECK_MSG(memcmp(x, y, (size_t)n * sizeof *x) == 0, "reloaded outputs differ by %g", max_abs_diff(x, y, n));
    CHECK(memcmp(q.action_scale->data, scale, sizeof scale) == 0);
    free(x), free(y);
    student_free(&q);
    /* A plain checkpoint without the policy metadata is refused with a clear message. */
    snprintf(path, sizeof path, "%s/plain.safetensors", test_tmpdir());
    REQUIRE(checkpoint_save(path, &p.params, NULL, 0, "{\"task\": \"other\"}") == 0);
    CHECK(student_load(&q, path) != 0);
    CHECK(strstr(mvla_error_message(), "\"policy\"") != NULL);
    tensor_free(frames);
    student_free(&p);
}

/* Whether every parameter of p whose name starts with prefix equals q's (same == 1) or none does (same == 0). */
static int params_match(const StudentPolicy *p, const StudentPolicy *q, const char *prefix, int same)
{
    int ok = 1, n = 0;
    for (int i = 0; i < p->params.count; i++) {
        const Param *a = &p->params.items[i];
        if (strncmp(a->name, prefix, strlen(prefix)) != 0) continue;
        const Param *b = params_find(&q->params, a->name);
        if (!b || b->tensor->numel != a->tensor->numel) return 0;
        int eq = memcmp(a->tensor->data, b->tensor->data, sizeof(float) * (size_t)a->tensor->numel) == 0;
        /* buffers that init leaves at constants (zero means, unit variances) match any fresh policy */
        int constant = strstr(a->name, "running_") || strstr(a->name, "bn.") || strstr(a->name, "bias") ||
                       strstr(a->name, "action_") || strstr(a->name, "head.pad");
        if (same ? !eq : (eq && !constant)) ok = 0;
        n++;
    }
    return ok && n > 0;
}

/* Transfer learning (student_init_from): all the weights, or only the encoder's, come from a checkpoint;
 * a mismatched architecture is refused naming the tensor and both shapes, and changes nothing. */
TEST(policy_init_from_checkpoint_all_or_encoder)
{
    StudentPolicy src, all, enc, fresh, other;
    REQUIRE(tiny_policy(&src, "\"head\": {\"kind\": \"lstm\"}", 21) == 0);
    randomize_policy(&src, 22);
    const float mean[3] = {0.2f, 0, 0}, scale[3] = {1.1f, 0.9f, 0.8f};
    REQUIRE(student_set_action_stats(&src, mean, scale) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/init-src.safetensors", test_tmpdir());
    REQUIRE(student_save(&src, path, NULL, 7) == 0);

    REQUIRE(tiny_policy(&all, "\"head\": {\"kind\": \"lstm\"}", 23) == 0);
    CHECK(!params_match(&all, &src, "", 1)); /* different seeds: the test can tell */
    REQUIRE(student_init_from(&all, path, "") == 0);
    CHECK_MSG(params_match(&all, &src, "", 1), "init \"all\": some tensor differs from the checkpoint's");
    CHECK(memcmp(all.action_scale->data, scale, sizeof scale) == 0);

    /* the encoder only, into a policy with another head: the rest keeps its fresh values */
    const char *head_tf = "\"head\": {\"kind\": \"transformer\", \"window\": 2, \"heads\": 2}";
    REQUIRE(tiny_policy(&enc, head_tf, 24) == 0);
    REQUIRE(tiny_policy(&fresh, head_tf, 24) == 0);
    REQUIRE(student_init_from(&enc, path, "encoder.") == 0);
    CHECK(params_match(&enc, &src, "encoder.", 1));
    CHECK(params_match(&enc, &fresh, "head.", 1) && params_match(&enc, &fresh, "instruction.", 1));
    CHECK(params_match(&enc, &src, "instruction.", 0));

    /* all of it into another head: refused with the tensor named, and nothing changed */
    CHECK(student_init_from(&fresh, path, "") == MVLA_ERR_FORMAT);
    CHECK(strstr(mvla_error_message(), path) && strstr(mvla_error_message(), "head.") &&
          strstr(mvla_error_message(), "architecture"));
    CHECK(params_match(&fresh, &enc, "head.", 1) && params_match(&fresh, &src, "encoder.", 0));
    /* another encoder width: the encoder is refused with both shapes */
    StudentConfig c = src.cfg;
    c.encoder.final_channels = 24;
    REQUIRE(student_init(&other, &c, 25) == 0);
    CHECK(student_init_from(&other, path, "encoder.") == MVLA_ERR_FORMAT);
    CHECK(strstr(mvla_error_message(), "encoder.") && strstr(mvla_error_message(), "shape"));
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such.safetensors", test_tmpdir());
    CHECK(student_init_from(&other, missing, "") != 0 && strstr(mvla_error_message(), "no-such.safetensors"));
    student_free(&src), student_free(&all), student_free(&enc), student_free(&fresh), student_free(&other);
}

/* ---- masks, classes, names, bad input ---- */

TEST(policy_masks_ignore_padding)
{
    StudentPolicy p;
    REQUIRE(tiny_policy(&p, "\"head\": {\"kind\": \"lstm\", \"window\": 3, \"hidden\": 8}, \"action\": {\"chunk\": 2}",
                        18) == 0);
    randomize_policy(&p, 19);
    Tensor *frames = random_frames(2, &p.cfg, 20);
    float fmask[6] = {0, 1, 1, 1, 1, 1}, tmask[4] = {1, 0, 1, 1};
    float targets[12] = {1.15f, 0, 0, 9, 9, 9, 0, -1.15f, 0, 0, 0, 1.15f};
    Graph *g = graph_new();
    graph_set_grad(g, 0);
    const char *texts[2] = {LEFT, RIGHT};
    float loss1 = 0, out1[2 * 2 * 3];
    for (int round = 0; round < 2; round++) {
        graph_reset(g);
        Tensor *out = student_forward(g, &p, frames, fmask, student_encode_texts(g, &p, texts, 2, 0, NULL), 0, NULL);
        Tensor *loss = student_loss(g, &p, out, targets, tmask);
        REQUIRE(out && loss);
        if (round == 0) {
            loss1 = loss->data[0];
            memcpy(out1, out->data, sizeof out1);
            /* Change what the masks hide: the padded frame's pixels and the masked target. */
            long fsz = frames->numel / 6;
            for (long i = 0; i < fsz; i++) frames->data[i] = 5.0f;
            targets[3] = targets[4] = targets[5] = -7;
        } else {
            CHECK(loss->data[0] == loss1);
            CHECK(memcmp(out->data, out1, sizeof out1) == 0);
        }
    }
    /* The current frame must be real. */
    fmask[2] = 0;
    graph_reset(g);
    CHECK(student_forward(g, &p, frames, fmask, student_encode_texts(g, &p, texts, 2, 0, NULL), 0, NULL) == NULL);
    CHECK(strstr(mvla_error_message(), "last frame is padding") != NULL);
    graph_free(g);
    tensor_free(frames);
    student_free(&p);
}

TEST(policy_rejects_bad_inputs)
{
    StudentPolicy p;
    REQUIRE(tiny_policy(&p, "\"head\": {\"kind\": \"lstm\", \"window\": 2, \"hidden\": 8}", 21) == 0);
    Graph *g = graph_new();
    const char *texts[2] = {LEFT, RIGHT};
    Tensor *e = student_encode_texts(g, &p, texts, 2, 0, NULL);
    Tensor *wrong = tensor_new_shape(5, 2, 3, 3, 32, 32); /* window 3, configured 2 */
    CHECK(student_forward(g, &p, wrong, NULL, e, 0, NULL) == NULL);
    CHECK(strstr(mvla_error_message(), "expected [B, 2, 3, 32, 32]") != NULL);
    Tensor *frames = random_frames(3, &p.cfg, 1); /* batch 3, embedding for 2 */
    CHECK(student_forward(g, &p, frames, NULL, e, 0, NULL) == NULL);
    CHECK(strstr(mvla_error_message(), "expected [3, 8]") != NULL);
    Tensor *f2 = random_frames(2, &p.cfg, 1);
    Rng *no_rng = NULL;
    p.cfg.dropout = 0.1; /* training with dropout needs a generator */
    CHECK(student_forward(g, &p, f2, NULL, e, 1, no_rng) == NULL);
    p.cfg.dropout = 0;
    const char *bad[1] = {"\xFF"};
    CHECK(student_encode_texts(g, &p, bad, 1, 0, NULL) == NULL);
    CHECK(strstr(mvla_error_message(), "invalid UTF-8") != NULL);
    Tensor *out = student_forward(g, &p, f2, NULL, e, 0, NULL);
    REQUIRE(out);
    CHECK(student_loss(g, &p, wrong, (float[36]){0}, NULL) == NULL);
    StudentRunner *run = student_runner_new(&p);
    REQUIRE(run);
    CHECK(student_runner_set_instruction(run, "\xC3") != 0);
    student_runner_free(run);
    tensor_free(wrong), tensor_free(frames), tensor_free(f2);
    graph_free(g);
    student_free(&p);
}

TEST(policy_discrete_classes_and_action_stats)
{
    StudentPolicy p;
    REQUIRE(tiny_policy(&p, "\"action\": {\"kind\": \"discrete\"}", 22) == 0);
    CHECK(p.out_dim == 11);
    for (int i = 0; i < ACTION_NUM_KEYS; i++) {
        float a[3], out[11] = {0}, back[3];
        key_to_action(ACTION_KEYS[i], 1.15f, a);
        CHECK(student_action_class(&p, a) == i);
        key_to_action(ACTION_KEYS[i], 0.5f, a); /* legacy files */
        CHECK(student_action_class(&p, a) == i);
        out[i] = 3; /* logits with key i on top decode to key i's action */
        student_output_to_actions(&p, out, 1, back);
        key_to_action(ACTION_KEYS[i], 1.15f, a);
        CHECK(memcmp(a, back, sizeof a) == 0);
    }
    /* Off-vocabulary: by direction, else the nearest key. */
    CHECK(student_action_class(&p, (float[]){0.8f, 0.02f, 0}) == action_key_index('w'));
    CHECK(student_action_class(&p, (float[]){1.0f, 0, 0.9f}) >= 0);
    student_free(&p);
    REQUIRE(tiny_policy(&p, "\"action\": {\"kind\": \"continuous\"}", 23) == 0);
    float acts[4 * 3] = {1.15f, 0, 0, 1.15f, 1.15f, 0, 0, -1.15f, 0, 1.15f, 0, 1.15f};
    REQUIRE(student_fit_action_stats(&p, acts, 4) == 0);
    CHECK_NEAR(p.action_mean->data[0], 0.8625, 1e-6);
    CHECK_NEAR(p.action_scale->data[0], (1.15 - 0.8625) / 0.9 > 0.8625 / 0.9 ? (1.15 - 0.8625) / 0.9 : 0.8625 / 0.9,
               1e-5);
    CHECK_NEAR(p.action_scale->data[2], (1.15 - 0.2875) / 0.9, 1e-5);
    /* Continuous outputs decode as mean + scale * value. */
    float out[3] = {0.5f, -1, 0}, a[3];
    student_output_to_actions(&p, out, 1, a);
    CHECK_NEAR(a[0], p.action_mean->data[0] + 0.5 * p.action_scale->data[0], 1e-6);
    CHECK(student_set_action_stats(&p, (float[]){0, 0, 0}, (float[]){1, 0, 1}) != 0);
    student_free(&p);
}

TEST(policy_parameter_names_and_sizes)
{
    StudentPolicy p;
    StudentConfig c;
    REQUIRE(student_config_load(&c, "configs/student-film.json") == 0);
    REQUIRE(student_init(&p, &c, 1) == 0);
    static const struct { const char *name; int trainable, decay; } expect[] = {
        {"encoder.stem.conv.weight", 1, 1},          {"encoder.stem.bn.weight", 1, 0},
        {"encoder.blocks.3.dw.weight", 1, 1},        {"encoder.blocks.3.dw_bn.running_mean", 0, 0},
        {"encoder.blocks.3.dw_bn.running_var", 0, 0}, {"encoder.blocks.3.se.reduce.weight", 1, 1},
        {"encoder.blocks.3.se.expand.bias", 1, 0},   {"encoder.blocks.1.expand.weight", 1, 1},
        {"encoder.blocks.6.project_bn.bias", 1, 0},  {"encoder.final.conv.weight", 1, 1},
        {"instruction.embed.weight", 1, 0},          {"instruction.mlp.fc2.weight", 1, 1},
        {"film.0.gamma.weight", 1, 1},               {"film.1.beta.bias", 1, 0},
        {"neck.weight", 1, 1},                       {"head.pad", 1, 0},
        {"head.lstm.weight_ih_l0", 1, 1},            {"head.lstm.bias_hh_l0", 1, 0},
        {"out.weight", 1, 1},                        {"out.action_mean", 0, 0},
        {"out.action_scale", 0, 0},
    };
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        Param *pp = params_find(&p.params, expect[i].name);
        CHECK_MSG(pp != NULL, "no parameter %s", expect[i].name);
        if (pp)
            CHECK_MSG(pp->trainable == expect[i].trainable && pp->decay == expect[i].decay,
                      "%s: trainable %d decay %d", expect[i].name, pp->trainable, pp->decay);
    }
    CHECK(params_find(&p.params, "encoder.blocks.0.expand.weight") == NULL); /* expand == input channels */
    /* Small: under 1M parameters and 4 MB. */
    CHECK(student_param_count(&p) > 100000 && student_param_count(&p) < 1000000);
    CHECK(student_model_bytes(&p) < 4000000);
    student_free(&p);
}
