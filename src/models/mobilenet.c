/* MobileNet-class encoder: stem, inverted residual blocks, final 1x1 conv (see mobilenet.h). */
#include "models/mobilenet.h"

#include "base/error.h"
#include "tensor/ops_activation.h"
#include "tensor/ops_elementwise.h"
#include "tensor/ops_norm.h"
#include "tensor/ops_pool.h"
#include "tensor/ops_shape.h"

#include <stdio.h>
#include <string.h>

Tensor *mobilenet_act(Graph *g, ActKind k, Tensor *x) { return k == BLOCK_ACT_HARDSWISH ? op_hardswish(g, x) : op_relu(g, x); }

/* conv (no bias) + BN: "<prefix>.<conv_name>.weight" and "<prefix>.<bn_name>.*". */
static int convbn_init(ConvBN *u, ParamList *p, const char *prefix, const char *conv_name, const char *bn_name,
                       int in, int out, int k, int stride, int groups, Rng *rng)
{
    char name[256];
    memset(u, 0, sizeof *u);
    snprintf(name, sizeof name, "%s.%s", prefix, conv_name);
    int rc = conv2d_init(&u->conv, p, name, in, out, k, stride, k / 2, groups, 0, rng);
    if (rc) return rc;
    struct { Tensor **slot; const char *what; int buffer; float fill; } parts[] = {
        {&u->gamma, "weight", 0, 1.0f}, {&u->beta, "bias", 0, 0.0f},
        {&u->running_mean, "running_mean", 1, 0.0f}, {&u->running_var, "running_var", 1, 1.0f},
    };
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.%s.%s", prefix, bn_name, parts[i].what);
        *parts[i].slot = parts[i].buffer ? params_new_buffer(p, name, 1, &out) : params_new(p, name, 0, 1, &out);
        if (!*parts[i].slot) return mvla_fail(MVLA_ERR_NOMEM, "mobilenet: cannot create %s: %s", name,
                                              mvla_error_message());
        tensor_fill(*parts[i].slot, parts[i].fill);
    }
    return 0;
}

static Tensor *convbn_forward(Graph *g, const MobileNet *m, const ConvBN *u, Tensor *x, int training)
{
    if (u->folded_bias) return op_conv2d(g, x, u->conv.weight, u->folded_bias, u->conv.opts);
    Tensor *y = op_conv2d(g, x, u->conv.weight, NULL, u->conv.opts);
    return op_batchnorm2d(g, y, u->gamma, u->beta, u->running_mean, u->running_var, m->bn_momentum, m->bn_eps,
                          training);
}

static int convbn_fold(ConvBN *u, float eps)
{
    if (u->folded_bias) return 0;
    Tensor *bias = NULL;
    int rc = bn_fold_into_conv(u->conv.weight, &bias, u->gamma, u->beta, u->running_mean, u->running_var, eps);
    if (rc) return rc;
    u->folded_bias = bias;
    return 0;
}

static int conv_out(int n, int k, int s) { return (n + 2 * (k / 2) - k) / s + 1; }

static long convbn_macs(const ConvBN *u, int ho, int wo)
{
    const Tensor *w = u->conv.weight;
    return (long)w->shape[0] * w->shape[1] * w->shape[2] * w->shape[3] * ho * wo;
}

int mobilenet_init(MobileNet *m, ParamList *p, const char *prefix, const EncoderConfig *c, Rng *rng)
{
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->bn_momentum = (float)c->bn_momentum, m->bn_eps = (float)c->bn_eps;
    m->n_blocks = c->n_blocks;
    if (c->n_blocks < 1 || c->n_blocks > STUDENT_MAX_BLOCKS)
        return mvla_fail(MVLA_ERR_ARG, "mobilenet: %d blocks: expected 1..%d", c->n_blocks, STUDENT_MAX_BLOCKS);
    char name[256];
    int h = conv_out(c->input_height, 3, 2), w = conv_out(c->input_width, 3, 2);
    int in = student_scaled_channels(c->stem_channels, c->width_mult), rc;
    snprintf(name, sizeof name, "%s.stem", prefix);
    if ((rc = convbn_init(&m->stem, p, name, "conv", "bn", 3, in, 3, 2, 1, rng))) return rc;
    m->stem_channels = in, m->stem_h = h, m->stem_w = w;
    for (int i = 0; i < c->n_blocks; i++) {
        const BlockConfig *bc = &c->blocks[i];
        MBBlock *b = &m->blocks[i];
        b->in = in;
        b->expand = student_scaled_channels(bc->expand, c->width_mult);
        b->out = student_scaled_channels(bc->out, c->width_mult);
        b->kernel = bc->kernel, b->stride = bc->stride, b->act = bc->act;
        b->has_expand = b->expand != in;
        b->residual = bc->stride == 1 && in == b->out;
        snprintf(name, sizeof name, "%s.blocks.%d", prefix, i);
        if (b->has_expand && (rc = convbn_init(&b->expand_cbn, p, name, "expand", "expand_bn", in, b->expand, 1, 1,
                                               1, rng)))
            return rc;
        if ((rc = convbn_init(&b->dw, p, name, "dw", "dw_bn", b->expand, b->expand, b->kernel, b->stride, b->expand,
                              rng)))
            return rc;
        if (bc->se) {
            char sub[300];
            b->has_se = 1;
            b->se_channels = student_scaled_channels(b->expand, c->se_ratio);
            snprintf(sub, sizeof sub, "%s.se.reduce", name);
            if ((rc = linear_init(&b->se_reduce, p, sub, b->expand, b->se_channels, 1, rng))) return rc;
            snprintf(sub, sizeof sub, "%s.se.expand", name);
            if ((rc = linear_init(&b->se_expand, p, sub, b->se_channels, b->expand, 1, rng))) return rc;
        }
        if ((rc = convbn_init(&b->project, p, name, "project", "project_bn", b->expand, b->out, 1, 1, 1, rng)))
            return rc;
        h = conv_out(h, b->kernel, b->stride), w = conv_out(w, b->kernel, b->stride);
        m->block_h[i] = h, m->block_w[i] = w;
        in = b->out;
    }
    m->out_channels = in, m->out_h = h, m->out_w = w;
    if (c->final_channels > 0) {
        snprintf(name, sizeof name, "%s.final", prefix);
        if ((rc = convbn_init(&m->final, p, name, "conv", "bn", in, c->final_channels, 1, 1, 1, rng))) return rc;
        m->has_final = 1;
        m->out_channels = c->final_channels;
    }
    return 0;
}

