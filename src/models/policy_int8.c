/* The student's int8 engine: which weights are sites, and building the engine from a folded policy
 * and quantised weights (see policy_int8.h; the forward pass is policy_int8_forward.c). */
#include "models/policy_int8_internal.h"

#include "base/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SITE_CONV, SITE_NECK, SITE_MLP, SITE_LSTM_IH, SITE_LSTM_HH };

/* Where a site's weight lives in the policy, and its layer in the engine. */
typedef struct {
    int kind, index;      /* index: the LSTM layer */
    const ConvBN *cbn;    /* SITE_CONV */
    const Tensor *w;
    QLayer *layer;
} SiteRef;

/* Every site of p in execution order; layers point into q (may be NULL). */
static int site_refs(const StudentPolicy *p, struct StudentInt8 *q, SiteRef *out)
{
    int n = 0;
    const MobileNet *m = &p->enc;
    for (int i = 0; i < m->n_blocks; i++) {
        const MBBlock *b = &m->blocks[i];
        if (b->has_expand)
            out[n++] = (SiteRef){SITE_CONV, 0, &b->expand_cbn, b->expand_cbn.conv.weight, q ? &q->blk[i].expand : NULL};
        out[n++] = (SiteRef){SITE_CONV, 0, &b->project, b->project.conv.weight, q ? &q->blk[i].project : NULL};
    }
    if (m->has_final) out[n++] = (SiteRef){SITE_CONV, 0, &m->final, m->final.conv.weight, q ? &q->final : NULL};
    out[n++] = (SiteRef){SITE_NECK, 0, NULL, p->neck.weight, q ? &q->neck : NULL};
    if (p->cfg.head.kind == HEAD_NONE) out[n++] = (SiteRef){SITE_MLP, 0, NULL, p->mlp.weight, q ? &q->mlp : NULL};
    if (p->cfg.head.kind == HEAD_LSTM)
        for (int l = 0; l < p->lstm.layers; l++) {
            out[n++] = (SiteRef){SITE_LSTM_IH, l, NULL, p->lstm.w_ih[l], q ? &q->ih[l] : NULL};
            out[n++] = (SiteRef){SITE_LSTM_HH, l, NULL, p->lstm.w_hh[l], q ? &q->hh[l] : NULL};
        }
    return n;
}

int student_int8_sites(const StudentPolicy *p, StudentQSite *sites, int max)
{
    SiteRef refs[STUDENT_INT8_MAX_SITES];
    int n = site_refs(p, NULL, refs);
    for (int i = 0; i < n && i < max; i++) {
        const Tensor *w = refs[i].w;
        sites[i] = (StudentQSite){w->name, w->shape[0], (int)(w->numel / w->shape[0])};
    }
    return n < max ? n : max;
}

static void qlayer_free(QLayer *L)
{
    i8_weights_free(&L->w);
    free(L->scale);
    free(L->wf);
    free(L->bias_own);
    memset(L, 0, sizeof *L);
}

static void engine_free(struct StudentInt8 *q)
{
    if (!q) return;
    free(q->stem_w);
    for (int i = 0; i < STUDENT_MAX_BLOCKS; i++) {
        qlayer_free(&q->blk[i].expand);
        qlayer_free(&q->blk[i].project);
        free(q->blk[i].dw_w);
    }
    qlayer_free(&q->final);
    qlayer_free(&q->neck);
    qlayer_free(&q->mlp);
    free(q->neck_cond);
    for (int l = 0; l < LSTM_MAX_LAYERS; l++) {
        qlayer_free(&q->ih[l]);
        qlayer_free(&q->hh[l]);
    }
    free(q);
}

void student_int8_detach(StudentPolicy *p)
{
    engine_free(p->int8);
    p->int8 = NULL;
}

int student_int8_count(const StudentPolicy *p) { return p->int8 ? p->int8->n_int8 : 0; }

void student_int8_set_observer(StudentPolicy *p, StudentInt8Observer fn, void *ctx)
{
    if (!p->int8) return;
    p->int8->observe = fn;
    p->int8->observe_ctx = ctx;
}

