/* Scene generation: layout of the obstacles, target and room for a scenario, randomised colours,
 * sizes and procedural textures, lighting presets. See scene.h for the world frame. */
#include "sim/scene.h"

#include "base/error.h"
#include "base/rng.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI_F 3.14159265f

static float uni(Rng *r, float lo, float hi) { return lo + (hi - lo) * rng_uniform(r); }

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

/* An sRGB colour (0..1) with a little random jitter, stored linear. */
static void set_color(float out[3], const float srgb[3], float jitter, Rng *r)
{
    float k = 1.0f + uni(r, -jitter, jitter);
    for (int c = 0; c < 3; c++) out[c] = powf(clampf(srgb[c] * k + uni(r, -jitter, jitter) * 0.3f, 0.02f, 1.0f), 2.2f);
}

static const float *pick(const float (*palette)[3], int n, Rng *r) { return palette[rng_below(r, (uint32_t)n)]; }

uint64_t sim_mix_seed(uint64_t base, uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t x = base ^ 0x5bd1e995f00dULL;
    uint64_t parts[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        x += parts[i] + 0x9e3779b97f4a7c15ULL;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        x ^= x >> 31;
    }
    return x;
}

/* ---- names ---- */

static const char *const lighting_names[] = {"dawn", "morning", "evening", "night"};
static const char *const distance_names[] = {"close", "medium", "far"};
static const char *const layout_names[] = {"vert", "hori"};
static const char *const target_names[] = {"cup", "bottle", "basket"};
static const char *const side_names[] = {"left", "right"};

static int parse_name(const char *s, const char *const *names, int n)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

const char *sim_lighting_name(SimLighting l) { return (unsigned)l < SIM_LIGHT_COUNT ? lighting_names[l] : "?"; }
const char *sim_distance_name(SimDistance d) { return (unsigned)d < SIM_DIST_COUNT ? distance_names[d] : "?"; }
const char *sim_layout_name(SimLayout l) { return (unsigned)l < SIM_LAYOUT_COUNT ? layout_names[l] : "?"; }
const char *sim_target_name(SimTarget t) { return (unsigned)t < SIM_TARGET_COUNT ? target_names[t] : "?"; }
const char *sim_side_name(SimSide s) { return (unsigned)s < SIM_SIDE_COUNT ? side_names[s] : "?"; }
int sim_lighting_parse(const char *s) { return parse_name(s, lighting_names, SIM_LIGHT_COUNT); }
int sim_distance_parse(const char *s) { return parse_name(s, distance_names, SIM_DIST_COUNT); }
int sim_layout_parse(const char *s) { return parse_name(s, layout_names, SIM_LAYOUT_COUNT); }
int sim_target_parse(const char *s) { return parse_name(s, target_names, SIM_TARGET_COUNT); }
int sim_side_parse(const char *s) { return parse_name(s, side_names, SIM_SIDE_COUNT); }

void sim_scene_layout_text(const SimSceneSpec *spec, char *buf, int n)
{
    snprintf(buf, (size_t)n, "%dbox_%s", spec->boxes, sim_layout_name(spec->layout));
}

void sim_scenario_text(int boxes, SimLayout layout, SimSide side, char *buf, int n)
{
    snprintf(buf, (size_t)n, "%dbox_%s_%s", boxes, sim_layout_name(layout), sim_side_name(side));
}

const char *sim_instruction(SimTarget target, SimSide side, const char *lang)
{
    static const char *const en[SIM_TARGET_COUNT][2] = {
        {"Navigate around obstacles and reach the front of the cup on the left",
         "Navigate around obstacles and reach the front of the cup on the right"},
        {"Navigate around obstacles and reach the front of the beverage bottle on the left",
         "Navigate around obstacles and reach the front of the beverage bottle on the right"},
        {"Navigate to the gray basket on the left", "Navigate to the gray basket on the right"},
    };
    static const char *const ko[SIM_TARGET_COUNT][2] = {
        {"가장 왼쪽 외곽으로 돌아 컵까지 가세요", "가장 오른쪽 외곽으로 돌아 컵까지 가세요"},
        {"가장 왼쪽 외곽으로 돌아 음료수 병까지 가세요", "가장 오른쪽 외곽으로 돌아 음료수 병까지 가세요"},
        {"가장 왼쪽 외곽으로 돌아 회색 바구니까지 가세요", "가장 오른쪽 외곽으로 돌아 회색 바구니까지 가세요"},
    };
    int t = (unsigned)target < SIM_TARGET_COUNT ? (int)target : 0, s = side == SIM_SIDE_RIGHT;
    return lang && strcmp(lang, "ko") == 0 ? ko[t][s] : en[t][s];
}

