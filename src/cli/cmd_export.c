/* mvla export CHECKPOINT -o MODEL.safetensors: a training checkpoint -> a self-contained model file
 * (runtime/model_file.h). */
#include "cli/commands_runtime.h"

#include "base/error.h"
#include "runtime/model_file.h"

#include <stdio.h>
#include <string.h>

static void export_usage(FILE *fp)
{
    fprintf(fp, "usage: mvla export CHECKPOINT -o MODEL.safetensors\n"
                "  CHECKPOINT  a policy checkpoint written by `mvla train`\n"
                "  -o PATH     the model file to write (weights + \"mvla.model\" metadata; written atomically)\n");
}

int cmd_export(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            export_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (++i == argc) {
                fprintf(stderr, "mvla: export: %s needs a path\n", argv[i - 1]);
                return 2;
            }
            out = argv[i];
        } else if (argv[i][0] == '-' || in) {
            fprintf(stderr, "mvla: export: unexpected argument \"%s\"\n", argv[i]);
            export_usage(stderr);
            return 2;
        } else {
            in = argv[i];
        }
    }
    if (!in || !out) {
        export_usage(stderr);
        return 2;
    }
    if (model_export(in, out)) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
        return 1;
    }
    fprintf(stderr, "mvla: wrote %s\n", out);
    return 0;
}
