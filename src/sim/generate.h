/* Episode generation: the expert drives simulated rollouts and each becomes one episode file in
 * the collector's exact format (src/io/episode.h; REFERENCE.md section 2): frame 0 episode_start
 * with a zero action, one frame per key press (the view when the key was pressed), a final
 * stop_action frame; BGR images; the collector's attributes and file naming.
 *
 * Episode i of a dataset is fixed by (seed, i) alone: scenario cell i % 24 of
 * {1box,2box} x {vert,hori} x {left,right} x {close,medium,far}, lighting balanced over the four
 * presets, core or variant drawn with variant_frac. So any prefix of 24k episodes is balanced, the
 * same seed gives the same files, and threads do not change anything. */
#ifndef MVLA_SIM_GENERATE_H
#define MVLA_SIM_GENERATE_H

#include "sim/env.h"

#include <stdint.h>

typedef struct {
    int count;
    uint64_t seed;
    int lighting;       /* a SimLighting, or -1: balanced */
    int target;         /* a SimTarget, or -1: cup, bottle, basket in turn */
    int distractors;    /* at most this many per scene (0..3) */
    float variant_frac; /* share of "variant" episodes (0.5) */
    const char *lang;   /* instruction language, "en" (default) or "ko" */
} SimGenSpec;

void sim_gen_spec_default(SimGenSpec *g);

typedef struct {
    SimSceneSpec scene;
    SimSide side;
    int variant;
    uint64_t seed;          /* the rollout seed used */
    char name[192];         /* file stem, e.g. episode_20250602_051233_1box_vert_left_core_medium_dawn */
    char datetime[32];      /* collection_datetime */
    int hour, minute;
    double duration;        /* total_duration (s) */
    const char *instruction;
    int num_frames, width, height;
    uint8_t *frames;        /* num_frames x height x width x 3, BGR */
    float *actions;         /* num_frames x 3 */
    char *events[64 + 2];   /* per frame: episode_start / start_action / stop_action */
} SimEpisode;

/* Runs the expert for episode `index` of g on env (retrying with the next seed in the rare case
 * the expert fails) and fills ep. */
int sim_episode_make(SimEnv *env, const SimGenSpec *g, int index, SimEpisode *ep);
void sim_episode_free(SimEpisode *ep);
/* Writes ep to path (atomically) with episode_write. */
int sim_episode_write(const SimEpisode *ep, const char *path);

typedef void (*SimGenProgress)(void *user, int done, int total);

/* Generates g->count episodes into dir (created if missing), in parallel over episodes.
 * progress (may be NULL) is called from one thread at a time. */
int sim_generate(const char *dir, const SimConfig *cfg, const SimGenSpec *g, SimGenProgress progress, void *user);

#endif
