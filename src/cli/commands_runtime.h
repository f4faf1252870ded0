/* The runtime's `mvla` subcommands: export (checkpoint -> model file), run (model on a frame source) and
 * bench (speed of model files). */
#ifndef MVLA_COMMANDS_RUNTIME_H
#define MVLA_COMMANDS_RUNTIME_H

int cmd_export(int argc, char **argv);   /* src/cli/cmd_export.c */
int cmd_run(int argc, char **argv);      /* src/cli/cmd_run.c */
int cmd_bench(int argc, char **argv);    /* src/cli/cmd_bench.c */
int cmd_quantize(int argc, char **argv); /* src/cli/cmd_quantize.c */

#endif
