/* Step mode of the student policy (see policy.h): one frame in, one action out, with a ring buffer of
 * per-frame features and optional temporal ensembling of overlapping chunks. */
#include "base/error.h"
#include "base/progress.h"
#include "models/feature_ring.h"
#include "models/policy_internal.h"
#include "tensor/ops_shape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct StudentRunner {
    StudentPolicy *p;
    Graph *g;
    Tensor *frame;    /* [1, 3, H, W] */
    Tensor *instr;    /* [1, E], the cached instruction embedding */
    float *ring;      /* [W, D]: frame t's feature at slot t % W */
    long seen;        /* frames since the episode started */
    float *out;       /* [K * out_dim] the last head output */
    float *chunk;     /* [K * 3] the last chunk in raw units */
    float *history;   /* [K][K * 3 or K * 11]: past chunks (raw actions, or key probabilities) */
    long n_history;
    float *mask;      /* [W] */
    double t_encode, t_head;
    long steps;
};

void student_runner_free(StudentRunner *r)
{
    if (!r) return;
    graph_free(r->g);
    tensor_free(r->frame);
    tensor_free(r->instr);
    free(r->ring), free(r->out), free(r->chunk), free(r->history), free(r->mask);
    free(r);
}

StudentRunner *student_runner_new(StudentPolicy *p)
{
    const StudentConfig *c = &p->cfg;
    int W = c->head.window, D = c->feature_dim, K = c->action.chunk, V = p->out_dim;
    int per_chunk = K * (c->action.kind == ACTION_CONTINUOUS ? 3 : STUDENT_KEYS);
    StudentRunner *r = calloc(1, sizeof *r);
    if (!r) {
        mvla_fail(MVLA_ERR_NOMEM, "policy runner: out of memory");
        return NULL;
    }
    r->p = p;
    r->g = graph_new();
    r->frame = tensor_new_shape(4, 1, 3, c->encoder.input_height, c->encoder.input_width);
    r->instr = tensor_new_shape(2, 1, c->instruction.out_dim);
    r->ring = calloc((size_t)W * D, sizeof(float));
    r->out = calloc((size_t)K * V, sizeof(float));
    r->chunk = calloc((size_t)K * 3, sizeof(float));
    r->history = calloc((size_t)K * per_chunk, sizeof(float));
    r->mask = calloc((size_t)W, sizeof(float));
    if (!r->g || !r->frame || !r->instr || !r->ring || !r->out || !r->chunk || !r->history || !r->mask) {
        student_runner_free(r);
        mvla_fail(MVLA_ERR_NOMEM, "policy runner: out of memory");
        return NULL;
    }
    graph_set_grad(r->g, 0);
    if (student_runner_set_instruction(r, NULL)) {
        student_runner_free(r);
        return NULL;
    }
    return r;
}

void student_runner_reset(StudentRunner *r)
{
    r->seen = 0;
    r->n_history = 0;
}

int student_runner_set_instruction(StudentRunner *r, const char *text)
{
    graph_reset(r->g);
    const char *texts[1] = {text ? text : ""};
    Tensor *e = student_encode_texts(r->g, r->p, texts, 1, 0, NULL);
    if (!e) return mvla_fail(MVLA_ERR_ARG, "policy runner: instruction: %s", mvla_error_message());
    memcpy(r->instr->data, e->data, (size_t)e->numel * sizeof(float));
    student_runner_reset(r);
    return 0;
}

/* Temporal ensembling: the prediction for this step from each of the last n chunks (chunk j steps old
 * holds it at entry j), weighted exp(-m i) with i = 0 for the oldest. Writes the combined action. */
static void ensemble(StudentRunner *r, float action[3])
{
    const StudentPolicy *p = r->p;
    int K = p->cfg.action.chunk, discrete = p->cfg.action.kind == ACTION_DISCRETE;
    int per = discrete ? STUDENT_KEYS : 3, per_chunk = K * per;
    long n = r->n_history < K ? r->n_history : K;
    float acc[STUDENT_KEYS] = {0};
    double wsum = 0;
    for (long j = 0; j < n; j++) {
        const float *h = r->history + ((r->n_history - 1 - j) % K) * per_chunk + j * per;
        double w = exp(-p->cfg.action.ensemble_m * (double)(n - 1 - j));
        for (int k = 0; k < per; k++) acc[k] += (float)(w * h[k]);
        wsum += w;
    }
    for (int k = 0; k < per; k++) acc[k] /= (float)wsum;
    if (discrete) student_output_to_actions(p, acc, 1, action); /* the key with the largest mean probability */
    else memcpy(action, acc, 3 * sizeof(float));
}

