/* The ring of per-frame features the step-mode runners keep (policy_runner.c, clip_runner.c): the last
 * W frames' D features, frame n (counted from the episode's start) at slot n % W. */
#ifndef MVLA_FEATURE_RING_H
#define MVLA_FEATURE_RING_H

/* Stores frame `seen`'s features f (D floats) in ring [W, D]; the caller then counts it (seen + 1). */
void feature_ring_push(float *ring, int W, int D, long seen, const float *f);
/* The head's window of the `seen` frames so far into win [W, D], oldest first: position t holds frame
 * seen - W + t, zeros before the first frame; mask[t] 1 for a frame, 0 for padding. Returns 1 when
 * any position is padding. */
int feature_ring_window(const float *ring, int W, int D, long seen, float *win, float *mask);

#endif
