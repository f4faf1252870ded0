/* Ray caster for the simulator (see render.h). Per frame, each object gets its ray basis in its own
 * frame and its screen rectangle, so a pixel only tests the objects whose rectangle holds it; ray
 * directions are linear in the pixel coordinates (d = f + u r + v up), never normalised. */
#include "sim/render.h"

#include "base/error.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BIG 1e30f

typedef struct {
    int shape, index, role, material;
    int px0, px1, py0, py1;        /* screen rectangle, [px0, px1) x [py0, py1); empty if px0 >= px1 */
    float o[3], f[3], r[3], u[3];  /* camera origin and ray basis in the object's frame */
    float cs, sn;                  /* yaw: local -> world rotation */
    float hx, hy, z0, z1;
    /* floor shadow: shift per metre of height in the object's frame, and a bounding rectangle */
    float svx, svy;
    float sx0, sx1, sy0, sy1;
    int casts;
} Prep;

typedef struct {
    float o[3], f[3], r[3], u[3];
    float fx;
    int n;
    Prep p[SIM_MAX_OBJECTS];
    int shadow_from_lamp;
    float sun_sv[2];   /* world shadow shift per metre of height for the window light */
} Frame;

void sim_camera_default(SimCamera *c, int width, int height)
{
    c->width = width, c->height = height;
    c->hfov_deg = 70.0f;
    c->height_m = 0.40f;
    c->pitch_deg = -5.0f;
    c->forward_m = 0.12f;
    c->noise_scale = 1.0f;
}

static inline float minf(float a, float b) { return a < b ? a : b; }
static inline float maxf(float a, float b) { return a > b ? a : b; }

static float dot3(const float a[3], const float b[3]) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

/* Object-frame ray basis: translate by the centre and rotate by -yaw. */
static void to_local(const float w[3], float cs, float sn, float out[3])
{
    out[0] = cs * w[0] + sn * w[1];
    out[1] = -sn * w[0] + cs * w[1];
    out[2] = w[2];
}

static void prep_object(Frame *F, const SimScene *s, int k, int W, int H)
{
    const SimObject *ob = &s->obj[k];
    Prep *p = &F->p[k];
    p->shape = ob->shape, p->index = k, p->role = ob->role, p->material = ob->material;
    p->cs = cosf(ob->yaw), p->sn = sinf(ob->yaw);
    p->hx = ob->hx, p->hy = ob->hy, p->z0 = ob->z0, p->z1 = ob->z1;
    float rel[3] = {F->o[0] - ob->cx, F->o[1] - ob->cy, F->o[2]};
    to_local(rel, p->cs, p->sn, p->o);
    to_local(F->f, p->cs, p->sn, p->f);
    to_local(F->r, p->cs, p->sn, p->r);
    to_local(F->u, p->cs, p->sn, p->u);
    /* Screen rectangle from the 8 corners of the object's box. */
    float x0 = BIG, x1 = -BIG, y0 = BIG, y1 = -BIG;
    int behind = 0;
    for (int c = 0; c < 8; c++) {
        float lx = (c & 1) ? p->hx : -p->hx, ly = (c & 2) ? p->hy : -p->hy, z = (c & 4) ? p->z1 : p->z0;
        float w[3] = {ob->cx + p->cs * lx - p->sn * ly - F->o[0], ob->cy + p->sn * lx + p->cs * ly - F->o[1], z - F->o[2]};
        float zc = dot3(w, F->f);
        if (zc < 0.02f) {
            behind++;
            continue;
        }
        float sx = 0.5f * W + F->fx * dot3(w, F->r) / zc, sy = 0.5f * H - F->fx * dot3(w, F->u) / zc;
        x0 = fminf(x0, sx), x1 = fmaxf(x1, sx), y0 = fminf(y0, sy), y1 = fmaxf(y1, sy);
    }
    if (behind == 8) {
        p->px0 = p->px1 = 0;
    } else if (behind) {
        p->px0 = 0, p->px1 = W, p->py0 = 0, p->py1 = H;
    } else {
        p->px0 = (int)fmaxf(0, floorf(x0) - 1), p->px1 = (int)fminf((float)W, ceilf(x1) + 2);
        p->py0 = (int)fmaxf(0, floorf(y0) - 1), p->py1 = (int)fminf((float)H, ceilf(y1) + 2);
    }
    /* Floor shadow: objects standing on the floor cast one away from the dominant light. */
    p->casts = ob->z0 < 0.05f;
    float svx = F->sun_sv[0], svy = F->sun_sv[1];
    if (F->shadow_from_lamp) {
        const float *lp = s->light.lamp_pos;
        float den = fmaxf(lp[2] - ob->z1, 0.3f);
        svx = (ob->cx - lp[0]) / den, svy = (ob->cy - lp[1]) / den;
    }
    float sw[3] = {svx, svy, 0}, sl[3];
    to_local(sw, p->cs, p->sn, sl);
    p->svx = sl[0], p->svy = sl[1];
    /* Rectangle (world) holding the footprint, its shadow, and the contact-darkening margin. */
    float ext = sqrtf(p->hx * p->hx + p->hy * p->hy) + 0.1f, h = ob->z1;
    p->sx0 = ob->cx - ext + fminf(0, svx * h), p->sx1 = ob->cx + ext + fmaxf(0, svx * h);
    p->sy0 = ob->cy - ext + fminf(0, svy * h), p->sy1 = ob->cy + ext + fmaxf(0, svy * h);
}

