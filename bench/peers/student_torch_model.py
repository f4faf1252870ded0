"""The student policy (src/models/policy.h) in eager PyTorch, for bench/peers/student_torch.py and
tests/ref/gen_student_policy.py: built from a model file's "mvla.model" metadata (the architecture object
as mvla writes it, every key present), its modules named so that their state_dict keys are mvla's
checkpoint names (load_weights checks that every tensor is there and nothing else), and StepRunner,
mvla's StudentRunner: each new frame encoded once into a ring of the last W features, the temporal head
over that window (frames before the episode start: the learned head.pad), the same temporal ensembling.
Also: a small safetensors reader/writer (numpy), the instruction tokenizer (src/models/instruction.c),
write_model_file (an mvla model file from an architecture and weights)."""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MODEL_META_KEY = "mvla.model"
ACTION_KEYS = "wsadqezcrt "
KEY_SIGNS = {"w": (1, 0, 0), "s": (-1, 0, 0), "a": (0, 1, 0), "d": (0, -1, 0), "q": (1, 1, 0), "e": (1, -1, 0),
             "z": (-1, 1, 0), "c": (-1, -1, 0), "r": (0, 0, 1), "t": (0, 0, -1), " ": (0, 0, 0)}

# ---------------------------------------------------------------- safetensors

NP_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I8": np.int8, "U8": np.uint8,
             "I16": np.int16, "I32": np.int32, "I64": np.int64, "BOOL": np.bool_}


def read_safetensors(path):
    """{name: numpy array}, {metadata key: text} of a .safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        dt = NP_DTYPES.get(info["dtype"])
        if dt is None:
            raise ValueError(f"{path}: tensor {name}: dtype {info['dtype']} is not supported here")
        out[name] = np.frombuffer(raw[base + b:base + e], dtype=dt).reshape(info["shape"]).copy()
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: numpy array} (dtypes of NP_DTYPES) and string metadata, atomically."""
    inv = {np.dtype(v): k for k, v in NP_DTYPES.items()}
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        data = arr.tobytes()
        header[name] = {"dtype": inv[arr.dtype], "shape": list(arr.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))
    os.replace(path + ".tmp", path)


# ---------------------------------------------------------------- tokenizer (src/models/instruction.c)

def _is_separator(cp):
    if cp < 0x80:
        ch = chr(cp)
        return not (("a" <= ch <= "z") or ("A" <= ch <= "Z") or ("0" <= ch <= "9"))
    return cp == 0xA0 or 0x2000 <= cp <= 0x206F or 0x3000 <= cp <= 0x303F or 0xFF01 <= cp <= 0xFF0F


def _token_id(icfg, kind, cps):
    h = 0xcbf29ce484222325
    mask = (1 << 64) - 1
    for b in kind.encode() + "".join(chr(c) for c in cps).encode("utf-8"):
        h = ((h ^ b) * 0x100000001b3) & mask
    return 2 + h % (icfg["vocab"] - 2)


def tokenize(icfg, text):
    """The hashed word + n-gram token ids of text (instr_tokenize's)."""
    words, cur = [], None
    for ch in text or "":
        cp = ord(ch)
        if ord("A") <= cp <= ord("Z"):
            cp += 32
        if _is_separator(cp):
            if cur is not None:
                words.append(cur)
                cur = None
            continue
        if cur is None:
            cur = []
        cur.append(cp)
    if cur is not None:
        words.append(cur)
    if not words:
        return [1]
    limit = min(icfg["max_tokens"], 256)
    ids = [_token_id(icfg, "w", w) for w in words][:limit]
    lo, hi = icfg["ngram_min"], icfg["ngram_max"]
    for w in words:
        marked = [ord("<")] + w + [ord(">")]
        for n in range(lo, hi + 1) if lo >= 1 else []:
            for k in range(0, len(marked) - n + 1):
                if len(ids) >= limit:
                    return ids
                ids.append(_token_id(icfg, "g", marked[k:k + n]))
    return ids[:limit]


# ---------------------------------------------------------------- modules (names = mvla's checkpoint names)

