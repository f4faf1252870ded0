"""Reference values for tests/test_optim.c: AdamW and SGD (momentum, nesterov) trajectories,
clip_grad_norm_, and learning-rate schedules through torch.optim.lr_scheduler.LambdaLR.

Three parameters: "enc.w" [4, 3] (decayed), "enc.b" [4] (not decayed) and "head.w" [2, 4]
(a group of its own: lr * 0.1, weight_decay 0.05). Each step uses fixed gradients grad.<k>.<name>
and its own learning rate lrs[k]; the tests compare the parameters after every step."""
import math

import torch
from refgen import det_tensor, save

STEPS = 5
NAMES = ["enc.w", "enc.b", "head.w"]
SHAPES = {"enc.w": (4, 3), "enc.b": (4,), "head.w": (2, 4)}
LRS = [1e-2, 2e-2, 3e-2, 2e-2, 1e-2]
HEAD_SCALE, HEAD_WD = 0.1, 0.05

out = {}
init = {n: det_tensor(100 + i, *SHAPES[n]) for i, n in enumerate(NAMES)}
grads = [{n: det_tensor(200 + 10 * k + i, *SHAPES[n]) for i, n in enumerate(NAMES)} for k in range(STEPS)]
out.update({f"init.{n}": t for n, t in init.items()})
for k in range(STEPS):
    out.update({f"grad.{k}.{n}": g for n, g in grads[k].items()})
out["lrs"] = torch.tensor(LRS)


def run(label, make_opt, wd):
    params = {n: init[n].clone().requires_grad_() for n in NAMES}
    groups = [
        {"params": [params["enc.w"]], "weight_decay": wd, "scale": 1.0},
        {"params": [params["enc.b"]], "weight_decay": 0.0, "scale": 1.0},
        {"params": [params["head.w"]], "weight_decay": HEAD_WD, "scale": HEAD_SCALE},
    ]
    opt = make_opt([{k: v for k, v in g.items() if k != "scale"} for g in groups])
    for k in range(STEPS):
        for g, group in zip(groups, opt.param_groups):
            group["lr"] = LRS[k] * g["scale"]
        for n in NAMES:
            params[n].grad = grads[k][n].clone()
        opt.step()
        for n in NAMES:
            out[f"{label}.{k}.{n}"] = params[n].detach().clone()


run("adamw", lambda g: torch.optim.AdamW(g, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, foreach=False), 0.01)
run("sgd", lambda g: torch.optim.SGD(g, lr=1e-2, momentum=0.9, foreach=False), 0.01)
run("nesterov", lambda g: torch.optim.SGD(g, lr=1e-2, momentum=0.9, nesterov=True, foreach=False), 0.01)
run("plainsgd", lambda g: torch.optim.SGD(g, lr=1e-2, foreach=False), 0.0)

# clip_grad_norm_ on the step-0 gradients: one clipping, one not
for label, max_norm in (("clip", 1.0), ("noclip", 100.0)):
    params = [init[n].clone().requires_grad_() for n in NAMES]
    for p, n in zip(params, NAMES):
        p.grad = grads[0][n].clone()
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    out[f"{label}.norm"] = norm.reshape(1)
    for p, n in zip(params, NAMES):
        out[f"{label}.{n}"] = p.grad


# schedules: HF's warmup formulas with a floor, as factors of the base rate for LambdaLR
def factor(kind, step, warmup, total, min_ratio):
    if step < warmup:
        return step / max(1, warmup)
    if kind == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    shape = 0.5 * (1.0 + math.cos(math.pi * progress)) if kind == "cosine" else 1.0 - progress
    return min_ratio + (1.0 - min_ratio) * shape


BASE, WARMUP, TOTAL, MIN_LR, N = 3e-4, 4, 20, 3e-5, 24
for kind in ("constant", "cosine", "linear"):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=BASE)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s, kind=kind: factor(kind, s, WARMUP, TOTAL, MIN_LR / BASE))
    lrs = []
    for _ in range(N):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    out[f"sched.{kind}"] = torch.tensor(lrs, dtype=torch.float64)

save("optim", out, {"sched": f"base {BASE} warmup {WARMUP} total {TOTAL} min_lr {MIN_LR} steps {N}"})
