"""Two-stream input: RGB frames and their optical flow through the pipeline."""
import os

import numpy as np
import pytest
import tensorflow as tf

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.data_prep import converter
from cvrl_tf.data_prep import optical_flow
from cvrl_tf.data_prep import records
from cvrl_tf.data_prep import sources
from cvrl_tf.data_prep import video_decoding
from cvrl_tf.dataloaders import video_input
import video_fixtures

HEIGHT, WIDTH = 40, 56
NUM_FRAMES = 10
# Frame t's blue channel is INDEX_STEP * t.
INDEX_STEP = 20


def _picture(t):
  """[H, W, 3] uint8: R rises to the right, G downwards, B codes t."""
  y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
  return np.stack([4 * x, 5 * y, np.full_like(x, INDEX_STEP * t)],
                  -1).astype(np.uint8)


def _write_records(path, flows_per_video=NUM_FRAMES - 1):
  """Two videos whose flow image t is frame t's picture, JPEG for JPEG."""
  with tf.io.TFRecordWriter(path) as writer:
    for video in range(2):
      jpegs = [video_decoding.encode_jpeg(_picture(t), 95)
               for t in range(NUM_FRAMES)]
      decoded = video_decoding.DecodedVideo(
          frames=jpegs, fps=25.0, source_fps=25.0,
          flows=jpegs[:flows_per_video])
      entry = sources.VideoEntry(f'v{video}.mp4', f'v{video}', 'a', 0)
      writer.write(records.make_sequence_example(
          entry, decoded, 'tvl1').SerializeToString())
  return path


@pytest.fixture(scope='module')
def record_path(tmp_path_factory):
  return _write_records(
      str(tmp_path_factory.mktemp('two_stream') / 'train.tfrecord'))


def _params(path, **kwargs):
  params = data_cfg.DataConfig(
      input_path=path, global_batch_size=2, feature_shape=(4, 24, 24, 3),
      temporal_stride=1, num_classes=1, min_image_size=24, seed=3,
      read_flow=True, **kwargs)
  return params


def _without_photometric(params):
  spatial = params.augmentation.spatial
  spatial.color_jitter_prob = spatial.grayscale_prob = spatial.blur_prob = 0.0
  return params


def _frame_indices(clips):
  """[..., T, H, W, 3] in [0, 1] -> [..., T] frame index from the B code."""
  blue = np.median(clips[..., 2].reshape(*clips.shape[:-3], -1), axis=-1)
  return np.round(blue * 255 / INDEX_STEP).astype(int)


def _is_mirrored(clips):
  """[..., T, H, W, 3] -> [...]: whether R falls from left to right."""
  red = clips[..., 0]
  return red[..., :, :, 0].mean(axis=(-1, -2)) > red[..., :, :, -1].mean(
      axis=(-1, -2))


def test_ssl_flow_shares_frames_crop_and_flip_but_not_colour(record_path):
  plain = _without_photometric(_params(record_path, is_ssl=True,
                                       is_training=True))
  coloured = _params(record_path, is_ssl=True, is_training=True)
  coloured.augmentation.spatial.color_jitter_prob = 1.0
  coloured.augmentation.spatial.grayscale_prob = 0.5
  coloured.augmentation.spatial.blur_prob = 1.0
  mirrored = []
  for (reference, _), (features, _) in zip(
      video_input.build_dataset(plain).take(3),
      video_input.build_dataset(coloured).take(3)):
    image, flow = reference['image'].numpy(), reference['flow'].numpy()
    assert flow.shape == image.shape == (4, 4, 24, 24, 3)
    # Same pictures in both streams: any difference in frames, crop or
    # flip, or in how flow values are treated (x negated by the flip,
    # values scaled by the resize), would show.
    np.testing.assert_array_equal(flow, image)
    indices = _frame_indices(flow)
    # Clips of consecutive frames that all have a flow: never the last.
    assert np.all(np.diff(indices, axis=-1) == 1), indices
    assert indices.min() >= 0 and indices.max() <= NUM_FRAMES - 2, indices
    mirrored.extend(_is_mirrored(flow).ravel())
    # Same seed with colour jitter, grayscale and blur: only the RGB
    # changes.
    np.testing.assert_array_equal(features['flow'], flow)
    assert np.abs(features['image'] - image).mean() > 0.02
  # The flip happened to some views and not others, flow included.
  assert 0 < sum(mirrored) < len(mirrored)


