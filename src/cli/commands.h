/* The `mvla` subcommands: one file each, src/cli/cmd_<name>.c. Each gets argv after the
 * command name (argv[0] is the command) and returns the process exit code. */
#ifndef MVLA_COMMANDS_H
#define MVLA_COMMANDS_H

int cmd_inspect(int argc, char **argv);
int cmd_train_demo(int argc, char **argv);
int cmd_data(int argc, char **argv);      /* dispatches to the data_* commands below */
int cmd_sim(int argc, char **argv);       /* src/cli/cmd_sim.c: generate, eval */
int cmd_backbone(int argc, char **argv);  /* src/cli/cmd_backbone.c: run, tokenize */

/* `mvla data <sub>`: src/cli/cmd_data_<sub>.c */
int data_info_main(int argc, char **argv);
int data_check_main(int argc, char **argv);
int data_split_main(int argc, char **argv);
int data_cache_main(int argc, char **argv);
int data_preview_main(int argc, char **argv);

#endif
