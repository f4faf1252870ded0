/* mvla data <info|check|split|cache|preview>: dataset tools, one file per subcommand. */
#include "cli/commands.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} subcommands[] = {
    {"info", data_info_main, "episodes, frames, scenarios, sides, action vocabulary, instructions"},
    {"check", data_check_main, "every problem in a dataset, one line each; exit code says if it is usable"},
    {"split", data_split_main, "a leak-free train/val/test (or k-fold) split manifest"},
    {"cache", data_cache_main, "decode, convert and resize every frame once into a memory-mapped cache"},
    {"preview", data_preview_main, "a PNG grid of augmented frames"},
};

int cmd_data(int argc, char **argv)
{
    int n = (int)(sizeof subcommands / sizeof subcommands[0]);
    if (argc >= 2)
        for (int i = 0; i < n; i++)
            if (strcmp(argv[1], subcommands[i].name) == 0) return subcommands[i].fn(argc - 1, argv + 1);
    FILE *fp = argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr;
    if (argc >= 2 && fp == stderr) fprintf(stderr, "mvla data: unknown subcommand '%s'\n", argv[1]);
    fprintf(fp, "usage: mvla data <subcommand> [args]\n\n");
    for (int i = 0; i < n; i++) fprintf(fp, "  %-8s  %s\n", subcommands[i].name, subcommands[i].help);
    return fp == stdout ? 0 : 2;
}
