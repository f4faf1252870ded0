/* Step mode of the CLIP head (see clip_policy.h): each frame runs the whole backbone, the per-frame
 * feature goes into a ring buffer of W, the head runs over the window; the same ops as training. */
#include "base/error.h"
#include "base/progress.h"
#include "models/clip_policy.h"
#include "models/feature_ring.h"
#include "tensor/ops_shape.h"

#include <stdlib.h>
#include <string.h>

struct ClipRunner {
    ClipPolicy *p;
    Graph *g;
    float *text;      /* [P] the instruction's embedding */
    float *img;       /* [P] */
    float *tokens;    /* [T * Dv] with the resampler */
    float *ring;      /* [W, D] */
    float *mask;      /* [W] */
    float *out;       /* [K * out_dim] */
    float *chunk;     /* [K * 3] */
    long seen;
    double t_encode, t_head;
    long steps;
};

void clip_runner_free(ClipRunner *r)
{
    if (!r) return;
    graph_free(r->g);
    free(r->text), free(r->img), free(r->tokens), free(r->ring), free(r->mask), free(r->out), free(r->chunk);
    free(r);
}

ClipRunner *clip_runner_new(ClipPolicy *p)
{
    if (!p->backbone) {
        mvla_fail(MVLA_ERR_ARG, "clip runner: the policy has no backbone loaded");
        return NULL;
    }
    const ClipPolicyConfig *c = &p->cfg;
    int P = c->embed_dim, W = c->head.window, D = c->feature_dim, K = c->act.action.chunk;
    ClipRunner *r = calloc(1, sizeof *r);
    if (!r) {
        mvla_fail(MVLA_ERR_NOMEM, "clip runner: out of memory");
        return NULL;
    }
    r->p = p;
    r->g = graph_new();
    r->text = calloc((size_t)P, sizeof(float));
    r->img = calloc((size_t)P, sizeof(float));
    r->tokens = c->resampler.enabled ? calloc((size_t)c->token_count * c->token_dim, sizeof(float)) : NULL;
    r->ring = calloc((size_t)W * D, sizeof(float));
    r->mask = calloc((size_t)W, sizeof(float));
    r->out = calloc((size_t)K * p->act.out_dim, sizeof(float));
    r->chunk = calloc((size_t)K * 3, sizeof(float));
    if (!r->g || !r->text || !r->img || (c->resampler.enabled && !r->tokens) || !r->ring || !r->mask || !r->out || !r->chunk) {
        clip_runner_free(r);
        mvla_fail(MVLA_ERR_NOMEM, "clip runner: out of memory");
        return NULL;
    }
    graph_set_grad(r->g, 0);
    if (clip_runner_set_instruction(r, NULL)) {
        clip_runner_free(r);
        return NULL;
    }
    return r;
}

void clip_runner_reset(ClipRunner *r) { r->seen = 0; }

int clip_runner_set_instruction(ClipRunner *r, const char *text)
{
    int rc = clip_backbone_encode_text(r->p->backbone, text ? text : "", r->text);
    clip_runner_reset(r);
    return rc;
}

int clip_runner_step_rgb(ClipRunner *r, const uint8_t *rgb, float action[3], float *chunk)
{
    ClipPolicy *p = r->p;
    const ClipPolicyConfig *c = &p->cfg;
    int W = c->head.window, D = c->feature_dim, K = c->act.action.chunk;
    const uint8_t *rows[1] = {rgb};
    double t0 = time_now();
    int rc = clip_backbone_encode_images(p->backbone, rows, 1, r->img, r->tokens);
    if (rc) return rc;
    double t1 = time_now();
    Graph *g = r->g;
    graph_reset(g);
    Tensor *fused = graph_tensor(g, 2, (int[]){1, p->fused_dim});
    Tensor *tok = r->tokens ? graph_tensor(g, 3, (int[]){1, c->token_count, c->token_dim}) : NULL;
    if (!fused || (r->tokens && !tok)) return mvla_fail(MVLA_ERR_NOMEM, "clip step: out of memory");
    clip_policy_fuse(p, r->img, r->text, fused->data);
    if (tok) memcpy(tok->data, r->tokens, sizeof(float) * (size_t)tok->numel);
    Tensor *f = clip_policy_frame_features(g, p, fused, tok, 0, NULL);
    if (!f) return mvla_fail(MVLA_ERR_ARG, "clip step: %s", mvla_error_message());
    feature_ring_push(r->ring, W, D, r->seen++, f->data);
    Tensor *win = graph_tensor(g, 3, (int[]){1, W, D});
    if (!win) return mvla_fail(MVLA_ERR_NOMEM, "clip step: out of memory");
    int padded = feature_ring_window(r->ring, W, D, r->seen, win->data, r->mask);
    Tensor *y = clip_policy_head(g, p, win, padded ? r->mask : NULL, 0, NULL);
    if (!y) return mvla_fail(MVLA_ERR_ARG, "clip step: head: %s", mvla_error_message());
    memcpy(r->out, y->data, sizeof(float) * (size_t)y->numel);
    student_output_to_actions(&p->act, r->out, K, r->chunk);
    memcpy(action, r->chunk, 3 * sizeof(float));
    if (chunk) memcpy(chunk, r->chunk, sizeof(float) * (size_t)K * 3);
    r->t_encode += t1 - t0;
    r->t_head += time_now() - t1;
    r->steps++;
    return 0;
}

const float *clip_runner_output(const ClipRunner *r) { return r->out; }

void clip_runner_timing(const ClipRunner *r, double *encode_s, double *head_s, long *steps)
{
    if (encode_s) *encode_s = r->t_encode;
    if (head_s) *head_s = r->t_head;
    if (steps) *steps = r->steps;
}