static int is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Case-insensitive search for an ASCII word standing alone (not inside a longer word). */
static int has_word(const char *s, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = s; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && (p[i] | 0x20) == w[i]) i++;
        if (i == n && (p == s || !is_letter(p[-1])) && !is_letter(p[n])) return 1;
    }
    return 0;
}

int sim_instruction_side(const char *instruction)
{
    if (!instruction) return -1;
    int left = has_word(instruction, "left") || strstr(instruction, "왼쪽") != NULL;
    int right = has_word(instruction, "right") || strstr(instruction, "오른쪽") != NULL;
    if (left == right) return -1;
    return left ? SIM_SIDE_LEFT : SIM_SIDE_RIGHT;
}

/* ---- procedural textures ---- */

/* Periodic value noise on a g x g lattice (g a power of two <= 64), sampled at (u, v) >= 0 in
 * lattice units. */
static float lattice_noise(const float *lat, int g, float u, float v)
{
    int i0 = (int)u, j0 = (int)v, m = g - 1;
    float fu = u - (float)i0, fv = v - (float)j0;
    fu = fu * fu * (3 - 2 * fu);
    fv = fv * fv * (3 - 2 * fv);
    int i1 = (i0 + 1) & m, j1 = (j0 + 1) & m;
    i0 &= m, j0 &= m;
    float a = lat[j0 * g + i0] + (lat[j0 * g + i1] - lat[j0 * g + i0]) * fu;
    float b = lat[j1 * g + i0] + (lat[j1 * g + i1] - lat[j1 * g + i0]) * fu;
    return a + (b - a) * fv;
}

typedef struct {
    float lat[4][64 * 64];
    int g[4];
} Noise;

/* Octaves with lattices of g0, 2 g0, 4 g0, 8 g0 cells per texture side. */
static void noise_init(Noise *nz, int g0, Rng *r)
{
    for (int o = 0; o < 4; o++) {
        nz->g[o] = g0 << o;
        if (nz->g[o] > 64) nz->g[o] = 64;
        for (int i = 0; i < nz->g[o] * nz->g[o]; i++) nz->lat[o][i] = rng_uniform(r);
    }
}

/* Fractal noise in [0, 1) at texture coordinates (s, t) in [0, 1), stretched by (ks, kt) >= 1. */
static float fractal(const Noise *nz, float s, float t, int octaves)
{
    float sum = 0, amp = 0.5f, norm = 0;
    for (int o = 0; o < octaves; o++, amp *= 0.5f) {
        sum += amp * lattice_noise(nz->lat[o], nz->g[o], s * (float)nz->g[o], t * (float)nz->g[o]);
        norm += amp;
    }
    return sum / norm;
}

static uint8_t to_byte(float v) { return (uint8_t)clampf(v * 255.0f + 0.5f, 0, 255); }

