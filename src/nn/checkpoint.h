/* Training checkpoints: parameters, optimiser state, step count and free-form metadata in one
 * .safetensors file, written atomically (a crash never leaves a half-written checkpoint).
 *
 * Layout of the file:
 *   <param name>                 F32, the parameter's shape       (every parameter of the list)
 *   optim.<param name>.<slot>    F32, the parameter's shape       (slot: "m", "v" for AdamW,
 *                                                                  "momentum" for SGD with momentum,
 *                                                                  "ema": the parameters' moving average)
 *   __metadata__:
 *     "mvla.step"      the caller's step count, decimal
 *     "mvla.optim"     (with an optimiser) JSON: {"kind": "adamw"|"sgd", "t": <updates taken>,
 *                      "lr", "beta1", "beta2", "eps", "weight_decay", "momentum", "nesterov",
 *                      "groups": [{"prefix", "lr_scale", "weight_decay"}, ...]}
 *     "mvla.metadata"  (when given) the caller's JSON text, e.g. the run's config
 *
 * Loading restores the parameters, the optimiser's buffers and t bit for bit, so a resumed run
 * continues exactly as the original would have. The optimiser's settings and groups are those it
 * was built with (the file's are in "mvla.optim" for reference); only its kind must match.
 * Tensors in the file that the list does not name are ignored. */
#ifndef MVLA_CHECKPOINT_H
#define MVLA_CHECKPOINT_H

#include "nn/params.h"
#include "tensor/optim.h"

/* Writes params (and opt's state, if opt is not NULL; opt must be built on params) and step to
 * path. metadata_json may be NULL; otherwise it must be valid JSON. */
int checkpoint_save(const char *path, const ParamList *params, const Optimizer *opt, long step,
                    const char *metadata_json);

/* Reads path into params (every parameter must be in the file with the same shape) and, if opt
 * is not NULL, opt's state and t (the file must hold state of the same optimiser kind). step
 * (optional) receives "mvla.step", which must then be present. metadata_json (optional)
 * receives a malloc'd copy of "mvla.metadata", or NULL if the file has none.
 * Everything is checked before anything is changed: on failure params and opt are untouched. */
int checkpoint_load(const char *path, ParamList *params, Optimizer *opt, long *step, char **metadata_json);

#endif