def scaled_channels(c, mult):
    v = c * mult
    r = int(v + 4) // 8 * 8
    r = max(r, 8)
    if r < 0.9 * v:
        r += 8
    return r


def act(kind, x):
    return F.hardswish(x) if kind == "hardswish" else F.relu(x)


class Stem(nn.Module):
    def __init__(self, cin, cout, eps):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=eps)

    def forward(self, x):
        return self.bn(self.conv(x))


class SE(nn.Module):
    def __init__(self, ch, sq):
        super().__init__()
        self.reduce = nn.Linear(ch, sq)
        self.expand = nn.Linear(sq, ch)

    def forward(self, x):
        s = x.mean((2, 3))
        s = F.hardsigmoid(self.expand(F.relu(self.reduce(s))))
        return x * s[:, :, None, None]


class Block(nn.Module):
    def __init__(self, cin, bc, mult, se_ratio, eps):
        super().__init__()
        e, o, k, s = scaled_channels(bc["expand"], mult), scaled_channels(bc["out"], mult), bc["kernel"], bc["stride"]
        self.act, self.has_expand, self.residual = bc["act"], e != cin, s == 1 and cin == o
        self.out_channels = o
        if self.has_expand:
            self.expand = nn.Conv2d(cin, e, 1, 1, 0, bias=False)
            self.expand_bn = nn.BatchNorm2d(e, eps=eps)
        self.dw = nn.Conv2d(e, e, k, s, k // 2, groups=e, bias=False)
        self.dw_bn = nn.BatchNorm2d(e, eps=eps)
        self.se = SE(e, scaled_channels(e, se_ratio)) if bc["se"] else None
        self.project = nn.Conv2d(e, o, 1, 1, 0, bias=False)
        self.project_bn = nn.BatchNorm2d(o, eps=eps)

    def forward(self, x):
        h = x
        if self.has_expand:
            h = act(self.act, self.expand_bn(self.expand(h)))
        h = act(self.act, self.dw_bn(self.dw(h)))
        if self.se is not None:
            h = self.se(h)
        h = self.project_bn(self.project(h))
        return h + x if self.residual else h


class Final(nn.Module):
    def __init__(self, cin, cout, eps):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, 1, 0, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=eps)

    def forward(self, x):
        return self.bn(self.conv(x))


class Encoder(nn.Module):
    def __init__(self, ec):
        super().__init__()
        eps, mult = ec["bn_eps"], ec["width_mult"]
        c = scaled_channels(ec["stem_channels"], mult)
        self.stem_act, self.final_act = ec["stem_act"], ec["final_act"]
        self.stem = Stem(3, c, eps)
        blocks = []
        self.sizes = []
        h, w = (ec["input_height"] - 1) // 2 + 1, (ec["input_width"] - 1) // 2 + 1
        for bc in ec["blocks"]:
            b = Block(c, bc, mult, ec["se_ratio"], eps)
            blocks.append(b)
            c = b.out_channels
            h, w = (h - 1) // bc["stride"] + 1, (w - 1) // bc["stride"] + 1
        self.blocks = nn.ModuleList(blocks)
        self.final = Final(c, ec["final_channels"], eps) if ec["final_channels"] > 0 else None
        self.out_channels = ec["final_channels"] if self.final is not None else c
        self.out_h, self.out_w = h, w


class Attention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.q, self.k, self.v, self.out = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)


class MLP(nn.Module):
    def __init__(self, d_in, d_hidden, d_out):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d_in, d_hidden), nn.Linear(d_hidden, d_out)


class TLayer(nn.Module):
    def __init__(self, d, ff):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-5), nn.LayerNorm(d, eps=1e-5)
        self.attn, self.mlp = Attention(d), MLP(d, ff, d)