int student_int8_set_kernel(StudentPolicy *p, I8Kernel k)
{
    if (!i8_kernel_available(k))
        return mvla_fail(MVLA_ERR_UNSUPPORTED, "int8: kernel %s does not run on this CPU", i8_kernel_name(k));
    if (p->int8) p->int8->kernel = k;
    return 0;
}

/* The neck's image column for channels-last position pos*C + c: the graph flattens [C, h, w]. */
static int neck_column(const StudentPolicy *p, int col)
{
    if (p->cfg.encoder.pool == POOL_AVG) return col;
    int C = p->enc.out_channels, hw = p->enc.out_h * p->enc.out_w;
    return (col % C) * hw + col / C;
}

/* Fills layer L of site r: int8 when qw is given, else fp32. */
static int build_layer(const StudentPolicy *p, const SiteRef *r, int site, const StudentQWeight *qw)
{
    QLayer *L = r->layer;
    const Tensor *w = r->w;
    int rows = w->shape[0], cols = (int)(w->numel / rows);
    int n = rows, k = r->kind == SITE_NECK ? p->pooled_dim : cols;
    L->site = site, L->n = n, L->k = k;
    if (!qw) { /* fp32: a copy in the engine's layout (int8 layers keep only their packed weights) */
        if (!(L->wf = malloc(sizeof(float) * (size_t)n * k))) return MVLA_ERR_NOMEM;
        for (int o = 0; o < n; o++)
            for (int c = 0; c < k; c++)
                L->wf[(long)o * k + c] = w->data[(long)o * cols + (r->kind == SITE_NECK ? neck_column(p, c) : c)];
    }
    switch (r->kind) {
    case SITE_CONV: L->bias = r->cbn->folded_bias ? r->cbn->folded_bias->data : NULL; break;
    case SITE_NECK: L->bias = p->neck.bias ? p->neck.bias->data : NULL; break;
    case SITE_MLP: L->bias = p->mlp.bias ? p->mlp.bias->data : NULL; break;
    case SITE_LSTM_IH: {
        const LSTM *m = &p->lstm;
        if (!(L->bias_own = calloc((size_t)n, sizeof(float)))) return MVLA_ERR_NOMEM;
        for (int o = 0; o < n; o++)
            L->bias_own[o] = (m->b_ih[r->index] ? m->b_ih[r->index]->data[o] : 0.0f) +
                             (m->b_hh[r->index] ? m->b_hh[r->index]->data[o] : 0.0f);
        L->bias = L->bias_own;
        break;
    }
    default: L->bias = NULL; break; /* W_hh: the biases went into W_ih's layer */
    }
    if (!qw) return 0;
    if (!(qw->in_scale > 0) || !isfinite(qw->in_scale) || qw->in_zero < 0 || qw->in_zero > 255)
        return mvla_fail(MVLA_ERR_ARG, "int8: %s: input scale %g, zero point %d: expected a finite scale > 0 and a "
                         "zero point in 0..255", w->name, qw->in_scale, qw->in_zero);
    int8_t *q = malloc((size_t)n * k);
    L->scale = malloc(sizeof(float) * (size_t)n);
    if (!q || !L->scale) {
        free(q);
        return MVLA_ERR_NOMEM;
    }
    const ConvBN *cbn = r->kind == SITE_CONV ? r->cbn : NULL;
    int rc = 0;
    for (int o = 0; o < n && !rc; o++) {
        /* batch norm's factor, as bn_fold_into_conv computes it */
        double bn = 1.0;
        if (cbn && cbn->folded_bias)
            bn = (cbn->gamma ? cbn->gamma->data[o] : 1.0) / sqrt((double)cbn->running_var->data[o] + p->enc.bn_eps);
        float s = qw->scale[o];
        if (!(s > 0) || !isfinite(s))
            rc = mvla_fail(MVLA_ERR_ARG, "int8: %s: scale[%d] = %g: expected a finite value > 0", w->name, o, s);
        L->scale[o] = (float)((double)qw->in_scale * s * bn);
        for (int c = 0; c < k; c++)
            q[(long)o * k + c] = qw->q[(long)o * cols + (r->kind == SITE_NECK ? neck_column(p, c) : c)];
    }
    if (!rc) rc = i8_weights_pack(&L->w, q, n, k, k);
    free(q);
    if (rc) return mvla_fail(rc, "int8: %s: %s", w->name, mvla_error_message());
    L->int8 = 1;
    L->inv_in_scale = 1.0f / qw->in_scale;
    L->zero = qw->in_zero;
    return 0;
}