static void make_floor(SimScene *s, Rng *r, Noise *nz)
{
    static const float woods[][3] = {{0.62f, 0.45f, 0.30f}, {0.50f, 0.34f, 0.22f}, {0.75f, 0.60f, 0.42f}, {0.38f, 0.26f, 0.18f}};
    static const float tiles[][3] = {{0.85f, 0.85f, 0.82f}, {0.62f, 0.63f, 0.65f}, {0.80f, 0.74f, 0.62f}, {0.35f, 0.36f, 0.38f}};
    static const float carpets[][3] = {{0.45f, 0.46f, 0.50f}, {0.30f, 0.36f, 0.48f}, {0.52f, 0.42f, 0.36f}, {0.40f, 0.46f, 0.40f}};
    static const float concrete[][3] = {{0.60f, 0.60f, 0.58f}, {0.52f, 0.50f, 0.48f}, {0.70f, 0.70f, 0.68f}};
    const int N = SIM_FLOOR_TEX;
    s->floor_kind = (int)rng_below(r, 4);
    s->floor_tile = uni(r, 1.4f, 2.0f);
    noise_init(nz, 4, r);
    float base[3], k = 1 + uni(r, -0.08f, 0.08f);
    const float *pal = s->floor_kind == 0 ? pick(woods, 4, r)
                       : s->floor_kind == 1 ? pick(tiles, 4, r)
                       : s->floor_kind == 2 ? pick(carpets, 4, r)
                                            : pick(concrete, 3, r);
    for (int c = 0; c < 3; c++) base[c] = clampf(pal[c] * k, 0, 1);
    int along_x = (int)rng_below(r, 2), n_tiles = 2 + 2 * (int)rng_below(r, 2);
    float plank_tint[8][2], grout = uni(r, 0.45f, 0.8f);
    int joint[8];
    for (int p = 0; p < 8; p++) {
        plank_tint[p][0] = uni(r, 0.82f, 1.12f), plank_tint[p][1] = uni(r, 0.82f, 1.12f);
        joint[p] = (int)rng_below(r, (uint32_t)N);
    }
    for (int j = 0; j < N; j++)
        for (int i = 0; i < N; i++) {
            float s0 = (float)i / N, t0 = (float)j / N, m = 1, fine = rng_uniform(r);
            if (s->floor_kind == 0) { /* planks of 1/8 texture width, each in two pieces */
                int a = along_x ? i : j, b = along_x ? j : i, p = b * 8 / N;
                int piece = ((a - joint[p] + N) % N) < N / 2;
                float grain = fractal(nz, along_x ? s0 : s0 * 0.25f, along_x ? t0 * 0.25f : t0, 4);
                m = plank_tint[p][piece] * (0.85f + 0.3f * grain) * (0.96f + 0.08f * fine);
                if (b % (N / 8) == 0 || ((a - joint[p] + N) % (N / 2)) == 0) m *= 0.55f;
            } else if (s->floor_kind == 1) { /* square tiles with grout lines */
                int size = N / n_tiles;
                int ti = i / size, tj = j / size;
                m = 0.95f + 0.1f * lattice_noise(nz->lat[0], nz->g[0], (float)ti * 1.7f, (float)tj * 1.3f);
                m *= 0.94f + 0.12f * fractal(nz, s0, t0, 4) + 0.05f * fine;
                if (i % size < 3 || j % size < 3) m = grout;
            } else if (s->floor_kind == 2) { /* carpet: fine fibre noise over a soft pattern */
                m = 0.8f + 0.25f * fractal(nz, s0, t0, 2) + 0.22f * fine;
            } else { /* concrete */
                m = 0.7f + 0.45f * fractal(nz, s0, t0, 4) + 0.08f * fine;
            }
            uint8_t *px = s->floor_tex + ((size_t)j * N + (size_t)i) * 3;
            for (int c = 0; c < 3; c++) px[c] = to_byte(base[c] * m);
        }
}

static void make_detail_textures(SimScene *s, Rng *r, Noise *nz)
{
    noise_init(nz, 8, r);
    for (int j = 0; j < SIM_WALL_TEX; j++)
        for (int i = 0; i < SIM_WALL_TEX; i++) {
            float v = 0.93f + 0.12f * fractal(nz, (float)i / SIM_WALL_TEX, (float)j / SIM_WALL_TEX, 3);
            s->wall_tex[j * SIM_WALL_TEX + i] = to_byte((v + 0.03f * rng_uniform(r)) * 0.5f);
        }
    noise_init(nz, 4, r);
    for (int j = 0; j < SIM_DETAIL_TEX; j++)
        for (int i = 0; i < SIM_DETAIL_TEX; i++) {
            float v = 0.86f + 0.22f * fractal(nz, (float)i / SIM_DETAIL_TEX, (float)j / SIM_DETAIL_TEX, 4);
            s->detail_tex[j * SIM_DETAIL_TEX + i] = to_byte((v + 0.06f * rng_uniform(r)) * 0.5f);
        }
}

