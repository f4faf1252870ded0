/* The seed's CLIP systems on a frozen backbone (the tiny golden CLIP): the feature cache (reuse and
 * invalidation), CLIP normalisation, the clip-* presets end to end through train, eval and export,
 * training-time features vs the runtime's per-frame backbone, the model file vs the checkpoint, errors. */
#include "test.h"

#include "base/error.h"
#include "base/file.h"
#include "base/threads.h"
#include "data/preprocess.h"
#include "data_testutil.h"
#include "data/dataset.h"
#include "data/split.h"
#include "golden.h"
#include "io/safetensors.h"
#include "models/clip_features.h"
#include "models/clip_policy.h"
#include "models/policy_model.h"
#include "nn/checkpoint.h"
#include "runtime/model_file.h"
#include "runtime/model_policy.h"
#include "train/evaluate.h"
#include "train/train_clip.h"
#include "train/trainer.h"
#include "train_testutil.h"

#include <jansson.h>
#include <limits.h>
#include <mvla.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* test_tmpdir()/name: a backbone folder of links to the golden tiny CLIP and tokenizer files. */
static int make_backbone(char *out, size_t n, const char *name)
{
    const char *g = golden_dir();
    char abs[PATH_MAX];
    if (!g || !realpath(g, abs)) return -1;
    snprintf(out, n, "%s/%s", test_tmpdir(), name);
    mkdir(out, 0755);
    static const char *const files[4][2] = {{"clip/tiny/config.json", "config.json"},
                                            {"clip/tiny/model.safetensors", "model.safetensors"},
                                            {"clip/vocab.json", "vocab.json"},
                                            {"clip/merges.txt", "merges.txt"}};
    for (int i = 0; i < 4; i++) {
        char src[PATH_MAX + 64], dst[PATH_MAX + 64];
        snprintf(src, sizeof src, "%s/%s", abs, files[i][0]);
        snprintf(dst, sizeof dst, "%s/%s", out, files[i][1]);
        if (symlink(src, dst) != 0) return -1;
    }
    return 0;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

TEST(clip_features_reuse_and_invalidation)
{
    char bb_dir[600], bb2_dir[600];
    REQUIRE(make_backbone(bb_dir, sizeof bb_dir, "bb") == 0);
    const char *names[2] = {"episode_20250101_120000_1box_vert_left_core_medium.h5",
                            "episode_20250101_120001_1box_vert_right_core_medium.h5"};
    const int lengths[2] = {4, 3};
    FrameCache *c = dt_make_cache(names, lengths, 2, 64, 64, "frames.cache");
    REQUIRE(c != NULL);
    ClipBackbone *b = NULL;
    REQUIRE(clip_backbone_open(&b, bb_dir) == 0);
    CHECK(strncmp(clip_backbone_hash(b), "sha256:", 7) == 0);
    ClipFeatureOptions o;
    clip_feature_options_default(&o);
    ClipFeatures *f = NULL;
    int built = -1;
    REQUIRE(clip_features_open_or_build(&f, c, b, &o, &built) == 0);
    CHECK(built == 1 && clip_features_variants(f) == 1 && clip_features_dim(f) == 32);
    char path1[1200];
    snprintf(path1, sizeof path1, "%s", clip_features_path(f));
    CHECK(strstr(path1, "frames.cache.features/") != NULL && file_exists(path1));
    /* a stored row is the backbone's embedding of that frame; the texts are the instruction and its swap */
    float want[32], got[32], t1[32], t2[32];
    const uint8_t *row[1] = {cache_frame(c, 1, 2)};
    REQUIRE(clip_backbone_encode_images(b, row, 1, want, NULL) == 0);
    clip_features_image(f, 0, cache_episode(c, 1)->frame_offset + 2, got);
    CHECK(max_abs_diff(want, got, 32) < 1e-5);
    int ti = clip_features_text_index(f, "Pass on the left side"), tj = clip_features_text_index(f, "Pass on the right side");
    CHECK(ti >= 0 && tj >= 0 && ti != tj && clip_features_text_index(f, "elsewhere") < 0);
    REQUIRE(clip_backbone_encode_text(b, "Pass on the right side", t1) == 0);
    clip_features_text(f, tj, t2);
    CHECK(max_abs_diff(t1, t2, 32) < 1e-6);
    clip_features_free(f);

    /* unchanged: reused, not recomputed */
    REQUIRE(clip_features_open_or_build(&f, c, b, &o, &built) == 0);
    CHECK(built == 0 && strcmp(clip_features_path(f), path1) == 0 && clip_features_seconds(f) == 0);
    clip_features_free(f);
    /* a damaged file under the right name: computed again */
    REQUIRE(truncate(path1, 100) == 0);
    REQUIRE(clip_features_open_or_build(&f, c, b, &o, &built) == 0);
    CHECK(built == 1 && strcmp(clip_features_path(f), path1) == 0);
    clip_features_image(f, 0, cache_episode(c, 1)->frame_offset + 2, got);
    CHECK(max_abs_diff(want, got, 32) < 1e-5);
    clip_features_free(f);

    /* other normalisation: recomputed into another file */
    ClipPreprocess keep = b->pre;
    b->pre.mean[0] += 0.01f;
    REQUIRE(clip_features_open_or_build(&f, c, b, &o, &built) == 0);
    CHECK(built == 1 && strcmp(clip_features_path(f), path1) != 0);
    clip_features_free(f);
    b->pre = keep;

    /* augmented copies: a mirrored copy's features differ from the original's */
    o.copies = 1;
    augment_off(&o.aug);
    o.aug.mirror_prob = 1;
    REQUIRE(clip_features_open_or_build(&f, c, b, &o, &built) == 0);
    CHECK(built == 1 && clip_features_variants(f) == 2 && clip_features_mirrored(f, 1, 0) && !clip_features_mirrored(f, 0, 0));
    clip_features_image(f, 1, cache_episode(c, 1)->frame_offset + 2, t1);
    CHECK(max_abs_diff(t1, want, 32) > 1e-3);
    clip_features_free(f);
    o.copies = 0;

    /* another backbone (one weight changed): another hash, recomputed */
    snprintf(bb2_dir, sizeof bb2_dir, "%s/bb2", test_tmpdir());
    mkdir(bb2_dir, 0755);
    for (int i = 0; i < clip_tensor_count(b->model); i++)
        if (!strcmp(clip_tensor_name(b->model, i), "visual_projection.weight")) ((Tensor *)clip_tensor_at(b->model, i))->data[0] += 0.5f;
    REQUIRE(clip_save(b->model, bb2_dir) == 0);
    char src[700], dst[700];
    static const char *const tok[2] = {"vocab.json", "merges.txt"};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/%s", bb_dir, tok[i]);
        snprintf(dst, sizeof dst, "%s/%s", bb2_dir, tok[i]);
        char real[PATH_MAX];
        REQUIRE(realpath(src, real) && symlink(real, dst) == 0);
    }
    ClipBackbone *b2 = NULL;
    REQUIRE(clip_backbone_open(&b2, bb2_dir) == 0);
    CHECK(strcmp(clip_backbone_hash(b2), clip_backbone_hash(b)) != 0); /* b's hash was computed before the change */
    REQUIRE(clip_features_open_or_build(&f, c, b2, &o, &built) == 0);
    CHECK(built == 1 && strcmp(clip_features_path(f), path1) != 0);
    clip_features_free(f);
    clip_backbone_free(b2);
    clip_backbone_free(b);
    cache_close(c);
}

