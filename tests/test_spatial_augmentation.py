"""Tests for cvrl_tf.ops.spatial_augmentation and cvrl_tf.ops.color_ops."""
import colorsys
import itertools

import numpy as np
import pytest
import tensorflow as tf

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.ops import color_ops
from cvrl_tf.ops import color_ops_cpu
from cvrl_tf.ops import gaussian_blur
from cvrl_tf.ops import spatial_augmentation

NUM_DRAWS = 400
OUT = (16, 16)


def _seeds(n):
  return tf.stack([tf.range(n, dtype=tf.int64),
                   tf.fill([n], tf.constant(11, tf.int64))], axis=1)


def _colourful_image(size=32):
  """Fully saturated hue ramp along x: asymmetric and nowhere gray."""
  hues = np.linspace(0.0, 0.8, size)
  row = np.array([colorsys.hsv_to_rgb(h, 1.0, 0.9) for h in hues])
  return np.round(np.tile(row[None], [size, 1, 1]) * 255).astype(np.uint8)


def _smooth_image(height=48, width=64):
  y, x = np.mgrid[0:height, 0:width]
  image = np.stack([3 * y + x, 2 * x, 200 - 2 * y + x], axis=-1)
  return np.clip(image, 0, 255).astype(np.uint8)


def _encode(image, num_frames=1):
  return tf.fill([num_frames], tf.io.encode_jpeg(image, quality=95))


def _augment_many(encoded, params, n=NUM_DRAWS):
  fn = tf.function(lambda seeds: tf.map_fn(
      lambda s: spatial_augmentation.augment_frames(encoded, s, OUT, params),
      seeds, fn_output_signature=tf.float32, parallel_iterations=32))
  return fn(_seeds(n)).numpy()


def _full_crop_params(**kwargs):
  """Crops the whole (square) image, so only the tested op is random."""
  defaults = dict(crop_area_range=(1.0, 1.0), crop_aspect_ratio_range=(1.0, 1.0),
                  flip=False, color_jitter_prob=0.0, grayscale_prob=0.0,
                  blur_prob=0.0)
  defaults.update(kwargs)
  return data_cfg.SpatialAugmentation(**defaults)


def crop_windows(window_fn, n):
  """`n` windows of `window_fn` in a 48x64 image: int32 [n, 4]."""
  return tf.function(lambda seeds: tf.map_fn(
      lambda s: window_fn(tf.constant([48, 64]), s, (0.3, 1.0), (0.5, 2.0)),
      seeds, fn_output_signature=tf.int32))(_seeds(n)).numpy()


def test_crop_windows_within_image_and_ranges():
  windows = crop_windows(spatial_augmentation.random_crop_window, 2000)
  y, x, h, w = windows.T
  assert np.all((y >= 0) & (x >= 0) & (h >= 1) & (w >= 1))
  assert np.all((y + h <= 48) & (x + w <= 64))
  area = h * w / (48 * 64)
  aspect = w / h
  # Integer rounding of the sides moves area and ratio by a few percent.
  assert area.min() > 0.3 - 0.05 and area.max() <= 1.0
  assert aspect.min() > 0.5 - 0.05 and aspect.max() < 2.0 + 0.1
  assert area.min() < 0.35 and area.max() > 0.9
  assert aspect.min() < 0.6 and aspect.max() > 1.7
  assert len(np.unique(y)) > 10 and len(np.unique(x)) > 10


@pytest.mark.parametrize('aspect_ratio,expected', [(1.0, [0, 8, 48, 48]),
                                                   (2.0, [8, 0, 32, 64])])
def test_center_crop_window(aspect_ratio, expected):
  window = spatial_augmentation.center_crop_window(
      tf.constant([48, 64]), aspect_ratio)
  np.testing.assert_array_equal(window, expected)