/* Pushes this step's chunk into the history: raw actions, or softmax probabilities per entry. */
static void remember_chunk(StudentRunner *r)
{
    const StudentPolicy *p = r->p;
    int K = p->cfg.action.chunk;
    if (p->cfg.action.kind == ACTION_CONTINUOUS) {
        memcpy(r->history + (r->n_history % K) * K * 3, r->chunk, (size_t)K * 3 * sizeof(float));
    } else {
        float *h = r->history + (r->n_history % K) * K * STUDENT_KEYS;
        for (int i = 0; i < K; i++) {
            const float *z = r->out + i * STUDENT_KEYS;
            float mx = z[0], s = 0;
            for (int k = 1; k < STUDENT_KEYS; k++) mx = fmaxf(mx, z[k]);
            for (int k = 0; k < STUDENT_KEYS; k++) s += h[i * STUDENT_KEYS + k] = expf(z[k] - mx);
            for (int k = 0; k < STUDENT_KEYS; k++) h[i * STUDENT_KEYS + k] /= s;
        }
    }
    r->n_history++;
}

/* The step on r->frame, already filled. */
static int step_frame(StudentRunner *r, float action[3], float *chunk)
{
    StudentPolicy *p = r->p;
    const StudentConfig *c = &p->cfg;
    int W = c->head.window, D = c->feature_dim, K = c->action.chunk;
    Graph *g = r->g;
    graph_reset(g);
    double t0 = time_now();
    Tensor *f = student_frame_features(g, p, r->frame, r->instr, 0, NULL); /* [1, D] */
    if (!f) return mvla_fail(MVLA_ERR_ARG, "policy step: encoder: %s", mvla_error_message());
    feature_ring_push(r->ring, W, D, r->seen++, f->data);
    double t1 = time_now();
    Tensor *win = graph_tensor(g, 2, (int[]){W, D});
    if (!win) return mvla_fail(MVLA_ERR_NOMEM, "policy step: out of memory");
    int padded = feature_ring_window(r->ring, W, D, r->seen, win->data, r->mask);
    if (padded) win = student_mix_padding(g, p, win, r->mask);
    Tensor *y = student_head(g, p, op_reshape(g, win, 3, (int[]){1, W, D}), padded ? r->mask : NULL, 0, NULL);
    if (!y) return mvla_fail(MVLA_ERR_ARG, "policy step: head: %s", mvla_error_message());
    memcpy(r->out, y->data, (size_t)y->numel * sizeof(float));
    student_output_to_actions(p, r->out, K, r->chunk);
    remember_chunk(r);
    if (c->action.ensemble) ensemble(r, action);
    else memcpy(action, r->chunk, 3 * sizeof(float));
    if (chunk) memcpy(chunk, r->chunk, (size_t)K * 3 * sizeof(float));
    r->t_encode += t1 - t0;
    r->t_head += time_now() - t1;
    r->steps++;
    return 0;
}

int student_runner_step(StudentRunner *r, const float *frame_chw, float action[3], float *chunk)
{
    memcpy(r->frame->data, frame_chw, (size_t)r->frame->numel * sizeof(float));
    return step_frame(r, action, chunk);
}

int student_runner_step_rgb(StudentRunner *r, const uint8_t *rgb, float action[3], float *chunk)
{
    student_frame_from_rgb(&r->p->cfg, rgb, r->frame->data);
    return step_frame(r, action, chunk);
}

const float *student_runner_output(const StudentRunner *r) { return r->out; }

void student_runner_timing(const StudentRunner *r, double *encode_s, double *head_s, long *steps)
{
    if (encode_s) *encode_s = r->t_encode;
    if (head_s) *head_s = r->t_head;
    if (steps) *steps = r->steps;
}

size_t student_runner_arena_bytes(StudentRunner *r) { return arena_capacity(graph_arena(r->g)); }