TEST(clip_normalisation_fusion)
{
    ClipPolicy p;
    memset(&p, 0, sizeof p);
    p.cfg.embed_dim = 2;
    const float img[2] = {3, 4}, txt[2] = {0, -2};
    float out[6];
    p.cfg.fusion = CLIP_FUSION_CONCAT;
    clip_policy_fuse(&p, img, txt, out);
    CHECK(out[0] == 3 && out[1] == 4 && out[2] == 0 && out[3] == -2);
    p.cfg.fusion = CLIP_FUSION_NORM;
    clip_policy_fuse(&p, img, txt, out);
    /* [i/|i| ; t/|t| ; product]: the product sums to the cosine similarity (-0.8) */
    CHECK_NEAR(out[0], 0.6, 1e-6);
    CHECK_NEAR(out[1], 0.8, 1e-6);
    CHECK_NEAR(out[2], 0.0, 1e-6);
    CHECK_NEAR(out[3], -1.0, 1e-6);
    CHECK_NEAR(out[4] + out[5], -0.8, 1e-6);
}

/* test_tmpdir()/eps: 8 tiny synthetic episodes (data_testutil.h: 12 frames of 32x18, the teleop keys in
 * turn), left and right instructions, and a 50/25/25 split. */
static int make_data(char *data, char *manifest)
{
    snprintf(data, 1024, "%s/eps", test_tmpdir());
    snprintf(manifest, 1024, "%s/split.json", test_tmpdir());
    mkdir(data, 0755);
    static const char *const scen[4] = {"1box_vert", "1box_hori", "2box_vert", "2box_hori"};
    int rc = 0;
    for (int i = 0; !rc && i < 8; i++) {
        const char *side = i % 2 ? "right" : "left";
        char name[128], ins[96];
        snprintf(name, sizeof name, "episode_20250101_1200%02d_%s_%s_core_medium.h5", i, scen[i / 2], side);
        snprintf(ins, sizeof ins, "Navigate to the cup on the %s", side);
        rc = dt_write_episode(data, name, 12, 32, 18, (uint64_t)i + 1, ins);
    }
    Dataset *ds = NULL;
    DatasetOptions dopt = {0};
    dopt.hash = 1;
    if (!rc) rc = dataset_open(&ds, data, &dopt);
    SplitOptions so;
    split_options_default(&so);
    so.train = 0.5, so.val = 0.25, so.test = 0.25;
    SplitManifest *m = NULL;
    if (!rc) rc = split_make_from_dataset(ds, &so, &m);
    dataset_free(ds);
    if (!rc) rc = split_write(m, manifest);
    split_manifest_free(m);
    return rc;
}

