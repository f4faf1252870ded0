/* An ensemble's run folder: `mvla ensemble RUN RUN ... -o DIR` exports the runs' best checkpoints into
 * one ensemble model file DIR/model.safetensors (runtime/model_file.h: the members' mean action) and
 * writes DIR/config.json (the first member's) and DIR/run.json:
 *
 *   {"format": "mvla-ensemble", "members": [run folders], "data_dir", "manifest", "manifest_hash",
 *    "fold", "episodes": {...}  (the members', which must agree), "parameters": the members' sum,
 *    "model_bytes": the model file's size, "features": the first member's plus " ensemble xN" (and
 *    " mirror" with mirror averaging: model_file.h)}
 *
 * so that `mvla leaderboard` ranks it beside its members once `mvla eval DIR/model.safetensors --json
 * DIR/eval.json` and `mvla sim eval --model DIR/model.safetensors --json DIR/sim_eval.json` ran. */
#ifndef MVLA_TRAIN_ENSEMBLE_RUN_H
#define MVLA_TRAIN_ENSEMBLE_RUN_H

/* runs: 2..MODEL_MAX_MEMBERS run folders of `mvla train` trained on the same split (manifest hash and
 * fold). out_dir is created when missing; its files are written atomically. mirror: the model file
 * averages each member with its mirrored self too. */
int ensemble_run_write(const char *const *runs, int n, const char *out_dir, int mirror);

#endif
