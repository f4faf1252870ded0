/* Reading the quantisation of a model file (runtime/model_file.h). An int8 model file (written by
 * `mvla quantize`, runtime/quantize.h) is a model file whose "mvla.model" metadata has
 *
 *   "quantization": {"kind": "int8",
 *                    "weights": "per-channel symmetric",
 *                    "activations": "per-tensor asymmetric u8, static",
 *                    "calibration": {"method": "percentile"|"max", "percentile": 99.999, "frames": N, ...},
 *                    "calibration_frames": N,
 *                    "tensors": ["encoder.blocks.0.project.weight", ...],
 *                    "weight_only": ["instruction.embed.weight", ...]}      (optional)
 *
 * (every other key as in an fp32 model file, "quantization": "none" there), and for each name T in
 * "tensors" (a weight of the policy; models/policy_int8.h lists which can be):
 *   T                      I8, the parameter's shape, values -127..127: w = T * T_scale[row]
 *   T_scale                F32 [rows] (rows = the first dimension), finite and > 0
 *   T_input_scale          F32 [1], finite and > 0: the scale of the activation that multiplies T
 *   T_input_zero_point     U8 [1]: its zero point (x = (q - zero_point) * input_scale)
 * Each name W in "weight_only" is stored the same way without the input companions (W I8, W_scale F32
 * [rows]): large matrices that run in fp32 (the instruction embedding and MLP, squeeze-excite, FiLM,
 * a transformer head), kept small on disk and dequantised when the file is opened.
 * Every other parameter is F32 as in an fp32 file; batch norm stays unfolded (the stored int8 weights
 * are the unfolded convs', quantised per output channel, so folding only rescales T_scale).
 * Opening loads the dequantised weights into the policy (its fp32 forward still works) and attaches
 * the int8 engine, which then runs every eval-mode forward. In an ensemble file (model_file.h) the
 * names are the stored, prefixed ones ("members.1.encoder.blocks.0.project.weight"). */
#ifndef MVLA_MODEL_QUANT_H
#define MVLA_MODEL_QUANT_H

#include "io/safetensors.h"
#include "models/policy_int8.h"

#include <jansson.h>

#define QUANT_WEIGHTS "per-channel symmetric"
#define QUANT_ACTIVATIONS "per-tensor asymmetric u8, static"

typedef struct {
    int int8;                 /* 0: an fp32 file */
    int n;                    /* "tensors" then "weight_only" */
    char **names;
    char *weight_only;        /* [n]: 1 for the "weight_only" names */
    StudentQWeight *w;        /* filled by model_quant_load */
    int8_t **q;
    float **scale;
} ModelQuant;

/* The "quantization" value of a model file's metadata (NULL when absent = "none"). */
int model_quant_parse(ModelQuant *mq, const json_t *q, const char *path);
/* Loads parameter pr (its fp32 tensor) from st: dequantised when it is one of mq's tensors, checked
 * and kept for attaching; F32 otherwise (an int8 file's other tensors must be F32). */
int model_quant_load(ModelQuant *mq, const SafeTensors *st, const char *name, Tensor *dst, const char *path);
/* After every parameter (of every member) is loaded and batch norm folded: attaches the int8 engine
 * (int8 files only) to p, with the listed tensors whose names start with prefix (an ensemble member's
 * "members.<i>.", else ""), the prefix removed. */
int model_quant_attach(ModelQuant *mq, StudentPolicy *p, const char *prefix, const char *path);
void model_quant_free(ModelQuant *mq);

#endif