/* Small heads for speed: a config over the preset (test_tmpdir()/<preset>.json). */
static const char *small_config(const char *preset)
{
    static char path[700];
    snprintf(path, sizeof path, "%s/%s.json", test_tmpdir(), preset);
    char text[600];
    snprintf(text, sizeof text,
             "{\"preset\": \"%s\", \"clip\": {\"feature_dim\": 32, \"head\": {\"hidden\": 32%s},"
             " \"resampler\": {\"latents\": 4, \"depth\": 1, \"heads\": 2, \"dim_head\": 16, \"dim\": 32}%s}}",
             preset, strstr(preset, "mlp") || strstr(preset, "aug") ? "" : ", \"window\": 4",
             strstr(preset, "aug") ? ", \"copies\": 1" : "");
    return file_write_atomic(path, text, strlen(text)) ? NULL : path;
}

static void clip_options(TrainOptions *o, const char *preset, const char *bb, const char *data, const char *manifest,
                         const char *out, const char *cache)
{
    train_options_default(o);
    o->config_path = small_config(preset);
    o->backbone = bb;
    o->data_dir = data;
    o->manifest = manifest;
    o->out_dir = out;
    o->cache_path = cache;
    o->epochs = 2;
    o->batch_size = 8;
    o->threads = 1;
}

static long frames_done;
static void count_frames(void *ctx, long done, long total)
{
    (void)ctx, (void)total;
    frames_done = done;
}

/* The head's training-time outputs (stored features, batched) for the validation windows equal the
 * runner's (backbone on each frame), and the model file's equal the checkpoint's. */
