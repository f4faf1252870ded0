/* mvla quantize MODEL --cache CACHE [--manifest M --split train] --out MODEL-int8: post-training int8
 * quantisation of a model file (runtime/quantize.h), then, with a manifest, fp32 against int8 on the
 * test split. */
#include "cli/commands_runtime.h"

#include "base/error.h"
#include "base/progress.h"
#include "data/split.h"
#include "runtime/quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: mvla quantize MODEL.safetensors --cache CACHE --out MODEL-int8.safetensors [options]\n"
            "  Calibrates the fp32 model file on cached frames (step mode, each episode's instruction) and writes\n"
            "  an int8 model file: per-output-channel symmetric int8 weights for the 1x1 convs, the neck and the\n"
            "  LSTM / MLP head, per-tensor u8 activation scales. mvla run, the C API and mvla sim eval --model\n"
            "  open it like any model file. Prints each quantised input's range and fp32 vs int8 on the\n"
            "  calibration frames; with a manifest also the MAE of both on the --eval split (frame 0 of each\n"
            "  episode, the zero start action, is not scored).\n"
            "options:\n"
            "  --cache PATH          frame cache at the model's input size (mvla data cache)\n"
            "  --manifest FILE       split manifest: calibrate on --split's episodes only (default: every\n"
            "                        episode of the cache)\n"
            "  --split NAME          train (default), val or test\n"
            "  --fold K              fold of a K-fold manifest (default: fold 0)\n"
            "  --frames N            calibration frames, spread over the episodes (default 256)\n"
            "  --calibration KIND    percentile (default) or max: the activation range kept\n"
            "  --percentile P        for percentile: keep P%% of each input's values per tail (default 99.999)\n"
            "  --eval NAME           with a manifest, the split scored afterwards (default test)\n"
            "  --eval-manifest FILE  score that split of another manifest (e.g. more held-out episodes)...\n"
            "  --eval-cache PATH     ...from this cache (default: --manifest and --cache)\n"
            "  --no-eval             skip that\n"
            "  --no-weight-only      keep the other weights (instruction encoder, squeeze-excite, ...) fp32 on disk\n"
            "                        (default: int8 on disk, dequantised at open: a smaller file)\n"
            "  --out PATH            the int8 model file (written atomically)\n");
}

/* Cache indices of the episodes of list, checked against the manifest's content hashes. */
static int list_episodes(const FrameCache *c, const SplitList *l, const char *split, int **out)
{
    *out = malloc(sizeof(int) * (size_t)(l->n > 0 ? l->n : 1));
    if (!*out) return mvla_fail(MVLA_ERR_NOMEM, "quantize: out of memory");
    for (int i = 0; i < l->n; i++) {
        int ci = cache_find(c, l->e[i].file);
        if (ci < 0)
            return mvla_fail(MVLA_ERR_ARG, "quantize: episode %s (%s split) is not in the cache %s", l->e[i].file,
                             split, cache_path(c));
        if (l->e[i].hash && strcmp(l->e[i].hash, cache_episode(c, ci)->hash))
            return mvla_fail(MVLA_ERR_ARG, "quantize: episode %s: the cache %s holds another version than the "
                             "manifest (content hash differs): rebuild the cache", l->e[i].file, cache_path(c));
        (*out)[i] = ci;
    }
    if (l->n == 0) return mvla_fail(MVLA_ERR_ARG, "quantize: the %s split is empty", split);
    return 0;
}

static const SplitList *pick(const SplitSets *s, const char *name)
{
    if (!strcmp(name, "train")) return &s->train;
    if (!strcmp(name, "val")) return &s->val;
    if (!strcmp(name, "test")) return &s->test;
    return NULL;
}

static void on_progress(void *ctx, long done, long total)
{
    Progress *p = ctx;
    p->total = total;
    progress_update(p, done, NULL);
}

static int parse_int(const char *flag, const char *v, int lo, int hi, int *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) {
        fprintf(stderr, "mvla quantize: %s: expected an integer in %d..%d, got '%s'\n", flag, lo, hi, v);
        return 2;
    }
    *out = (int)x;
    return 0;
}