/* Channels-last copies of the stem's and the depthwise convs' (folded) weights; neck's cond part. */
static int build_fp32_parts(const StudentPolicy *p, struct StudentInt8 *q)
{
    const MobileNet *m = &p->enc;
    const Tensor *sw = m->stem.conv.weight; /* [C0, 3, kh, kw] */
    int C0 = sw->shape[0], taps = (int)(sw->numel / C0);
    if (!(q->stem_w = malloc(sizeof(float) * (size_t)sw->numel))) return MVLA_ERR_NOMEM;
    for (int c = 0; c < C0; c++)
        for (int t = 0; t < taps; t++) q->stem_w[(long)t * C0 + c] = sw->data[(long)c * taps + t];
    for (int i = 0; i < m->n_blocks; i++) {
        const Tensor *dw = m->blocks[i].dw.conv.weight; /* [C, 1, k, k] */
        int C = dw->shape[0], kk = (int)(dw->numel / C);
        if (!(q->blk[i].dw_w = malloc(sizeof(float) * (size_t)dw->numel))) return MVLA_ERR_NOMEM;
        for (int c = 0; c < C; c++)
            for (int t = 0; t < kk; t++) q->blk[i].dw_w[(long)t * C + c] = dw->data[(long)c * kk + t];
    }
    if (p->cfg.fusion == FUSION_CONCAT) {
        int D = p->neck.out, E = p->cfg.instruction.out_dim, cols = p->neck.in;
        if (!(q->neck_cond = malloc(sizeof(float) * (size_t)D * E))) return MVLA_ERR_NOMEM;
        for (int o = 0; o < D; o++)
            for (int e = 0; e < E; e++)
                q->neck_cond[(long)o * E + e] = p->neck.weight->data[(long)o * cols + p->pooled_dim + e];
    }
    return 0;
}

int student_int8_attach(StudentPolicy *p, const StudentQWeight *w, int n)
{
    if (!p->folded || !p->enc.folded)
        return mvla_fail(MVLA_ERR_ARG, "int8: the policy's batch norm must be folded first (student_fold_batchnorm)");
    struct StudentInt8 *q = calloc(1, sizeof *q);
    if (!q) return mvla_fail(MVLA_ERR_NOMEM, "int8: out of memory");
    q->kernel = i8_kernel_best();
    SiteRef refs[STUDENT_INT8_MAX_SITES];
    q->n_sites = site_refs(p, q, refs);
    student_int8_sites(p, q->sites, STUDENT_INT8_MAX_SITES);
    int rc = 0;
    char *used = calloc((size_t)(n > 0 ? n : 1), 1);
    if (!used) rc = MVLA_ERR_NOMEM;
    for (int s = 0; s < q->n_sites && !rc; s++) {
        const StudentQWeight *qw = NULL;
        for (int j = 0; j < n; j++)
            if (!strcmp(w[j].name, q->sites[s].name)) qw = &w[j], used[j] = 1;
        rc = build_layer(p, &refs[s], s, qw);
        if (!rc && qw) q->n_int8++;
    }
    for (int j = 0; j < n && !rc; j++)
        if (!used[j])
            rc = mvla_fail(MVLA_ERR_ARG, "int8: %s: not a weight the int8 engine runs for this architecture",
                           w[j].name);
    free(used);
    if (!rc) rc = build_fp32_parts(p, q);
    if (rc) {
        engine_free(q);
        if (rc == MVLA_ERR_NOMEM) return mvla_fail(rc, "int8: out of memory building the engine");
        return rc;
    }
    student_int8_detach(p);
    p->int8 = q;
    return 0;
}
