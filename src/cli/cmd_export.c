/* mvla export CHECKPOINT [CHECKPOINT ...] -o MODEL.safetensors: a training checkpoint -> a
 * self-contained model file, or several student checkpoints -> one ensemble model file
 * (runtime/model_file.h). */
#include "cli/commands_runtime.h"

#include "base/error.h"
#include "runtime/model_file.h"

#include <stdio.h>
#include <string.h>

static void export_usage(FILE *fp)
{
    fprintf(fp, "usage: mvla export CHECKPOINT [CHECKPOINT ...] -o MODEL.safetensors [--mirror]\n"
                "  CHECKPOINT  a policy checkpoint written by `mvla train`; 2..%d student checkpoints of one\n"
                "              architecture (e.g. different seeds) give an ensemble: one file whose actions are\n"
                "              the mean of the members' actions\n"
                "  -o PATH     the model file to write (weights + \"mvla.model\" metadata; written atomically)\n"
                "  --mirror    students: each member also steps on the mirrored frame with left and right\n"
                "              swapped in the instruction, and its action, mirrored back, joins the mean\n"
                "              (twice the step's cost; docs/model_files.md)\n",
            MODEL_MAX_MEMBERS);
}

int cmd_export(int argc, char **argv)
{
    const char *in[MODEL_MAX_MEMBERS], *out = NULL;
    int n = 0, mirror = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            export_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--mirror")) {
            mirror = 1;
        } else if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (++i == argc) {
                fprintf(stderr, "mvla: export: %s needs a path\n", argv[i - 1]);
                return 2;
            }
            out = argv[i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "mvla: export: unexpected argument \"%s\"\n", argv[i]);
            export_usage(stderr);
            return 2;
        } else if (n == MODEL_MAX_MEMBERS) {
            fprintf(stderr, "mvla: export: more than %d checkpoints (an ensemble has at most %d members)\n",
                    MODEL_MAX_MEMBERS, MODEL_MAX_MEMBERS);
            return 2;
        } else {
            in[n++] = argv[i];
        }
    }
    if (!n || !out) {
        export_usage(stderr);
        return 2;
    }
    if (model_export_ensemble(in, n, out, mirror)) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
        return 1;
    }
    if (n > 1) fprintf(stderr, "mvla: wrote %s (an ensemble of %d policies%s)\n", out, n, mirror ? ", mirror averaging" : "");
    else fprintf(stderr, "mvla: wrote %s%s\n", out, mirror ? " (mirror averaging)" : "");
    return 0;
}
