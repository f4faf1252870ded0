/* Top-down SVG of an evaluation's trajectories: one panel per {1box, 2box} x {vert, hori} row and
 * distance column, drawn on the scene of the cell's first rollout (obstacles, target, goal circle).
 * Every rollout's path is shifted so its obstacles' centre matches the drawn one; left-instructed
 * paths are blue, right-instructed orange; the end is a green dot (success), a red cross
 * (collision) or a gray dot (any other failure). */
#ifndef MVLA_SIM_SVG_H
#define MVLA_SIM_SVG_H

#include "sim/eval.h"

/* Needs an evaluation run with keep_trails. Written atomically. */
int sim_eval_write_svg(const SimEvalResult *r, const char *path);

#endif
