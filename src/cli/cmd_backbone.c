/* PLACEHOLDER so the binary links; replaced by the real command. */
#include "cli/commands.h"

#include <stdio.h>

int cmd_backbone(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mvla: backbone: not written yet\n");
    return 1;
}