static void prep_frame(Frame *F, const SimScene *s, const SimPose *pose, const SimCamera *cam)
{
    float yaw = pose->yaw, pitch = cam->pitch_deg * 3.14159265f / 180;
    float cy = cosf(yaw), sy = sinf(yaw), cp = cosf(pitch), sp = sinf(pitch);
    F->o[0] = pose->x + cam->forward_m * cy, F->o[1] = pose->y + cam->forward_m * sy, F->o[2] = cam->height_m;
    F->f[0] = cy * cp, F->f[1] = sy * cp, F->f[2] = sp;
    F->r[0] = sy, F->r[1] = -cy, F->r[2] = 0;
    F->u[0] = -cy * sp, F->u[1] = -sy * sp, F->u[2] = cp;
    F->fx = 0.5f * cam->width / tanf(0.5f * cam->hfov_deg * 3.14159265f / 180);
    const SimLight *L = &s->light;
    float sun = L->sun[0] + L->sun[1] + L->sun[2], lamp = L->lamp[0] + L->lamp[1] + L->lamp[2];
    F->shadow_from_lamp = lamp > sun * 1.5f;
    float dz = fmaxf(L->sun_dir[2], 0.1f); /* at most 10 m of shadow per metre of height */
    F->sun_sv[0] = -L->sun_dir[0] / dz, F->sun_sv[1] = -L->sun_dir[1] / dz;
    if (sun <= 0) F->sun_sv[0] = F->sun_sv[1] = 0;
    F->n = s->n_objects;
    for (int k = 0; k < s->n_objects; k++) prep_object(F, s, k, cam->width, cam->height);
}

/* Tables shared by every frame, built once. */
static float srgb_to_lin[256];
static uint8_t gamma_lut[2048]; /* linear radiance x 1024 -> gamma-encoded byte */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
    for (int i = 0; i < 256; i++) srgb_to_lin[i] = powf(i / 255.0f, 2.2f);
    for (int i = 0; i < 2048; i++) gamma_lut[i] = (uint8_t)(255.0f * powf(fminf(i / 1024.0f, 1.0f), 1 / 2.2f) + 0.5f);
}

/* ---- intersections (object frame) ---- */

/* Slab test; returns t of entry (or BIG) and the face: 0/1 = +x/-x, 2/3 = +y/-y, 4/5 = top/bottom. */
static float hit_box(const Prep *p, const float d[3], int *face)
{
    float lo[3] = {-p->hx, -p->hy, p->z0}, hi[3] = {p->hx, p->hy, p->z1};
    float tn = -BIG, tf = BIG;
    int fn = 0;
    for (int a = 0; a < 3; a++) {
        if (d[a] == 0) {
            if (p->o[a] < lo[a] || p->o[a] > hi[a]) return BIG;
            continue;
        }
        float inv = 1.0f / d[a];
        float t0 = (lo[a] - p->o[a]) * inv, t1 = (hi[a] - p->o[a]) * inv;
        int f = 2 * a + 1; /* entering through the low face */
        if (t0 > t1) {
            float tmp = t0;
            t0 = t1, t1 = tmp, f = 2 * a;
        }
        if (t0 > tn) tn = t0, fn = f;
        if (t1 < tf) tf = t1;
    }
    if (tn > tf || tn <= 0) return BIG;
    *face = fn;
    return tn;
}

