/* The training, evaluation and leaderboard commands (src/cli/cmd_train.c, cmd_eval.c,
 * cmd_leaderboard.c). Same convention as commands.h: argv[0] is the command name, the return value
 * is the exit code. */
#ifndef MVLA_COMMANDS_TRAIN_H
#define MVLA_COMMANDS_TRAIN_H

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_leaderboard(int argc, char **argv);

#endif
