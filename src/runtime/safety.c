/* The runtime's safety layer (see safety.h). */
#include "runtime/safety.h"

#include <math.h>

const char *safety_apply(const SafetyConfig *c, float action[3], double frame_age_s)
{
    const char *reason = 0;
    if (!isfinite(action[0]) || !isfinite(action[1]) || !isfinite(action[2]))
        reason = "nonfinite_output";
    else if (c->timeout_s > 0 && !(frame_age_s <= c->timeout_s))
        reason = "stale_source";
    if (reason) {
        action[0] = action[1] = action[2] = 0.0f;
        return reason;
    }
    for (int i = 0; i < 3; i++) {
        float a = action[i];
        if (c->clamp) a = fminf(fmaxf(a, -c->limits[i]), c->limits[i]);
        if (fabsf(a) < c->dead_zone) a = 0.0f;
        action[i] = a;
    }
    return 0;
}
