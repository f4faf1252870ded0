/* The teleop action vocabulary (../shared/REFERENCE.md section 2): each key press is one discrete
 * action [linear_x, linear_y, angular_z] with components in {-v, 0, +v}, v = 1.15 (very early files
 * used 0.5). linear_y is a sideways slide (omniwheel base), not a turn.
 *
 *   key   (x, y, z) signs      key   (x, y, z) signs
 *   w     (+, 0, 0) forward    q     (+, +, 0) forward-left
 *   s     (-, 0, 0) back       e     (+, -, 0) forward-right
 *   a     (0, +, 0) left       z     (-, +, 0) back-left
 *   d     (0, -, 0) right      c     (-, -, 0) back-right
 *   r     (0, 0, +) turn left  t     (0, 0, -) turn right
 *   ' '   (0, 0, 0) stop (space)
 *
 * Key index order (for a discrete head's classes) is the order of ACTION_KEYS. */
#ifndef MVLA_ACTIONS_H
#define MVLA_ACTIONS_H

#define ACTION_VALUE 1.15f        /* the collector's value for every key */
#define ACTION_VALUE_LEGACY 0.5f  /* very early files */
#define ACTION_TOL 0.05f          /* default per-axis tolerance for action_to_key */
#define ACTION_NUM_KEYS 11
#define ACTION_KEYS "wsadqezcrt " /* index i <-> key ACTION_KEYS[i] */

/* Index of key in ACTION_KEYS (upper case accepted), or -1. */
int action_key_index(char key);
/* "w", ..., "t", "space" for ' '; "?" for anything else. */
const char *action_key_name(char key);
/* The signs (-1, 0, +1) of key's action per axis; returns -1 (signs zeroed) for an unknown key. */
int key_to_signs(char key, int signs[3]);
/* out = value * signs(key); returns 0, or -1 for an unknown key (out zeroed). */
int key_to_action(char key, float value, float out[3]);
/* The key whose action equals a within tol on every axis, at value 1.15 or the legacy 0.5;
 * 0 if none (including NaN). The zero action is ' '. */
char action_to_key(const float a[3], float tol);
/* Same at one given value. */
char action_to_key_at(const float a[3], float value, float tol);
/* The key whose action at value is nearest to a (squared distance; ties: the first in ACTION_KEYS). */
char action_nearest_key(const float a[3], float value);
/* Sign of v with a dead zone: -1, 0 or +1 (0 for |v| <= dead_zone and for NaN). */
int action_sign(float v, float dead_zone);
/* The key with the same direction signs as a (each axis through action_sign), or 0 when the
 * sign pattern is no key (e.g. a slide and a turn at once). Used for direction agreement. */
char action_direction_key(const float a[3], float dead_zone);
/* The key with the given signs, or 0. */
char signs_to_key(const int signs[3]);
/* Left/right mirror: negates linear_y and angular_z (image flipped horizontally). */
void action_mirror(float a[3]);
/* The mirrored key: a<->d, q<->e, z<->c, r<->t; w, s, ' ' unchanged; 0 for an unknown key. */
char key_mirror(char key);

#endif