static void make_room_colors(SimScene *s, Rng *r)
{
    static const float walls[][3] = {{0.88f, 0.86f, 0.80f}, {0.76f, 0.77f, 0.79f}, {0.86f, 0.79f, 0.66f},
                                     {0.70f, 0.78f, 0.85f}, {0.76f, 0.83f, 0.72f}, {0.92f, 0.92f, 0.90f}};
    static const float accents[][3] = {{0.55f, 0.62f, 0.72f}, {0.72f, 0.50f, 0.42f}, {0.52f, 0.62f, 0.50f},
                                       {0.40f, 0.42f, 0.46f}};
    static const float bases[][3] = {{0.92f, 0.92f, 0.90f}, {0.35f, 0.28f, 0.22f}, {0.25f, 0.25f, 0.26f}};
    static const float pictures[][3] = {{0.80f, 0.25f, 0.20f}, {0.20f, 0.40f, 0.75f}, {0.90f, 0.75f, 0.25f},
                                        {0.25f, 0.60f, 0.35f}, {0.15f, 0.15f, 0.18f}};
    const float *wall = pick(walls, 6, r);
    int accent = rng_uniform(r) < 0.35f ? (int)rng_below(r, 4) : -1;
    for (int w = 0; w < 4; w++) set_color(s->wall_color[w], w == accent ? pick(accents, 4, r) : wall, 0.04f, r);
    set_color(s->base_color, pick(bases, 3, r), 0.03f, r);
    static const float ceiling[3] = {0.90f, 0.90f, 0.88f};
    set_color(s->ceiling_color, ceiling, 0.03f, r);
    for (int w = 0; w < 4; w++) {
        float len = (w % 2 == 0) ? s->room_y1 - s->room_y0 : s->room_x1 - s->room_x0;
        SimDecal *d = &s->decal[w];
        int kind = (int)rng_below(r, 3); /* door, picture, window */
        float width = kind == 0 ? uni(r, 0.8f, 1.0f) : kind == 1 ? uni(r, 0.4f, 1.0f) : uni(r, 0.9f, 1.6f);
        if (width > len - 0.4f) width = len - 0.4f;
        d->u0 = uni(r, 0.2f, len - 0.2f - width), d->u1 = d->u0 + width;
        if (kind == 0) {
            static const float door[3] = {0.55f, 0.40f, 0.28f};
            d->z0 = 0, d->z1 = uni(r, 1.95f, 2.1f);
            set_color(d->color, door, 0.1f, r);
        } else if (kind == 1) {
            d->z0 = uni(r, 0.9f, 1.2f), d->z1 = d->z0 + uni(r, 0.35f, 0.7f);
            set_color(d->color, pick(pictures, 5, r), 0.08f, r);
        } else {
            static const float sky[3] = {0.85f, 0.92f, 1.0f};
            d->z0 = uni(r, 0.8f, 1.0f), d->z1 = d->z0 + uni(r, 0.9f, 1.2f);
            set_color(d->color, sky, 0.04f, r);
        }
    }
}

static void make_light(SimScene *s, Rng *r)
{
    SimLight *L = &s->light;
    static const float amb[SIM_LIGHT_COUNT][3] = {
        {0.30f, 0.27f, 0.34f}, {0.46f, 0.49f, 0.55f}, {0.33f, 0.26f, 0.22f}, {0.05f, 0.06f, 0.10f}};
    static const float sun[SIM_LIGHT_COUNT][3] = {
        {1.00f, 0.70f, 0.55f}, {1.00f, 0.97f, 0.92f}, {1.00f, 0.55f, 0.30f}, {0, 0, 0}};
    static const float lamp[SIM_LIGHT_COUNT][3] = {
        {0, 0, 0}, {0, 0, 0}, {0.9f, 0.72f, 0.50f}, {1.2f, 1.0f, 0.78f}};
    static const float sun_int[SIM_LIGHT_COUNT] = {0.8f, 0.95f, 0.75f, 0};
    static const float elev_lo[SIM_LIGHT_COUNT] = {6, 25, 5, 30}, elev_hi[SIM_LIGHT_COUNT] = {14, 45, 12, 50};
    static const float exposure[SIM_LIGHT_COUNT] = {1.15f, 1.0f, 1.05f, 1.1f};
    static const float noise[SIM_LIGHT_COUNT] = {3.0f, 2.0f, 3.0f, 6.0f};
    int l = s->spec.lighting;
    float ka = uni(r, 0.85f, 1.15f), ks = uni(r, 0.85f, 1.15f), kl = uni(r, 0.8f, 1.2f);
    for (int c = 0; c < 3; c++) {
        L->ambient[c] = amb[l][c] * ka;
        L->sun[c] = sun[l][c] * sun_int[l] * ks;
        L->lamp[c] = lamp[l][c] * kl;
    }
    float elev = uni(r, elev_lo[l], elev_hi[l]) * PI_F / 180, az = uni(r, 0, 2 * PI_F);
    L->sun_dir[0] = cosf(elev) * cosf(az), L->sun_dir[1] = cosf(elev) * sinf(az), L->sun_dir[2] = sinf(elev);
    L->lamp_pos[0] = uni(r, s->room_x0 + 1.0f, s->room_x1 - 1.0f);
    L->lamp_pos[1] = uni(r, -0.8f, 0.8f);
    L->lamp_pos[2] = s->room_h - 0.15f;
    L->exposure = exposure[l] * uni(r, 0.92f, 1.08f);
    L->noise_sigma = noise[l] * uni(r, 0.8f, 1.2f);
    L->shadow = uni(r, 0.65f, 0.85f);
}

