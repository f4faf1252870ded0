/* Stepping a model file: one runner, or an ensemble's mean (see model_runner.h). */
#include "runtime/model_runner.h"

#include "base/error.h"
#include "base/progress.h"
#include "data/actions.h"
#include "data/augment.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ModelRunner {
    ClipRunner *clip;                          /* a CLIP head's file */
    StudentRunner *s[2 * MODEL_MAX_MEMBERS];   /* else one per member; with mirror, s[n + i] is member i on
                                                  the mirrored frame */
    int n, chunk, mirror;
    int width, height;                         /* the students' input frame */
    float *acts, *chunks;                      /* [runs * 3], [runs * K * 3]: each run's action and chunk */
    uint8_t *flipped;                          /* mirror: the frame flipped left-right */
    double t_runs;                             /* wall seconds in the ensemble's runs, over all steps */
};

void model_runner_free(ModelRunner *r)
{
    if (!r) return;
    clip_runner_free(r->clip);
    for (int i = 0; i < r->n * (1 + r->mirror); i++) student_runner_free(r->s[i]);
    free(r->acts);
    free(r->chunks);
    free(r->flipped);
    free(r);
}

/* Over a CLIP head, or over n student policies (which must outlive the runner), each also on the
 * mirrored frame when mirror. */
static ModelRunner *runner_new(ClipPolicy *clip, StudentPolicy *const *members, int n, int mirror)
{
    ModelRunner *r = calloc(1, sizeof *r);
    if (!r) {
        mvla_fail(MVLA_ERR_NOMEM, "model runner: out of memory");
        return NULL;
    }
    int ok;
    if (clip) {
        r->chunk = clip->cfg.act.action.chunk;
        ok = (r->clip = clip_runner_new(clip)) != NULL;
    } else {
        r->chunk = members[0]->cfg.action.chunk;
        r->width = members[0]->cfg.encoder.input_width, r->height = members[0]->cfg.encoder.input_height;
        size_t runs = (size_t)n * (mirror ? 2 : 1);
        ok = (r->acts = malloc(sizeof(float) * 3 * runs)) != NULL &&
             (r->chunks = malloc(sizeof(float) * 3 * runs * (size_t)r->chunk)) != NULL &&
             (!mirror || (r->flipped = malloc((size_t)r->width * (size_t)r->height * 3)) != NULL);
        if (!ok) mvla_fail(MVLA_ERR_NOMEM, "model runner: out of memory");
        r->n = n, r->mirror = mirror != 0; /* the free below frees only the runners made (the rest are NULL) */
        for (int i = 0; ok && i < n * (1 + r->mirror); i++)
            if (!(r->s[i] = student_runner_new(members[i % n]))) ok = 0;
    }
    if (!ok) {
        model_runner_free(r);
        return NULL;
    }
    return r;
}

ModelRunner *model_runner_new(ModelFile *mf)
{
    if (mf->clip) return runner_new(mf->clip, NULL, 0, 0);
    StudentPolicy *members[MODEL_MAX_MEMBERS];
    int n = mf->n_members > 1 ? mf->n_members : 1;
    for (int i = 0; i < n; i++) members[i] = model_file_member(mf, i);
    return runner_new(NULL, members, n, mf->mirror);
}

ModelRunner *model_runner_checkpoint(PolicyModel *pm)
{
    StudentPolicy *student = &pm->student;
    return pm->is_clip ? runner_new(&pm->clip, NULL, 0, 0) : runner_new(NULL, &student, 1, 0);
}

int model_runner_set_instruction(ModelRunner *r, const char *text)
{
    if (r->clip) return clip_runner_set_instruction(r->clip, text);
    char *swapped = NULL;
    if (r->mirror && text && !(swapped = augment_swap_sides(text)))
        return mvla_fail(MVLA_ERR_NOMEM, "model runner: out of memory");
    int rc = 0;
    for (int i = 0; i < r->n * (1 + r->mirror) && !rc; i++)
        rc = student_runner_set_instruction(r->s[i], i < r->n ? text : swapped);
    free(swapped);
    return rc;
}

