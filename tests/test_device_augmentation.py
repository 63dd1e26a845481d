"""Device-side colour and blur augmentation equals the host path's."""
import colorsys

import numpy as np
import pytest
from scipy import stats
import tensorflow as tf
import tf_keras

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.dataloaders import video_input
from cvrl_tf.dataloaders import video_parser
from cvrl_tf.ops import device_augmentation
from cvrl_tf.ops import gaussian_blur
from cvrl_tf.ops import spatial_augmentation
from cvrl_tf.tasks import pretrain
from tiny_experiments import tiny_pretrain
from toy_records import write_toy_records

OUT = (16, 16)
NUM_CLIPS = 400


@pytest.fixture(scope='module')
def pattern(tmp_path_factory):
  return write_toy_records(str(tmp_path_factory.mktemp('records')),
                           videos_per_class=1, size=32)


def _colourful_clip(num_frames=2, size=32):
  """Saturated hue ramp with a vertical brightness ramp: nowhere gray."""
  hues = np.linspace(0.0, 0.8, size)
  values = np.linspace(0.4, 0.95, size)
  image = np.array([[colorsys.hsv_to_rgb(h, 0.9, v) for h in hues]
                    for v in values])
  image = np.round(image * 255).astype(np.uint8)
  return tf.fill([num_frames], tf.io.encode_jpeg(image, quality=95))


def _seeds(n, offset=0):
  return tf.stack([tf.range(n, dtype=tf.int64) + offset,
                   tf.fill([n], tf.constant(3, tf.int64))], axis=1)


def _data_params(**kwargs):
  return data_cfg.DataConfig(feature_shape=(2, *OUT, 3), **kwargs)


def _host_views(encoded, seeds, params=None, view=0):
  params = params or data_cfg.SpatialAugmentation()
  return tf.function(lambda seeds: tf.map_fn(
      lambda s: spatial_augmentation.augment_frames(encoded, s, OUT, params,
                                                    view=view),
      seeds, fn_output_signature=tf.float32))(seeds)


PARAMS_SIGNATURE = {
    'jitter': tf.bool, 'grayscale': tf.bool, 'blur': tf.bool,
    'solarize': tf.bool, 'sigma': tf.float32, 'brightness': tf.float32,
    'contrast': tf.float32, 'saturation': tf.float32, 'hue': tf.float32,
    'order': tf.int32}


def _device_inputs(encoded, seeds, params=None, view=0):
  """Host half of the device path: uint8 geometric views, their parameters."""
  params = params or data_cfg.SpatialAugmentation()
  views = tf.map_fn(
      lambda s: spatial_augmentation.geometric_clip(encoded, s, OUT, params),
      seeds, fn_output_signature=tf.uint8)
  photometric = tf.map_fn(
      lambda s: spatial_augmentation.clip_photometric_params(
          s, params, view), seeds, fn_output_signature=PARAMS_SIGNATURE)
  return views, photometric


def _device_views(encoded, seeds, data_params, view=0):
  @tf.function
  def views_fn(encoded, seeds):
    views, photometric = _device_inputs(
        encoded, seeds, data_params.augmentation.spatial, view)
    return device_augmentation.augment_views(views, photometric, data_params)
  return views_fn(encoded, seeds)


@tf.function
def _host_photometric(views, photometric):
  """The host path's colour and blur, applied to given uint8 views."""
  kernel_size = gaussian_blur.gaussian_kernel_size(OUT[0])
  return tf.map_fn(
      lambda args: spatial_augmentation.photometric_clip(
          tf.cast(args[0], tf.float32), args[1], kernel_size),
      (views, photometric), fn_output_signature=tf.float32)


def _assert_close_to_host(device, host):
  """Device views against host views of unrounded frames.

  The device path's frames are rounded to uint8 (by at most 0.5/255); the
  colour ops scale such a difference by their factors (at most 1.8 each).
  """
  error = np.abs(np.asarray(device) - np.asarray(host))
  assert error.mean() < 0.5 / 255
  assert error.max() < 6 / 255


@pytest.mark.parametrize('choice,view', [('symmetric', 0),
                                         ('asymmetric', 0),
                                         ('asymmetric', 1)])
def test_same_parameters_and_frames_give_the_host_outputs(choice, view):
  encoded = _colourful_clip()
  seeds = _seeds(64)
  data_params = _data_params()
  data_params.augmentation.spatial.view_blur_solarize = choice
  spatial = data_params.augmentation.spatial
  views, photometric = _device_inputs(encoded, seeds, spatial, view)
  host = _host_photometric(views, photometric).numpy()
  device = _device_views(encoded, seeds, data_params, view).numpy()
  # The host blur drops taps below float32 resolution; nothing else differs.
  np.testing.assert_allclose(device, host, atol=1e-5)
  # The seeds cover every photometric branch the view can take.
  branches = {('asymmetric', 0): ('jitter', 'grayscale'),
              ('asymmetric', 1): ('jitter', 'grayscale', 'blur', 'solarize')
             }.get((choice, view), ('jitter', 'grayscale', 'blur'))
  for key in branches:
    assert 0 < photometric[key].numpy().mean() < 1, key
  _assert_close_to_host(device, _host_views(encoded, seeds, spatial, view))