/* ---- objects ---- */

static SimObject *add_object(SimScene *s, SimShape shape, SimRole role, SimMaterial mat)
{
    SimObject *o = &s->obj[s->n_objects++];
    memset(o, 0, sizeof *o);
    o->shape = shape, o->role = role, o->material = mat;
    return o;
}

/* A cardboard or plain-coloured box obstacle. */
static void paint_box(SimObject *o, Rng *r)
{
    static const float cardboard[][3] = {{0.62f, 0.46f, 0.30f}, {0.70f, 0.55f, 0.38f}, {0.55f, 0.40f, 0.27f}};
    static const float tape[][3] = {{0.80f, 0.68f, 0.50f}, {0.85f, 0.85f, 0.82f}, {0.55f, 0.45f, 0.35f}};
    static const float plain[][3] = {{0.85f, 0.85f, 0.82f}, {0.20f, 0.35f, 0.70f}, {0.70f, 0.20f, 0.18f},
                                     {0.25f, 0.55f, 0.30f}, {0.50f, 0.50f, 0.50f}, {0.85f, 0.75f, 0.25f}};
    if (rng_uniform(r) < 0.7f) {
        o->material = SIM_MAT_CARDBOARD;
        set_color(o->color, pick(cardboard, 3, r), 0.06f, r);
        set_color(o->color2, pick(tape, 3, r), 0.04f, r);
        o->band0 = uni(r, 0.022f, 0.04f);
    } else {
        o->material = SIM_MAT_PLAIN;
        set_color(o->color, pick(plain, 6, r), 0.06f, r);
    }
}

static void place_obstacles(SimScene *s, Rng *r, float x_near)
{
    const SimSceneSpec *sp = &s->spec;
    float yc = uni(r, -0.1f, 0.1f);
    float lx[2], ly[2];
    for (int b = 0; b < sp->boxes; b++) {
        if (sp->layout == SIM_LAYOUT_VERT) lx[b] = uni(r, 0.45f, 0.62f), ly[b] = uni(r, 0.30f, 0.40f);
        else lx[b] = uni(r, 0.30f, 0.40f), ly[b] = uni(r, 0.50f, 0.68f);
    }
    for (int b = 0; b < sp->boxes; b++) {
        SimObject *o = add_object(s, SIM_SHAPE_BOX, SIM_ROLE_OBSTACLE, SIM_MAT_PLAIN);
        o->hx = lx[b] / 2, o->hy = ly[b] / 2;
        o->z0 = 0, o->z1 = uni(r, 0.18f, 0.28f);
        o->yaw = uni(r, -0.08f, 0.08f);
        paint_box(o, r);
        if (sp->boxes == 1) {
            o->cx = x_near + o->hx, o->cy = yc;
        } else if (sp->layout == SIM_LAYOUT_VERT) { /* one behind the other along the path */
            float gap = uni(r, 0.06f, 0.20f);
            o->cx = b == 0 ? x_near + o->hx : x_near + lx[0] + gap + o->hx;
            o->cy = yc + uni(r, -0.04f, 0.04f);
        } else { /* side by side across the path, too close for the robot to pass between */
            float gap = uni(r, 0.0f, 0.10f);
            o->cx = x_near + o->hx + uni(r, -0.05f, 0.05f);
            o->cy = b == 0 ? yc + gap / 2 + o->hy : yc - gap / 2 - o->hy;
            o->yaw *= 0.5f;
        }
    }
    s->n_obstacles = sp->boxes;
    s->obst_x0 = s->obst_y0 = 1e9f, s->obst_x1 = s->obst_y1 = -1e9f;
    for (int b = 0; b < s->n_obstacles; b++) {
        const SimObject *o = &s->obj[b];
        float c = cosf(o->yaw), sn = sinf(o->yaw);
        float ex = fabsf(c) * o->hx + fabsf(sn) * o->hy, ey = fabsf(sn) * o->hx + fabsf(c) * o->hy;
        s->obst_x0 = fminf(s->obst_x0, o->cx - ex), s->obst_x1 = fmaxf(s->obst_x1, o->cx + ex);
        s->obst_y0 = fminf(s->obst_y0, o->cy - ey), s->obst_y1 = fmaxf(s->obst_y1, o->cy + ey);
    }
}

