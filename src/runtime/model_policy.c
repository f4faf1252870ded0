/* Model files and checkpoints of either family as a runtime Policy (see model_policy.h). */
#include "runtime/model_policy.h"

#include "base/error.h"
#include "io/safetensors.h"
#include "models/policy_model.h"
#include "runtime/model_file.h"
#include "runtime/model_preprocess.h"
#include "runtime/model_runner.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    ModelFile mf;          /* a model file */
    PolicyModel pm;        /* or a CLIP head's checkpoint */
    int is_file;
    ModelRunner *run;      /* over mf or pm (an ensemble: the members' mean) */
    Preprocess pre;
    uint8_t *rgb;
    PreprocessPlan plan;   /* resize tables for the frame size (built on the first step) */
    char name[STUDENT_NAME_MAX];
} Adapter;

static void adapter_destroy(void *ctx)
{
    Adapter *a = ctx;
    if (!a) return;
    model_runner_free(a->run);
    if (a->is_file) model_file_free(&a->mf);
    else policy_model_free(&a->pm);
    free(a->rgb);
    preprocess_plan_free(&a->plan);
    free(a);
}

static int adapter_reset(void *ctx, const char *instruction)
{
    Adapter *a = ctx;
    return model_runner_set_instruction(a->run, instruction);
}

static int adapter_step(void *ctx, const uint8_t *frame, int width, int height, int channel_order, float action[3])
{
    Adapter *a = ctx;
    if (!frame || width < 1 || height < 1)
        return mvla_fail(MVLA_ERR_ARG, "policy %s: step: frame %dx%d: expected a non-empty image", a->name, width, height);
    if (channel_order != POLICY_BGR && channel_order != POLICY_RGB)
        return mvla_fail(MVLA_ERR_ARG, "policy %s: step: channel order %d: expected POLICY_BGR or POLICY_RGB", a->name,
                         channel_order);
    int rc = preprocess_run(&a->plan, &a->pre, frame, width, height,
                            channel_order == POLICY_RGB ? PREPROCESS_RGB : PREPROCESS_BGR, a->rgb);
    if (rc) return rc;
    return model_runner_step_rgb(a->run, a->rgb, action, NULL);
}

/* A training checkpoint of either family (a CLIP head's opens its recorded backbone) and its recorded
 * frame preprocessing. */
static int open_checkpoint(Adapter *a, const char *path)
{
    int rc = policy_model_load(&a->pm, path);
    if (rc) return rc;
    SafeTensors *st = NULL;
    if (!(rc = st_open(&st, path)))
        rc = student_model_preprocess(st_metadata(st, "mvla.metadata"), policy_model_config(&a->pm), &a->pre, path);
    st_close(st);
    if (!rc && !(a->run = model_runner_checkpoint(&a->pm))) rc = MVLA_ERR_NOMEM;
    snprintf(a->name, sizeof a->name, "%s", policy_model_config(&a->pm)->name);
    return rc;
}

static int open_file(Adapter *a, const char *path)
{
    a->is_file = 1;
    int rc = model_open(&a->mf, path);
    if (rc) return rc;
    a->pre = a->mf.pre;
    a->run = model_runner_new(&a->mf);
    const char *mirror = a->mf.mirror ? " mirror" : "";
    if (a->mf.n_members > 1)
        snprintf(a->name, sizeof a->name, "%.40s x%d%s", a->mf.policy.cfg.name, a->mf.n_members, mirror);
    else snprintf(a->name, sizeof a->name, "%.40s%s", a->mf.clip ? a->mf.clip->cfg.name : a->mf.policy.cfg.name, mirror);
    return a->run ? 0 : MVLA_ERR_NOMEM;
}

int model_policy_open(Policy *out, const char *path)
{
    memset(out, 0, sizeof *out);
    Adapter *a = calloc(1, sizeof *a);
    if (!a) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    int rc = model_file_is(path) ? open_file(a, path) : open_checkpoint(a, path);
    if (!rc && !(a->rgb = malloc((size_t)a->pre.width * a->pre.height * 3)))
        rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    if (!rc) rc = adapter_reset(a, NULL);
    if (rc) {
        adapter_destroy(a);
        return rc;
    }
    out->name = a->name;
    out->ctx = a;
    out->reset = adapter_reset;
    out->step = adapter_step;
    out->destroy = adapter_destroy;
    return 0;
}
