/* PLACEHOLDER so the binary links; replaced by the real command. */
#include "cli/commands.h"

#include <stdio.h>

int data_check_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mvla: data_check: not written yet\n");
    return 1;
}