/* The target beyond the obstacles; returns the x of its front (the side facing the robot). */
static void place_target(SimScene *s, Rng *r)
{
    static const float stands[][3] = {{0.55f, 0.38f, 0.22f}, {0.85f, 0.85f, 0.85f}, {0.15f, 0.15f, 0.16f}, {0.45f, 0.45f, 0.47f}};
    static const float cups[][3] = {{0.92f, 0.92f, 0.90f}, {0.80f, 0.15f, 0.12f}, {0.15f, 0.30f, 0.75f},
                                    {0.90f, 0.80f, 0.20f}, {0.20f, 0.60f, 0.30f}};
    static const float bottles[][3] = {{0.20f, 0.50f, 0.25f}, {0.45f, 0.25f, 0.10f}, {0.25f, 0.45f, 0.75f},
                                       {0.90f, 0.50f, 0.10f}, {0.70f, 0.78f, 0.80f}};
    static const float labels[][3] = {{0.95f, 0.95f, 0.92f}, {0.85f, 0.15f, 0.12f}, {0.95f, 0.85f, 0.20f}};
    float ty = uni(r, -0.1f, 0.1f);
    float goal_gap = uni(r, 0.25f, 0.50f); /* between the expert's return point and the goal */
    s->goal_x = s->obst_x1 + SIM_ROBOT_RADIUS + SIM_CLEARANCE + goal_gap;
    s->goal_y = ty;
    float front; /* target footprint's half depth toward the robot */
    if (s->spec.target == SIM_TARGET_BASKET) {
        float rad = uni(r, 0.17f, 0.22f);
        front = rad;
        s->target_x = s->goal_x + front + SIM_ROBOT_RADIUS + SIM_STANDOFF, s->target_y = ty;
        SimObject *o = add_object(s, SIM_SHAPE_CYLINDER, SIM_ROLE_TARGET, SIM_MAT_BASKET);
        o->cx = s->target_x, o->cy = ty, o->hx = o->hy = rad;
        o->z0 = 0, o->z1 = uni(r, 0.28f, 0.36f);
        float gray[3];
        gray[0] = gray[1] = gray[2] = uni(r, 0.45f, 0.62f);
        gray[2] += 0.02f;
        set_color(o->color, gray, 0.02f, r);
        for (int c = 0; c < 3; c++) o->color2[c] = o->color[c] * 0.25f; /* the inside */
        s->target_index = s->n_objects - 1, s->stand_index = -1;
        return;
    }
    float half = uni(r, 0.14f, 0.18f);
    front = half;
    s->target_x = s->goal_x + front + SIM_ROBOT_RADIUS + SIM_STANDOFF, s->target_y = ty;
    SimObject *st = add_object(s, SIM_SHAPE_BOX, SIM_ROLE_STAND, SIM_MAT_WOOD);
    st->cx = s->target_x, st->cy = ty, st->hx = half, st->hy = half * uni(r, 0.9f, 1.2f);
    st->yaw = uni(r, -0.1f, 0.1f);
    st->z0 = 0, st->z1 = uni(r, 0.26f, 0.34f);
    set_color(st->color, pick(stands, 4, r), 0.06f, r);
    s->stand_index = s->n_objects - 1;
    SimObject *o = add_object(s, SIM_SHAPE_CYLINDER, SIM_ROLE_TARGET, SIM_MAT_CUP);
    o->cx = s->target_x + uni(r, -0.03f, 0.03f), o->cy = ty + uni(r, -0.03f, 0.03f);
    o->z0 = st->z1;
    if (s->spec.target == SIM_TARGET_CUP) {
        o->hx = o->hy = uni(r, 0.04f, 0.05f);
        o->z1 = o->z0 + uni(r, 0.09f, 0.11f);
        set_color(o->color, pick(cups, 5, r), 0.04f, r);
        set_color(o->color2, pick(labels, 3, r), 0.04f, r);
        o->band0 = o->z0 + (o->z1 - o->z0) * uni(r, 0.55f, 0.65f), o->band1 = o->band0 + 0.015f;
    } else {
        o->material = SIM_MAT_BOTTLE;
        o->hx = o->hy = uni(r, 0.033f, 0.04f);
        o->z1 = o->z0 + uni(r, 0.17f, 0.22f);
        set_color(o->color, pick(bottles, 5, r), 0.05f, r);
        set_color(o->color2, pick(labels, 3, r), 0.04f, r);
        float h = o->z1 - o->z0;
        o->band0 = o->z0 + h * uni(r, 0.25f, 0.35f), o->band1 = o->z0 + h * uni(r, 0.6f, 0.7f);
    }
    s->target_index = s->n_objects - 1;
}

