#!/usr/bin/python3
"""Checks simulator episodes with h5py (Debian's python3-h5py) against the collector's format,
../shared/REFERENCE.md section 2: what a Python user of the original dataset would read.

usage: sim_h5py_check.py DIR [EXPECTED_COUNT]
Prints one line per problem and exits 1 if there is any; exits 0 with "ok: N files" otherwise.
Run by tests/test_sim_generate.c."""
import glob
import os
import re
import sys

import h5py
import numpy as np

NAME = re.compile(r"^(?:(bottle|basket)_)?episode_(\d{8})_(\d{6})_([12])box_(vert|hori)_(left|right)_"
                  r"(core|variant)_(close|medium|far)(?:_(dawn|evening|night))?$")
KEYS = {(0, 0, 0)} | {(x, y, z) for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1)
                      if (z == 0) or (x == 0 and y == 0)}
ATTRS = {"episode_name": str, "total_duration": np.float64, "num_frames": np.int64, "action_chunk_size": np.int64,
         "obstacle_layout_type": str, "time_period": str, "collection_datetime": str,
         "collection_hour": np.int64, "collection_minute": np.int64}


def check(path, problems):
    mine = []

    def bad(msg):
        mine.append(msg)
        problems.append(f"{os.path.basename(path)}: {msg}")

    stem = os.path.basename(path)[:-3]
    m = NAME.match(stem)
    if not m:
        bad(f"file name does not follow the collector's pattern: {stem}")
        return
    target, date, clock, boxes, layout, side, kind, distance, light = m.groups()
    with h5py.File(path, "r") as f:
        names = set(f.keys())
        if names != {"images", "actions", "action_event_types", "language_instruction"}:
            bad(f"datasets {sorted(names)}")
            return
        for k in names:
            if f[k].compression != "gzip":
                bad(f"dataset {k} is not gzip-compressed")
        img, act, ev, ins = f["images"], f["actions"], f["action_event_types"], f["language_instruction"]
        T = img.shape[0]
        if img.dtype != np.uint8 or img.ndim != 4 or img.shape[3] != 3:
            bad(f"images {img.dtype} {img.shape}, expected uint8 (T, H, W, 3)")
        if img.shape[2] * 9 != img.shape[1] * 16:
            bad(f"images {img.shape[2]}x{img.shape[1]} are not 16:9")
        if act.dtype != np.float32 or act.shape != (T, 3):
            bad(f"actions {act.dtype} {act.shape}, expected float32 ({T}, 3)")
        info = h5py.check_string_dtype(ev.dtype)
        if info is None or info.encoding != "utf-8" or info.length is not None or ev.shape != (T,):
            bad(f"action_event_types {ev.dtype} {ev.shape}, expected variable-length UTF-8 ({T},)")
        if ins.dtype != np.dtype("S256") or ins.shape != (1,):
            bad(f"language_instruction {ins.dtype} {ins.shape}, expected S256 (1,)")
        for k, t in ATTRS.items():
            if k not in f.attrs:
                bad(f"attribute {k} missing")
            elif not isinstance(f.attrs[k], t):
                bad(f"attribute {k} is {type(f.attrs[k]).__name__}, expected {t.__name__}")
        if mine:
            return
        a = f.attrs
        if a["episode_name"] != stem:
            bad(f"episode_name {a['episode_name']} != file stem")
        if a["num_frames"] != T or a["action_chunk_size"] != 8:
            bad(f"num_frames {a['num_frames']} (T = {T}), action_chunk_size {a['action_chunk_size']}")
        if a["obstacle_layout_type"] != layout:
            bad(f"obstacle_layout_type {a['obstacle_layout_type']}, name says {layout}")
        if a["time_period"] != (light or "morning"):
            bad(f"time_period {a['time_period']}, name says {light or 'morning'}")
        dt = a["collection_datetime"]
        if dt != f"{date[:4]}-{date[4:6]}-{date[6:]}T{clock[:2]}:{clock[2:4]}:{clock[4:]}":
            bad(f"collection_datetime {dt} does not match the name")
        if a["collection_hour"] != int(clock[:2]) or a["collection_minute"] != int(clock[2:4]):
            bad("collection_hour / collection_minute do not match the name")
        if not 0.4 * (T - 1) <= a["total_duration"] <= 2.0 * (T - 1):
            bad(f"total_duration {a['total_duration']} for {T} frames")

        events = [e.decode() if isinstance(e, bytes) else e for e in ev[:]]
        actions = act[:]
        if not (8 <= T <= 42):
            bad(f"{T} frames, expected about 18")
        if events[0] != "episode_start" or np.any(actions[0] != 0):
            bad("frame 0 is not episode_start with a zero action")
        if events[-1] != "stop_action" or np.any(actions[-1] != 0):
            bad("the last frame is not stop_action with a zero action")
        for t in range(1, T - 1):
            key = tuple(int(round(v / 1.15)) for v in actions[t])
            if events[t] != "start_action" or key not in KEYS or key == (0, 0, 0) or \
                    np.any(np.abs(np.abs(actions[t]) - 1.15 * np.abs(np.array(key))) > 1e-6):
                bad(f"frame {t}: {events[t]} {actions[t].tolist()} is no teleop key press")
                break
        text = ins[0].decode("utf-8")
        if side not in text:
            bad(f"instruction '{text}' does not name side {side}")
        if (target or "cup") not in text and not (target == "bottle" and "beverage bottle" in text):
            bad(f"instruction '{text}' does not name target {target or 'cup'}")
        frames = img[:]
        if frames.mean() < 10 or frames.std() < 5:
            bad(f"images look empty (mean {frames.mean():.1f}, std {frames.std():.1f})")
        if light == "evening" and frames[..., 2].mean() <= frames[..., 0].mean():
            bad("evening light is orange, so channel 2 (red in BGR) should outweigh channel 0 (blue): RGB order?")
        if np.array_equal(frames[0], frames[1]):
            bad("frames 0 and 1 are byte-identical (the sensor noise should differ)")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    paths = sorted(glob.glob(os.path.join(sys.argv[1], "*.h5")))
    problems = []
    if len(sys.argv) > 2 and len(paths) != int(sys.argv[2]):
        problems.append(f"{len(paths)} files, expected {sys.argv[2]}")
    for p in paths:
        check(p, problems)
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"ok: {len(paths)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