def test_decode_crop_matches_decode_then_slice():
  encoded = _encode(_smooth_image(), 3)
  y, x, h, w = 5, 7, 30, 41
  cropped = spatial_augmentation.decode_crop(encoded, tf.constant([y, x, h, w]))
  full = spatial_augmentation.decode_frames(encoded)
  reference = full[:, y:y + h, x:x + w]
  assert cropped.shape == (3, h, w, 3)
  # libjpeg upsamples chroma differently only at the window's side edges.
  np.testing.assert_array_equal(cropped[:, :, 1:-1], reference[:, :, 1:-1])
  resized = spatial_augmentation.resize(cropped, OUT)
  resized_reference = spatial_augmentation.resize(reference, OUT)
  assert np.abs(resized - resized_reference).max() < 2 / 255


def test_unaugmented_clip_matches_resize_then_center_crop():
  # 72 / 48 * 16 = 24 columns, so both centre crops cover the same pixels.
  encoded = _encode(_smooth_image(48, 72), 2)
  params = data_cfg.SpatialAugmentation(enabled=False)
  ours = spatial_augmentation.augment_frames(encoded, tf.constant([1, 2]),
                                             OUT, params)
  full = tf.cast(spatial_augmentation.decode_frames(encoded), tf.float32)
  resized = tf.image.resize(full, [16, 24]) / 255.0
  reference = tf.image.resize_with_crop_or_pad(resized, *OUT)
  assert np.abs(ours - reference).mean() < 0.5 / 255
  assert np.abs(ours - reference).max() < 2 / 255


def test_consistent_views_have_identical_frames_and_differ():
  encoded = _encode(_colourful_image(), 4)
  params = data_cfg.SpatialAugmentation()
  view_1, view_2 = (spatial_augmentation.augment_frames(
      encoded, tf.constant(seed), OUT, params).numpy()
                    for seed in ([1, 2], [3, 4]))
  assert view_1.shape == (4, *OUT, 3)
  for view in (view_1, view_2):
    assert np.all(view == view[:1])
    assert view.min() >= 0 and view.max() <= 1
  assert np.abs(view_1 - view_2).max() > 0.05


def test_inconsistent_augmentation_changes_frames():
  encoded = _encode(_colourful_image(), 4)
  params = data_cfg.SpatialAugmentation(temporally_consistent=False)
  view = spatial_augmentation.augment_frames(encoded, tf.constant([1, 2]),
                                             OUT, params).numpy()
  assert view.shape == (4, *OUT, 3)
  assert np.abs(view[1:] - view[:1]).max(axis=(1, 2, 3)).min() > 0.01


def _plain(encoded):
  return spatial_augmentation.resize(
      spatial_augmentation.decode_frames(encoded), OUT).numpy()


def test_flip_probability():
  encoded = _encode(_colourful_image())
  outputs = _augment_many(encoded, _full_crop_params(flip=True))
  plain = _plain(encoded)
  is_plain = np.all(np.abs(outputs - plain) < 1e-5, axis=(1, 2, 3, 4))
  is_flipped = np.all(np.abs(outputs - plain[:, :, ::-1]) < 1e-5,
                      axis=(1, 2, 3, 4))
  assert np.all(is_plain ^ is_flipped)
  assert abs(is_flipped.mean() - 0.5) < 0.08


@pytest.mark.parametrize('jitter_prob,gray_prob', [(0.0, 0.3), (0.8, 0.2)])
def test_grayscale_probability(jitter_prob, gray_prob):
  outputs = _augment_many(
      _encode(_colourful_image()),
      _full_crop_params(color_jitter_prob=jitter_prob,
                        grayscale_prob=gray_prob))
  channel_spread = np.ptp(outputs, axis=-1).max(axis=(1, 2, 3))
  # Colour jitter cannot make a saturated image gray.
  is_gray = channel_spread < 1e-5
  assert abs(is_gray.mean() - gray_prob) < 0.08


def test_color_jitter_probability_and_range():
  encoded = _encode(_colourful_image())
  outputs = _augment_many(encoded, _full_crop_params(color_jitter_prob=0.6))
  changed = np.abs(outputs - _plain(encoded)).max(axis=(1, 2, 3, 4)) > 1e-5
  assert abs(changed.mean() - 0.6) < 0.08
  assert outputs.min() >= 0.0 and outputs.max() <= 1.0


def color_jitter(frames, seed, strength):
  """SimCLR colour jitter with random order, one draw for the whole clip."""
  return color_ops.jitter(frames, color_ops.sample_jitter_params(seed,
                                                                 strength))