/* Vertical cylinder; face 0 = side, 4 = top cap. */
static float hit_cylinder(const Prep *p, const float d[3], int *face)
{
    float a = d[0] * d[0] + d[1] * d[1], b = p->o[0] * d[0] + p->o[1] * d[1];
    float c = p->o[0] * p->o[0] + p->o[1] * p->o[1] - p->hx * p->hx;
    float disc = b * b - a * c;
    if (disc > 0 && a > 0) {
        float t = (-b - sqrtf(disc)) / a, z = p->o[2] + t * d[2];
        if (t > 0 && z >= p->z0 && z <= p->z1) {
            *face = 0;
            return t;
        }
    }
    if (d[2] < 0 && p->o[2] > p->z1) {
        float t = (p->z1 - p->o[2]) / d[2], x = p->o[0] + t * d[0], y = p->o[1] + t * d[1];
        if (x * x + y * y <= p->hx * p->hx) {
            *face = 4;
            return t;
        }
    }
    return BIG;
}

/* ---- shading ---- */

static float detail(const SimScene *s, float a, float b)
{
    int i = (int)(a * 128.0f + 8192.0f) & (SIM_DETAIL_TEX - 1), j = (int)(b * 128.0f + 8192.0f) & (SIM_DETAIL_TEX - 1);
    return s->detail_tex[j * SIM_DETAIL_TEX + i] * (1.0f / 128);
}

/* Fraction of the direct light that reaches floor point (x, y): 0 in a cast shadow, with contact
 * darkening near footprints folded into *ao. */
static float floor_light(const Frame *F, const SimScene *s, float x, float y, float *ao)
{
    float lit = 1;
    for (int k = 0; k < F->n; k++) {
        const Prep *p = &F->p[k];
        if (!p->casts || x < p->sx0 || x > p->sx1 || y < p->sy0 || y > p->sy1) continue;
        const SimObject *ob = &s->obj[k];
        float dx = x - ob->cx, dy = y - ob->cy;
        float lx = p->cs * dx + p->sn * dy, ly = -p->sn * dx + p->cs * dy, h = ob->z1, dist2;
        if (p->shape == SIM_SHAPE_CYLINDER) {
            /* segment (lx, ly) - tau (svx, svy), tau in [0, h], against the circle */
            float vv = p->svx * p->svx + p->svy * p->svy;
            float tau = vv > 0 ? minf(maxf((lx * p->svx + ly * p->svy) / vv, 0), h) : 0;
            float qx = lx - tau * p->svx, qy = ly - tau * p->svy;
            if (qx * qx + qy * qy <= p->hx * p->hx) lit = 0;
            float r = sqrtf(lx * lx + ly * ly) - p->hx;
            dist2 = r > 0 ? r * r : 0;
        } else {
            /* 2-D slab test of the same segment against the footprint rectangle */
            float t0 = 0, t1 = h;
            float o2[2] = {lx, ly}, d2[2] = {-p->svx, -p->svy}, hw[2] = {p->hx, p->hy};
            for (int a = 0; a < 2 && t0 <= t1; a++) {
                if (d2[a] == 0) {
                    if (fabsf(o2[a]) > hw[a]) t0 = 1, t1 = 0;
                    continue;
                }
                float ta = (-hw[a] - o2[a]) / d2[a], tb = (hw[a] - o2[a]) / d2[a];
                if (ta > tb) { float tmp = ta; ta = tb, tb = tmp; }
                t0 = maxf(t0, ta), t1 = minf(t1, tb);
            }
            if (t0 <= t1) lit = 0;
            float qx = maxf(fabsf(lx) - p->hx, 0), qy = maxf(fabsf(ly) - p->hy, 0);
            dist2 = qx * qx + qy * qy;
        }
        float c = 1 - dist2 * (1 / 0.01f); /* within 0.1 m of the footprint */
        if (c > 0) *ao *= 1 - 0.45f * c * c;
    }
    return lit;
}