/* Whole episodes of the eval split, fp32 against int8. */
static int evaluate(const char *model, const char *out, const FrameCache *c, const SplitSets *sets, const char *split)
{
    const SplitList *l = pick(sets, split);
    int *eps = NULL, rc = l ? list_episodes(c, l, split, &eps) : mvla_fail(MVLA_ERR_ARG, "quantize: --eval %s: "
                                                                          "expected train, val or test", split);
    CalibSegment *segs = rc ? NULL : calloc((size_t)l->n, sizeof *segs);
    if (!rc && !segs) rc = mvla_fail(MVLA_ERR_NOMEM, "quantize: out of memory");
    for (int i = 0; !rc && i < l->n; i++) {
        const CacheEpisode *ep = cache_episode(c, eps[i]);
        segs[i] = (CalibSegment){ep->instruction, cache_frame(c, eps[i], 0), ep->actions, ep->num_frames,
                                 cache_preprocess(c)->width, cache_preprocess(c)->height};
    }
    QuantCompare q;
    if (!rc) rc = quantize_compare(model, out, segs, l->n, 1, &q);
    if (!rc) {
        printf("\n%s split: %d episodes, %ld frames scored (raw units: m/s, rad/s)\n", split, l->n, q.frames);
        printf("| model | MAE | linear_x | linear_y | angular_z |\n|---|---|---|---|---|\n");
        printf("| fp32 | %.5f | %.5f | %.5f | %.5f |\n", q.mae_a, q.mae_axis_a[0], q.mae_axis_a[1], q.mae_axis_a[2]);
        printf("| int8 | %.5f | %.5f | %.5f | %.5f |\n", q.mae_b, q.mae_axis_b[0], q.mae_axis_b[1], q.mae_axis_b[2]);
        printf("MAE change int8 - fp32: %+.5f (%+.2f%%); |int8 - fp32| per action: mean %.5f, max %.5f\n",
               q.mae_b - q.mae_a, q.mae_a > 0 ? 100 * (q.mae_b - q.mae_a) / q.mae_a : 0.0, q.mean_diff, q.max_diff);
        printf("same action as fp32: %.2f%% of steps (the same nearest teleop key: %.2f%%); head outputs (normalised "
               "values or logits): mean |int8 - fp32| %.5f\n", 100 * q.same_action, 100 * q.same_key, q.mean_out_diff);
    }
    free(segs);
    free(eps);
    return rc;
}

