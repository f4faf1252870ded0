/* The `mvla` subcommands: one file each, src/cli/cmd_<name>.c. Each gets argv after the
 * command name (argv[0] is the command) and returns the process exit code. */
#ifndef MVLA_COMMANDS_H
#define MVLA_COMMANDS_H

int cmd_inspect(int argc, char **argv);
int cmd_train_demo(int argc, char **argv);

#endif
