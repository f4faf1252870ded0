/* The training, evaluation, leaderboard and ensemble commands (src/cli/cmd_train.c, cmd_eval.c,
 * cmd_leaderboard.c, cmd_ensemble.c). Same convention as commands.h: argv[0] is the command name, the return value
 * is the exit code. */
#ifndef MVLA_COMMANDS_TRAIN_H
#define MVLA_COMMANDS_TRAIN_H

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_leaderboard(int argc, char **argv);
int cmd_ensemble(int argc, char **argv);

#endif