class TinyTransformer(nn.Module):
    """Pre-norm encoder (src/models/tiny_transformer.h); masked queries that see no key output zeros."""

    def __init__(self, d, heads, ff, layers):
        super().__init__()
        self.heads = heads
        self.layers = nn.ModuleList(TLayer(d, ff) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d, eps=1e-5)

    def attention(self, a, x, causal, key_padding):
        B, T, D = x.shape
        H, hd = self.heads, D // self.heads
        q = a.q(x).view(B, T, H, hd).transpose(1, 2)
        k = a.k(x).view(B, T, H, hd).transpose(1, 2)
        v = a.v(x).view(B, T, H, hd).transpose(1, 2)
        s = q @ k.transpose(-1, -2) * (1.0 / math.sqrt(hd))
        masked = torch.zeros(B, 1, T, T, dtype=torch.bool)
        if causal:
            masked = masked | torch.ones(T, T, dtype=torch.bool).triu(1)
        if key_padding is not None:
            masked = masked | key_padding[:, None, None, :]
        if causal or key_padding is not None:
            s = s.masked_fill(masked, float("-inf"))
            p = torch.softmax(s, -1).masked_fill(masked.all(-1, keepdim=True), 0.0)
        else:
            p = torch.softmax(s, -1)
        return (p @ v).transpose(1, 2).reshape(B, T, D)

    def forward(self, x, causal, key_padding=None):
        for L in self.layers:
            h = L.ln1(x)
            x = x + L.attn.out(self.attention(L.attn, h, causal, key_padding))
            h = L.ln2(x)
            x = x + L.mlp.fc2(F.gelu(L.mlp.fc1(h)))
        return self.ln_f(x)


class Instruction(nn.Module):
    def __init__(self, ic):
        super().__init__()
        self.kind = ic["encoder"]
        self.embed = nn.Embedding(ic["vocab"], ic["dim"])
        if self.kind == "transformer":
            self.pos = nn.Parameter(torch.zeros(ic["max_tokens"], ic["dim"]))
            self.transformer = TinyTransformer(ic["dim"], ic["heads"], ic["ff"], ic["layers"])
        self.mlp = MLP(ic["dim"], ic["hidden"], ic["out_dim"])

    def forward(self, ids):
        x = self.embed(torch.tensor([ids], dtype=torch.long))
        if self.kind == "transformer":
            x = self.transformer(x + self.pos[:len(ids)], causal=False)
        return self.mlp.fc2(F.relu(self.mlp.fc1(x.mean(1))))


class Film(nn.Module):
    def __init__(self, e, c):
        super().__init__()
        self.gamma, self.beta = nn.Linear(e, c), nn.Linear(e, c)

    def forward(self, x, cond):
        return x * (1 + self.gamma(cond))[:, :, None, None] + self.beta(cond)[:, :, None, None]


class Head(nn.Module):
    def __init__(self, hc, d):
        super().__init__()
        self.kind = hc["kind"]
        self.pad = nn.Parameter(torch.zeros(d))
        if self.kind == "none":
            self.mlp = nn.Linear(d, hc["hidden"])
            self.dim = hc["hidden"]
        elif self.kind == "lstm":
            self.lstm = nn.LSTM(d, hc["hidden"], num_layers=hc["layers"], batch_first=True)
            self.dim = hc["hidden"]
        else:
            self.pos = nn.Parameter(torch.zeros(hc["window"], d))
            self.transformer = TinyTransformer(d, hc["heads"], hc["ff"], hc["layers"])
            self.dim = d


class Out(nn.Linear):
    def __init__(self, d_in, d_out):
        super().__init__(d_in, d_out)
        self.register_buffer("action_mean", torch.zeros(3))
        self.register_buffer("action_scale", torch.ones(3))