@pytest.mark.parametrize('is_training', [False, True])
def test_supervised_and_eval_clips_carry_their_flow(record_path, is_training):
  params = _params(record_path, is_training=is_training, num_test_clips=2,
                   num_test_crops=3)
  features, _ = next(iter(video_input.build_dataset(params)))
  image, flow = features['image'].numpy(), features['flow'].numpy()
  expected_rows = 2 if is_training else 2 * 2 * 3
  assert flow.shape == image.shape == (expected_rows, 4, 24, 24, 3)
  np.testing.assert_array_equal(flow, image)
  assert _frame_indices(flow).max() <= NUM_FRAMES - 2


def test_record_without_one_flow_per_frame_pair_is_reported(tmp_path):
  path = _write_records(str(tmp_path / 'train.tfrecord'),
                        flows_per_video=NUM_FRAMES - 3)
  params = _params(path, is_ssl=True, is_training=True)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r'bad record in .*train\.tfrecord: video has 10 '
                     r'frames and 7 flows'):
    next(iter(video_input.build_dataset(params)))


def test_converted_flow_is_read_in_step_with_its_frames(tmp_path):
  # A real video, real flow from the converter, read as evaluation clips
  # (whole frames, no crop): each clip step's flow must be the motion of
  # the square from that step's frame to the next.
  # No pause: every frame differs from the others.
  displacements = [(2, 1), (3, -1), (-2, 2), (1, 0), (4, -2), (-3, 1)]
  frames, corners = video_fixtures.translating_square_frames(
      displacements, 96, 64, 24, (20, 56))
  video_dir = tmp_path / 'videos' / 'a'
  video_dir.mkdir(parents=True)
  video_fixtures.write_video(str(video_dir / 'square.mp4'), frames, fps=25,
                             codec_options={'qp': '0'})
  videos, label_map = sources.load_videos(video_dir=str(tmp_path / 'videos'))
  converter.convert_videos(videos, label_map, converter.ConversionConfig(
      output_dir=str(tmp_path / 'out'), num_shards=1, num_workers=1,
      decode_options=video_decoding.DecodeOptions(min_resize=0,
                                                  flow='farneback')))
  params = data_cfg.DataConfig(
      input_path=str(tmp_path / 'out' / 'train-*.tfrecord'),
      global_batch_size=1, feature_shape=(4, 96, 64, 3), temporal_stride=1,
      num_classes=1, min_image_size=64, is_training=False, read_flow=True)

  features, _ = next(iter(video_input.build_dataset(params)))

  image, flow = features['image'].numpy()[0], features['flow'].numpy()[0]
  for step in range(4):
    # Which source frame this step shows.
    t = int(np.argmin([np.abs(image[step] * 255 - frame).mean()
                       for frame in frames]))
    x, y = corners[t]
    pixels = optical_flow.image_to_flow(
        np.round(flow[step] * 255).astype(np.uint8))[y + 5:y + 19, x + 5:x + 19]
    np.testing.assert_allclose(np.median(pixels.reshape(-1, 2), axis=0),
                               displacements[t], atol=0.4,
                               err_msg=f'step {step}, frame {t}')


def test_device_augmentation_leaves_flow_float_with_the_same_geometry(
    record_path):
  params = _params(record_path, is_ssl=True, is_training=True)
  params.augmentation.device_augmentation = True
  features, _ = next(iter(video_input.build_dataset(params)))
  image, flow = features['image'].numpy(), features['flow'].numpy()
  assert image.dtype == np.uint8 and flow.dtype == np.float32
  # The host half of device augmentation rounds the resized frames to uint8.
  np.testing.assert_allclose(flow * 255, image, atol=0.5 + 1e-3)


def _coloured(params):
  """Every photometric operation likely, view 2 solarized sometimes."""
  spatial = params.augmentation.spatial
  spatial.color_jitter_prob = spatial.blur_prob = 1.0
  spatial.grayscale_prob = 0.5
  spatial.view_blur_solarize = 'asymmetric'
  return params


def test_flow_photometric_like_rgb_gives_flow_its_views_colour_and_blur(
    record_path):
  host = _coloured(_params(record_path, is_ssl=True, is_training=True,
                           flow_photometric='like_rgb'))
  device = _coloured(_params(record_path, is_ssl=True, is_training=True,
                             flow_photometric='like_rgb'))
  device.augmentation.device_augmentation = True
  (on_host, _), = video_input.build_dataset(host).take(1)
  (on_device, _), = video_input.build_dataset(device).take(1)
  # Same pictures, so the same jitter, grayscale, blur and solarization
  # parameters (view 2's differ from view 1's) give the same values.
  np.testing.assert_array_equal(on_host['flow'], on_host['image'])
  # Device augmentation leaves the image's to the train step, with the
  # same parameters; the flow gets them in the input pipeline.
  np.testing.assert_array_equal(on_device['flow'], on_host['flow'])
  geometric = on_device['image'].numpy() / 255
  assert np.abs(on_device['flow'] - geometric).mean() > 0.02


