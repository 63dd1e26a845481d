"""Optical flow in the converter: stored layout, values, alignment, failures."""
import io
import os
import types

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from cvrl_tf.data_prep import converter
from cvrl_tf.data_prep import optical_flow
from cvrl_tf.data_prep import record_layout
from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import video_decoding
import video_fixtures

# (dx, dy) of the square from frame i to frame i + 1: both signs, a pause,
# and a different motion per pair, so a flow shifted by one frame fails.
_DISPLACEMENTS = [(2, 1), (0, 0), (3, -1), (-2, 2), (1, 0), (4, -2), (-3, 1)]
_SIDE = 24
_START = (20, 56)
_HEIGHT, _WIDTH = 96, 64
# Pixels left out at the square's border, where flow methods smooth across
# the motion boundary.
_MARGIN = 5
# Highest row the square reaches.
_TOP = _START[1] + min(np.cumsum([dy for _, dy in _DISPLACEMENTS]).min(), 0)


def _video(directory, name='square.mp4'):
  frames, corners = video_fixtures.translating_square_frames(
      _DISPLACEMENTS, _HEIGHT, _WIDTH, _SIDE, _START)
  path = video_fixtures.write_video(os.path.join(directory, name), frames,
                                    fps=25, codec_options={'qp': '0'})
  return path, corners


def _decode_jpeg(jpeg):
  return np.asarray(Image.open(io.BytesIO(jpeg)).convert('RGB'))


def _square_and_backdrop_flow(flow, corner, scale=1.0):
  """Median (x, y) flow inside the square at `corner`, and on the backdrop.

  Args:
    flow: [H, W, 2] flow of a stored frame pair.
    corner: (x, y) of the square in the source frame the flow starts from.
    scale: Stored size over source size.
  """
  x, y = (int(round(c * scale)) for c in corner)
  side, margin = int(round(_SIDE * scale)), int(round(_MARGIN * scale))
  inside = flow[y + margin:y + side - margin, x + margin:x + side - margin]
  # The rows above every position of the square.
  backdrop = flow[:int(_TOP * scale) - margin]
  return (np.median(inside.reshape(-1, 2), axis=0),
          np.median(backdrop.reshape(-1, 2), axis=0))


def test_flow_image_layout_is_vicc_with_channels_reversed():
  flow = np.random.default_rng(0).uniform(-30, 30, (5, 7, 2)).astype(
      np.float32)
  flow[0, 0] = (0, 0)
  flow[0, 1] = (20, -20)

  ours = optical_flow.flow_to_image(flow)

  # ViCC's extract_ff.py: clip to +-20, (v + 20) * 255 / 40 rounded, x and y
  # in channels 0 and 1 of a BGR image whose channel 2 is 128.
  vicc_bgr = np.full((5, 7, 3), 128, np.uint8)
  vicc_bgr[..., :2] = np.round(
      (np.clip(flow, -20, 20) + 20) * (255.0 / 40)).astype(np.uint8)
  vicc_rgb = vicc_bgr[..., ::-1]
  np.testing.assert_array_equal(ours, vicc_rgb[..., ::-1])
  np.testing.assert_array_equal(ours[0, 1], [255, 0, 128])
  decoded = optical_flow.image_to_flow(ours)
  np.testing.assert_allclose(decoded, np.clip(flow, -20, 20),
                             atol=20 / 255 + 1e-5)


def test_converter_stores_aligned_tvl1_flow_and_reports_flow_failures(
    tmp_path):
  video_dir = tmp_path / 'videos' / 'class_a'
  video_dir.mkdir(parents=True)
  _, corners = _video(str(video_dir))
  bad = video_fixtures.write_size_changing_video(str(video_dir / 'resized.m2v'))
  videos, label_map = sources.load_videos(video_dir=str(tmp_path / 'videos'))
  output_dir = str(tmp_path / 'out')
  config = converter.ConversionConfig(
      output_dir=output_dir, num_shards=1, num_workers=2,
      timeout_per_video=120.0,
      decode_options=video_decoding.DecodeOptions(min_resize=0, flow='tvl1'))

  report = converter.convert_videos(videos, label_map, config)

  assert report.converted == 1
  assert [entry['path'] for entry in report.failed] == [bad]
  assert 'frame size changed from 64x48 to 96x64' in report.failed[0]['error']
  serialized = next(iter(tf.data.TFRecordDataset(
      os.path.join(output_dir, 'train-00000-of-00001.tfrecord'))))
  example = tf.train.SequenceExample.FromString(serialized.numpy())
  context = example.context.feature
  assert context[record_layout.FLOW_METHOD_KEY].bytes_list.value == [b'tvl1']
  lists = example.feature_lists.feature_list
  num_frames = len(_DISPLACEMENTS) + 1
  assert context[record_layout.NUM_FRAMES_KEY].int64_list.value == [
      num_frames]
  assert len(lists[record_layout.IMAGE_KEY].feature) == num_frames
  flows = [_decode_jpeg(f.bytes_list.value[0])
           for f in lists[record_layout.FLOW_KEY].feature]
  assert len(flows) == num_frames - 1
  for index, (image, displacement) in enumerate(zip(flows, _DISPLACEMENTS)):
    assert image.shape == (_HEIGHT, _WIDTH, 3)
    # JPEG's YCbCr round trip, even at quality 100 and 4:4:4, moves the
    # constant third channel by a level or two with x and y.
    third = image[..., 2].astype(int)
    assert abs(third.mean() - 128) < 1 and np.abs(third - 128).max() <= 4
    square, backdrop = _square_and_backdrop_flow(
        optical_flow.image_to_flow(image), corners[index])
    np.testing.assert_allclose(square, displacement, atol=0.3,
                               err_msg=f'flow {index}')
    np.testing.assert_allclose(backdrop, (0, 0), atol=0.2,
                               err_msg=f'flow {index}')


