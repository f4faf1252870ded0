/* The runtime's `mvla` subcommands: export (checkpoint -> model file) and run (model on a frame source). */
#ifndef MVLA_COMMANDS_RUNTIME_H
#define MVLA_COMMANDS_RUNTIME_H

int cmd_export(int argc, char **argv);   /* src/cli/cmd_export.c */
int cmd_run(int argc, char **argv);      /* src/cli/cmd_run.c */

#endif