def _crop_scale(clips, channel, slope):
  """[..., T, H, W, 3] -> [...]: crop size over output size along the axis
  of `channel`, which rises by `slope` per stored pixel along it.

  Measured on the pictures (least squares over inner pixels, away from
  the clamped edges of an enlarged crop), rounded to a whole crop.
  """
  values = np.moveaxis(clips[..., channel] * 255, -1 - channel, -1)
  values = values[..., 2:-2, 2:-2]
  steps = np.arange(values.shape[-1]) - (values.shape[-1] - 1) / 2
  fitted = (values * steps).sum(-1) / (steps ** 2).sum()
  per_output_pixel = np.abs(fitted.mean(axis=(-2, -1))) / slope
  output = clips.shape[-2 - channel]
  return np.round(per_output_pixel * output) / output


def _corrected(pictures, x_scale, y_scale):
  """NumPy flow values: zero at 0.5, scaled per axis, clipped to [0, 1]."""
  x_scale, y_scale = (np.asarray(s)[..., None, None, None]
                      for s in (x_scale, y_scale))
  expected = pictures.astype(np.float64)
  expected[..., 0] = 0.5 + x_scale * (expected[..., 0] - 0.5)
  expected[..., 1] = 0.5 + y_scale * (expected[..., 1] - 0.5)
  return np.clip(expected, 0.0, 1.0)


def _check_flow_values(features, flow_flip, flow_crop_scale, atol=1e-5):
  """`features['flow']` equals its picture's values corrected in NumPy."""
  image, flow = features['image'].numpy(), features['flow'].numpy()
  if image.dtype == np.uint8:
    image = image / 255
  mirrored = _is_mirrored(image)
  x_scale = np.ones(mirrored.shape)
  y_scale = np.ones(mirrored.shape)
  if flow_crop_scale == 'rescale':
    # R is 4 x, G is 5 y in stored pixels (`_picture`).
    x_scale = 1 / _crop_scale(image, 0, 4)
    y_scale = 1 / _crop_scale(image, 1, 5)
  if flow_flip == 'negate_x':
    x_scale = np.where(mirrored, -x_scale, x_scale)
  np.testing.assert_allclose(flow, _corrected(image, x_scale, y_scale),
                             rtol=0, atol=atol)
  return mirrored, x_scale


@pytest.mark.parametrize('flow_flip, flow_crop_scale, device', [
    ('negate_x', 'keep', False), ('mirror_image', 'rescale', True)])
def test_ssl_flow_values_follow_the_views_flip_and_crop(
    record_path, flow_flip, flow_crop_scale, device):
  params = _without_photometric(_params(
      record_path, is_ssl=True, is_training=True, flow_flip=flow_flip,
      flow_crop_scale=flow_crop_scale))
  # Crops from 15 to 30 pixels wide: smaller and larger than the output.
  params.augmentation.spatial.crop_area_range = (0.1, 0.4)
  params.augmentation.device_augmentation = device
  # Device augmentation rounds the resized image to uint8, not the flow.
  atol = 0.5 / 255 * 2 + 1e-5 if device else 1e-5
  mirrored, x_scales = [], []
  for features, _ in video_input.build_dataset(params).take(2):
    flipped, x_scale = _check_flow_values(features, flow_flip,
                                          flow_crop_scale, atol)
    mirrored.extend(flipped)
    x_scales.extend(x_scale)
  assert 0 < sum(mirrored) < len(mirrored)
  if flow_crop_scale == 'rescale':
    # Values both enlarged and shrunk.
    assert min(np.abs(x_scales)) < 1 < max(np.abs(x_scales))


@pytest.mark.parametrize('is_training', [False, True])
def test_supervised_and_eval_flow_values_follow_flip_and_resize(
    record_path, is_training):
  params = _params(record_path, is_training=is_training,
                   flow_flip='negate_x', flow_crop_scale='rescale')
  features, _ = next(iter(video_input.build_dataset(params)))
  if is_training:
    _check_flow_values(features, 'negate_x', 'rescale')
    return
  # Frames of 40 x 56 resized to a short side of 24 (Model Garden's
  # `resize_smallest`: 24 x floor(56 * 24 / 40)), never flipped.
  np.testing.assert_allclose(
      features['flow'].numpy(),
      _corrected(features['image'].numpy(), (56 * 24 // 40) / WIDTH,
                 24 / HEIGHT), rtol=0, atol=1e-5)