def test_farneback_flow_is_in_pixels_of_the_resized_frames(tmp_path):
  path, corners = _video(str(tmp_path))
  options = video_decoding.DecodeOptions(min_resize=_WIDTH // 2,
                                         flow='farneback')

  decoded = video_decoding.decode_video(path, options)

  assert len(decoded.flows) == len(decoded.frames) - 1 == len(_DISPLACEMENTS)
  for index, (jpeg, displacement) in enumerate(
      zip(decoded.flows, _DISPLACEMENTS)):
    image = _decode_jpeg(jpeg)
    assert image.shape == (_HEIGHT // 2, _WIDTH // 2, 3)
    square, backdrop = _square_and_backdrop_flow(
        optical_flow.image_to_flow(image), corners[index], scale=0.5)
    # Farneback underestimates large motions on frames this small.
    np.testing.assert_allclose(square, np.multiply(displacement, 0.5),
                               atol=0.4, err_msg=f'flow {index}')
    # One quantization step (40 / 255 px) from the stored zero.
    np.testing.assert_allclose(backdrop, (0, 0), atol=0.25,
                               err_msg=f'flow {index}')


def test_upsampled_video_has_zero_flow_into_each_repeated_frame(tmp_path):
  path, _ = _video(str(tmp_path))
  native = video_decoding.decode_video(
      path, video_decoding.DecodeOptions(min_resize=0, flow='farneback'))
  # Twice the source rate: every source frame is stored twice.
  doubled = video_decoding.decode_video(
      path, video_decoding.DecodeOptions(fps=50, min_resize=0,
                                         flow='farneback'))

  assert len(doubled.frames) == 2 * len(native.frames)
  assert len(doubled.flows) == len(doubled.frames) - 1
  # Stored frames 2k and 2k + 1 are source frame k: flow 2k is zero, flow
  # 2k + 1 goes from source frame k to k + 1.
  for flow in doubled.flows[0::2]:
    assert np.all(_decode_jpeg(flow) == record_layout.FLOW_FILL_VALUE)
  assert doubled.flows[1::2] == native.flows


def test_unknown_flow_method_is_a_one_line_input_error(tmp_path):
  path, _ = _video(str(tmp_path))
  videos = [sources.VideoEntry(path, 'v', 'a', 0)]
  config = converter.ConversionConfig(
      output_dir=str(tmp_path / 'out'),
      decode_options=video_decoding.DecodeOptions(flow='lucas-kanade'))

  with pytest.raises(sources.InputError, match='unknown flow method'):
    converter.convert_videos(videos, {'a': 0}, config)


@pytest.mark.parametrize('optflow', [
    None,
    # opencv-python-headless installed over the contrib package leaves
    # contrib's `cv2/optflow/` folder, an empty namespace package.
    types.ModuleType('cv2.optflow')])
def test_tvl1_without_opencv_contrib_is_a_one_line_input_error(
    tmp_path, monkeypatch, optflow):
  without_contrib = types.SimpleNamespace(
      __version__='4.0.0', __file__='/site-packages/cv2/__init__.py')
  if optflow is not None:
    without_contrib.optflow = optflow
  monkeypatch.setattr(optical_flow, 'cv2', without_contrib)
  config = converter.ConversionConfig(
      output_dir=str(tmp_path / 'out'),
      decode_options=video_decoding.DecodeOptions(flow='tvl1'))

  with pytest.raises(sources.InputError) as error:
    converter.convert_videos(
        [sources.VideoEntry('v.mp4', 'v', 'a', 0)], {'a': 0}, config)
  assert str(error.value) == (
      "--flow=tvl1 needs OpenCV's contrib modules "
      '(cv2.optflow.DualTVL1OpticalFlow_create), missing from the OpenCV '
      '4.0.0 at /site-packages/cv2/__init__.py; run `make opencv-contrib` '
      '(reinstalls opencv-contrib-python-headless at the version of '
      'opencv-python-headless)')
  assert not (tmp_path / 'out').exists()


def test_adding_or_changing_flow_rebuilds_the_shards():
  videos = [sources.VideoEntry('a.mp4', 'a', 'x', 0)]
  prints = {
      method: converter.fingerprint(videos, converter.ConversionConfig(
          output_dir='out', decode_options=video_decoding.DecodeOptions(
              flow=method)))
      for method in (None, *optical_flow.FLOW_METHODS)}
  assert len(set(prints.values())) == 3
