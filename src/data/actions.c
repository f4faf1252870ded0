/* The teleop action vocabulary: key <-> action, sign patterns, mirroring (see actions.h). */
#include "data/actions.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

/* Signs per key, in ACTION_KEYS order. */
static const signed char key_signs[ACTION_NUM_KEYS][3] = {
    {+1, 0, 0},  {-1, 0, 0},  {0, +1, 0}, {0, -1, 0}, {+1, +1, 0}, {+1, -1, 0},
    {-1, +1, 0}, {-1, -1, 0}, {0, 0, +1}, {0, 0, -1}, {0, 0, 0},
};

int action_key_index(char key)
{
    if (key == '\0') return -1;
    const char *p = strchr(ACTION_KEYS, tolower((unsigned char)key));
    return p ? (int)(p - ACTION_KEYS) : -1;
}

const char *action_key_name(char key)
{
    static const char *const names[ACTION_NUM_KEYS] = {"w", "s", "a", "d", "q", "e", "z", "c", "r", "t", "space"};
    int i = action_key_index(key);
    return i < 0 ? "?" : names[i];
}

int key_to_signs(char key, int signs[3])
{
    int i = action_key_index(key);
    for (int k = 0; k < 3; k++) signs[k] = i < 0 ? 0 : key_signs[i][k];
    return i < 0 ? -1 : 0;
}

int key_to_action(char key, float value, float out[3])
{
    int s[3];
    int rc = key_to_signs(key, s);
    for (int k = 0; k < 3; k++) out[k] = (float)s[k] * value;
    return rc;
}

char signs_to_key(const int signs[3])
{
    for (int i = 0; i < ACTION_NUM_KEYS; i++)
        if (key_signs[i][0] == signs[0] && key_signs[i][1] == signs[1] && key_signs[i][2] == signs[2])
            return ACTION_KEYS[i];
    return 0;
}

char action_nearest_key(const float a[3], float value)
{
    char best = ACTION_KEYS[0];
    double best_d = INFINITY;
    for (int i = 0; i < ACTION_NUM_KEYS; i++) {
        float v[3];
        key_to_action(ACTION_KEYS[i], value, v);
        double d = 0;
        for (int j = 0; j < 3; j++) d += ((double)a[j] - v[j]) * ((double)a[j] - v[j]);
        if (d < best_d) best_d = d, best = ACTION_KEYS[i];
    }
    return best;
}

char action_to_key_at(const float a[3], float value, float tol)
{
    int s[3];
    for (int k = 0; k < 3; k++) {
        if (!isfinite(a[k])) return 0;
        if (fabsf(a[k]) <= tol) s[k] = 0;
        else if (fabsf(a[k] - value) <= tol) s[k] = 1;
        else if (fabsf(a[k] + value) <= tol) s[k] = -1;
        else return 0;
    }
    return signs_to_key(s);
}

char action_to_key(const float a[3], float tol)
{
    char k = action_to_key_at(a, ACTION_VALUE, tol);
    return k ? k : action_to_key_at(a, ACTION_VALUE_LEGACY, tol);
}

int action_sign(float v, float dead_zone)
{
    if (v > dead_zone) return 1;
    if (v < -dead_zone) return -1;
    return 0;
}

char action_direction_key(const float a[3], float dead_zone)
{
    int s[3];
    for (int k = 0; k < 3; k++) s[k] = action_sign(a[k], dead_zone);
    return signs_to_key(s);
}

void action_mirror(float a[3])
{
    a[1] = -a[1];
    a[2] = -a[2];
}

char key_mirror(char key)
{
    int s[3];
    if (key_to_signs(key, s)) return 0;
    s[1] = -s[1];
    s[2] = -s[2];
    return signs_to_key(s);
}