class StudentPolicy(nn.Module):
    """The student policy of an "mvla.model" architecture object (every key present, as mvla writes it)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        ec, ic = cfg["encoder"], cfg["instruction"]
        D, E = cfg["feature_dim"], ic["out_dim"]
        self.encoder = Encoder(ec)
        self.instruction = Instruction(ic)
        self.fusion = cfg["fusion"]["kind"]
        self.film_of_block = {}
        if self.fusion == "film":
            films = []
            for j, blk in enumerate(sorted(cfg["fusion"]["stages"])):
                films.append(Film(E, self.encoder.blocks[blk].out_channels))
                self.film_of_block[blk] = j
            self.film = nn.ModuleList(films)
        pooled = self.encoder.out_channels * (1 if ec["pool"] == "avg" else self.encoder.out_h * self.encoder.out_w)
        self.neck = nn.Linear(pooled + (E if self.fusion == "concat" else 0), D)
        self.head = Head(cfg["head"], D)
        self.discrete = cfg["action"]["kind"] == "discrete"
        self.out_dim = len(ACTION_KEYS) if self.discrete else 3
        self.K = cfg["action"]["chunk"]
        self.out = Out(self.head.dim, self.K * self.out_dim)
        self.register_buffer("pixel_mean", torch.tensor(ec["pixel_mean"], dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(ec["pixel_std"], dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)

    def load_weights(self, weights):
        """Loads {checkpoint name: array}; every tensor of the model must be there and nothing else."""
        state = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in weights.items()}
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [m for m in missing if not m.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise ValueError(f"weights do not fit the architecture: missing {missing[:5]}, unexpected {unexpected[:5]}")

    def normalise(self, rgb):
        """RGB uint8 [N, H, W, 3] tensor -> normalised [N, 3, H, W] (student_frame_from_rgb)."""
        x = rgb.permute(0, 3, 1, 2).float() / 255.0
        return (x - self.pixel_mean) / self.pixel_std

    def frame_features(self, x, cond):
        e = self.encoder
        h = act(e.stem_act, e.stem(x))
        for i, b in enumerate(e.blocks):
            h = b(h)
            if i in self.film_of_block:
                h = self.film[self.film_of_block[i]](h, cond)
        if e.final is not None:
            h = act(e.final_act, e.final(h))
        h = h.mean((2, 3)) if self.cfg["encoder"]["pool"] == "avg" else h.flatten(1)
        if self.fusion == "concat":
            h = torch.cat([h, cond], 1)
        return F.hardswish(self.neck(h))

    def run_head(self, feats, mask):
        """feats [B, W, D], mask None or bool [B, W] (True: a real frame) -> [B, K, out_dim]."""
        hd = self.head
        B, W, D = feats.shape
        if hd.kind == "none":
            h = F.relu(hd.mlp(feats.reshape(B, D)))
        elif hd.kind == "lstm":
            _, (hn, _) = hd.lstm(feats)
            h = hn[-1]
        else:
            x = hd.transformer(feats + hd.pos, causal=True, key_padding=None if mask is None else ~mask)
            h = x[:, -1]
        y = self.out(h).view(B, self.K, self.out_dim)
        return y if self.discrete else torch.tanh(y)

    def to_actions(self, out):
        """[K, out_dim] -> raw actions [K, 3] (student_output_to_actions)."""
        if self.discrete:
            kv = self.cfg["action"]["key_value"]
            return torch.tensor([[s * kv for s in KEY_SIGNS[ACTION_KEYS[int(i)]]] for i in out.argmax(-1)],
                                dtype=torch.float32)
        return self.out.action_mean + self.out.action_scale * out


def fuse_batchnorm(policy):
    """Folds every conv + batch norm pair (torch.nn.utils.fusion.fuse_conv_bn_eval)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    e = policy.encoder
    pairs = [(e.stem, "conv", "bn")] + ([(e.final, "conv", "bn")] if e.final is not None else [])
    for b in e.blocks:
        if b.has_expand:
            pairs.append((b, "expand", "expand_bn"))
        pairs += [(b, "dw", "dw_bn"), (b, "project", "project_bn")]
    for mod, conv, bn in pairs:
        setattr(mod, conv, fuse_conv_bn_eval(getattr(mod, conv), getattr(mod, bn)))
        setattr(mod, bn, nn.Identity())
    return policy


