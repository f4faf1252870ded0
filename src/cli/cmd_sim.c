/* PLACEHOLDER so the binary links; replaced by the real command. */
#include "cli/commands.h"

#include <stdio.h>

int cmd_sim(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mvla: sim: not written yet\n");
    return 1;
}