/* 2-D overlap of two objects' bounding circles, with a margin. */
static int near_object(const SimScene *s, float x, float y, float rad, float margin)
{
    for (int i = 0; i < s->n_objects; i++) {
        const SimObject *o = &s->obj[i];
        float ro = sqrtf(o->hx * o->hx + o->hy * o->hy);
        float dx = x - o->cx, dy = y - o->cy;
        if (dx * dx + dy * dy < (ro + rad + margin) * (ro + rad + margin)) return 1;
    }
    return 0;
}

/* Distractors stand away from every route the expert may take: beside the room's sides beyond the
 * widest detour lane, or behind the target. */
static void place_distractors(SimScene *s, Rng *r, int n)
{
    static const float colors[][3] = {{0.30f, 0.30f, 0.32f}, {0.20f, 0.45f, 0.25f}, {0.75f, 0.72f, 0.65f},
                                      {0.60f, 0.20f, 0.20f}, {0.25f, 0.30f, 0.55f}, {0.55f, 0.40f, 0.25f}};
    float lane = fmaxf(fabsf(s->obst_y0), fabsf(s->obst_y1)) + SIM_ROBOT_RADIUS + SIM_CLEARANCE + 0.7f;
    for (int k = 0; k < n && s->n_objects < SIM_MAX_OBJECTS; k++)
        for (int tries = 0; tries < 40; tries++) {
            int cyl = rng_uniform(r) < 0.5f;
            float hx = cyl ? uni(r, 0.10f, 0.20f) : uni(r, 0.12f, 0.30f), hy = cyl ? hx : uni(r, 0.12f, 0.30f);
            float rad = sqrtf(hx * hx + hy * hy), x, y;
            if (rng_uniform(r) < 0.75f) { /* beside the route */
                x = uni(r, s->room_x0 + rad + 0.05f, s->room_x1 - rad - 0.05f);
                float side = rng_uniform(r) < 0.5f ? 1.0f : -1.0f, wall = side > 0 ? s->room_y1 : -s->room_y0;
                if (wall - rad - 0.05f < lane + rad) continue;
                y = side * uni(r, lane + rad, wall - rad - 0.05f);
            } else { /* behind the target */
                float x_lo = s->target_x + 0.6f + rad;
                if (x_lo > s->room_x1 - rad - 0.05f) continue;
                x = uni(r, x_lo, s->room_x1 - rad - 0.05f);
                y = uni(r, s->room_y0 + rad + 0.05f, s->room_y1 - rad - 0.05f);
            }
            if (near_object(s, x, y, rad, 0.15f)) continue;
            SimObject *o = add_object(s, cyl ? SIM_SHAPE_CYLINDER : SIM_SHAPE_BOX, SIM_ROLE_DISTRACTOR, SIM_MAT_PLAIN);
            o->cx = x, o->cy = y, o->hx = hx, o->hy = hy, o->yaw = cyl ? 0 : uni(r, -0.6f, 0.6f);
            o->z0 = 0, o->z1 = uni(r, 0.2f, 0.8f);
            set_color(o->color, pick(colors, 6, r), 0.08f, r);
            break;
        }
}

int sim_scene_generate(SimScene *s, const SimSceneSpec *spec, uint64_t seed) { return sim_scene_generate_ex(s, spec, seed, 1); }

