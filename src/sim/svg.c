/* Top-down SVG of evaluation trajectories (see svg.h). */
#include "sim/svg.h"

#include "base/error.h"
#include "base/file.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PANEL_W 300
#define PANEL_H 240
#define PX_PER_M 60.0f

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} Text;

static void put(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Text *t, const char *fmt, ...)
{
    if (t->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n + 1024;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->oom = 1;
            return;
        }
        t->buf = b, t->cap = cap;
    }
}

typedef struct {
    float ox, oy; /* panel origin in the SVG */
    float x0, y1; /* world x at the panel's left edge, world y at its top edge */
} View;

static float vx(const View *v, float x) { return v->ox + (x - v->x0) * PX_PER_M; }
static float vy(const View *v, float y) { return v->oy + (v->y1 - y) * PX_PER_M; }

static void draw_object(Text *t, const View *v, const SimObject *o, const char *fill)
{
    if (o->shape == SIM_SHAPE_CYLINDER) {
        put(t, "<circle cx='%.1f' cy='%.1f' r='%.1f' fill='%s' stroke='#333' stroke-width='0.5'/>\n", vx(v, o->cx),
            vy(v, o->cy), o->hx * PX_PER_M, fill);
        return;
    }
    float c = cosf(o->yaw), s = sinf(o->yaw);
    put(t, "<polygon fill='%s' stroke='#333' stroke-width='0.5' points='", fill);
    static const float corner[4][2] = {{1, 1}, {1, -1}, {-1, -1}, {-1, 1}};
    for (int k = 0; k < 4; k++) {
        float lx = corner[k][0] * o->hx, ly = corner[k][1] * o->hy;
        put(t, "%.1f,%.1f ", vx(v, o->cx + c * lx - s * ly), vy(v, o->cy + s * lx + c * ly));
    }
    put(t, "'/>\n");
}

int sim_eval_write_svg(const SimEvalResult *r, const char *path)
{
    SimScene *scene = malloc(sizeof *scene);
    Text t = {malloc(1 << 16), 0, 1 << 16, 0};
    if (!scene || !t.buf) {
        free(scene), free(t.buf);
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    }
    int cols = SIM_DIST_COUNT, rows = 2 * SIM_LAYOUT_COUNT;
    put(&t, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif' font-size='11'>\n",
        cols * PANEL_W, rows * PANEL_H + 24);
    put(&t, "<rect width='100%%' height='100%%' fill='white'/>\n");
    put(&t, "<text x='6' y='16' font-size='13'>policy %s: %d rollouts per cell, seed %llu; blue = left instruction, "
            "orange = right; green dot = success, red cross = collision</text>\n",
        r->policy, r->spec.rollouts, (unsigned long long)r->spec.seed);
    int rc = 0;
    for (int row = 0; row < rows && !rc; row++)
        for (int col = 0; col < cols && !rc; col++) {
            int boxes = 1 + row / 2, layout = row % 2, dist = col;
            const SimRollout *first = NULL;
            for (int i = 0; i < r->n && !first; i++)
                if (r->r[i].scene.boxes == boxes && (int)r->r[i].scene.layout == layout && (int)r->r[i].scene.distance == dist)
                    first = &r->r[i];
            if (!first) continue;
            if ((rc = sim_scene_generate_ex(scene, &first->scene, first->seed, 0))) break;
            View v = {(float)(col * PANEL_W), (float)(24 + row * PANEL_H), -0.4f, 0.5f * PANEL_H / PX_PER_M};
            float ocx = 0.5f * (scene->obst_x0 + scene->obst_x1), ocy = 0.5f * (scene->obst_y0 + scene->obst_y1);
            /* each panel clips its own drawing */
            put(&t, "<clipPath id='p%d_%d'><rect x='%.0f' y='%.0f' width='%d' height='%d'/></clipPath>\n", row, col,
                v.ox + 1, v.oy + 1, PANEL_W - 2, PANEL_H - 2);
            put(&t, "<g clip-path='url(#p%d_%d)'>\n", row, col);
            put(&t, "<rect x='%.0f' y='%.0f' width='%d' height='%d' fill='#f7f5f0' stroke='#999'/>\n", v.ox + 1, v.oy + 1,
                PANEL_W - 2, PANEL_H - 2);
            put(&t, "<text x='%.0f' y='%.0f'>%dbox_%s, %s</text>\n", v.ox + 6, v.oy + 14, boxes,
                sim_layout_name((SimLayout)layout), sim_distance_name((SimDistance)dist));
            for (int i = 0; i < scene->n_objects; i++) {
                const SimObject *o = &scene->obj[i];
                if (o->role == SIM_ROLE_TARGET && scene->stand_index >= 0) continue;
                draw_object(&t, &v, o, o->role == SIM_ROLE_OBSTACLE ? "#c8a070" : o->role == SIM_ROLE_DISTRACTOR ? "#bbb" : "#6a6");
            }
            put(&t, "<circle cx='%.1f' cy='%.1f' r='%.1f' fill='none' stroke='#393' stroke-dasharray='3,2'/>\n",
                vx(&v, scene->goal_x), vy(&v, scene->goal_y), r->cfg.goal_radius * PX_PER_M);
            for (int i = 0; i < r->n; i++) {
                const SimRollout *ro = &r->r[i];
                if (ro->scene.boxes != boxes || (int)ro->scene.layout != layout || (int)ro->scene.distance != dist ||
                    ro->trail_n < 2)
                    continue;
                /* this rollout's obstacles' centre, to align its path with the drawn scene */
                float dx = 0, dy = 0;
                if (ro->seed != first->seed) {
                    SimScene *own = malloc(sizeof *own);
                    if (!own) {
                        rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
                        break;
                    }
                    if ((rc = sim_scene_generate_ex(own, &ro->scene, ro->seed, 0))) {
                        free(own);
                        break;
                    }
                    dx = ocx - 0.5f * (own->obst_x0 + own->obst_x1), dy = ocy - 0.5f * (own->obst_y0 + own->obst_y1);
                    free(own);
                }
                const char *color = ro->side == SIM_SIDE_LEFT ? "#2563eb" : "#ea7a0c";
                put(&t, "<polyline fill='none' stroke='%s' stroke-width='1.2' stroke-opacity='0.7' points='", color);
                /* the trail holds every substep; one point per key press (and the end) draws the same path */
                for (int p = 0; p + 1 < ro->trail_n; p += 2)
                    if ((p / 2) % SIM_SUBSTEPS == 0 || p + 2 >= ro->trail_n)
                        put(&t, "%.1f,%.1f ", vx(&v, ro->trail[p] + dx), vy(&v, ro->trail[p + 1] + dy));
                put(&t, "'/>\n");
                float ex = vx(&v, ro->trail[ro->trail_n - 2] + dx), ey = vy(&v, ro->trail[ro->trail_n - 1] + dy);
                if (ro->out.success)
                    put(&t, "<circle cx='%.1f' cy='%.1f' r='2.5' fill='#16a34a'/>\n", ex, ey);
                else if (ro->out.collision)
                    put(&t, "<path d='M%.1f %.1fl6 6m0 -6l-6 6' stroke='#dc2626' stroke-width='1.5'/>\n", ex - 3, ey - 3);
                else
                    put(&t, "<circle cx='%.1f' cy='%.1f' r='2.5' fill='#777'/>\n", ex, ey);
            }
            put(&t, "</g>\n");
        }
    put(&t, "</svg>\n");
    free(scene);
    if (!rc && t.oom) rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory for the SVG", path);
    if (!rc) rc = file_write_atomic(path, t.buf, t.len);
    free(t.buf);
    return rc;
}
