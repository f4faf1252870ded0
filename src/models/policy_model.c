/* Either policy family behind one loader and one runner (see policy_model.h). */
#include "models/policy_model.h"

#include "base/error.h"
#include "io/safetensors.h"

#include <stdlib.h>
#include <string.h>

int policy_metadata_is_clip(const char *metadata_json) { return clip_policy_is_metadata(metadata_json); }

int policy_model_load(PolicyModel *m, const char *path)
{
    memset(m, 0, sizeof *m);
    SafeTensors *st;
    int rc = st_open(&st, path);
    if (rc) return rc;
    m->is_clip = policy_metadata_is_clip(st_metadata(st, "mvla.metadata"));
    st_close(st);
    return m->is_clip ? clip_policy_load(&m->clip, path, 1, NULL) : student_load(&m->student, path);
}

void policy_model_free(PolicyModel *m)
{
    if (m->is_clip) clip_policy_free(&m->clip);
    else student_free(&m->student);
    memset(m, 0, sizeof *m);
}

const StudentConfig *policy_model_config(const PolicyModel *m) { return m->is_clip ? &m->clip.act.cfg : &m->student.cfg; }

long policy_model_param_count(const PolicyModel *m)
{
    return m->is_clip ? clip_policy_param_count(&m->clip) : student_param_count(&m->student);
}

struct PolicyRunner {
    StudentRunner *s;
    ClipRunner *c;
    int chunk;
};

static PolicyRunner *wrap(StudentRunner *s, ClipRunner *c, int chunk)
{
    if (!s && !c) return NULL;
    PolicyRunner *r = calloc(1, sizeof *r);
    if (!r) {
        student_runner_free(s);
        clip_runner_free(c);
        mvla_fail(MVLA_ERR_NOMEM, "policy runner: out of memory");
        return NULL;
    }
    r->s = s, r->c = c, r->chunk = chunk;
    return r;
}

PolicyRunner *policy_runner_student(StudentPolicy *p) { return wrap(student_runner_new(p), NULL, p->cfg.action.chunk); }
PolicyRunner *policy_runner_clip(ClipPolicy *p) { return wrap(NULL, clip_runner_new(p), p->cfg.act.action.chunk); }

PolicyRunner *policy_runner_new(PolicyModel *m)
{
    return m->is_clip ? policy_runner_clip(&m->clip) : policy_runner_student(&m->student);
}

void policy_runner_free(PolicyRunner *r)
{
    if (!r) return;
    student_runner_free(r->s);
    clip_runner_free(r->c);
    free(r);
}

int policy_runner_set_instruction(PolicyRunner *r, const char *text)
{
    return r->c ? clip_runner_set_instruction(r->c, text) : student_runner_set_instruction(r->s, text);
}

void policy_runner_reset(PolicyRunner *r)
{
    if (r->c) clip_runner_reset(r->c);
    else student_runner_reset(r->s);
}

int policy_runner_step_rgb(PolicyRunner *r, const uint8_t *rgb, float action[3], float *chunk)
{
    return r->c ? clip_runner_step_rgb(r->c, rgb, action, chunk) : student_runner_step_rgb(r->s, rgb, action, chunk);
}

int policy_runner_chunk(const PolicyRunner *r) { return r->chunk; }
