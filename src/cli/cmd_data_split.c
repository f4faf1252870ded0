/* PLACEHOLDER so the binary links; replaced by the real command. */
#include "cli/commands.h"

#include <stdio.h>

int data_split_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mvla: data_split: not written yet\n");
    return 1;
}