class StepRunner:
    """mvla's StudentRunner in PyTorch: one frame in, one action out (src/models/policy_runner.c)."""

    def __init__(self, policy):
        self.p = policy
        c = policy.cfg
        self.W, self.D, self.K = c["head"]["window"], c["feature_dim"], c["action"]["chunk"]
        self.ensemble, self.m = c["action"]["ensemble"], c["action"]["ensemble_m"]
        self.set_instruction("")

    def set_instruction(self, text):
        self.tokens = tokenize(self.p.cfg["instruction"], text)
        self.instr = self.p.instruction(self.tokens)
        self.reset()

    def reset(self):
        self.ring = torch.zeros(self.W, self.D)
        self.seen = 0
        self.history = []  # past chunks: raw actions, or key probabilities (discrete)

    def encode(self, x):
        """x [1, 3, H, W] normalised -> this frame's feature, into the ring."""
        f = self.p.frame_features(x, self.instr)
        self.ring[self.seen % self.W] = f[0]
        self.seen += 1

    def head(self):
        """The head over the window of cached features -> (action [3], chunk [K, 3], output [K, V])."""
        W, p = self.W, self.p
        idx = [self.seen - W + t for t in range(W)]
        real = torch.tensor([i >= 0 for i in idx])
        win = self.ring[[i % W if i >= 0 else 0 for i in idx]]
        padded = not bool(real.all())
        if padded:
            win = torch.where(real[:, None], win, p.head.pad[None, :])
        out = p.run_head(win[None], real[None] if padded else None)[0]
        chunk = p.to_actions(out)
        self.history.append(torch.softmax(out, -1) if p.discrete else chunk)
        self.history = self.history[-self.K:]
        action = self.ensembled() if self.ensemble else chunk[0]
        return action, chunk, out

    def ensembled(self):
        n = len(self.history)
        acc, wsum = 0, 0.0
        for j in range(n):  # the chunk j steps old predicts this step at its entry j
            w = math.exp(-self.m * (n - 1 - j))
            acc = acc + w * self.history[n - 1 - j][j]
            wsum += w
        acc = acc / wsum
        return self.p.to_actions(acc[None])[0] if self.p.discrete else acc

    def step_rgb(self, rgb):
        """rgb: uint8 tensor [H, W, 3] at the model's input size."""
        self.encode(self.p.normalise(rgb[None]))
        return self.head()


def build_policy(meta_text):
    """(StudentPolicy, model metadata dict) from a model file's "mvla.model" text (weights not loaded)."""
    meta = json.loads(meta_text)
    if meta.get("format_version", 0) > 1:
        raise ValueError(f"model format_version {meta['format_version']} is newer than this peer knows (1)")
    q = meta.get("quantization", "none")
    if q != "none":
        raise ValueError(f"quantization {q!r}: the PyTorch peer runs fp32 model files only")
    return StudentPolicy(meta["architecture"]).eval(), meta


def load_model(path):
    weights, md = read_safetensors(path)
    if MODEL_META_KEY not in md:
        raise ValueError(f"{path}: no {MODEL_META_KEY} metadata: not an mvla model file")
    policy, meta = build_policy(md[MODEL_META_KEY])
    policy.load_weights(weights)
    return policy, meta


def write_model_file(path, arch, weights, instruction="", preprocess=None, limits=None):
    """An mvla model file (src/runtime/model_file.h's layout) from an architecture dict and weights."""
    ec = arch["encoder"]
    pre = preprocess or {"width": ec["input_width"], "height": ec["input_height"], "crop": "stretch",
                         "filter": "area"}
    kv = arch["action"]["key_value"]
    meta = {"format_version": 1, "architecture": arch,
            "preprocessing": dict(channels="RGB", pixel_mean=ec["pixel_mean"], pixel_std=ec["pixel_std"], **pre),
            "action": {"names": ["linear_x", "linear_y", "angular_z"], "units": ["m/s", "m/s", "rad/s"],
                       "limits": limits or [kv, kv, kv], "kind": arch["action"]["kind"],
                       "chunk": arch["action"]["chunk"], "keys": ACTION_KEYS, "key_value": kv,
                       "mean": [float(x) for x in weights["out.action_mean"]],
                       "scale": [float(x) for x in weights["out.action_scale"]]},
            "instruction": {"default": instruction, "language": "en"}, "quantization": "none",
            "batchnorm": "unfolded", "provenance": {}}
    write_safetensors(path, {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()},
                      {MODEL_META_KEY: json.dumps(meta)})