static void check_consistency(const char *run, const char *data, const char *manifest, const char *model_path)
{
    char cfg_path[1200], ck[1200], cache_path[1200];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", run);
    snprintf(ck, sizeof ck, "%s/checkpoints/best.safetensors", run);
    snprintf(cache_path, sizeof cache_path, "%s/frames.cache", test_tmpdir());
    TrainConfig cfg;
    REQUIRE(train_config_load(&cfg, cfg_path) == 0);
    FrameCache *cache = NULL;
    REQUIRE(cache_open(&cache, cache_path) == 0);
    SplitSets *sets = NULL;
    REQUIRE(split_load(manifest, data, -1, &sets) == 0);
    int val_idx[8], n_val = sets->val.n, train_idx[8], n_train = sets->train.n;
    for (int i = 0; i < n_val; i++) val_idx[i] = cache_find(cache, sets->val.e[i].file);
    for (int i = 0; i < n_train; i++) train_idx[i] = cache_find(cache, sets->train.e[i].file);
    frames_done = -1;
    ClipTrain *ct = NULL;
    REQUIRE(clip_train_new(&ct, &cfg, cache, train_idx, n_train, val_idx, n_val, count_frames, NULL) == 0);
    CHECK(frames_done == -1); /* the run's features were reused */
    REQUIRE(checkpoint_load(ck, clip_train_params(ct), NULL, NULL, NULL) == 0);
    PolicyModel pm;
    REQUIRE(policy_model_load(&pm, ck) == 0);
    CHECK(pm.is_clip);
    ClipRunner *run_ck = clip_runner_new(&pm.clip);
    REQUIRE(run_ck != NULL);
    Graph *g = graph_new();
    graph_set_grad(g, 0);
    const ClipBatch *b = NULL;
    int K = cfg.clip.act.action.chunk, ep = val_idx[0];
    REQUIRE(clip_train_start(ct, 1, 0) == 0);
    REQUIRE(clip_train_next(ct, 1, &b) == 0 && b);
    Tensor *y = clip_train_forward(ct, g, b, 0, NULL);
    REQUIRE(y != NULL);
    REQUIRE(clip_runner_set_instruction(run_ck, cache_episode(cache, ep)->instruction) == 0);
    double worst = 0;
    float a[3];
    /* skip_start: the episode starts at frame 1 for the runner too (frame 0 is neither sample nor history) */
    for (int t = 1; t < cache_episode(cache, ep)->num_frames && t <= b->count; t++) {
        REQUIRE(clip_runner_step_rgb(run_ck, cache_frame(cache, ep, t), a, NULL) == 0);
        double d = max_abs_diff(clip_runner_output(run_ck), y->data + (long)(t - 1) * K * 3, K * 3);
        if (d > worst) worst = d;
    }
    CHECK_MSG(worst < 1e-4, "stored features vs per-frame backbone: outputs differ by %g", worst);

    /* the model file (embedded backbone; raw frames through the public API) acts as the checkpoint's model */
    mvla_model *mm = NULL;
    REQUIRE(mvla_open(&mm, model_path, NULL) == 0);
    const char *ins = cache_episode(cache, ep)->instruction;
    REQUIRE(mvla_set_instruction(mm, ins) == 0 && clip_runner_set_instruction(run_ck, ins) == 0);
    CHECK(mvla_chunk_size(mm) == K);
    uint8_t *raw = dt_image(48, 27, 9), rgb[64 * 64 * 3];
    const Preprocess pre = {64, 64, CROP_CENTER, FILTER_BICUBIC}; /* the clip presets' frame preprocessing */
    worst = 0;
    for (int t = 0; t < 5; t++) {
        float a1[3], a2[3];
        raw[t] ^= 0x55;
        REQUIRE(mvla_step(mm, raw, 48, 27, MVLA_BGR, a1, NULL) == 0);
        REQUIRE(preprocess_frame(&pre, raw, 48, 27, rgb) == 0 && clip_runner_step_rgb(run_ck, rgb, a2, NULL) == 0);
        double d = max_abs_diff(a1, a2, 3);
        if (d > worst) worst = d;
    }
    CHECK_MSG(worst == 0, "model file vs checkpoint: actions differ by %g", worst);
    free(raw);
    mvla_close(mm);
    graph_free(g);
    clip_runner_free(run_ck);
    policy_model_free(&pm);
    clip_train_free(ct);
    split_sets_free(sets);
    cache_close(cache);
}

/* clip-resampler (visual tokens, CLIP normalisation) and clip-aug (augmented copies) on the same data,
 * and a CLIP head's checkpoint as a runtime Policy (mvla sim eval --model ckpt). */
