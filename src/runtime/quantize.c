/* Post-training int8 quantisation: calibration, weight quantisation, the int8 model file (see
 * quantize.h). */
#include "runtime/quantize.h"

#include "base/error.h"
#include "base/hash.h"
#include "data/actions.h"
#include "io/safetensors.h"
#include "runtime/model_file.h"
#include "runtime/model_quant.h"
#include "runtime/model_runner.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CALIB_BINS 4096

void quantize_options_default(QuantizeOptions *o)
{
    memset(o, 0, sizeof *o);
    o->method = CALIB_PERCENTILE;
    o->percentile = 99.999;
    o->weight_only = 1;
}

const char *calib_method_name(CalibMethod m) { return m == CALIB_MAX ? "max" : "percentile"; }

/* ---- calibration ---- */

typedef struct {
    int pass, n;
    double min[STUDENT_INT8_MAX_SITES], max[STUDENT_INT8_MAX_SITES];
    long count[STUDENT_INT8_MAX_SITES];
    uint32_t *hist;   /* [n][CALIB_BINS] */
} Calib;

static void observe(void *ctx, int site, const float *x, int rows, int cols, int ld)
{
    Calib *c = ctx;
    if (site < 0 || site >= c->n) return;
    if (c->pass == 0) {
        double mn = c->min[site], mx = c->max[site];
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < cols; k++) {
                float v = x[(long)r * ld + k];
                if (v < mn) mn = v;
                if (v > mx) mx = v;
            }
        c->min[site] = mn, c->max[site] = mx;
        c->count[site] += (long)rows * cols;
        return;
    }
    double lo = c->min[site], width = c->max[site] - lo;
    uint32_t *h = c->hist + (long)site * CALIB_BINS;
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < cols; k++) {
            double t = width > 0 ? (x[(long)r * ld + k] - lo) / width * CALIB_BINS : 0;
            int b = t < 0 ? 0 : t >= CALIB_BINS ? CALIB_BINS - 1 : (int)t;
            h[b]++;
        }
}

/* The kept range [lo, hi] of a site, with 0 inside. */
static void keep_range(const Calib *c, int s, const QuantizeOptions *o, double *lo, double *hi)
{
    double mn = c->min[s], mx = c->max[s];
    if (c->count[s] == 0) mn = -1, mx = 1; /* never ran (e.g. W_hh with a window of 1): any range */
    *lo = mn, *hi = mx;
    if (o->method == CALIB_PERCENTILE && mx > mn) {
        const uint32_t *h = c->hist + (long)s * CALIB_BINS;
        double tail = (double)c->count[s] * (100.0 - o->percentile) / 100.0, w = (mx - mn) / CALIB_BINS, cum = 0;
        for (int b = 0; b < CALIB_BINS; b++)
            if ((cum += h[b]) > tail) {
                *lo = mn + b * w;
                break;
            }
        cum = 0;
        for (int b = CALIB_BINS - 1; b >= 0; b--)
            if ((cum += h[b]) > tail) {
                *hi = mn + (b + 1) * w;
                break;
            }
    }
    if (*lo > 0) *lo = 0;
    if (*hi < 0) *hi = 0;
    if (*hi - *lo < 1e-6) *hi = *lo + 1e-6;
}

/* Steps every segment through a runner on p (a new episode each); the observer does the rest. */
static int run_segments(StudentPolicy *p, const char *default_instruction, const CalibSegment *segs, int n_segs,
                        const QuantizeOptions *o, long *done, long total)
{
    StudentRunner *r = student_runner_new(p);
    if (!r) return MVLA_ERR_NOMEM;
    int rc = 0;
    size_t frame_bytes = (size_t)p->cfg.encoder.input_width * p->cfg.encoder.input_height * 3;
    for (int s = 0; s < n_segs && !rc; s++) {
        const CalibSegment *g = &segs[s];
        rc = student_runner_set_instruction(r, g->instruction && *g->instruction ? g->instruction : default_instruction);
        for (int t = 0; t < g->n && !rc; t++) {
            float a[3];
            rc = student_runner_step_rgb(r, g->frames + (size_t)t * frame_bytes, a, NULL);
            ++*done;
            if (o->progress) o->progress(o->ctx, *done, total);
        }
    }
    student_runner_free(r);
    return rc;
}

