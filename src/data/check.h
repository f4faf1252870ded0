/* The dataset checker: every problem of every episode file, as a list (the library never prints).
 *
 * Errors make an episode unusable; warnings do not.
 *   error    unreadable        cannot open, not HDF5, damaged/truncated HDF5, corrupt frame data,
 *                              or libhdf5 crashed on it (see CheckOptions.isolate)
 *   error    missing_dataset   images or actions missing
 *   error    shape_dtype       images not uint8 (T,H,W,3), actions not float32/float64 (T,3), bad strings
 *   error    length_mismatch   images, actions and action_event_types differ in length
 *   error    empty / single_frame   0 or 1 frames (nothing to learn a transition from)
 *   error    nan_action        NaN or Inf in actions
 *   error    action_range      |action component| > max_abs_action (default 2.0: the teleop value is
 *                              1.15, so anything beyond 2 is a unit or recording error)
 *   error    black_episode     every frame black (all bytes <= black_level, default 8)
 *   error    frozen_episode    every frame identical to the one before (T >= 2): a stale camera
 *   error    duplicate         same frames and actions as an earlier file (the later file is marked,
 *                              so the usable set keeps one copy); the reason names the earlier file
 *   warning  black_frames      some (not all) frames black
 *   warning  frozen_frames     some (not all) frames identical to the one before
 *   warning  action_vocab      actions that are no teleop key at 1.15 or 0.5 (within vocab_tol)
 *   warning  first_frame       frame 0 is not episode_start with a zero action
 *   warning  events            action_event_types missing, or holding unknown event names
 *   warning  num_frames_attr   the num_frames attribute disagrees with the images
 *
 * Frames are read one at a time (never a whole episode), hashed and compared as they arrive;
 * files are processed in parallel with OpenMP (every libhdf5 call under the global HDF5 lock,
 * the pixel work outside it). Results are in file order whatever the thread count. */
#ifndef MVLA_CHECK_H
#define MVLA_CHECK_H

typedef enum { CHECK_WARNING = 0, CHECK_ERROR = 1 } CheckSeverity;

typedef struct {
    char *path;              /* the episode file */
    CheckSeverity severity;
    const char *code;        /* one of the codes above (static string) */
    char *reason;            /* one line, without the file name */
} CheckProblem;

typedef struct {
    int n_files;
    int n_usable;            /* files with no error */
    int n_errors, n_warnings;
    int n_problems;
    CheckProblem *problems;  /* in file order, then in the order found */
} CheckReport;

typedef void (*CheckProgressFn)(void *ctx, long frames_done, int files_done, int files_total);

typedef struct {
    float max_abs_action;    /* default 2.0 */
    float vocab_tol;         /* default ACTION_TOL (0.05) */
    int black_level;         /* default 8: a frame is black when every byte is <= this */
    int isolate;             /* default 1: check each file in a forked child, so that a file that
                                crashes libhdf5 (1.10 has such bugs) is reported as unreadable
                                instead of ending the process; 0: in this process */
    CheckProgressFn progress;
    void *progress_ctx;
} CheckOptions;

void check_options_default(CheckOptions *opt);

/* Checks a directory (its *.h5 / *.hdf5 files) or one file. Fails only when path cannot be listed
 * or memory runs out; bad episodes are problems in the report. opt may be NULL (defaults). */
int check_dataset(const char *path, const CheckOptions *opt, CheckReport *out);
int check_files(const char *const *paths, int n, const CheckOptions *opt, CheckReport *out);
void check_report_free(CheckReport *r);

/* The exit code mvla data check uses: 0 every file usable (warnings allowed; with strict, no
 * warnings either); 1 some files unusable (or, with strict, warnings) but at least one usable
 * episode; 3 no usable episode at all (or no files). (2 is the CLI's own: bad arguments or a
 * directory that cannot be read.) */
int check_exit_code(const CheckReport *r, int strict);

#endif