def random_blur(frames, seed, p, kernel_size):
  """Gaussian blur with sigma ~ U[0.1, 2.0], applied with probability `p`."""
  params = color_ops.sample_photometric_params(seed, 0.0, 0.0, 0.0, p)
  return color_ops.blur(frames, params, kernel_size)


def _simclr_jitter(frames, params):
  """SimCLR's colour jitter through `tf.image`, each op clipped to [0, 1]."""
  ops = {
      'brightness': lambda x, f: x * f,
      'contrast': tf.image.adjust_contrast,
      'saturation': tf.image.adjust_saturation,
      'hue': tf.image.adjust_hue,
  }
  names = list(ops)
  for index in params['order'].numpy():
    name = names[index]
    frames = tf.clip_by_value(ops[name](frames, params[name]), 0.0, 1.0)
  return frames.numpy()


def test_color_jitter_matches_simclr_tf_image_reference():
  # Strength 0 leaves only the identity; strength 1 equals SimCLR's ops in
  # the drawn order with the drawn factors.
  frames = tf.constant(_colourful_image()[None] / 255.0, tf.float32)
  unchanged = color_jitter(frames, tf.constant([1, 1]), 0.0)
  np.testing.assert_allclose(unchanged, frames, atol=1e-5)
  for seed in ([1, 1], [2, 7], [5, 3]):
    seed = tf.constant(seed)
    changed = color_jitter(frames, seed, 1.0).numpy()
    params = color_ops.sample_jitter_params(seed, 1.0)
    assert np.abs(changed - frames).max() > 0.01
    np.testing.assert_allclose(changed, _simclr_jitter(frames, params),
                               atol=1e-5)


def test_blur_probability():
  # An impulse reveals any blur, however small sigma is.
  impulse = np.zeros([2, 9, 9, 3], np.float32)
  impulse[:, 4, 4] = 1.0
  outputs = tf.function(lambda seeds: tf.map_fn(
      lambda s: random_blur(tf.constant(impulse), s, 0.3, 5),
      seeds, fn_output_signature=tf.float32))(_seeds(1000)).numpy()
  blurred = outputs[:, :, 4, 5, 0] > 0
  assert np.all(blurred[:, 0] == blurred[:, 1])
  assert abs(blurred[:, 0].mean() - 0.3) < 0.05


def _numpy_blur(image, sigma, size):
  """Separable Gaussian blur with zero padding, in float64."""
  x = np.arange(size) - size // 2
  weights = np.exp(-x**2 / (2 * sigma**2))
  weights /= weights.sum()
  blurred = np.apply_along_axis(
      lambda v: np.convolve(v, weights, mode='same'), 2, image)
  return np.apply_along_axis(
      lambda v: np.convolve(v, weights, mode='same'), 1, blurred)


def _cpu_blur(size):
  # Unknown dimensions at trace time, as in a tf.data map.
  return tf.function(
      lambda frames, sigma: gaussian_blur.gaussian_blur_cpu(frames, sigma, size),
      input_signature=[tf.TensorSpec([None, None, None, 3]),
                       tf.TensorSpec([])])


def test_gaussian_blur_matches_numpy_reference():
  rng = np.random.default_rng(0)
  image = rng.uniform(size=[2, 12, 10, 3]).astype(np.float32)
  sigma, size = 1.3, gaussian_blur.gaussian_kernel_size(50)
  assert size == 5
  reference = _numpy_blur(image, sigma, size)
  blurred = gaussian_blur.gaussian_blur(tf.constant(image), tf.constant(sigma),
                                    size)
  np.testing.assert_allclose(blurred, reference, atol=1e-5)
  np.testing.assert_allclose(_cpu_blur(size)(image, sigma), reference,
                             atol=1e-5)


