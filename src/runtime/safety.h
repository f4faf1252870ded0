/* The runtime's safety layer, applied to every action before it leaves `mvla run`:
 *   - a non-finite model output (NaN / Inf on any axis) -> zero action ("nonfinite_output")
 *   - a frame older than the timeout (the source stalled) -> zero action ("stale_source")
 *   - clamp each axis to the model's action limits (when enabled)
 *   - dead zone: an axis whose |value| is below it becomes 0 */
#ifndef MVLA_SAFETY_H
#define MVLA_SAFETY_H

typedef struct {
    float limits[3];     /* per-axis |action| bound, raw units */
    int clamp;           /* 1: clamp to limits */
    float dead_zone;     /* 0: none */
    double timeout_s;    /* <= 0: no staleness check */
} SafetyConfig;

/* Rewrites action in place; frame_age_s is how long the current frame took to arrive. Returns the
 * reason when the action was zeroed ("nonfinite_output", "stale_source"), else NULL. */
const char *safety_apply(const SafetyConfig *c, float action[3], double frame_age_s);

#endif