@pytest.mark.parametrize('truncate', [False, True])
def test_uint8_views_are_the_rounded_float_resize(truncate):
  # With `truncate_resized_frames` (the release's truncation) both paths
  # truncate, so the host's frames are the device's exactly.
  encoded = _colourful_clip()
  params = data_cfg.SpatialAugmentation(truncate_resized_frames=truncate)
  for seed in range(16):
    seed = tf.constant([seed, 5])
    rounded = spatial_augmentation.geometric_clip(encoded, seed, OUT, params)
    unrounded = spatial_augmentation.decode_and_augment_clip(
        encoded, seed, OUT, params, photometric=False)
    assert rounded.dtype == tf.uint8
    error = np.abs(rounded.numpy() - 255.0 * unrounded.numpy())
    assert error.max() <= (1e-3 if truncate else 0.5 + 1e-3)


@pytest.mark.parametrize('dtype', ['float32', 'bfloat16'])
def test_zero_centred_and_low_precision_views(dtype):
  encoded = _colourful_clip()
  seeds = _seeds(16)
  views, photometric = _device_inputs(encoded, seeds)
  host = _host_photometric(views, photometric).numpy()
  device = device_augmentation.augment_views(
      views, photometric,
      _data_params(zero_centering_image=True, dtype=dtype))
  assert device.dtype == tf.as_dtype(dtype)
  device = (tf.cast(device, tf.float32).numpy() + 1.0) / 2.0
  # bfloat16 keeps 8 bits of mantissa, rounding the augmented views.
  atol = 1e-5 if dtype == 'float32' else 0.01
  np.testing.assert_allclose(device, host, atol=atol)


def _clip_statistics(views):
  """Per-clip summaries [N]: grayness, mean, channel spread, sharpness."""
  spread = np.ptp(views, axis=-1).max(axis=(1, 2, 3))
  sharpness = np.abs(np.diff(views, axis=3)).mean(axis=(1, 2, 3, 4))
  return {'gray': spread < 1e-5, 'mean': views.mean(axis=(1, 2, 3, 4)),
          'spread': spread, 'sharpness': sharpness}


def test_distribution_matches_host_path():
  # Independent draws: different seeds for the two paths.
  encoded = _colourful_clip()
  host = _clip_statistics(_host_views(encoded, _seeds(NUM_CLIPS)).numpy())
  device = _clip_statistics(_device_views(
      encoded, _seeds(NUM_CLIPS, offset=10**6), _data_params()).numpy())
  assert abs(host['gray'].mean() - 0.2) < 0.06
  assert abs(device['gray'].mean() - host['gray'].mean()) < 0.07
  for key in ('mean', 'spread', 'sharpness'):
    assert stats.ks_2samp(host[key], device[key]).pvalue > 0.001, key


def test_pipeline_batches_carry_view_major_parameters(pattern):
  params = data_cfg.DataConfig(
      input_path=pattern, is_training=True, is_ssl=True, global_batch_size=2,
      feature_shape=(4, 24, 24, 3), temporal_stride=2, num_classes=10,
      seed=3)
  host_images = next(iter(video_input.build_dataset(params)))[0]['image']
  params.augmentation.device_augmentation = True
  features, _ = next(iter(video_input.build_dataset(params)))
  photometric = features[device_augmentation.PARAMS_KEY]
  assert features['image'].dtype == tf.uint8
  assert photometric['order'].shape == (4, 4)
  assert photometric['sigma'].shape == (4,)
  device_images = device_augmentation.augment_views(
      features['image'], photometric, params)
  assert device_images.dtype == tf.float32
  _assert_close_to_host(device_images, host_images)


def test_unaugmented_views_carry_no_parameters(pattern):
  params = data_cfg.DataConfig(
      input_path=pattern, is_training=True, is_ssl=True, global_batch_size=2,
      feature_shape=(4, 24, 24, 3), num_classes=10)
  params.augmentation.device_augmentation = True
  params.augmentation.spatial.enabled = False
  features, _ = next(iter(video_input.build_dataset(params)))
  assert device_augmentation.PARAMS_KEY not in features


def test_per_frame_parameters_are_rejected():
  params = _data_params(is_ssl=True, is_training=True)
  params.augmentation.device_augmentation = True
  params.augmentation.spatial.temporally_consistent = False
  with pytest.raises(ValueError, match='temporally consistent'):
    video_parser.Parser(params)


def test_train_step_applies_device_augmentation(pattern):
  exp = tiny_pretrain(pattern, train_steps=1)
  exp.task.train_data.global_batch_size = 2
  exp.task.train_data.augmentation.device_augmentation = True
  task = pretrain.CVRLPretrainTask(exp.task)
  model = task.build_model()
  features, labels = next(iter(task.build_inputs(exp.task.train_data)))
  augmented = device_augmentation.augment_views(
      features['image'], features[device_augmentation.PARAMS_KEY],
      exp.task.train_data)

  def loss(images):
    return task.contrastive_outputs(images, model, training=True)[
        'contrastive_loss'].numpy()

  expected = loss(augmented)
  unaugmented = loss(tf.cast(features['image'], tf.float32) / 255.0)
  # A zero learning rate leaves the weights, so the step's loss is that of
  # the views it augmented.
  logs = task.train_step((features, labels), model,
                         tf_keras.optimizers.SGD(0.0))
  np.testing.assert_allclose(logs['loss'], expected, rtol=1e-5)
  assert abs(unaugmented - expected) > 1e-4