void model_runner_reset(ModelRunner *r)
{
    if (r->clip) clip_runner_reset(r->clip);
    for (int i = 0; i < r->n * (1 + r->mirror); i++) student_runner_reset(r->s[i]);
}

/* The frame flipped left-right into r->flipped. */
static void flip_frame(ModelRunner *r, const uint8_t *rgb)
{
    size_t w = (size_t)r->width;
    for (size_t y = 0; y < (size_t)r->height; y++)
        for (size_t x = 0; x < w; x++) memcpy(r->flipped + (y * w + x) * 3, rgb + (y * w + (w - 1 - x)) * 3, 3);
}

/* Run i (member i % n, on the mirrored frame when i >= n) into r->acts and r->chunks, in real-world
 * left and right. */
static int step_run(ModelRunner *r, int i, const uint8_t *rgb)
{
    float *a = r->acts + 3 * i, *ch = r->chunks + (size_t)3 * r->chunk * i;
    int mirrored = i >= r->n;
    int rc = student_runner_step_rgb(r->s[i], mirrored ? r->flipped : rgb, a, ch);
    if (!rc && mirrored) { /* back to the real world's left and right */
        action_mirror(a);
        for (int k = 0; k < r->chunk; k++) action_mirror(ch + 3 * k);
    }
    return rc;
}

int model_runner_step_rgb(ModelRunner *r, const uint8_t *rgb, float action[3], float *chunk)
{
    if (r->clip) return clip_runner_step_rgb(r->clip, rgb, action, chunk);
    if (r->n == 1 && !r->mirror) return student_runner_step_rgb(r->s[0], rgb, action, chunk);
    int K3 = r->chunk * 3, runs = r->n * (1 + r->mirror), rc = 0;
    if (r->mirror) flip_frame(r, rgb);
    /* The runs are independent (each its own runner, graph and scratch; the weights are only read), so
     * with several threads each thread steps whole runs: at batch 1 that scales far better than
     * splitting one run's small matrices. Inside this region the ops run on one thread each. */
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (threads > runs) threads = runs;
    char msg[512] = ""; /* the message is per thread: the failing run's is carried out of the region */
    double t0 = time_now();
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int i = 0; i < runs; i++) {
        int e = step_run(r, i, rgb);
        if (e) {
#pragma omp critical(model_runner_error)
            if (!rc) rc = e, snprintf(msg, sizeof msg, "%s", mvla_error_message());
        }
    }
    r->t_runs += time_now() - t0;
    if (rc) return mvla_fail(rc, "%s", msg);
    /* Summed in run order: the same result on any number of threads. */
    for (int k = 0; k < 3; k++) {
        float s = 0;
        for (int i = 0; i < runs; i++) s += r->acts[3 * i + k];
        action[k] = s / (float)runs;
    }
    for (int k = 0; chunk && k < K3; k++) {
        float s = 0;
        for (int i = 0; i < runs; i++) s += r->chunks[(size_t)K3 * i + k];
        chunk[k] = s / (float)runs;
    }
    return 0;
}

int model_runner_chunk(const ModelRunner *r) { return r->chunk; }

int model_runner_members(const ModelRunner *r) { return r->clip ? 1 : r->n; }

const float *model_runner_output(const ModelRunner *r, int member)
{
    if (r->clip) return clip_runner_output(r->clip);
    return member >= 0 && member < r->n ? student_runner_output(r->s[member]) : NULL;
}

void model_runner_timing(const ModelRunner *r, double *encode_s, double *head_s, long *steps)
{
    double enc = 0, head = 0;
    long n_steps = 0;
    if (r->clip) clip_runner_timing(r->clip, &enc, &head, &n_steps);
    for (int i = 0; i < r->n * (1 + r->mirror); i++) {
        double e, h;
        long s;
        student_runner_timing(r->s[i], &e, &h, &s);
        enc += e, head += h;
        if (i == 0) n_steps = s;
    }
    if (enc + head > r->t_runs && r->t_runs > 0) { /* runs in parallel: their summed times, scaled to the wall clock */
        double scale = r->t_runs / (enc + head);
        enc *= scale, head *= scale;
    }
    if (encode_s) *encode_s = enc;
    if (head_s) *head_s = head;
    if (steps) *steps = n_steps;
}
