#!/usr/bin/python3
"""Checks with h5py that an episode written by mvla's episode_write has the collector's structure.

Usage: /usr/bin/python3 tests/h5py_roundtrip.py FILE
Exit 0 when every assertion holds, 1 (with the failed assertion) otherwise, 77 when h5py is missing.
FILE is the episode tests/test_episode.c (test ep_writer_h5py_reads_back) writes; the expected values
below are the ones that test uses:
  T=6 frames of 10 x 14, pixel(t, y, x, c) = (t * 37 + y * 11 + x * 3 + c * 71) % 256
  actions[t] = (0.25 * t, -0.5 * t, 1.15 if t % 2 else 0)
  events: episode_start, then start_action (test sets them explicitly)
  instruction "가장 왼쪽 외곽으로 돌아 컵까지 가세요" (UTF-8 bytes in S256)
  attributes: episode_name 'roundtrip', total_duration 2.125, num_frames 6, action_chunk_size 8,
  obstacle_layout_type 'vert', time_period 'night', collection_datetime '2025-02-03T04:05:06',
  collection_hour 4, collection_minute 5
"""
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:
    print('h5py_roundtrip: %s' % e)
    sys.exit(77)


def main(path):
    T, H, W = 6, 10, 14
    with h5py.File(path, 'r') as f:
        assert set(f.keys()) == {'images', 'actions', 'action_event_types', 'language_instruction'}, list(f.keys())

        im = f['images']
        assert im.dtype == np.uint8 and im.shape == (T, H, W, 3), (im.dtype, im.shape)
        assert im.chunks == (1, H, W, 3) and im.compression == 'gzip', (im.chunks, im.compression)
        t, y, x, c = np.meshgrid(np.arange(T), np.arange(H), np.arange(W), np.arange(3), indexing='ij')
        assert np.array_equal(im[...], ((t * 37 + y * 11 + x * 3 + c * 71) % 256).astype(np.uint8))

        ac = f['actions']
        assert ac.dtype == np.float32 and ac.shape == (T, 3) and ac.compression == 'gzip', (ac.dtype, ac.shape)
        tt = np.arange(T, dtype=np.float32)
        want = np.stack([0.25 * tt, -0.5 * tt, np.where(tt % 2 == 1, 1.15, 0.0)], axis=1).astype(np.float32)
        assert np.array_equal(ac[...], want), ac[...]

        ev = f['action_event_types']
        info = h5py.check_string_dtype(ev.dtype)
        assert info is not None and info.encoding == 'utf-8' and info.length is None, info
        assert ev.shape == (T,)
        assert [s.decode() for s in ev[...]] == ['episode_start'] + ['start_action'] * (T - 1), ev[...]

        li = f['language_instruction']
        assert li.dtype == np.dtype('S256') and li.shape == (1,), (li.dtype, li.shape)
        assert li[0].decode('utf-8') == '가장 왼쪽 외곽으로 돌아 컵까지 가세요', li[0]

        a = f.attrs
        want_attrs = {'episode_name': 'roundtrip', 'total_duration': 2.125, 'num_frames': 6, 'action_chunk_size': 8,
                      'obstacle_layout_type': 'vert', 'time_period': 'night',
                      'collection_datetime': '2025-02-03T04:05:06', 'collection_hour': 4, 'collection_minute': 5}
        assert set(a.keys()) == set(want_attrs), sorted(a.keys())
        for k, v in want_attrs.items():
            got = a[k]
            if isinstance(v, str):
                # h5py returns variable-length UTF-8 string attributes as str
                assert isinstance(got, str) and got == v, (k, got)
                sinfo = h5py.check_string_dtype(a.get_id(k).dtype)
                assert sinfo.encoding == 'utf-8' and sinfo.length is None, (k, sinfo)
            elif isinstance(v, float):
                assert isinstance(got, np.float64) and got == v, (k, type(got), got)
            else:
                assert isinstance(got, np.int64) and got == v, (k, type(got), got)
    return 0


if __name__ == '__main__':
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    try:
        sys.exit(main(sys.argv[1]))
    except AssertionError as e:
        import traceback
        traceback.print_exc()
        sys.exit(1)
