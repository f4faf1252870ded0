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

#include "runtime/policy.h"
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
    /* DAgger: when open_learner is set, a trained policy drives instead (each generating thread opens
     * its own through open_learner(out, learner_user)); at each step the expert drives with probability
     * expert_prob, and every frame is labelled with the core expert's key for the state the robot is
     * really in. Rollouts end on the learner's mistakes too (collision, timeout): those states are the
     * point. Files get a "dagger" name token and are never retried. */
    int (*open_learner)(Policy *out, void *learner_user);
    void *learner_user;
    float expert_prob;  /* 0..1 (default 0.5) */
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
 * the expert fails) and fills ep; with learner (NULL: none) a DAgger rollout as described above. */
int sim_episode_make(SimEnv *env, const SimGenSpec *g, int index, Policy *learner, SimEpisode *ep);
void sim_episode_free(SimEpisode *ep);
/* Writes ep to path (atomically) with episode_write. */
int sim_episode_write(const SimEpisode *ep, const char *path);

typedef void (*SimGenProgress)(void *user, int done, int total);

/* Generates g->count episodes into dir (created if missing), in parallel over episodes.
 * progress (may be NULL) is called from one thread at a time. */
int sim_generate(const char *dir, const SimConfig *cfg, const SimGenSpec *g, SimGenProgress progress, void *user);

#endif
