/* mvla leaderboard RUNS_DIR: ranks the run folders under RUNS_DIR (src/train/leaderboard.h), prints the
 * Markdown table and writes RUNS_DIR/leaderboard.md and RUNS_DIR/leaderboard.html. */
#include "cli/commands_train.h"

#include "base/error.h"
#include "train/leaderboard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: mvla leaderboard RUNS_DIR [--no-write]\n"
                "  Ranks every run folder in RUNS_DIR (made by `mvla train`) by test MAE (eval.json from\n"
                "  `mvla eval`), then closed-loop success (sim_eval.json from `mvla sim eval`), prints the table\n"
                "  and writes RUNS_DIR/leaderboard.md and RUNS_DIR/leaderboard.html (with training curves).\n"
                "  --no-write   only print\n");
}

int cmd_leaderboard(int argc, char **argv)
{
    const char *dir = NULL;
    int write = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--no-write")) {
            write = 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "mvla leaderboard: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (dir) {
            fprintf(stderr, "mvla leaderboard: one RUNS_DIR expected\n");
            return 2;
        } else {
            dir = argv[i];
        }
    }
    if (!dir) {
        usage(stderr);
        return 2;
    }
    Leaderboard lb;
    if (leaderboard_scan(&lb, dir)) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
        return 1;
    }
    char *md = leaderboard_markdown(&lb);
    if (md) fputs(md, stdout);
    free(md);
    int rc = 0;
    if (write) {
        if (leaderboard_write(&lb)) {
            fprintf(stderr, "mvla: %s\n", mvla_error_message());
            rc = 1;
        } else {
            printf("\nwrote %s/leaderboard.md and %s/leaderboard.html\n", dir, dir);
        }
    }
    leaderboard_free(&lb);
    return rc;
}
