/* mvla ensemble RUN RUN ... -o DIR: several training runs -> one ensemble model file in a run folder of
 * its own (train/ensemble_run.h). */
#include "cli/commands_train.h"

#include "base/error.h"
#include "runtime/model_file.h"
#include "train/ensemble_run.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: mvla ensemble RUN RUN [RUN ...] -o DIR [--mirror]\n"
                "  RUN     run folders of `mvla train` on the same split (e.g. seeds 1 and 2); 2..%d of them\n"
                "  -o DIR  writes DIR/model.safetensors (one model file: the mean of the runs' best checkpoints'\n"
                "          actions), DIR/config.json and DIR/run.json; then\n"
                "            mvla eval DIR/model.safetensors --data D --manifest M --json DIR/eval.json\n"
                "            mvla sim eval --model DIR/model.safetensors --json DIR/sim_eval.json\n"
                "          make it a row of `mvla leaderboard` beside its members\n"
                "  --mirror  each member also steps on the mirrored frame, left and right swapped in its\n"
                "          instruction; its action, mirrored back, joins the mean (twice the step's cost)\n",
            MODEL_MAX_MEMBERS);
}

int cmd_ensemble(int argc, char **argv)
{
    const char *runs[MODEL_MAX_MEMBERS + 1], *out = NULL;
    int n = 0, mirror = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--mirror")) {
            mirror = 1;
        } else if (!strcmp(argv[i], "-o")) {
            if (++i == argc) {
                fprintf(stderr, "mvla: ensemble: -o needs a folder\n");
                return 2;
            }
            out = argv[i];
        } else if (argv[i][0] == '-' || n > MODEL_MAX_MEMBERS) {
            fprintf(stderr, "mvla: ensemble: unexpected argument \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            runs[n++] = argv[i];
        }
    }
    if (n < 2 || !out) {
        usage(stderr);
        return 2;
    }
    if (ensemble_run_write(runs, n, out, mirror)) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
        return 1;
    }
    fprintf(stderr, "mvla: wrote %s/model.safetensors (an ensemble of %d runs%s), config.json and run.json\n", out, n,
            mirror ? ", mirror averaging" : "");
    return 0;
}
