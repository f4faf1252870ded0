/* Student policy speed: step mode (one new frame in, one action out) at 1 and 2 threads, split into
 * encoder and head time, with batch norm folded (inference) and not; and a training step
 * (forward + backward of a batch of windows, and of one sequence through student_forward_sequence).
 * On a shared machine the best round is the number to read: the median shows the contention.
 *   build/bench/bench_policy [--quick] [CONFIG.json ...]     (default: configs/student*.json)
 * Weights are random (speed does not depend on them). */
#include "base/error.h"
#include "base/progress.h"
#include "base/threads.h"
#include "models/policy.h"
#include "bench_rounds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int quick;

static float *random_frame(const StudentConfig *c, Rng *r)
{
    long n = 3L * c->encoder.input_width * c->encoder.input_height;
    float *f = malloc((size_t)n * sizeof *f);
    if (f) rng_fill_normal(r, f, n, 1.0f);
    return f;
}

/* One step on frames[i % 8] (ctx: the 8 normalised frames). */
static int step_frame(StudentRunner *r, long i, void *ctx)
{
    float *const *frames = ctx, action[3];
    return student_runner_step(r, frames[i % 8], action, NULL);
}

/* Step mode for ~1 s (0.2 s quick, bench_rounds.h); prints one row with the best and the median round. */
static int bench_steps(StudentPolicy *p, int threads, const char *label)
{
    mvla_set_threads(threads);
    StudentRunner *r = student_runner_new(p);
    Rng rng;
    rng_seed(&rng, 3);
    float *frames[8];
    for (int i = 0; i < 8; i++) frames[i] = random_frame(&p->cfg, &rng);
    BenchRounds t;
    if (!r || student_runner_set_instruction(r, "Navigate to the gray basket on the left") ||
        bench_runner_rounds(r, step_frame, frames, quick ? 0.2 : 1.0, &t)) {
        fprintf(stderr, "bench_policy: %s\n", mvla_error_message());
        return 1;
    }
    printf("| %-18s | %-6s | %7d | %9.0f | %9.0f | %8.3f | %8.3f | %8.3f |\n", p->cfg.name, label, threads,
           1 / t.best, 1 / t.median, 1e3 * t.best, 1e3 * t.encoder, 1e3 * t.head);
    for (int i = 0; i < 8; i++) free(frames[i]);
    student_runner_free(r);
    return 0;
}

/* Forward + backward of B windows in training mode, best of a few steps: windows and frames per second.
 * sequence = 1: one sequence of B frames through student_forward_sequence instead (B windows, each
 * frame encoded once). */
static int bench_train(StudentPolicy *p, int threads, int B, int sequence)
{
    mvla_set_threads(threads);
    const StudentConfig *c = &p->cfg;
    int W = c->head.window, K = c->action.chunk, T = sequence ? B : W, S = sequence ? 1 : B;
    Tensor *frames = tensor_new_shape(5, S, T, 3, c->encoder.input_height, c->encoder.input_width);
    float *targets = calloc((size_t)B * K * 3, sizeof *targets);
    const char **texts = malloc((size_t)S * sizeof *texts);
    Graph *g = graph_new();
    Rng rng;
    rng_seed(&rng, 5);
    if (!frames || !targets || !texts || !g) return 1;
    tensor_fill_normal(frames, &rng, 1.0f);
    for (int b = 0; b < S; b++) texts[b] = b % 2 ? "go left" : "go right";
    double budget = quick ? 0.5 : 3.0, start = time_now(), best = 1e30;
    /* The first two steps grow and then consolidate the arena (page faults: slow in a VM); skip them. */
    for (int n = 0; n < 5 || (n < 50 && time_now() - start < budget); n++) {
        double t0 = time_now();
        graph_reset(g);
        Tensor *e = student_encode_texts(g, p, texts, S, 1, &rng);
        Tensor *out = sequence ? student_forward_sequence(g, p, frames, NULL, e, 1, &rng)
                               : student_forward(g, p, frames, NULL, e, 1, &rng);
        Tensor *loss = student_loss(g, p, out, targets, NULL);
        if (!loss || graph_backward(g, loss, NULL)) {
            fprintf(stderr, "bench_policy: %s\n", mvla_error_message());
            return 1;
        }
        params_zero_grad(&p->params);
        if (n >= 2 && time_now() - t0 < best) best = time_now() - t0;
    }
    printf("| %-18s | %-22s | %7d | %9.1f | %9.1f | %9.1f |\n", c->name,
           sequence ? "sequence of 32 frames" : "8 windows", threads, B / best, T * S / best, 1e3 * best);
    graph_free(g);
    tensor_free(frames);
    free(targets);
    free(texts);
    return 0;
}

int main(int argc, char **argv)
{
    const char *defaults[] = {"configs/student.json", "configs/student-film.json",
                              "configs/student-nohistory.json", "configs/student-discrete.json"};
    const char *paths[16];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else if (n < 16) paths[n++] = argv[i];
    }
    if (n == 0)
        for (int i = 0; i < 4; i++) paths[n++] = defaults[i];
    printf("## Student policy, step mode (one frame in, one action out; random weights)\n\n");
    printf("Best and median of rounds of 25 steps; ms columns from the best round.\n\n");
    printf("| %-18s | %-6s | threads | best st/s | median/s  | ms/step  | encoder  | head     |\n", "config", "BN");
    printf("|--------------------|--------|---------|-----------|-----------|----------|----------|----------|\n");
    StudentPolicy pols[16];
    int ok[16] = {0};
    for (int i = 0; i < n; i++) {
        StudentConfig c;
        if (student_config_load(&c, paths[i]) || student_init(&pols[i], &c, 1)) {
            fprintf(stderr, "bench_policy: %s\n", mvla_error_message());
            return 1;
        }
        ok[i] = 1;
        for (int t = 1; t <= 2; t++)
            if (bench_steps(&pols[i], t, "eval")) return 1;
    }
    for (int i = 0; i < n; i++) {
        StudentPolicy folded;
        StudentConfig c = pols[i].cfg;
        if (student_init(&folded, &c, 1) || student_fold_batchnorm(&folded)) return 1;
        for (int t = 1; t <= 2; t++)
            if (bench_steps(&folded, t, "folded")) return 1;
        student_free(&folded);
    }
    printf("\n## Model sizes\n\n| config | parameters | model (fp32) | encoder MMAC/frame | feature map |\n|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        const StudentPolicy *p = &pols[i];
        printf("| %s | %ld | %.2f MB | %.2f | %dx%dx%d |\n", p->cfg.name, student_param_count(p),
               student_model_bytes(p) / 1e6, mobilenet_macs(&p->enc) / 1e6, p->enc.out_channels, p->enc.out_h,
               p->enc.out_w);
    }
    printf("\n## Training step (forward + backward, batch norm in training mode; best step)\n\n");
    printf("| %-18s | %-22s | threads | windows/s | frames/s  | ms/step   |\n", "config", "batch");
    printf("|--------------------|------------------------|---------|-----------|-----------|-----------|\n");
    for (int i = 0; i < n; i++)
        for (int t = 1; t <= 2; t++)
            if (bench_train(&pols[i], t, 8, 0) || (pols[i].cfg.head.window > 1 && bench_train(&pols[i], t, 32, 1)))
                return 1;
    for (int i = 0; i < n; i++)
        if (ok[i]) student_free(&pols[i]);
    return 0;
}