void mobilenet_free(MobileNet *m)
{
    tensor_free(m->stem.folded_bias);
    tensor_free(m->final.folded_bias);
    for (int i = 0; i < m->n_blocks; i++) {
        tensor_free(m->blocks[i].expand_cbn.folded_bias);
        tensor_free(m->blocks[i].dw.folded_bias);
        tensor_free(m->blocks[i].project.folded_bias);
    }
    memset(m, 0, sizeof *m);
}

static int check_mode(const MobileNet *m, int training)
{
    if (training && m->folded)
        return mvla_fail(MVLA_ERR_ARG, "mobilenet: batch norm is folded into the convs: training is not possible");
    return 0;
}

Tensor *mobilenet_stem(Graph *g, const MobileNet *m, Tensor *x, int training)
{
    if (!x || check_mode(m, training)) return NULL;
    const EncoderConfig *c = &m->cfg;
    if (x->ndim != 4 || x->shape[1] != 3 || x->shape[2] != c->input_height || x->shape[3] != c->input_width) {
        char s[64];
        mvla_fail(MVLA_ERR_ARG, "mobilenet: input %s: expected [N, 3, %d, %d] (encoder.input_height x input_width)",
                  tensor_shape_str(x, s, sizeof s), c->input_height, c->input_width);
        return NULL;
    }
    return mobilenet_act(g, c->stem_act, convbn_forward(g, m, &m->stem, x, training));
}

Tensor *mobilenet_block(Graph *g, const MobileNet *m, int i, Tensor *x, int training)
{
    if (!x || check_mode(m, training)) return NULL;
    if (i < 0 || i >= m->n_blocks) {
        mvla_fail(MVLA_ERR_ARG, "mobilenet: block %d: expected 0..%d", i, m->n_blocks - 1);
        return NULL;
    }
    const MBBlock *b = &m->blocks[i];
    Tensor *h = x;
    if (b->has_expand) h = mobilenet_act(g, b->act, convbn_forward(g, m, &b->expand_cbn, h, training));
    h = mobilenet_act(g, b->act, convbn_forward(g, m, &b->dw, h, training));
    if (b->has_se && h) {
        Tensor *s = op_global_avgpool(g, h);                                  /* [N, E] */
        s = op_relu(g, linear_forward(g, &b->se_reduce, s));                  /* [N, S] */
        s = op_hardsigmoid(g, linear_forward(g, &b->se_expand, s));           /* [N, E] */
        s = op_reshape(g, s, 4, (int[]){h->shape[0], b->expand, 1, 1});
        h = op_mul(g, h, s);
    }
    h = convbn_forward(g, m, &b->project, h, training);
    return b->residual ? op_add(g, h, x) : h;
}

Tensor *mobilenet_final(Graph *g, const MobileNet *m, Tensor *x, int training)
{
    if (!m->has_final) return x;
    if (!x || check_mode(m, training)) return NULL;
    return mobilenet_act(g, m->cfg.final_act, convbn_forward(g, m, &m->final, x, training));
}

Tensor *mobilenet_forward(Graph *g, const MobileNet *m, Tensor *x, int training)
{
    Tensor *h = mobilenet_stem(g, m, x, training);
    for (int i = 0; i < m->n_blocks && h; i++) h = mobilenet_block(g, m, i, h, training);
    return mobilenet_final(g, m, h, training);
}

int mobilenet_fold_batchnorm(MobileNet *m)
{
    m->folded = 1; /* even a partial fold (out of memory half-way) rules out training */
    int rc = convbn_fold(&m->stem, m->bn_eps);
    for (int i = 0; i < m->n_blocks && !rc; i++) {
        MBBlock *b = &m->blocks[i];
        if (b->has_expand) rc = convbn_fold(&b->expand_cbn, m->bn_eps);
        if (!rc) rc = convbn_fold(&b->dw, m->bn_eps);
        if (!rc) rc = convbn_fold(&b->project, m->bn_eps);
    }
    if (!rc && m->has_final) rc = convbn_fold(&m->final, m->bn_eps);
    if (rc) return mvla_fail(rc, "mobilenet: folding batch norm: %s", mvla_error_message());
    return 0;
}

long mobilenet_macs(const MobileNet *m)
{
    long macs = convbn_macs(&m->stem, m->stem_h, m->stem_w);
    int h = m->stem_h, w = m->stem_w;
    for (int i = 0; i < m->n_blocks; i++) {
        const MBBlock *b = &m->blocks[i];
        if (b->has_expand) macs += convbn_macs(&b->expand_cbn, h, w);
        h = m->block_h[i], w = m->block_w[i];
        macs += convbn_macs(&b->dw, h, w) + convbn_macs(&b->project, h, w);
        if (b->has_se) macs += 2L * b->expand * b->se_channels;
    }
    if (m->has_final) macs += convbn_macs(&m->final, h, w);
    return macs;
}
