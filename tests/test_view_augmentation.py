"""Per-view blur and solarization, solarization itself and the crop samplers."""
import numpy as np
import pytest
from scipy import stats
import tensorflow as tf

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.ops import color_ops
from cvrl_tf.ops import spatial_augmentation
from test_device_augmentation import PARAMS_SIGNATURE
from test_spatial_augmentation import crop_windows

NUM_DRAWS = 2000


def _seeds(n):
  return tf.stack([tf.range(n, dtype=tf.int64),
                   tf.fill([n], tf.constant(5, tf.int64))], axis=1)


def _draws(spatial, view, n=NUM_DRAWS):
  """Photometric parameters of `n` clips of view `view`: dict of [n]."""
  fn = tf.function(lambda seeds: tf.map_fn(
      lambda s: spatial_augmentation.clip_photometric_params(
          s, spatial, view), seeds, fn_output_signature=PARAMS_SIGNATURE))
  return {key: value.numpy() for key, value in fn(_seeds(n)).items()}


def test_solarize_matches_numpy_reference():
  rng = np.random.default_rng(0)
  frames = rng.uniform(size=[2, 5, 7, 3]).astype(np.float32)
  frames[0, 0, :3, 0] = [0.5, np.nextafter(np.float32(0.5), 0), 1.0]
  expected = np.where(frames >= 0.5, 1.0 - frames, frames)
  np.testing.assert_array_equal(color_ops.solarize(tf.constant(frames)),
                                expected)
  params = {'solarize': tf.constant(False)}
  np.testing.assert_array_equal(
      color_ops.maybe_solarize(tf.constant(frames), params), frames)


@pytest.mark.parametrize('choice,view,blur,solarize', [
    ('symmetric', 0, 0.5, 0.0), ('symmetric', 1, 0.5, 0.0),
    ('asymmetric', 0, 1.0, 0.0), ('asymmetric', 1, 0.1, 0.2)])
def test_per_view_probabilities(choice, view, blur, solarize):
  draws = _draws(data_cfg.SpatialAugmentation(view_blur_solarize=choice),
                 view)
  for key, p in (('blur', blur), ('solarize', solarize)):
    hits = int(draws[key].sum())
    if p in (0.0, 1.0):
      assert hits == p * NUM_DRAWS, key
    else:
      assert stats.binomtest(hits, NUM_DRAWS, p).pvalue > 1e-3, key
  # Colour jitter and grayscale do not depend on the view.
  assert stats.binomtest(int(draws['jitter'].sum()), NUM_DRAWS,
                         0.8).pvalue > 1e-3


def test_symmetric_views_and_other_draws_are_unchanged():
  symmetric = data_cfg.SpatialAugmentation()
  view_1, view_2 = _draws(symmetric, 0, 200), _draws(symmetric, 1, 200)
  asymmetric = _draws(data_cfg.SpatialAugmentation(
      view_blur_solarize='asymmetric'), 1, 200)
  for key in view_1:
    np.testing.assert_array_equal(view_1[key], view_2[key])
    if key not in ('blur', 'solarize'):
      # Only the blur and solarization decisions depend on the choice.
      np.testing.assert_array_equal(view_1[key], asymmetric[key])
  # The solarization seed extends the split that draws the others, so a
  # clip's other parameters are those it had before solarization existed.
  seed = tf.constant([3, 9], tf.int64)
  np.testing.assert_array_equal(
      tf.random.experimental.stateless_split(seed, 6)[:5],
      tf.random.experimental.stateless_split(seed, 5))


def test_crop_samplers_are_the_configurable_ones():
  assert tuple(spatial_augmentation.CROP_WINDOW_FNS) == data_cfg.CROP_SAMPLERS


def test_bounding_box_windows_within_image_and_ranges():
  windows = crop_windows(spatial_augmentation.bounding_box_crop_window, 1000)
  y, x, h, w = windows.T
  assert np.all((y >= 0) & (x >= 0) & (y + h <= 48) & (x + w <= 64))
  area = h * w / (48 * 64)
  assert area.min() >= 0.3 - 1e-6 and area.max() <= 1.0
  # tf.image's sampler: aspect ratio uniform, so mean 1.25 over [0.5, 2]
  # (log-uniform would give 1.08); heights uniform favour small areas.
  aspect = w / h
  assert 1.15 < aspect.mean() < 1.35
  assert np.median(area) < 0.62