static void lamp_term(const SimLight *L, const float p[3], const float n[3], float out[3])
{
    float v[3] = {L->lamp_pos[0] - p[0], L->lamp_pos[1] - p[1], L->lamp_pos[2] - p[2]};
    float d2 = dot3(v, v), ndl = dot3(n, v) / sqrtf(d2);
    float k = ndl > 0 ? ndl * 2.0f / (1.0f + d2) : 0;
    out[0] = L->lamp[0] * k, out[1] = L->lamp[1] * k, out[2] = L->lamp[2] * k;
}

/* Albedo of object k at its local point (lx, ly, z) on face. */
static void object_albedo(const SimScene *s, int k, int face, float lx, float ly, float z, float alb[3])
{
    const SimObject *ob = &s->obj[k];
    const float *c = ob->color;
    float m = 1;
    switch (ob->material) {
    case SIM_MAT_CARDBOARD: {
        /* Tape along the long axis over the top and down the two end faces. */
        int long_x = ob->hx >= ob->hy;
        float across = long_x ? ly : lx;
        int on_tape = fabsf(across) < ob->band0 &&
                      (face == 4 || ((long_x ? face <= 1 : face == 2 || face == 3) && z > ob->z1 - 0.06f));
        if (on_tape) c = ob->color2;
        m = face == 4 ? detail(s, lx, ly) : detail(s, face <= 1 ? ly : lx, z);
        break;
    }
    case SIM_MAT_WOOD:
        m = face == 4 ? detail(s, lx * 0.25f, ly * 2) : detail(s, (face <= 1 ? ly : lx) * 0.25f, z * 2);
        break;
    case SIM_MAT_CUP:
    case SIM_MAT_BOTTLE:
        if (face == 4) m = ob->material == SIM_MAT_CUP ? 0.35f : 0.6f; /* the cup's inside, the bottle's cap */
        else if (z >= ob->band0 && z <= ob->band1) c = ob->color2;
        break;
    case SIM_MAT_BASKET:
        if (face == 4) {
            c = ob->color2;
        } else {
            /* woven: alternating bands, offset every row; a lighter rim */
            float ang = atan2f(ly, lx);
            int row = (int)((z - ob->z0) * 33.0f), col = (int)((ang + 3.2f) * 7.0f);
            m = ((row + col) & 1) ? 0.78f : 1.05f;
            if (z > ob->z1 - 0.025f) m = 1.15f;
        }
        break;
    default:
        m = face == 4 ? detail(s, lx, ly) : detail(s, face <= 1 ? ly : lx, z);
        break;
    }
    alb[0] = c[0] * m, alb[1] = c[1] * m, alb[2] = c[2] * m;
}

static float wall_albedo(const SimScene *s, int w, float u, float z, float alb[3])
{
    const SimDecal *d = &s->decal[w];
    const float *c = s->wall_color[w];
    float m = s->wall_tex[((int)(z * 40.0f) & (SIM_WALL_TEX - 1)) * SIM_WALL_TEX + ((int)(u * 40.0f + 8192.0f) & (SIM_WALL_TEX - 1))] *
              (1.0f / 128);
    if (u >= d->u0 && u <= d->u1 && z >= d->z0 && z <= d->z1) {
        c = d->color;
        float edge = minf(minf(u - d->u0, d->u1 - u), minf(z - d->z0 + (d->z0 == 0 ? 1 : 0), d->z1 - z));
        if (edge < 0.035f) m *= 0.55f; /* frame */
    } else if (z < 0.08f) {
        c = s->base_color;
    }
    alb[0] = c[0] * m, alb[1] = c[1] * m, alb[2] = c[2] * m;
    return m;
}

/* splitmix64 of a counter: fast, stateless noise for the sensor. */
static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Approximately standard normal from 21 bits: the sum of three 7-bit uniforms (Irwin-Hall), centred
 * and scaled (std 64). */