static int check_segments(const ModelFile *m, const CalibSegment *segs, int n_segs, const char *path, long *frames)
{
    const EncoderConfig *e = &m->policy.cfg.encoder;
    *frames = 0;
    for (int s = 0; s < n_segs; s++) {
        if (segs[s].width != e->input_width || segs[s].height != e->input_height)
            return mvla_fail(MVLA_ERR_ARG, "quantize: calibration frames are %dx%d: expected %s's input size %dx%d "
                             "(a frame cache made for this model)", segs[s].width, segs[s].height, path,
                             e->input_width, e->input_height);
        if (segs[s].n < 0 || (segs[s].n > 0 && !segs[s].frames))
            return mvla_fail(MVLA_ERR_ARG, "quantize: calibration segment %d has no frames", s);
        *frames += segs[s].n;
    }
    if (*frames < 1) return mvla_fail(MVLA_ERR_ARG, "quantize: no calibration frames");
    return 0;
}

/* ---- weights and the file ---- */

/* Per-row symmetric quantisation of w [rows][cols]: q in -127..127, scale[row] = max |w| / 127. */
static void quantize_rows(const float *w, int rows, long cols, int8_t *q, float *scale)
{
    for (int r = 0; r < rows; r++) {
        const float *wr = w + (long)r * cols;
        float amax = 0;
        for (long c = 0; c < cols; c++) amax = fmaxf(amax, fabsf(wr[c]));
        float s = amax > 0 ? amax / 127.0f : 1.0f;
        scale[r] = s;
        for (long c = 0; c < cols; c++) {
            float v = nearbyintf(wr[c] / s);
            q[(long)r * cols + c] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
    }
}

/* A stored tensor name without an ensemble member's "members.<i>." prefix. */
static const char *member_local_name(const char *name)
{
    int end = 0;
    if (sscanf(name, "members.%*d.%n", &end) == 0 && end > 0) return name + end;
    return name;
}

/* A large fp32 matrix stored as int8 (dequantised at open): a 2-D ".weight" of at least 4096 values,
 * not the output layer (the actions themselves). */
static int weight_only_candidate(const StTensor *t)
{
    size_t len = strlen(t->name);
    return t->dtype == ST_F32 && t->ndim == 2 && t->numel >= 4096 && len > 7 && !strcmp(t->name + len - 7, ".weight") &&
           strcmp(member_local_name(t->name), "out.weight") != 0;
}

/* t as I8 + t_scale, and (act non-NULL: a site) its input's scale and zero point. */
static int add_quantised(StWriter *w, const StTensor *t, int rows, const QuantSiteReport *act, const char *path)
{
    long cols = (long)(t->numel / rows);
    float *f = malloc(sizeof(float) * (size_t)t->numel), *scale = malloc(sizeof(float) * (size_t)rows);
    int8_t *q = malloc((size_t)t->numel);
    int rc = f && scale && q ? st_to_f32(t, f) : mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    if (!rc) {
        quantize_rows(f, rows, cols, q, scale);
        char name[512];
        uint8_t zero = act ? (uint8_t)act->zero : 0;
        int64_t shape1 = 1, shape_rows = rows;
        rc = st_writer_add(w, t->name, ST_I8, t->ndim, t->shape, q);
        snprintf(name, sizeof name, "%s_scale", t->name);
        if (!rc) rc = st_writer_add(w, name, ST_F32, 1, &shape_rows, scale);
        snprintf(name, sizeof name, "%s_input_scale", t->name);
        if (!rc && act) rc = st_writer_add(w, name, ST_F32, 1, &shape1, &act->scale);
        snprintf(name, sizeof name, "%s_input_zero_point", t->name);
        if (!rc && act) rc = st_writer_add(w, name, ST_U8, 1, &shape1, &zero);
    }
    free(f), free(scale), free(q);
    return rc;
}

static json_t *quant_meta(const QuantizeReport *r, int n_segs, const QuantizeOptions *o, const char *src_hash,
                          json_t *weight_only)
{
    json_t *cal = json_object(), *names = json_array(), *q = json_object();
    json_object_set_new(cal, "method", json_string(calib_method_name(o->method)));
    if (o->method == CALIB_PERCENTILE) json_object_set_new(cal, "percentile", json_real(o->percentile));
    json_object_set_new(cal, "frames", json_integer(r->frames));
    json_object_set_new(cal, "segments", json_integer(n_segs));
    if (o->cache) json_object_set_new(cal, "cache", json_string(o->cache));
    if (o->manifest) json_object_set_new(cal, "manifest", json_string(o->manifest));
    if (o->split) json_object_set_new(cal, "split", json_string(o->split));
    for (int s = 0; s < r->n_sites; s++) json_array_append_new(names, json_string(r->site[s].name));
    json_object_set_new(q, "kind", json_string("int8"));
    json_object_set_new(q, "weights", json_string(QUANT_WEIGHTS));
    json_object_set_new(q, "activations", json_string(QUANT_ACTIVATIONS));
    json_object_set_new(q, "calibration", cal);
    json_object_set_new(q, "calibration_frames", json_integer(r->frames));
    json_object_set_new(q, "tensors", names);
    if (json_array_size(weight_only)) json_object_set(q, "weight_only", weight_only);
    json_object_set_new(q, "source_sha256", json_string(src_hash));
    return q;
}

static int write_file(const char *src_path, const char *out_path, const QuantizeReport *r, int n_segs,
                      const QuantizeOptions *o)
{
    SafeTensors *st;
    int rc = st_open(&st, src_path);
    if (rc) return rc;
    char hash[HASH_TEXT_MAX];
    StWriter *w = st_writer_new();
    json_t *meta = json_loads(st_metadata(st, MODEL_META_KEY), 0, NULL), *wo = json_array();
    char *text = NULL;
    if (!w || !meta) rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", out_path);
    if (!rc) rc = hash_file(src_path, hash);
    for (int i = 0; i < st_count(st) && !rc; i++) {
        const StTensor *t = st_at(st, i);
        int site = -1;
        for (int s = 0; s < r->n_sites && site < 0; s++)
            if (!strcmp(r->site[s].name, t->name)) site = s;
        if (site < 0 && o->weight_only && weight_only_candidate(t)) {
            json_array_append_new(wo, json_string(t->name));
            rc = add_quantised(w, t, (int)t->shape[0], NULL, src_path);
            continue;
        }
        if (site < 0) {
            rc = st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
            continue;
        }
        if (t->dtype != ST_F32 || t->ndim < 1)
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: tensor \"%s\" is %s: expected an F32 weight", src_path, t->name,
                           st_dtype_name(t->dtype));
        else
            rc = add_quantised(w, t, (int)t->shape[0], &r->site[site], src_path);
    }
    if (!rc) {
        json_object_set_new(meta, "quantization", quant_meta(r, n_segs, o, hash, wo));
        text = json_dumps(meta, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
        if (!text) rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", out_path);
    }
    for (int i = 0; i < st_metadata_count(st) && !rc; i++) {
        const char *key = st_metadata_key(st, i);
        rc = st_writer_set_metadata(w, key, strcmp(key, MODEL_META_KEY) ? st_metadata(st, key) : text);
    }
    if (!rc) rc = st_writer_save(w, out_path);
    free(text);
    json_decref(meta);
    json_decref(wo);
    st_writer_free(w);
    st_close(st);
    return rc;
}

static long file_size(const char *path)
{
    struct stat s;
    return stat(path, &s) == 0 ? (long)s.st_size : -1;
}

/* Calibrates one policy (an ensemble's member `member` of n) on segs: its sites' reports, named as
 * stored, go to site[0..*n_sites-1]. */
static int calibrate(StudentPolicy *p, int member, int n, const char *default_instruction, const CalibSegment *segs,
                     int n_segs, const QuantizeOptions *o, QuantSiteReport *site, int *n_sites, long *done, long total)
{
    Calib *c = calloc(1, sizeof *c);
    if (!c) return mvla_fail(MVLA_ERR_NOMEM, "quantize: out of memory");
    int rc = student_int8_attach(p, NULL, 0); /* the fp32 engine: every site observable */
    StudentQSite sites[STUDENT_INT8_MAX_SITES];
    if (!rc) {
        c->n = *n_sites = student_int8_sites(p, sites, STUDENT_INT8_MAX_SITES);
        for (int s = 0; s < c->n; s++) c->min[s] = INFINITY, c->max[s] = -INFINITY;
        if (o->method == CALIB_PERCENTILE && !(c->hist = calloc((size_t)c->n * CALIB_BINS, sizeof *c->hist)))
            rc = mvla_fail(MVLA_ERR_NOMEM, "quantize: out of memory");
        student_int8_set_observer(p, observe, c);
    }
    for (c->pass = 0; !rc && c->pass < (o->method == CALIB_PERCENTILE ? 2 : 1); c->pass++)
        rc = run_segments(p, default_instruction, segs, n_segs, o, done, total);
    for (int s = 0; !rc && s < *n_sites; s++) {
        QuantSiteReport *q = &site[s];
        double lo, hi;
        keep_range(c, s, o, &lo, &hi);
        if (n > 1) snprintf(q->name, sizeof q->name, "members.%d.%s", member, sites[s].name);
        else snprintf(q->name, sizeof q->name, "%s", sites[s].name);
        q->count = c->count[s];
        q->min = c->count[s] ? (float)c->min[s] : 0, q->max = c->count[s] ? (float)c->max[s] : 0;
        q->lo = (float)lo, q->hi = (float)hi;
        q->scale = (float)((hi - lo) / 255.0);
        long z = lrint(-lo / q->scale);
        q->zero = z < 0 ? 0 : z > 255 ? 255 : (int)z;
    }
    free(c->hist);
    free(c);
    student_int8_detach(p);
    return rc;
}

int model_quantize(const char *model_path, const char *out_path, const CalibSegment *segs, int n_segs,
                   const QuantizeOptions *opt, QuantizeReport *out)
{
    QuantizeOptions o;
    if (opt) o = *opt;
    else quantize_options_default(&o);
    if (o.method == CALIB_PERCENTILE && !(o.percentile > 50 && o.percentile <= 100))
        return mvla_fail(MVLA_ERR_ARG, "quantize: percentile %g: expected a value in (50, 100]", o.percentile);
    QuantizeReport *r = out ? out : malloc(sizeof *r);
    if (!r) return mvla_fail(MVLA_ERR_NOMEM, "quantize: out of memory");
    memset(r, 0, sizeof *r);
    ModelFile m;
    int rc = model_open(&m, model_path);
    if (rc) {
        if (r != out) free(r);
        return rc;
    }
    if (m.clip) rc = mvla_fail(MVLA_ERR_UNSUPPORTED, "quantize: %s is a CLIP head's model file: int8 covers the "
                               "student policy", model_path);
    else if (m.policy.int8) rc = mvla_fail(MVLA_ERR_ARG, "quantize: %s is already quantised", model_path);
    if (!rc) rc = check_segments(&m, segs, n_segs, model_path, &r->frames);
    long done = 0, total = r->frames * (o.method == CALIB_PERCENTILE ? 2 : 1) * m.n_members;
    for (int i = 0; !rc && i < m.n_members; i++) { /* the same frames for every member */
        int n_sites = 0;
        rc = calibrate(model_file_member(&m, i), i, m.n_members, m.instruction, segs, n_segs, &o,
                       r->site + r->n_sites, &n_sites, &done, total);
        r->n_sites += n_sites;
    }
    if (!rc) rc = write_file(model_path, out_path, r, n_segs, &o);
    model_file_free(&m);
    if (!rc) {
        r->bytes_in = file_size(model_path), r->bytes_out = file_size(out_path);
        QuantCompare cmp;
        if ((rc = quantize_compare(model_path, out_path, segs, n_segs, 0, &cmp)))
            rc = mvla_fail(rc, "quantize: the written file %s does not run: %s", out_path, mvla_error_message());
        r->max_diff = cmp.max_diff, r->mean_diff = cmp.mean_diff;
    }
    if (r != out) free(r);
    return rc;
}

/* ---- calibration data ---- */

int quantize_segments_from_cache(const FrameCache *c, const int *episodes, int n_episodes, int frames,
                                 CalibSegment **out, int *n_out)
{
    *out = NULL, *n_out = 0;
    if (!episodes) n_episodes = cache_num_episodes(c);
    if (n_episodes < 1 || frames < 1)
        return mvla_fail(MVLA_ERR_ARG, "quantize: %d episodes, %d frames: expected at least one of each", n_episodes,
                         frames);
    int n = n_episodes > frames ? frames : n_episodes;
    CalibSegment *s = calloc((size_t)n, sizeof *s);
    if (!s) return mvla_fail(MVLA_ERR_NOMEM, "quantize: out of memory");
    const Preprocess *pre = cache_preprocess(c);
    for (int i = 0; i < n; i++) {
        int k = (int)((long)i * n_episodes / n), e = episodes ? episodes[k] : k;
        if (e < 0 || e >= cache_num_episodes(c)) {
            free(s);
            return mvla_fail(MVLA_ERR_ARG, "quantize: episode index %d: the cache has %d", e, cache_num_episodes(c));
        }
        const CacheEpisode *ep = cache_episode(c, e);
        int per = frames / n + (i < frames % n); /* `frames` in all */
        int len = ep->num_frames < per ? ep->num_frames : per, start = (ep->num_frames - len) / 2;
        s[i] = (CalibSegment){ep->instruction, len > 0 ? cache_frame(c, e, start) : NULL, ep->actions + 3L * start, len,
                              pre->width, pre->height};
    }
    *out = s, *n_out = n;
    return 0;
}

/* ---- fp32 against int8 ---- */

int quantize_compare(const char *model_a, const char *model_b, const CalibSegment *segs, int n_segs, int first,
                     QuantCompare *out)
{
    memset(out, 0, sizeof *out);
    ModelFile a, b;
    int rc = model_open(&a, model_a);
    if (rc) return rc;
    if ((rc = model_open(&b, model_b))) {
        model_file_free(&a);
        return rc;
    }
    long frames;
    if (a.clip || b.clip)
        rc = mvla_fail(MVLA_ERR_UNSUPPORTED, "quantize: %s is a CLIP head's model file: expected student policies",
                       a.clip ? model_a : model_b);
    if (!rc) rc = check_segments(&a, segs, n_segs, model_a, &frames);
    if (!rc) rc = check_segments(&b, segs, n_segs, model_b, &frames);
    if (!rc && a.n_members != b.n_members)
        rc = mvla_fail(MVLA_ERR_ARG, "quantize: %s has %d members, %s %d: expected the same model", model_a,
                       a.n_members, model_b, b.n_members);
    /* as they run: an ensemble's mean action */
    ModelRunner *ra = rc ? NULL : model_runner_new(&a), *rb = rc ? NULL : model_runner_new(&b);
    if (!rc && (!ra || !rb)) rc = mvla_fail(MVLA_ERR_NOMEM, "quantize: out of memory");
    size_t fb = (size_t)a.policy.cfg.encoder.input_width * a.policy.cfg.encoder.input_height * 3;
    double sum_d = 0, sum_a[3] = {0}, sum_b[3] = {0}, sum_out = 0;
    long n_diff = 0, n_scored = 0, n_same = 0, n_same_key = 0, n_steps = 0, n_out = 0;
    int n_head = a.policy.cfg.action.chunk * a.policy.out_dim;
    for (int s = 0; s < n_segs && !rc; s++) {
        const CalibSegment *g = &segs[s];
        const char *text = g->instruction && *g->instruction ? g->instruction : NULL;
        rc = model_runner_set_instruction(ra, text ? text : a.instruction);
        if (!rc) rc = model_runner_set_instruction(rb, text ? text : b.instruction);
        for (int t = first; t < g->n && !rc; t++) {
            float pa[3], pb[3];
            rc = model_runner_step_rgb(ra, g->frames + (size_t)t * fb, pa, NULL);
            if (!rc) rc = model_runner_step_rgb(rb, g->frames + (size_t)t * fb, pb, NULL);
            for (int j = 0; j < 3 && !rc; j++) {
                double d = fabs((double)pb[j] - pa[j]);
                sum_d += d, n_diff++;
                if (d > out->max_diff) out->max_diff = d;
                if (g->actions) {
                    sum_a[j] += fabs((double)pa[j] - g->actions[3L * t + j]);
                    sum_b[j] += fabs((double)pb[j] - g->actions[3L * t + j]);
                }
            }
            if (rc) break;
            if (g->actions) n_scored++;
            n_steps++;
            n_same += pa[0] == pb[0] && pa[1] == pb[1] && pa[2] == pb[2];
            n_same_key += action_nearest_key(pa, ACTION_VALUE) == action_nearest_key(pb, ACTION_VALUE);
            for (int i = 0; i < a.n_members; i++) {
                const float *oa = model_runner_output(ra, i), *ob = model_runner_output(rb, i);
                for (int j = 0; j < n_head; j++) sum_out += fabs((double)ob[j] - oa[j]);
                n_out += n_head;
            }
        }
    }
    model_runner_free(ra);
    model_runner_free(rb);
    model_file_free(&a);
    model_file_free(&b);
    if (rc) return rc;
    out->frames = n_scored;
    out->mean_diff = n_diff ? sum_d / n_diff : 0;
    out->same_action = n_steps ? (double)n_same / n_steps : 0;
    out->same_key = n_steps ? (double)n_same_key / n_steps : 0;
    out->mean_out_diff = n_out ? sum_out / n_out : 0;
    for (int j = 0; j < 3 && n_scored; j++) {
        out->mae_axis_a[j] = sum_a[j] / n_scored, out->mae_axis_b[j] = sum_b[j] / n_scored;
        out->mae_a += out->mae_axis_a[j] / 3, out->mae_b += out->mae_axis_b[j] / 3;
    }
    return 0;
}
