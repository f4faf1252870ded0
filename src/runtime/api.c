/* The public C API (include/mvla.h) over a model file (runtime/model_file.h) and its ModelRunner (one
 * policy, or an ensemble's mean: runtime/model_runner.h). */
#include "base/error.h"
#include "base/progress.h"
#include "base/threads.h"
#include "data/preprocess.h"
#include "runtime/api_internal.h"
#include "runtime/model_file.h"
#include "runtime/model_runner.h"

#include <mvla.h>

#include <stdlib.h>
#include <string.h>

struct mvla_model {
    ModelFile mf;
    ModelRunner *runner;
    uint8_t *rgb;           /* one preprocessed frame */
    PreprocessPlan plan;    /* resize tables for the camera's frame size (built on the first step) */
    double t_steps;         /* seconds in mvla_step since mvla_open (timing: minus encoder and head) */
};

int mvla_open(mvla_model **out, const char *path, const mvla_options *opt)
{
    if (!out) return mvla_fail(MVLA_ERR_ARG, "mvla_open: out is NULL");
    *out = NULL;
    if (!path) return mvla_fail(MVLA_ERR_ARG, "mvla_open: path is NULL");
    if (opt && opt->threads < 0) return mvla_fail(MVLA_ERR_ARG, "mvla_open: threads %d: expected >= 0", opt->threads);
    mvla_model *m = calloc(1, sizeof *m);
    if (!m) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    int rc = model_open(&m->mf, path);
    if (rc) {
        free(m);
        return rc;
    }
    if (opt && opt->threads > 0) mvla_set_threads(opt->threads);
    m->rgb = malloc((size_t)m->mf.pre.width * m->mf.pre.height * 3);
    m->runner = model_runner_new(&m->mf);
    rc = m->rgb && m->runner ? mvla_set_instruction(m, NULL)
                                          : mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    if (rc) {
        mvla_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

int mvla_set_instruction(mvla_model *m, const char *text)
{
    if (!m) return mvla_fail(MVLA_ERR_ARG, "mvla_set_instruction: model is NULL");
    return model_runner_set_instruction(m->runner, text ? text : m->mf.instruction);
}

const char *mvla_default_instruction(const mvla_model *m) { return m ? m->mf.instruction : ""; }

int mvla_reset(mvla_model *m)
{
    if (!m) return mvla_fail(MVLA_ERR_ARG, "mvla_reset: model is NULL");
    model_runner_reset(m->runner);
    return 0;
}

int mvla_step(mvla_model *m, const uint8_t *pixels, int width, int height, int channel_order, float action[3],
              float *chunk)
{
    if (!m || !pixels || !action) return mvla_fail(MVLA_ERR_ARG, "mvla_step: model, pixels and action must be non-NULL");
    if (width < 1 || height < 1 || width > PREPROCESS_MAX_SIDE * 4 || height > PREPROCESS_MAX_SIDE * 4)
        return mvla_fail(MVLA_ERR_ARG, "mvla_step: frame %dx%d: expected a non-empty image", width, height);
    if (channel_order != MVLA_BGR && channel_order != MVLA_RGB)
        return mvla_fail(MVLA_ERR_ARG, "mvla_step: channel order %d: expected MVLA_BGR or MVLA_RGB", channel_order);
    double t0 = time_now();
    int rc = preprocess_run(&m->plan, &m->mf.pre, pixels, width, height,
                            channel_order == MVLA_RGB ? PREPROCESS_RGB : PREPROCESS_BGR, m->rgb);
    if (rc) return rc;
    rc = model_runner_step_rgb(m->runner, m->rgb, action, chunk);
    m->t_steps += time_now() - t0;
    return rc;
}

int mvla_chunk_size(const mvla_model *m)
{
    return m ? model_runner_chunk(m->runner) : 0;
}

void mvla_action_limits(const mvla_model *m, float limits[3])
{
    for (int i = 0; i < 3; i++) limits[i] = m ? m->mf.limits[i] : 0;
}

void mvla_close(mvla_model *m)
{
    if (!m) return;
    model_runner_free(m->runner);
    free(m->rgb);
    preprocess_plan_free(&m->plan);
    model_file_free(&m->mf);
    free(m);
}

int mvla_get_timing(const mvla_model *m, mvla_timing *out)
{
    if (!m || !out) return mvla_fail(MVLA_ERR_ARG, "mvla_get_timing: model and out must be non-NULL");
    model_runner_timing(m->runner, &out->encoder_s, &out->head_s, &out->steps);
    /* Everything but the network: resize, channel order, pixel normalisation (inside the runner's
     * step, before its encoder clock starts) and the call itself. */
    out->preprocess_s = m->t_steps - out->encoder_s - out->head_s;
    if (out->preprocess_s < 0) out->preprocess_s = 0;
    return 0;
}

const ModelFile *mvla_internal_model_file(const mvla_model *m) { return &m->mf; }

const uint8_t *mvla_internal_input(const mvla_model *m) { return m->rgb; }

const float *mvla_internal_output(const mvla_model *m)
{
    return model_runner_output(m->runner, 0);
}

const char *mvla_last_error(void) { return mvla_error_message(); }

const char *mvla_status_string(int status) { return status == 0 ? "ok" : mvla_status_name(status); }