static inline float normal21(uint64_t bits)
{
    return ((float)((bits & 127) + ((bits >> 7) & 127) + ((bits >> 14) & 127)) - 190.5f) * (1.0f / 64);
}

static void render_row(const Frame *F, const SimScene *s, const SimCamera *cam, int j, uint64_t row_seed, float noise,
                       int bgr, uint8_t *out, uint8_t *ids)
{
    const int W = cam->width, H = cam->height;
    const SimLight *L = &s->light;
    float v = (0.5f * H - j - 0.5f) / F->fx;
    float vmax2 = (0.25f * W * W + 0.25f * H * H) / (F->fx * F->fx);
    const float exposure = L->exposure * 1024.0f;
    const int lamp_on = L->lamp[0] + L->lamp[1] + L->lamp[2] > 0;
    for (int i = 0; i < W; i++) {
        float u = (i + 0.5f - 0.5f * W) / F->fx;
        float d[3] = {F->f[0] + u * F->r[0] + v * F->u[0], F->f[1] + u * F->r[1] + v * F->u[1], F->f[2] + u * F->r[2] + v * F->u[2]};
        /* the room, from inside */
        float tx = d[0] > 0 ? (s->room_x1 - F->o[0]) / d[0] : d[0] < 0 ? (s->room_x0 - F->o[0]) / d[0] : BIG;
        float ty = d[1] > 0 ? (s->room_y1 - F->o[1]) / d[1] : d[1] < 0 ? (s->room_y0 - F->o[1]) / d[1] : BIG;
        float tz = d[2] < 0 ? -F->o[2] / d[2] : d[2] > 0 ? (s->room_h - F->o[2]) / d[2] : BIG;
        float t = tx;
        int surf = d[0] > 0 ? 0 : 2; /* walls 0..3, 4 floor, 5 ceiling, 16+k object k */
        if (ty < t) t = ty, surf = d[1] > 0 ? 1 : 3;
        if (tz < t) t = tz, surf = d[2] < 0 ? 4 : 5;
        int face = 0;
        for (int k = 0; k < F->n; k++) {
            const Prep *p = &F->p[k];
            if (i < p->px0 || i >= p->px1 || j < p->py0 || j >= p->py1) continue;
            float dl[3] = {p->f[0] + u * p->r[0] + v * p->u[0], p->f[1] + u * p->r[1] + v * p->u[1], p->f[2] + u * p->r[2] + v * p->u[2]};
            int fc = 0;
            float th = p->shape == SIM_SHAPE_BOX ? hit_box(p, dl, &fc) : hit_cylinder(p, dl, &fc);
            if (th < t) t = th, surf = 16 + k, face = fc;
        }
        float P[3] = {F->o[0] + t * d[0], F->o[1] + t * d[1], F->o[2] + t * d[2]};
        float alb[3], n[3], light[3], direct = 1, ao = 1;
        uint8_t id;
        if (surf == 4) {
            const uint8_t *tx8 = s->floor_tex;
            float k = SIM_FLOOR_TEX / s->floor_tile;
            int ti = (int)(P[0] * k + 8192.0f) & (SIM_FLOOR_TEX - 1), tj = (int)(P[1] * k + 8192.0f) & (SIM_FLOOR_TEX - 1);
            const uint8_t *px = tx8 + ((size_t)tj * SIM_FLOOR_TEX + (size_t)ti) * 3;
            alb[0] = srgb_to_lin[px[0]], alb[1] = srgb_to_lin[px[1]], alb[2] = srgb_to_lin[px[2]];
            n[0] = 0, n[1] = 0, n[2] = 1;
            direct = floor_light(F, s, P[0], P[1], &ao);
            direct = 1 - L->shadow * (1 - direct);
            id = SIM_ID_FLOOR;
        } else if (surf == 5) {
            memcpy(alb, s->ceiling_color, sizeof alb);
            n[0] = 0, n[1] = 0, n[2] = -1;
            id = SIM_ID_CEILING;
        } else if (surf < 4) {
            static const float wn[4][3] = {{-1, 0, 0}, {0, -1, 0}, {1, 0, 0}, {0, 1, 0}};
            float wu = (surf == 0 || surf == 2) ? P[1] - s->room_y0 : P[0] - s->room_x0;
            wall_albedo(s, surf, wu, P[2], alb);
            memcpy(n, wn[surf], sizeof n);
            id = SIM_ID_WALL;
        } else {
            int k = surf - 16;
            const Prep *p = &F->p[k];
            float rel[3] = {P[0] - s->obj[k].cx, P[1] - s->obj[k].cy, P[2]}, l[3];
            to_local(rel, p->cs, p->sn, l);
            object_albedo(s, k, face, l[0], l[1], l[2], alb);
            float nl[3] = {0, 0, 0};
            if (p->shape == SIM_SHAPE_CYLINDER && face == 0) nl[0] = l[0] / p->hx, nl[1] = l[1] / p->hx;
            else if (face < 4) nl[face >> 1] = (face & 1) ? -1.0f : 1.0f;
            else nl[2] = face == 4 ? 1.0f : -1.0f;
            n[0] = p->cs * nl[0] - p->sn * nl[1], n[1] = p->sn * nl[0] + p->cs * nl[1], n[2] = nl[2];
            id = (uint8_t)(SIM_ID_OBJECT + k);
        }
        float nds = dot3(n, L->sun_dir);
        if (lamp_on) lamp_term(L, P, n, light);
        else light[0] = light[1] = light[2] = 0;
        float sunk = nds > 0 ? nds : 0;
        float dsun = F->shadow_from_lamp ? 1 : direct, dlamp = F->shadow_from_lamp ? direct : 1;
        float vig = 1 - 0.22f * (u * u + v * v) / vmax2;
        float rad[3];
        for (int c = 0; c < 3; c++) {
            float e = L->ambient[c] * ao + (L->sun[c] * sunk * dsun + light[c] * dlamp) * (0.3f + 0.7f * ao);
            rad[c] = alb[c] * e * vig * exposure;
        }
        uint64_t bits = noise > 0 ? mix64(row_seed + (uint64_t)i * 0x9e3779b97f4a7c15ULL) : 0;
        uint8_t *o = out + ((size_t)j * W + (size_t)i) * 3;
        for (int c = 0; c < 3; c++) {
            int q = (int)rad[c];
            int val = gamma_lut[q < 0 ? 0 : q > 2047 ? 2047 : q];
            if (noise > 0) { /* round half up; the offset keeps the truncation a floor */
                val = (int)(normal21(bits >> (c * 21)) * noise + (float)val + 256.5f) - 256;
                val = val < 0 ? 0 : val > 255 ? 255 : val;
            }
            o[bgr ? 2 - c : c] = (uint8_t)val;
        }
        if (ids) ids[(size_t)j * W + (size_t)i] = id;
    }
}

