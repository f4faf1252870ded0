/* Post-training int8 quantisation of a model file (`mvla quantize`): calibration on frames, then an
 * int8 model file (the format: runtime/model_quant.h; what runs in int8: models/policy_int8.h).
 *
 * Calibration runs the fp32 model in step mode (a StudentRunner, one segment = one episode from its
 * start, with the segment's instruction) and records the values at the input of every int8 site:
 * a first pass finds each input's range, a second fills a 4096-bin histogram over it. The activation
 * range kept is then
 *   CALIB_PERCENTILE (default): from the (100 - p)th to the p-th percentile of the values (p = 99.999),
 *                     i.e. the rarest 0.001% of each tail is clipped (a handful of values per input
 *                     over 256 frames), so one outlier does not coarsen the step for every other value;
 *   CALIB_MAX:        the whole observed range.
 * Measured on students trained on simulator data, scored on 130 held-out episodes (mean |int8 - fp32|
 * of the head outputs): p = 99.999 was the closest for the default (discrete) student, max for
 * continuous ones (99.999 second), and p = 99.99 the farthest for all three models tried: clipping
 * more than a few values hurts these networks, whose rare large activations matter. The range is
 * then widened to include 0 (so zero, e.g. after a ReLU, is exact), and quantised to u8 with
 * scale = (hi - lo) / 255 and zero point round(-lo / scale). Weights: per output channel,
 * scale = max |w| / 127, q = round(w / scale).
 *
 * The output keeps every tensor and metadata key of the input; the sites' weights become I8 with
 * their scales, so do (storage only, "weight_only") the other 2-D weights of 4096 values or more
 * but the output layer's, and "quantization" describes the rest (method, percentile, frames, the calibration
 * data's names, the source file's SHA-256). It is written atomically, then opened again and run
 * beside the fp32 model over the calibration frames: the report gives the largest and mean action
 * difference.
 *
 * An ensemble model file (model_file.h) is quantised member by member on the same calibration frames
 * (each member's own activation ranges), into an int8 ensemble file; comparisons step both files as
 * they run (the members' mean action). */
#ifndef MVLA_QUANTIZE_H
#define MVLA_QUANTIZE_H

#include "data/cache.h"
#include "models/policy_int8.h"
#include "runtime/model_file.h"

typedef enum { CALIB_PERCENTILE = 0, CALIB_MAX } CalibMethod;

/* n consecutive frames of one episode: RGB bytes, width x height (the model's input size), rows top
 * to bottom, frame after frame; actions (NULL or n x 3, raw units) are the recorded targets. */
typedef struct {
    const char *instruction;   /* NULL or "": the model's default instruction */
    const uint8_t *frames;
    const float *actions;
    int n, width, height;
} CalibSegment;

typedef void (*QuantizeProgressFn)(void *ctx, long done, long total);

typedef struct {
    CalibMethod method;
    double percentile;                 /* CALIB_PERCENTILE: 50 < p <= 100 */
    int weight_only;                   /* 1 (default): store the large fp32 matrices as int8 too (weight_only) */
    const char *cache, *manifest, *split; /* recorded in the metadata (NULL: left out) */
    QuantizeProgressFn progress;       /* may be NULL: called per frame, over both passes */
    void *ctx;
} QuantizeOptions;

void quantize_options_default(QuantizeOptions *o);
const char *calib_method_name(CalibMethod m);

typedef struct {
    char name[128];
    long count;                        /* values seen */
    float min, max, lo, hi, scale;     /* observed range, kept range, activation scale */
    int zero;
} QuantSiteReport;

typedef struct {
    int n_sites;                       /* an ensemble's: every member's, named as stored ("members.1.") */
    QuantSiteReport site[MODEL_MAX_MEMBERS * STUDENT_INT8_MAX_SITES];
    long frames;                       /* calibration frames */
    long bytes_in, bytes_out;          /* file sizes */
    double max_diff, mean_diff;        /* |int8 - fp32| action, raw units, over the calibration frames */
} QuantizeReport;

/* model_path (an fp32 model file) -> out_path (int8), calibrated on segs. r may be NULL. */
int model_quantize(const char *model_path, const char *out_path, const CalibSegment *segs, int n_segs,
                   const QuantizeOptions *o, QuantizeReport *r);

/* `frames` calibration frames from a cache (fewer when episodes are short), spread over the given
 * episodes (cache indices; NULL: every episode): each episode gives one segment of frames / episodes
 * consecutive frames (the first frames % episodes one more) from the middle of the episode, run from
 * a fresh start; with more episodes than frames, `frames` episodes evenly spaced give one frame each.
 * *out: malloc'd, pointing into the cache (keep it open). */
int quantize_segments_from_cache(const FrameCache *c, const int *episodes, int n_episodes, int frames,
                                 CalibSegment **out, int *n_out);

/* Replays segments from their frame `first` on through two model files side by side (a new episode
 * per segment, the segment's instruction) and scores each step against the recorded action. first = 1
 * leaves out a whole episode's start record, which the robot never sees (train.skip_start). Raw units. */
typedef struct {
    long frames;
    double mae_a, mae_b;               /* mean |pred - target| over frames and the 3 axes */
    double mae_axis_a[3], mae_axis_b[3];
    double mean_diff, max_diff;        /* |pred_b - pred_a| */
    double same_action;                /* share of steps (all frames) with the very same action */
    double same_key;                   /* ... whose actions are nearest the same teleop key (at 1.15) */
    double mean_out_diff;              /* |out_b - out_a| of the head outputs (normalised values or logits) */
} QuantCompare;

int quantize_compare(const char *model_a, const char *model_b, const CalibSegment *segs, int n_segs, int first,
                     QuantCompare *out);

#endif
