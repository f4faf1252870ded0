/* Option-loop pieces shared by the subcommands (see cli_args.h). */
#include "cli/cli_args.h"

int cli_positional(const char *cmd, const char *a, const char **slot, const char *what, void (*usage)(FILE *))
{
    if (a[0] == '-' && a[1]) {
        fprintf(stderr, "mvla: %s: unknown option '%s'\n", cmd, a);
        usage(stderr);
        return 2;
    }
    if (*slot) {
        fprintf(stderr, "mvla: %s: one %s at a time ('%s' and '%s')\n", cmd, what, *slot, a);
        return 2;
    }
    *slot = a;
    return 0;
}