int sim_render(const SimScene *s, const SimPose *pose, const SimCamera *cam, uint64_t noise_seed, int channel_order,
               uint8_t *out, uint8_t *ids)
{
    if (cam->width < 8 || cam->height < 8 || cam->width > 8192 || cam->height > 8192 || !(cam->hfov_deg > 1) ||
        !(cam->hfov_deg < 170) || !(cam->height_m > 0) || (channel_order != 0 && channel_order != 1))
        return mvla_fail(MVLA_ERR_ARG, "sim render: camera: size 8..8192, field of view 1..170 deg, height > 0 and "
                                       "channel order BGR or RGB expected");
    pthread_once(&tables_once, build_tables);
    Frame *F = malloc(sizeof *F);
    if (!F) return mvla_fail(MVLA_ERR_NOMEM, "sim render: out of memory");
    prep_frame(F, s, pose, cam);
    float noise = s->light.noise_sigma * cam->noise_scale;
    int bgr = channel_order == 0, H = cam->height;
    long pixels = (long)cam->width * cam->height;
#pragma omp parallel for schedule(static) if (pixels >= 65536)
    for (int j = 0; j < H; j++)
        render_row(F, s, cam, j, sim_mix_seed(noise_seed, (uint64_t)j, 0x5e, 0), noise, bgr, out, ids);
    free(F);
    return 0;
}
