/* Simulated scenes of the Mobile VLA task: a room with a textured floor and walls, one or two box
 * obstacles between the robot and a target (cup or beverage bottle on a stand, or a gray basket),
 * optional distractors, and a lighting preset. Everything is drawn from one seed: the same
 * (spec, seed) gives the same scene, and every size, colour, texture and position varies within
 * its scenario so no two scenes look alike.
 *
 * World frame (metres): x forward from the robot's start toward the target, y to the robot's left,
 * z up; the floor is z = 0 and the robot starts near (0, 0) facing +x. The instruction's side is
 * not part of the scene: left and right runs of one seed share their scene. */
#ifndef MVLA_SIM_SCENE_H
#define MVLA_SIM_SCENE_H

#include <stdint.h>

typedef enum { SIM_LIGHT_DAWN, SIM_LIGHT_MORNING, SIM_LIGHT_EVENING, SIM_LIGHT_NIGHT, SIM_LIGHT_COUNT } SimLighting;
typedef enum { SIM_DIST_CLOSE, SIM_DIST_MEDIUM, SIM_DIST_FAR, SIM_DIST_COUNT } SimDistance;
typedef enum { SIM_LAYOUT_VERT, SIM_LAYOUT_HORI, SIM_LAYOUT_COUNT } SimLayout;
typedef enum { SIM_TARGET_CUP, SIM_TARGET_BOTTLE, SIM_TARGET_BASKET, SIM_TARGET_COUNT } SimTarget;
typedef enum { SIM_SIDE_LEFT, SIM_SIDE_RIGHT, SIM_SIDE_COUNT } SimSide;

/* The robot's footprint radius (m) and the clearance the expert keeps from obstacles. */
#define SIM_ROBOT_RADIUS 0.18f
#define SIM_CLEARANCE 0.10f
/* The goal spot keeps this gap (m) between the robot's footprint and the target's front, so the
 * camera still sees the target whole when the robot stops. */
#define SIM_STANDOFF 0.32f

typedef struct {
    int boxes;            /* 1 or 2 */
    SimLayout layout;     /* vert: long side along the path; hori: across it */
    SimDistance distance; /* gap between the robot's start and the obstacles */
    SimLighting lighting;
    SimTarget target;
    int distractors;      /* 0..SIM_MAX_DISTRACTORS objects away from the route */
} SimSceneSpec;

#define SIM_MAX_DISTRACTORS 3

typedef enum { SIM_SHAPE_BOX, SIM_SHAPE_CYLINDER } SimShape;
typedef enum { SIM_ROLE_OBSTACLE, SIM_ROLE_TARGET, SIM_ROLE_STAND, SIM_ROLE_DISTRACTOR } SimRole;
/* How the renderer paints a surface. */
typedef enum { SIM_MAT_PLAIN, SIM_MAT_CARDBOARD, SIM_MAT_WOOD, SIM_MAT_CUP, SIM_MAT_BOTTLE, SIM_MAT_BASKET } SimMaterial;

typedef struct {
    SimShape shape;
    SimRole role;
    SimMaterial material;
    float cx, cy, yaw;  /* footprint centre; yaw (rad) for boxes */
    float hx, hy;       /* box half extents in its own frame; cylinders: radius in hx (= hy) */
    float z0, z1;       /* vertical extent */
    float color[3];     /* albedo, linear 0..1 */
    float color2[3];    /* tape (cardboard), label (bottle), rim (cup) */
    float band0, band1; /* bottle label / cup stripe z range; cardboard tape half width (band0) */
} SimObject;

#define SIM_MAX_OBJECTS 12

typedef struct {
    float ambient[3];   /* linear RGB */
    float sun_dir[3];   /* unit vector toward the window light */
    float sun[3];       /* its colour x intensity (0: off) */
    float lamp_pos[3];  /* ceiling lamp */
    float lamp[3];      /* its colour x intensity (0: off) */
    float exposure;
    float noise_sigma;  /* sensor noise, 8-bit levels */
    float shadow;       /* how much of the direct light a shadow removes, 0..1 */
} SimLight;