static void other_presets(const char *bb, const char *data, const char *manifest, const char *cache)
{
    char out[1200], path[1300];
    static const char *const presets[2] = {"clip-resampler", "clip-aug"};
    for (int i = 0; i < 2; i++) {
        snprintf(out, sizeof out, "%s/run_%s", test_tmpdir(), presets[i]);
        TrainOptions o;
        clip_options(&o, presets[i], bb, data, manifest, out, cache);
        o.epochs = 1;
        TrainResult r;
        REQUIRE(train_run(&o, &r) == 0);
        CHECK(r.status == TRAIN_COMPLETE && isfinite(r.best_val_mae));
        snprintf(path, sizeof path, "%s/checkpoints/best.safetensors", out);
        SafeTensors *st = NULL;
        REQUIRE(st_open(&st, path) == 0);
        const char *meta = st_metadata(st, "mvla.metadata");
        if (i == 0)
            CHECK(meta && strstr(meta, "\"fusion\":\"clip_norm\"") && strstr(meta, "\"enabled\":true") &&
                  st_find(st, "resampler.latents") && st_find(st, "head.lstm.weight_hh_l0"));
        else
            CHECK(meta && strstr(meta, "\"copies\":1") && st_find(st, "head.mlp.weight") && !st_find(st, "resampler.latents"));
        st_close(st);
    }
    /* clip-aug featurised augmented copies besides the originals (1 here, to be quick; the preset has 2) */
    char run_json[1300], *text = NULL;
    size_t n;
    snprintf(run_json, sizeof run_json, "%s/run.json", out);
    REQUIRE(file_read_all(run_json, &text, &n) == 0);
    CHECK(strstr(text, "x1 aug") != NULL);
    free(text);
    snprintf(path, sizeof path, "%s/run_clip-resampler/checkpoints/best.safetensors", test_tmpdir());
    Policy pol;
    REQUIRE(model_policy_open(&pol, path) == 0);
    CHECK(strcmp(pol.name, "clip-resampler") == 0);
    uint8_t *raw = dt_image(40, 30, 3);
    float a[3];
    REQUIRE(policy_reset(&pol, "Navigate to the cup on the left") == 0);
    CHECK(policy_step(&pol, raw, 40, 30, POLICY_RGB, a) == 0 && isfinite(a[0]) && isfinite(a[1]) && isfinite(a[2]));
    free(raw);
    policy_destroy(&pol);
}

TEST(clip_presets_train_eval_export)
{
    char bb[600], data[1024], manifest[1024], out[1024], cache[1024], model[1100];
    int threads = mvla_get_threads();
    mvla_set_threads(1); /* eval and export too: tiny models lose to thread wake-ups on a busy machine */
    REQUIRE(make_backbone(bb, sizeof bb, "bb") == 0);
    REQUIRE(make_data(data, manifest) == 0);
    snprintf(out, sizeof out, "%s/run", test_tmpdir());
    snprintf(cache, sizeof cache, "%s/frames.cache", test_tmpdir());
    TrainOptions o;
    clip_options(&o, "clip-lstm", bb, data, manifest, out, cache);
    frames_done = 0;
    o.on_features = count_frames;
    TrainResult r;
    REQUIRE(train_run(&o, &r) == 0);
    CHECK(r.status == TRAIN_COMPLETE && r.epochs_run == 2 && isfinite(r.best_val_mae) && isfinite(r.last_train_loss));
    CHECK(frames_done > 0);
    /* the run folder records the head, its backbone and its features */
    char path[1200], *text = NULL;
    size_t n;
    snprintf(path, sizeof path, "%s/run.json", out);
    REQUIRE(file_read_all(path, &text, &n) == 0);
    CHECK(strstr(text, "frames.cache.features/") && strstr(text, "clip lstm W4"));
    free(text);
    snprintf(path, sizeof path, "%s/checkpoints/best.safetensors", out);
    SafeTensors *st = NULL;
    REQUIRE(st_open(&st, path) == 0);
    const char *meta = st_metadata(st, "mvla.metadata");
    CHECK(meta && strstr(meta, "\"clip_policy\"") && strstr(meta, "\"hash\":\"sha256:") && strstr(meta, "\"preprocess\""));
    CHECK(st_find(st, "head.lstm.weight_ih_l0") && !st_find(st, "vision_model.post_layernorm.weight"));
    st_close(st);

    EvalReport rep;
    REQUIRE(tt_eval_test_split(path, data, manifest, &rep) == 0);
    CHECK(tt_eval_report_sane(&rep));
    CHECK(strcmp(rep.model_name, "clip-lstm") == 0);
    eval_report_free(&rep);

    snprintf(model, sizeof model, "%s/clip.model.safetensors", test_tmpdir());
    REQUIRE(model_export(path, model) == 0);
    REQUIRE(st_open(&st, model) == 0); /* self-contained: head, backbone, tokenizer, preprocessing */
    const char *mj = st_metadata(st, "mvla.model");
    CHECK(mj && strstr(mj, "\"family\": \"clip\"") && strstr(mj, "\"clip\": {") && strstr(mj, "\"mean\""));
    CHECK(st_find(st, "vision_model.post_layernorm.weight") && st_find(st, "text_projection.weight") &&
          st_find(st, "tokenizer.vocab_json") && st_find(st, "out.action_scale"));
    st_close(st);
    check_consistency(out, data, manifest, model);
    other_presets(bb, data, manifest, cache);
    mvla_set_threads(threads);
}

