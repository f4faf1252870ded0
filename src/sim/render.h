/* The simulator's camera: a software ray caster of the room (textured floor, walls with a
 * baseboard and a door / picture / window, ceiling), boxes and vertical cylinders (cup, bottle,
 * basket). Diffuse shading from an ambient term, a window light and a ceiling lamp; hard cast
 * shadows and contact darkening on the floor; vignetting; gamma; sensor noise. Deterministic: the
 * same scene, pose, camera and noise seed give the same bytes (with any thread count). */
#ifndef MVLA_SIM_RENDER_H
#define MVLA_SIM_RENDER_H

#include "sim/robot.h"
#include "sim/scene.h"

#include <stdint.h>

/* 16:9 like the robot's 1280x720 camera; small by default so datasets stay small. */
#define SIM_DEFAULT_WIDTH 160
#define SIM_DEFAULT_HEIGHT 90

typedef struct {
    int width, height;
    float hfov_deg;    /* horizontal field of view (70) */
    float height_m;    /* lens height above the floor (0.40) */
    float pitch_deg;   /* negative looks down (-5) */
    float forward_m;   /* lens ahead of the robot's centre (0.12) */
    float noise_scale; /* 1: the scene's sensor noise; 0: none */
} SimCamera;

void sim_camera_default(SimCamera *c, int width, int height);

/* Object-id map values (ids argument of sim_render). */
#define SIM_ID_FLOOR 0
#define SIM_ID_WALL 1
#define SIM_ID_CEILING 2
#define SIM_ID_OBJECT 16 /* + index into scene->obj */

/* Renders the view from pose into out (height x width x 3 bytes, row 0 at the top, channel_order
 * POLICY_BGR (0) or POLICY_RGB (1)). ids: NULL, or height x width bytes of SIM_ID_* codes.
 * Fails (MVLA_ERR_ARG) only for a camera out of range. */
int sim_render(const SimScene *s, const SimPose *pose, const SimCamera *cam, uint64_t noise_seed, int channel_order,
               uint8_t *out, uint8_t *ids);

#endif
