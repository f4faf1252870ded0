/* Helpers for the training tests (see train_testutil.h). */
#include "train_testutil.h"

#include <math.h>

int tt_eval_test_split(const char *checkpoint, const char *data, const char *manifest, EvalReport *rep)
{
    EvalOptions eo;
    eval_options_default(&eo);
    eo.checkpoint = checkpoint;
    eo.data_dir = data;
    eo.manifest = manifest;
    return eval_run(&eo, rep);
}

int tt_eval_report_sane(const EvalReport *rep)
{
    return rep->episodes >= 1 && rep->frames > 0 && isfinite(rep->overall.mae) && rep->instr.frames == rep->frames;
}