# Up to sigma = 1.04 the CPU blur filters rows with a depthwise convolution,
# above with the compiled shifted sum.
@pytest.mark.parametrize('sigma', [0.1, 0.5, 1.0, 1.1, 1.7, 2.0])
def test_cpu_blur_matches_full_filter(sigma):
  rng = np.random.default_rng(2)
  frames = rng.uniform(size=[2, 40, 30, 3]).astype(np.float32)
  size = gaussian_blur.gaussian_kernel_size(224)
  reference = _numpy_blur(frames, sigma, size)
  np.testing.assert_allclose(
      gaussian_blur.gaussian_blur(tf.constant(frames), tf.constant(sigma), size),
      reference, atol=1e-6)
  # Dropping the taps below 2**-24 of the centre one is invisible at float32
  # precision.
  np.testing.assert_allclose(_cpu_blur(size)(frames, sigma), reference,
                             atol=1e-6)


def _tricky_frames():
  """Random colours, plus grays, black, white, ties and pure hues."""
  rng = np.random.default_rng(4)
  frames = rng.uniform(size=[3, 8, 10, 3]).astype(np.float32)
  special = [[0.5, 0.5, 0.5], [0, 0, 0], [1, 1, 1], [0.3, 0.3, 0.9],
             [1, 0, 0], [0.2, 0.7, 0.7], [0.9, 0.9, 0.1], [0, 1, 0.5],
             [0.4, 0.1, 0.4], [1, 1, 0]]
  frames[0, 0] = special
  return frames


def _both(fn):
  """`fn` eagerly and compiled with XLA."""
  return [fn, tf.function(fn, jit_compile=True)]


@pytest.mark.parametrize('factor', [0.2, 0.7, 1.0, 1.5, 1.8])
def test_contrast_and_saturation_match_tf_image(factor):
  frames = tf.constant(_tricky_frames())
  for contrast in _both(color_ops.adjust_contrast):
    np.testing.assert_allclose(
        contrast(frames, factor),
        tf.clip_by_value(tf.image.adjust_contrast(frames, factor), 0.0, 1.0),
        atol=1e-6)
  for saturation in _both(color_ops.adjust_saturation):
    np.testing.assert_allclose(saturation(frames, factor),
                               tf.image.adjust_saturation(frames, factor),
                               atol=2e-6)


@pytest.mark.parametrize('delta', [-0.2, -0.07, 0.0, 0.13, 0.2])
def test_hue_and_merged_saturation_hue_match_tf_image(delta):
  frames = tf.constant(_tricky_frames())
  for hue in _both(color_ops.adjust_hue):
    np.testing.assert_allclose(hue(frames, delta),
                               tf.image.adjust_hue(frames, delta), atol=2e-6)
  for factor in (0.2, 1.0, 1.8):
    saturation_first = tf.image.adjust_hue(
        tf.image.adjust_saturation(frames, factor), delta)
    hue_first = tf.image.adjust_saturation(
        tf.image.adjust_hue(frames, delta), factor)
    for merged in _both(color_ops.adjust_saturation_and_hue):
      result = merged(frames, factor, delta)
      np.testing.assert_allclose(result, saturation_first, atol=3e-6)
      np.testing.assert_allclose(result, hue_first, atol=3e-6)


def test_fused_blocks_split_every_order_at_channel_mixing_operations():
  mixing = {color_ops.SATURATION, color_ops.HUE, color_ops_cpu.GRAYSCALE}
  for order in itertools.permutations(range(4)):
    for tail in ([], [color_ops_cpu.GRAYSCALE]):
      ops = list(order) + tail
      blocks = color_ops_cpu.fused_blocks(ops)
      assert [op for block in blocks for op in block] == ops
      for block in blocks:
        mixes = [i for i, op in enumerate(block) if op in mixing]
        if mixes:
          # One mixing operation, or saturation and hue side by side.
          assert len(mixes) == 1 or (
              len(mixes) == 2 and mixes[1] == mixes[0] + 1 and
              {block[i] for i in mixes} == {color_ops.SATURATION,
                                            color_ops.HUE})
          assert color_ops.CONTRAST not in block[mixes[0]:]


def _jitter_params(order, brightness=1.3, contrast=0.7, saturation=1.6,
                   hue=0.15):
  return {'brightness': tf.constant(brightness),
          'contrast': tf.constant(contrast),
          'saturation': tf.constant(saturation), 'hue': tf.constant(hue),
          'order': tf.constant(order, tf.int32)}


