"""Reference outputs for tests/test_bench.c: the PyTorch peer of `mvla bench` (bench/peers/student_torch.py,
its model in student_torch_model.py) against mvla on tiny student policies, so that the peer's timings compare the same computation.

For each of three tiny configs covering the architecture's branches (FiLM + SE + flatten + 2-layer
LSTM; concat + avg pool + transformer head + transformer instruction encoder + ensembling; discrete
keys + no temporal head + no final conv + whole-word tokens), random weights (batch norm statistics
included) are written as an mvla model file tests/ref/student_policy_<name>.safetensors, and the
peer's StepRunner steps T frames (RGB, at the model's input size) from the episode start with the
model's default instruction. tests/ref/student_policy.safetensors holds, per config:
  <name>.frames [T, H, W, 3] (byte values), <name>.tokens [n], <name>.outputs [T, K, V],
  <name>.chunks [T, K, 3], <name>.actions [T, 3]
Run with Debian's python3 (python3-torch): /usr/bin/python3 tests/ref/gen_student_policy.py"""
import os
import sys

import numpy as np
import torch

from refgen import HERE, save

sys.path.insert(0, os.path.join(HERE, "..", "..", "bench", "peers"))
import student_torch_model as st  # noqa: E402

T = 7


def block(kernel, expand, out, stride, se, act):
    return {"kernel": kernel, "expand": expand, "out": out, "stride": stride, "se": se, "act": act}


def arch(name, encoder, instruction, fusion, head, action, feature_dim=16):
    enc = {"input_width": 32, "input_height": 24, "width_mult": 1.0, "stem_channels": 8, "stem_act": "hardswish",
           "se_ratio": 0.25, "final_channels": 16, "final_act": "hardswish", "pool": "flatten", "bn_momentum": 0.1,
           "bn_eps": 1e-5, "pixel_mean": [0.485, 0.456, 0.406], "pixel_std": [0.229, 0.224, 0.225]}
    enc.update(encoder)
    ins = {"encoder": "mean", "vocab": 64, "max_tokens": 24, "ngram_min": 2, "ngram_max": 3, "dim": 8, "hidden": 16,
           "out_dim": 8, "layers": 1, "heads": 2, "ff": 16}
    ins.update(instruction)
    hd = {"kind": "lstm", "window": 3, "hidden": 16, "layers": 1, "heads": 2, "ff": 32}
    hd.update(head)
    act = {"kind": "continuous", "chunk": 2, "loss": "l1", "huber_delta": 1.0, "key_value": 1.15, "ensemble": False,
           "ensemble_m": 0.01}
    act.update(action)
    return {"name": name, "feature_dim": feature_dim, "dropout": 0.0, "encoder": enc, "instruction": ins,
            "fusion": fusion, "head": hd, "action": act}


CONFIGS = [
    ("film_lstm", "Navigate around the box on the left and reach the cup",
     arch("film_lstm", {"blocks": [block(3, 8, 8, 2, True, "relu"), block(3, 24, 16, 2, False, "relu"),
                                   block(5, 32, 16, 1, True, "hardswish")]},
          {}, {"kind": "film", "stages": [0, 2]}, {"kind": "lstm", "window": 3, "layers": 2}, {"chunk": 2})),
    ("concat_tf", "왼쪽 상자를 돌아서 컵으로 가세요",
     arch("concat_tf", {"input_width": 24, "input_height": 24, "pool": "avg", "stem_act": "relu",
                        "blocks": [block(3, 16, 16, 2, True, "hardswish"), block(3, 32, 16, 1, False, "relu")]},
          {"encoder": "transformer", "max_tokens": 32}, {"kind": "concat", "stages": [1]},
          {"kind": "transformer", "window": 4, "layers": 2}, {"chunk": 3, "ensemble": True, "ensemble_m": 0.3})),
    ("discrete_none", "go to the bottle",
     arch("discrete_none", {"final_channels": 0, "blocks": [block(3, 16, 16, 2, False, "relu")]},
          {"ngram_min": 0, "ngram_max": 0}, {"kind": "film", "stages": [0]}, {"kind": "none", "window": 1},
          {"kind": "discrete", "chunk": 3, "ensemble": True})),
]


def randomize(policy, seed):
    """Deterministic non-trivial values for every tensor (numpy's generator, one stream per name)."""
    weights = {}
    for i, (name, t) in enumerate(sorted(policy.state_dict().items())):
        if name.endswith("num_batches_tracked"):
            continue
        rng = np.random.default_rng(seed * 1000 + i)
        shape = tuple(t.shape)
        if name.endswith("running_var"):
            v = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("running_mean") or name.endswith(".bias"):
            v = rng.normal(0, 0.1, shape)
        elif ("bn" in name.split(".")[-2] or name.split(".")[-2].startswith("ln")) and name.endswith("weight"):
            v = rng.uniform(0.8, 1.2, shape)
        elif name == "out.action_mean":
            v = np.array([0.05, -0.1, 0.02])
        elif name == "out.action_scale":
            v = np.array([1.3, 0.7, 1.6])
        elif name.endswith("embed.weight") or name in ("head.pad", "head.pos", "instruction.pos"):
            v = rng.normal(0, 0.5, shape)
        elif ".lstm." in name:
            v = rng.uniform(-0.4, 0.4, shape)
        else:  # conv / linear weights: fan-in scaled
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            v = rng.normal(0, 1.0 / np.sqrt(fan_in), shape)
            if name.startswith("film."):
                v = v * 0.5
        weights[name] = np.asarray(v, dtype=np.float32)
    return weights


def main():
    refs = {}
    for k, (name, instruction, cfg) in enumerate(CONFIGS):
        policy = st.StudentPolicy(cfg).eval()
        weights = randomize(policy, 11 + k)
        policy.load_weights(weights)
        path = os.path.join(HERE, f"student_policy_{name}.safetensors")
        st.write_model_file(path, cfg, weights, instruction=instruction)
        print(f"wrote {path}")
        # Reload through the model-file reader, as the peer does.
        policy, _ = st.load_model(path)
        runner = st.StepRunner(policy)
        H, W = cfg["encoder"]["input_height"], cfg["encoder"]["input_width"]
        rng = np.random.default_rng(500 + k)
        base = rng.integers(0, 256, size=(H, W, 3))
        frames = [np.clip(base + rng.integers(-40, 41, size=(H, W, 3)), 0, 255).astype(np.uint8) for _ in range(T)]
        outs, chunks, actions = [], [], []
        with torch.inference_mode():
            runner.set_instruction(instruction)
            for f in frames:
                a, c, o = runner.step_rgb(torch.from_numpy(f))
                outs.append(o.numpy())
                chunks.append(c.numpy())
                actions.append(a.numpy())
        refs[f"{name}.frames"] = np.stack(frames).astype(np.float32)
        refs[f"{name}.tokens"] = np.asarray(runner.tokens, dtype=np.float32)
        refs[f"{name}.outputs"] = np.stack(outs)
        refs[f"{name}.chunks"] = np.stack(chunks)
        refs[f"{name}.actions"] = np.stack(actions)
    save("student_policy", refs)


if __name__ == "__main__":
    main()
