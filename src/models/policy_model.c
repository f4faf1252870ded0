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
