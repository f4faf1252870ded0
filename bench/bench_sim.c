/* Simulator throughput: camera frames/s at the default size and at the robot's 1280x720, on one
 * thread and on all; closed-loop rollouts/s (scene generation + a rendered expert episode), the
 * same without rendering, and `mvla sim eval`'s whole grid for the expert.
 *   build/bench/bench_sim [--quick] */
#include "base/error.h"
#include "base/progress.h"
#include "base/threads.h"
#include "sim/eval.h"
#include "sim/expert.h"
#include "sim/render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int quick;

/* CPU seconds used by the process (all threads): with other work on the machine, frames per
 * CPU-second is the steadier number. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Frames/s rendering the first view of one scene per lighting preset, in turn; *cpu_ms gets the
 * CPU milliseconds per frame (summed over threads). */
static double render_fps(int W, int H, int threads, double *cpu_ms)
{
    SimScene *scenes[SIM_LIGHT_COUNT];
    SimPose poses[SIM_LIGHT_COUNT];
    for (int l = 0; l < SIM_LIGHT_COUNT; l++) {
        SimSceneSpec sp = {1 + l % 2, (SimLayout)(l / 2), SIM_DIST_MEDIUM, (SimLighting)l, (SimTarget)(l % 3), 1};
        scenes[l] = malloc(sizeof *scenes[l]);
        if (!scenes[l] || sim_scene_generate(scenes[l], &sp, (uint64_t)l + 1)) return -1;
        poses[l] = (SimPose){scenes[l]->start_x, scenes[l]->start_y, scenes[l]->start_yaw};
    }
    SimCamera cam;
    sim_camera_default(&cam, W, H);
    uint8_t *img = malloc((size_t)W * H * 3);
    int saved = mvla_get_threads();
    mvla_set_threads(threads);
    double budget = quick ? 0.3 : 1.5, start = time_now(), cpu0 = cpu_now(), now;
    long frames = 0;
    do {
        int l = (int)(frames % SIM_LIGHT_COUNT);
        if (sim_render(scenes[l], &poses[l], &cam, (uint64_t)frames, 0, img, NULL)) return -1;
        frames++;
        now = time_now();
    } while (now - start < budget || frames < 8);
    *cpu_ms = (cpu_now() - cpu0) * 1000 / frames;
    mvla_set_threads(saved);
    free(img);
    for (int l = 0; l < SIM_LIGHT_COUNT; l++) free(scenes[l]);
    return frames / (now - start);
}

/* Expert rollouts per second over the scenario grid (render: with a camera frame per step);
 * *per_cpu_s gets rollouts per CPU-second. */
static double rollouts_per_s(int render, double *frames_per_rollout, double *per_cpu_s)
{
    SimConfig cfg;
    sim_config_default(&cfg);
    cfg.no_render = !render;
    SimEnv *env = NULL;
    Policy p;
    SimExpertOptions opt = {SIM_EXPERT_CORE, 0};
    if (sim_env_new(&env, &cfg) || sim_expert_policy(&p, env, &opt)) return -1;
    double budget = quick ? 0.3 : 1.5, start = time_now(), cpu0 = cpu_now(), now;
    long n = 0, frames = 0;
    do {
        SimSceneSpec sp = {1 + (int)(n % 2), (SimLayout)(n / 2 % 2), (SimDistance)(n % 3), (SimLighting)(n % 4),
                           (SimTarget)(n % 3), 0};
        if (sim_env_reset(env, &sp, (uint64_t)n) || policy_reset(&p, sim_instruction(sp.target, (SimSide)(n / 4 % 2), "en")))
            return -1;
        while (!env->done) {
            if (render) {
                if (sim_env_render(env)) return -1;
                frames++;
            }
            float a[3];
            policy_step(&p, env->frame, cfg.camera.width, cfg.camera.height, 0, a);
            sim_env_step(env, a);
        }
        n++;
        now = time_now();
    } while (now - start < budget || n < 4);
    if (frames_per_rollout) *frames_per_rollout = (double)frames / n;
    *per_cpu_s = n / (cpu_now() - cpu0);
    policy_destroy(&p);
    sim_env_free(env);
    return n / (now - start);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else {
            fprintf(stderr, "usage: bench_sim [--quick]\n");
            return 2;
        }
    }
    int all = mvla_set_threads(0);
    printf("## Simulator rendering (mean over the four lighting presets; one scene each)\n\n");
    printf("| size      | threads | frames/s (wall) | ms/frame (wall) | CPU ms/frame | frames per CPU-second |\n");
    printf("|-----------|---------|-----------------|-----------------|--------------|-----------------------|\n");
    const int sizes[][2] = {{SIM_DEFAULT_WIDTH, SIM_DEFAULT_HEIGHT}, {320, 180}, {1280, 720}};
    for (int s = 0; s < 3; s++)
        for (int t = 1; t <= all; t = t == all ? all + 1 : all) {
            double cpu_ms = 0, fps = render_fps(sizes[s][0], sizes[s][1], t, &cpu_ms);
            if (fps < 0) {
                fprintf(stderr, "bench_sim: %s\n", mvla_error_message());
                return 1;
            }
            char size[16];
            snprintf(size, sizeof size, "%dx%d", sizes[s][0], sizes[s][1]);
            printf("| %-9s | %7d | %15.0f | %15.3f | %12.3f | %21.0f |\n", size, t, fps, 1000 / fps, cpu_ms, 1000 / cpu_ms);
            if (all == 1) break;
        }
    double fpr = 0, with_cpu = 0, without_cpu = 0;
    double with = rollouts_per_s(1, &fpr, &with_cpu), without = rollouts_per_s(0, NULL, &without_cpu);
    if (with < 0 || without < 0) {
        fprintf(stderr, "bench_sim: %s\n", mvla_error_message());
        return 1;
    }
    printf("\n## Closed-loop rollouts (expert, %dx%d, one thread for the loop)\n\n", SIM_DEFAULT_WIDTH, SIM_DEFAULT_HEIGHT);
    printf("| what                                           | rollouts/s | per CPU-second | frames/rollout |\n");
    printf("|------------------------------------------------|------------|----------------|----------------|\n");
    printf("| scene + expert episode, every frame rendered   | %10.1f | %14.1f | %14.1f |\n", with, with_cpu, fpr);
    printf("| scene geometry + expert, no camera             | %10.1f | %14.1f |              0 |\n", without, without_cpu);
    SimConfig cfg;
    sim_config_default(&cfg);
    SimEnv *env = NULL;
    Policy p;
    SimExpertOptions opt = {SIM_EXPERT_CORE, 0};
    SimEvalSpec spec;
    sim_eval_spec_default(&spec);
    spec.rollouts = quick ? 1 : 4;
    SimEvalResult res;
    double cpu0 = cpu_now();
    if (sim_env_new(&env, &cfg) || sim_expert_policy(&p, env, &opt) || sim_eval_run(env, &p, &spec, &res, NULL, NULL)) {
        fprintf(stderr, "bench_sim: %s\n", mvla_error_message());
        return 1;
    }
    printf("| sim eval grid: %3d rollouts + expert reference | %10.1f | %14.1f | %14.1f |\n", res.n, res.n / res.seconds,
           res.n / (cpu_now() - cpu0), (double)res.frames / res.n);
    sim_eval_free(&res);
    policy_destroy(&p);
    sim_env_free(env);
    return 0;
}
