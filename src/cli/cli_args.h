/* What the subcommands' option loops share. */
#ifndef MVLA_CLI_ARGS_H
#define MVLA_CLI_ARGS_H

#include <stdio.h>

/* An argument no option of command `cmd` ("data cache") took: an unknown option (an error naming it,
 * then the usage on stderr) or the command's one positional argument, kept in *slot; a second one is
 * refused naming both and `what` ("one dataset directory at a time"). Returns 0, or the exit code 2. */
int cli_positional(const char *cmd, const char *a, const char **slot, const char *what, void (*usage)(FILE *));

#endif
