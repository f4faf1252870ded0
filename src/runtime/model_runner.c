/* Stepping a model file: one runner, or an ensemble's mean (see model_runner.h). */
#include "runtime/model_runner.h"

#include "base/error.h"

#include <stdlib.h>
#include <string.h>

struct ModelRunner {
    ClipRunner *clip;                          /* a CLIP head's file */
    StudentRunner *s[MODEL_MAX_MEMBERS];       /* else one per member */
    int n, chunk;
    float *scratch;                            /* [K * 3]: one member's chunk */
};

void model_runner_free(ModelRunner *r)
{
    if (!r) return;
    clip_runner_free(r->clip);
    for (int i = 0; i < r->n; i++) student_runner_free(r->s[i]);
    free(r->scratch);
    free(r);
}

/* Over a CLIP head, or over n student policies (which must outlive the runner). */
static ModelRunner *runner_new(ClipPolicy *clip, StudentPolicy *const *members, int n)
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
        ok = (r->scratch = malloc(sizeof(float) * 3 * (size_t)r->chunk)) != NULL;
        if (!ok) mvla_fail(MVLA_ERR_NOMEM, "model runner: out of memory");
        for (; ok && r->n < n; r->n++)
            if (!(r->s[r->n] = student_runner_new(members[r->n]))) ok = 0;
    }
    if (!ok) {
        model_runner_free(r);
        return NULL;
    }
    return r;
}

ModelRunner *model_runner_new(ModelFile *mf)
{
    if (mf->clip) return runner_new(mf->clip, NULL, 0);
    StudentPolicy *members[MODEL_MAX_MEMBERS];
    int n = mf->n_members > 1 ? mf->n_members : 1;
    for (int i = 0; i < n; i++) members[i] = model_file_member(mf, i);
    return runner_new(NULL, members, n);
}

ModelRunner *model_runner_checkpoint(PolicyModel *pm)
{
    StudentPolicy *student = &pm->student;
    return pm->is_clip ? runner_new(&pm->clip, NULL, 0) : runner_new(NULL, &student, 1);
}

int model_runner_set_instruction(ModelRunner *r, const char *text)
{
    if (r->clip) return clip_runner_set_instruction(r->clip, text);
    int rc = 0;
    for (int i = 0; i < r->n && !rc; i++) rc = student_runner_set_instruction(r->s[i], text);
    return rc;
}

void model_runner_reset(ModelRunner *r)
{
    if (r->clip) clip_runner_reset(r->clip);
    for (int i = 0; i < r->n; i++) student_runner_reset(r->s[i]);
}

int model_runner_step_rgb(ModelRunner *r, const uint8_t *rgb, float action[3], float *chunk)
{
    if (r->clip) return clip_runner_step_rgb(r->clip, rgb, action, chunk);
    if (r->n == 1) return student_runner_step_rgb(r->s[0], rgb, action, chunk);
    int K3 = r->chunk * 3;
    float sum[3] = {0};
    if (chunk) memset(chunk, 0, sizeof(float) * (size_t)K3);
    for (int i = 0; i < r->n; i++) {
        float a[3];
        int rc = student_runner_step_rgb(r->s[i], rgb, a, r->scratch);
        if (rc) return rc;
        for (int k = 0; k < 3; k++) sum[k] += a[k];
        for (int k = 0; chunk && k < K3; k++) chunk[k] += r->scratch[k];
    }
    for (int k = 0; k < 3; k++) action[k] = sum[k] / (float)r->n;
    for (int k = 0; chunk && k < K3; k++) chunk[k] /= (float)r->n;
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
    for (int i = 0; i < r->n; i++) {
        double e, h;
        long s;
        student_runner_timing(r->s[i], &e, &h, &s);
        enc += e, head += h;
        if (i == 0) n_steps = s;
    }
    if (encode_s) *encode_s = enc;
    if (head_s) *head_s = head;
    if (steps) *steps = n_steps;
}