int sim_scene_generate_ex(SimScene *s, const SimSceneSpec *spec, uint64_t seed, int textures)
{
    if (spec->boxes < 1 || spec->boxes > 2 || (unsigned)spec->layout >= SIM_LAYOUT_COUNT ||
        (unsigned)spec->distance >= SIM_DIST_COUNT || (unsigned)spec->lighting >= SIM_LIGHT_COUNT ||
        (unsigned)spec->target >= SIM_TARGET_COUNT || spec->distractors < 0 || spec->distractors > SIM_MAX_DISTRACTORS)
        return mvla_fail(MVLA_ERR_ARG, "sim scene: spec: boxes 1..2, layout, distance, lighting, target in range "
                                       "and 0..%d distractors expected", SIM_MAX_DISTRACTORS);
    memset(s, 0, offsetof(SimScene, floor_tex));
    s->spec = *spec;
    s->seed = seed;
    Rng r;
    rng_seed(&r, sim_mix_seed(seed, 0x5ce4e, (uint64_t)spec->boxes * 16 + spec->layout, spec->distance));
    s->start_x = 0, s->start_y = uni(&r, -0.08f, 0.08f), s->start_yaw = uni(&r, -0.04f, 0.04f);
    static const float gap_lo[SIM_DIST_COUNT] = {0.55f, 0.95f, 1.35f};
    float x_near = uni(&r, gap_lo[spec->distance], gap_lo[spec->distance] + 0.2f);
    place_obstacles(s, &r, x_near);
    place_target(s, &r);
    float reach = s->target_x + s->obj[s->target_index].hx;
    s->room_x0 = -uni(&r, 0.7f, 1.1f), s->room_x1 = reach + uni(&r, 0.8f, 1.6f);
    s->room_y0 = -uni(&r, 2.0f, 2.8f), s->room_y1 = uni(&r, 2.0f, 2.8f);
    s->room_h = uni(&r, 2.4f, 2.8f);
    /* Distractors, lighting and looks come from their own streams, so turning distractors on
     * changes nothing else about the scene. */
    Rng rd;
    rng_seed(&rd, sim_mix_seed(seed, 0xd157, 1, 0));
    place_distractors(s, &rd, spec->distractors ? 1 + (int)rng_below(&rd, (uint32_t)spec->distractors) : 0);
    Rng rl;
    rng_seed(&rl, sim_mix_seed(seed, 0x119f7, spec->lighting, 0));
    make_light(s, &rl);
    Rng rt;
    rng_seed(&rt, sim_mix_seed(seed, 0x7e47, 2, 0));
    make_room_colors(s, &rt);
    if (!textures) return 0;
    Noise *nz = malloc(sizeof *nz);
    if (!nz) return mvla_fail(MVLA_ERR_NOMEM, "sim scene: out of memory for texture noise");
    make_floor(s, &rt, nz);
    make_detail_textures(s, &rt, nz);
    free(nz);
    return 0;
}

/* ---- mirror ---- */

static void mirror_tex_rows(uint8_t *tex, int n, int channels)
{
    /* Texel row j covers y in [j, j+1) / n of a tile; mirroring y maps row j to row n-1-j. */
    size_t row = (size_t)n * (size_t)channels;
    uint8_t tmp[SIM_FLOOR_TEX * 3];
    for (int j = 0; j < n / 2; j++) {
        uint8_t *a = tex + (size_t)j * row, *b = tex + (size_t)(n - 1 - j) * row;
        memcpy(tmp, a, row), memcpy(a, b, row), memcpy(b, tmp, row);
    }
}

void sim_scene_mirror(SimScene *s)
{
    for (int i = 0; i < s->n_objects; i++) s->obj[i].cy = -s->obj[i].cy, s->obj[i].yaw = -s->obj[i].yaw;
    float y0 = s->obst_y0;
    s->obst_y0 = -s->obst_y1, s->obst_y1 = -y0;
    s->target_y = -s->target_y, s->goal_y = -s->goal_y;
    s->start_y = -s->start_y, s->start_yaw = -s->start_yaw;
    float ry0 = s->room_y0;
    s->room_y0 = -s->room_y1, s->room_y1 = -ry0;
    s->light.sun_dir[1] = -s->light.sun_dir[1], s->light.lamp_pos[1] = -s->light.lamp_pos[1];
    float wc[3];
    memcpy(wc, s->wall_color[1], sizeof wc);
    memcpy(s->wall_color[1], s->wall_color[3], sizeof wc);
    memcpy(s->wall_color[3], wc, sizeof wc);
    SimDecal d1 = s->decal[1];
    s->decal[1] = s->decal[3], s->decal[3] = d1;
    /* Walls 0 and 2 run along y: their u coordinate is measured from y0, so it flips. */
    for (int w = 0; w < 4; w += 2) {
        float len = s->room_y1 - s->room_y0, u0 = s->decal[w].u0;
        s->decal[w].u0 = len - s->decal[w].u1, s->decal[w].u1 = len - u0;
    }
    mirror_tex_rows(s->floor_tex, SIM_FLOOR_TEX, 3);
}