int cmd_quantize(int argc, char **argv)
{
    const char *model = NULL, *cache_file = NULL, *manifest = NULL, *split = "train", *out = NULL, *eval = "test";
    const char *eval_manifest = NULL, *eval_cache = NULL;
    int frames = 256, fold = -1;
    QuantizeOptions o;
    quantize_options_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--no-eval")) {
            eval = NULL;
        } else if (!strcmp(a, "--no-weight-only")) {
            o.weight_only = 0;
        } else if (a[0] != '-') {
            if (model) {
                fprintf(stderr, "mvla quantize: one model file expected, got '%s' and '%s'\n", model, a);
                return 2;
            }
            model = a;
        } else if (!v) {
            fprintf(stderr, "mvla quantize: %s needs a value (see mvla quantize --help)\n", a);
            return 2;
        } else {
            int rc = 0;
            if (!strcmp(a, "--cache")) cache_file = v;
            else if (!strcmp(a, "--manifest")) manifest = v;
            else if (!strcmp(a, "--split")) split = v;
            else if (!strcmp(a, "--eval")) eval = v;
            else if (!strcmp(a, "--eval-manifest")) eval_manifest = v;
            else if (!strcmp(a, "--eval-cache")) eval_cache = v;
            else if (!strcmp(a, "--out") || !strcmp(a, "-o")) out = v;
            else if (!strcmp(a, "--frames")) rc = parse_int(a, v, 1, 1000000, &frames);
            else if (!strcmp(a, "--fold")) rc = parse_int(a, v, 0, 99, &fold);
            else if (!strcmp(a, "--calibration")) {
                if (!strcmp(v, "percentile")) o.method = CALIB_PERCENTILE;
                else if (!strcmp(v, "max")) o.method = CALIB_MAX;
                else {
                    fprintf(stderr, "mvla quantize: --calibration: expected percentile or max, got '%s'\n", v);
                    return 2;
                }
            } else if (!strcmp(a, "--percentile")) {
                char *end;
                o.percentile = strtod(v, &end);
                if (!*v || *end || !(o.percentile > 50 && o.percentile <= 100)) {
                    fprintf(stderr, "mvla quantize: --percentile: expected a number in (50, 100], got '%s'\n", v);
                    return 2;
                }
            } else {
                fprintf(stderr, "mvla quantize: unknown option '%s' (see mvla quantize --help)\n", a);
                return 2;
            }
            if (rc) return rc;
            i++;
        }
    }
    if (!model || !cache_file || !out) {
        fprintf(stderr, "mvla quantize: MODEL, --cache and --out are needed\n\n");
        usage(stderr);
        return 2;
    }
    if (!pick(&(SplitSets){0}, split)) {
        fprintf(stderr, "mvla quantize: --split: expected train, val or test, got '%s'\n", split);
        return 2;
    }
    FrameCache *c = NULL;
    SplitSets *sets = NULL;
    CalibSegment *segs = NULL;
    int *eps = NULL, n_eps = 0, n_segs = 0;
    int rc = cache_open(&c, cache_file);
    if (!rc && manifest) {
        rc = split_load_unverified(manifest, fold >= 0 ? fold : SPLIT_ANY_FOLD, &sets);
        if (!rc) rc = list_episodes(c, pick(sets, split), split, &eps);
        if (!rc) n_eps = pick(sets, split)->n;
    }
    if (!rc) rc = quantize_segments_from_cache(c, eps, eps ? n_eps : 0, frames, &segs, &n_segs);
    o.cache = cache_file, o.manifest = manifest, o.split = manifest ? split : NULL;
    Progress bar;
    progress_start(&bar, "calibrate", 0, "frame");
    o.progress = on_progress, o.ctx = &bar;
    QuantizeReport r;
    if (!rc) rc = model_quantize(model, out, segs, n_segs, &o, &r);
    progress_finish(&bar);
    if (!rc) {
        printf("calibration: %ld frames from %d episodes, %s", r.frames, n_segs, calib_method_name(o.method));
        if (o.method == CALIB_PERCENTILE) printf(" %g", o.percentile);
        printf("\n| input of | values | observed min | max | kept lo | hi | scale | zero |\n"
               "|---|---|---|---|---|---|---|---|\n");
        for (int s = 0; s < r.n_sites; s++) {
            const QuantSiteReport *q = &r.site[s];
            printf("| %s | %ld | %.4g | %.4g | %.4g | %.4g | %.4g | %d |\n", q->name, q->count, q->min, q->max, q->lo,
                   q->hi, q->scale, q->zero);
        }
        printf("\nsize: fp32 %ld bytes, int8 %ld bytes (%.2fx smaller)\n", r.bytes_in, r.bytes_out,
               r.bytes_out > 0 ? (double)r.bytes_in / r.bytes_out : 0.0);
        printf("calibration frames, |int8 - fp32| per action: mean %.5f, max %.5f\n", r.mean_diff, r.max_diff);
        if (eval && (eval_manifest || eval_cache)) {
            FrameCache *ec = NULL;
            SplitSets *es = NULL;
            rc = cache_open(&ec, eval_cache ? eval_cache : cache_file);
            if (!rc && !eval_manifest && !manifest)
                rc = mvla_fail(MVLA_ERR_ARG, "quantize: --eval-cache needs a manifest (--eval-manifest or --manifest)");
            if (!rc) rc = split_load_unverified(eval_manifest ? eval_manifest : manifest, SPLIT_ANY_FOLD, &es);
            if (!rc) rc = evaluate(model, out, ec, es, eval);
            split_sets_free(es);
            cache_close(ec);
        } else if (manifest && eval) {
            rc = evaluate(model, out, c, sets, eval);
        }
    }
    if (rc) fprintf(stderr, "mvla: %s\n", mvla_error_message());
    else printf("\nwrote %s\n", out);
    free(segs);
    free(eps);
    split_sets_free(sets);
    cache_close(c);
    return rc ? 1 : 0;
}
