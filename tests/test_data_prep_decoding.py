"""Tests frame resampling, resizing and rotation of video_decoding."""
import io

import numpy as np
import pytest
from PIL import Image

from cvrl_tf.data_prep import video_decoding
import video_fixtures


def _resample(times, fps, frame_duration):
  return list(video_decoding.resample_by_time(
      [(t, i) for i, t in enumerate(times)], fps, frame_duration))


def test_resample_down_picks_nearest_frames():
  times = np.arange(60) / 30  # 2 s at 30 fps.
  assert _resample(times, 10, 1 / 30) == list(range(0, 60, 3))


def test_resample_up_repeats_frames():
  times = np.arange(4) / 10
  assert _resample(times, 20, 1 / 10) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_resample_ntsc_rate_and_offset_start():
  # 2 s at 29.97 fps starting at 1.5 s: 2.002 s at 15 fps is 30.03 frames.
  times = 1.5 + np.arange(60) * 1001 / 30000
  picked = _resample(times, 15, 1001 / 30000)
  assert len(picked) == 31
  assert picked[:4] == [0, 2, 4, 6]


def test_resample_tolerates_millisecond_timestamps():
  times = np.round(np.arange(30) / 30, 3)  # WebM stores milliseconds.
  assert len(_resample(times, 10, 1 / 30)) == 10


def test_resample_empty_input():
  assert not _resample([], 10, 0.1)


@pytest.mark.parametrize('shape, min_resize, expected', [
    ((45, 67), 36, (36, 54)),
    ((100, 50), 20, (40, 20)),
    ((48, 64), 0, (48, 64)),
    ((48, 64), 256, (256, 341)),
])
def test_resized_shape_keeps_aspect_with_exact_short_side(
    shape, min_resize, expected):
  assert video_decoding.resized_shape(*shape, min_resize) == expected


@pytest.mark.parametrize('frame_rotation, metadata, turns', [
    (0, {}, 0),
    (90, {}, 1),
    (-90, {}, 3),
    (180, {}, 2),
    (-180, {}, 2),
    (0, {'rotate': '90'}, 3),  # The tag is clockwise.
    (0, {'ROTATE': '270'}, 1),
    (0, {'rotate': 'junk'}, 0),
])
def test_quarter_turns_to_upright(frame_rotation, metadata, turns):
  assert video_decoding.quarter_turns_to_upright(frame_rotation,
                                                 metadata) == turns


def test_rotate_upright_turns_counter_clockwise():
  image = np.arange(6).reshape(2, 3, 1)  # [[0 1 2], [3 4 5]]
  rotated = video_decoding.rotate_upright(image, 1)
  np.testing.assert_array_equal(rotated[..., 0], [[2, 5], [1, 4], [0, 3]])
  np.testing.assert_array_equal(
      video_decoding.rotate_upright(image, 4), image)


def _decode_first_frame(path):
  decoded = video_decoding.decode_video(
      path, video_decoding.DecodeOptions(min_resize=0))
  return np.asarray(Image.open(io.BytesIO(decoded.frames[0])), np.float32)


@pytest.mark.parametrize('name, write_kwargs, turns', [
    ('matrix_ccw90.mp4', {'rotation': 90}, 1),
    ('matrix_cw90.mp4', {'rotation': -90}, 3),
    ('matrix_180.mp4', {'rotation': 180}, 2),
    ('tag_cw90.mkv', {'stream_metadata': {'rotate': '90'}}, 3),
])
def test_rotated_videos_come_out_upright(tmp_path, name, write_kwargs, turns):
  frames = video_fixtures.moving_frames(4, 48, 64)
  path = video_fixtures.write_video(str(tmp_path / name), frames,
                                    codec_options={'crf': '10'},
                                    **write_kwargs)

  decoded = _decode_first_frame(path)

  expected = np.rot90(frames[0], k=turns).astype(np.float32)
  assert decoded.shape == expected.shape
  assert np.abs(decoded - expected).mean() < 12
  # The unrotated frame (or its transpose) is far from the decoded one.
  stored = frames[0].astype(np.float32)
  if stored.shape == decoded.shape:
    assert np.abs(decoded - stored).mean() > 40