TEST(clip_preset_and_backbone_errors)
{
    TrainConfig c;
    CHECK(train_config_preset(&c, "clip-foo") != 0 && strstr(mvla_error_message(), "clip-lstm"));
    REQUIRE(train_config_preset(&c, "clip-lstm") == 0);
    CHECK(c.is_clip && c.clip.head.kind == CLIP_HEAD_LSTM && c.clip.act.action.kind == ACTION_CONTINUOUS);
    CHECK(clip_train_resolve(&c, NULL) != 0 && strstr(mvla_error_message(), "--backbone"));
    char missing[700];
    snprintf(missing, sizeof missing, "%s/no_such_clip", test_tmpdir());
    CHECK(clip_train_resolve(&c, missing) != 0 && strstr(mvla_error_message(), "no_such_clip"));
    REQUIRE(train_config_preset(&c, "student") == 0);
    CHECK(clip_train_resolve(&c, "/x") != 0 && strstr(mvla_error_message(), "clip-lstm"));
    /* config round trip, and a bad key named */
    REQUIRE(train_config_preset(&c, "clip-resampler") == 0);
    char *t1 = train_config_to_json(&c);
    TrainConfig d;
    REQUIRE(t1 && train_config_parse(&d, t1, "t1") == 0);
    char *t2 = train_config_to_json(&d);
    CHECK(t2 && strcmp(t1, t2) == 0 && d.is_clip && d.clip.resampler.enabled);
    free(t1), free(t2);
    CHECK(train_config_parse(&d, "{\"preset\": \"clip-mlp\", \"clip\": {\"head\": {\"window\": 4}}}", "cfg") != 0 &&
          strstr(mvla_error_message(), "clip.head.window"));
    CHECK(train_config_parse(&d, "{\"preset\": \"clip-lstm\", \"clip\": {\"fusion\": \"sum\"}}", "cfg") != 0 &&
          strstr(mvla_error_message(), "clip.fusion") && strstr(mvla_error_message(), "clip_norm"));
    /* a backbone folder without its tokenizer */
    char bb[600], vocab[700];
    REQUIRE(make_backbone(bb, sizeof bb, "bb") == 0);
    snprintf(vocab, sizeof vocab, "%s/vocab.json", bb);
    REQUIRE(unlink(vocab) == 0);
    ClipBackbone *b = NULL;
    CHECK(clip_backbone_open(&b, bb) != 0 && strstr(mvla_error_message(), "vocab.json is missing"));
    /* the CLI */
    char out[4096];
    int rc = dt_run_mvla("train --preset clip-lstm --data /nonexistent --manifest /nonexistent.json --out /tmp/x_never", out,
                         sizeof out);
    if (rc != -2) CHECK(rc != 0 && strstr(out, "--backbone"));
}