#define SIM_FLOOR_TEX 256 /* texels per side; the texture tiles every floor_tile metres */
#define SIM_WALL_TEX 128
#define SIM_DETAIL_TEX 64

typedef struct {
    float u0, u1, z0, z1; /* along the wall (m from its start) and height */
    float color[3];
} SimDecal;

typedef struct {
    SimSceneSpec spec;
    uint64_t seed;
    float room_x0, room_x1, room_y0, room_y1, room_h;
    int n_objects;
    SimObject obj[SIM_MAX_OBJECTS];
    int n_obstacles;        /* obj[0 .. n_obstacles) are the obstacles */
    int target_index;       /* the cup / bottle / basket */
    int stand_index;        /* its stand, or -1 */
    float obst_x0, obst_x1, obst_y0, obst_y1; /* union of the obstacles' footprints (axis-aligned) */
    float target_x, target_y;
    float goal_x, goal_y;   /* the spot in front of the target where the robot should stop */
    float start_x, start_y, start_yaw;
    SimLight light;
    int floor_kind;         /* 0 planks, 1 tiles, 2 carpet, 3 concrete */
    float floor_tile;       /* metres covered by one copy of the floor texture */
    float wall_color[4][3]; /* walls: 0 at x = x1 (ahead), 1 at y = y1 (left), 2 at x = x0, 3 at y = y0 */
    float base_color[3];    /* baseboard */
    float ceiling_color[3];
    SimDecal decal[4];      /* one door / picture / window per wall */
    uint8_t floor_tex[SIM_FLOOR_TEX * SIM_FLOOR_TEX * 3]; /* sRGB-encoded albedo, RGB */
    uint8_t wall_tex[SIM_WALL_TEX * SIM_WALL_TEX];        /* brightness variation, 128 = 1.0 */
    uint8_t detail_tex[SIM_DETAIL_TEX * SIM_DETAIL_TEX];  /* object surface variation, 128 = 1.0 */
} SimScene;

/* Fills *scene (a large struct: allocate it on the heap) from spec and seed. Fails only on a
 * spec out of range (MVLA_ERR_ARG). */
int sim_scene_generate(SimScene *scene, const SimSceneSpec *spec, uint64_t seed);
/* Same; textures 0 skips the textures (the costly part) for uses that never render: the geometry,
 * colours and lighting are identical. */
int sim_scene_generate_ex(SimScene *scene, const SimSceneSpec *spec, uint64_t seed, int textures);

/* Mirrors the scene left/right (y -> -y), textures included: a left run in the mirror is a right
 * run in the original. */
void sim_scene_mirror(SimScene *scene);

/* "1box_vert", "2box_hori", ... */
void sim_scene_layout_text(const SimSceneSpec *spec, char *buf, int n);
/* "1box_vert_left", ...: the collector's scenario label. */
void sim_scenario_text(int boxes, SimLayout layout, SimSide side, char *buf, int n);

const char *sim_lighting_name(SimLighting l);   /* dawn, morning, evening, night */
const char *sim_distance_name(SimDistance d);   /* close, medium, far */
const char *sim_layout_name(SimLayout l);       /* vert, hori */
const char *sim_target_name(SimTarget t);       /* cup, bottle, basket */
const char *sim_side_name(SimSide s);           /* left, right */
/* Name -> value; -1 if unknown. */
int sim_lighting_parse(const char *s);
int sim_distance_parse(const char *s);
int sim_layout_parse(const char *s);
int sim_target_parse(const char *s);
int sim_side_parse(const char *s);

/* The instruction for a target and side, in English ("en") or Korean ("ko"), worded like the
 * collector's (REFERENCE.md section 2). */
const char *sim_instruction(SimTarget target, SimSide side, const char *lang);
/* The side an instruction names: SIM_SIDE_LEFT / SIM_SIDE_RIGHT, or -1 if it names neither
 * (English left/right, Korean 왼쪽/오른쪽). */
int sim_instruction_side(const char *instruction);

/* A seed derived from a base seed and up to three indices (splitmix-style mixing). */
uint64_t sim_mix_seed(uint64_t base, uint64_t a, uint64_t b, uint64_t c);

#endif