def _reference_jitter(frames, params):
  """The four tf.image operations composed in Python, in `params` order."""
  ops = [
      lambda x: tf.minimum(x * params['brightness'], 1.0),
      lambda x: tf.clip_by_value(
          tf.image.adjust_contrast(x, params['contrast']), 0.0, 1.0),
      lambda x: tf.image.adjust_saturation(x, params['saturation']),
      lambda x: tf.image.adjust_hue(x, params['hue']),
  ]
  for i in params['order'].numpy():
    frames = ops[i](frames)
  return frames


@pytest.mark.parametrize('order', [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]])
def test_compiled_color_distortion_matches_tf_image(order):
  rng = np.random.default_rng(1)
  frames = tf.constant(rng.uniform(size=[3, 20, 24, 3]), tf.float32)
  params = {**_jitter_params(order), 'jitter': tf.constant(True),
            'grayscale': tf.constant(False)}
  compiled = color_ops.distort_colors_compiled(frames, params)
  reference = _reference_jitter(frames, params)
  # The RGB-space forms of saturation and hue round differently from the
  # HSV round trips of tf.image, by a few float32 ulps.
  np.testing.assert_allclose(compiled, reference, atol=1e-5)
  gray = color_ops.distort_colors_compiled(
      frames, {**params, 'grayscale': tf.constant(True)})
  np.testing.assert_allclose(
      gray, tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(reference)),
      atol=1e-5)


def test_compiled_color_distortion_matches_uncompiled_for_random_draws():
  frames = tf.constant(_colourful_image()[None] / 255.0, tf.float32)
  for seed in range(40):
    params = color_ops.sample_photometric_params(
        tf.constant([seed, 5]), 0.8, 1.0, 0.2, 0.5)
    np.testing.assert_allclose(
        color_ops.distort_colors_compiled(frames, params),
        color_ops.distort_colors(frames, params), atol=1e-5)


@pytest.mark.parametrize('grayscale', [False, True])
def test_cpu_color_distortion_matches_tf_image_for_every_order(grayscale):
  frames = _tricky_frames()
  # The host path receives resized frames in [0, 255].
  distort = tf.function(lambda frames, params: color_ops_cpu.distort_colors_cpu(
      frames, params, 1.0 / 255.0))
  orders = [None, *itertools.permutations(range(4))]
  for order in orders:
    params = {**_jitter_params(order or [0, 1, 2, 3]),
              'jitter': tf.constant(order is not None),
              'grayscale': tf.constant(grayscale)}
    expected = tf.constant(frames)
    if order is not None:
      expected = _reference_jitter(expected, params)
    if grayscale:
      expected = tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(expected))
    np.testing.assert_allclose(distort(frames * 255.0, params), expected,
                               atol=1e-5, err_msg=str(order))


def test_float_resize_equals_uint8_resize():
  rng = np.random.default_rng(3)
  for height, width in [(20, 30), (9, 7), (16, 16)]:
    frames = rng.integers(0, 256, [2, height, width, 3]).astype(np.uint8)
    np.testing.assert_array_equal(
        spatial_augmentation.resize_unscaled(frames, OUT),
        tf.image.resize(frames, OUT))


def test_augment_clip_is_geometric_then_photometric_stage():
  # The fast host path equals the straightforward composition: decode,
  # crop, flip and resize, then the colour and blur of the same draws.
  encoded = _encode(_colourful_image(), 2)
  params = data_cfg.SpatialAugmentation()
  for seed in range(8):
    seed = tf.constant([seed, 9])
    geometric = spatial_augmentation.decode_and_augment_clip(
        encoded, seed, OUT, params, photometric=False)
    photometric = spatial_augmentation.clip_photometric_params(seed, params)
    reference = color_ops.blur(
        color_ops.distort_colors(geometric, photometric), photometric,
        gaussian_blur.gaussian_kernel_size(OUT[0]))
    np.testing.assert_allclose(
        spatial_augmentation.decode_and_augment_clip(encoded, seed, OUT,
                                                     params),
        reference, atol=1e-5)
