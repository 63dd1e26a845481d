"""Tests for cvrl_tf.ops.tclr_augmentation against NumPy references."""
import colorsys

import numpy as np
import pytest
import tensorflow as tf

from cvrl_tf.configs import tclr_data
from cvrl_tf.ops import tclr_augmentation as tclr_aug

AUG = tclr_data.TclrAugmentation()
LUMA = np.array([0.299, 0.587, 0.114])


def _frames(seed=0, shape=(2, 6, 8, 3)):
  return np.random.default_rng(seed).uniform(size=shape).astype(np.float32)


def _np_contrast(x, f, weights=LUMA):
  mean = (x @ weights).mean(axis=(1, 2))[:, None, None, None]
  return np.clip(mean + f * (x - mean), 0, 1)


def _np_saturation(x, f, weights=LUMA):
  gray = (x @ weights)[..., None]
  return np.clip(gray + f * (x - gray), 0, 1)


def _np_hue(x, delta):
  flat = x.reshape(-1, 3)
  out = []
  for r, g, b in flat:
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    out.append(colorsys.hsv_to_rgb((h + delta) % 1.0, s, v))
  return np.array(out, np.float32).reshape(x.shape)


def _np_gray(x, weights=LUMA):
  return np.repeat((x @ weights)[..., None], 3, axis=-1)


def _np_erase(x, box):
  y, x0, h, w = box
  out = x.copy()
  out[:, y:y + h, x0:x0 + w] = 0
  return out


def _np_apply(x, p, weights=LUMA):
  """TCLR's `augmentation` order (dl_tclr.py), on [0, 1] floats."""
  if p['contrast_first']:
    x = _np_contrast(x, p['contrast_factor'], weights)
  if p['hue']:
    x = _np_hue(x, p['hue_delta'])
  if p['saturation']:
    x = _np_saturation(x, p['saturation_factor'], weights)
  if p['brightness']:
    x = np.clip(x * p['brightness_factor'], 0, 1)
  if p['contrast_last']:
    x = _np_contrast(x, p['contrast_factor'], weights)
  if p['grayscale']:
    x = _np_gray(x, weights)
    if p['gamma']:
      x = x ** p['gamma_value']
  elif p['channel_drop']:
    x = x.copy()
    x[..., p['dropped_channel']] = 0
  if p['flip']:
    x = x[:, :, ::-1]
  if p['erase']:
    x = _np_erase(x, p['erase_box'])
  return x


def test_contrast_saturation_gray_gamma_drop_match_numpy():
  x = _frames()
  tx = tf.constant(x)
  np.testing.assert_allclose(tclr_aug.adjust_contrast(tx, 1.2).numpy(),
                             _np_contrast(x, 1.2), atol=1e-6)
  np.testing.assert_allclose(tclr_aug.adjust_contrast(tx, 0.8, True).numpy(),
                             _np_contrast(x, 0.8, LUMA[::-1]), atol=1e-6)
  np.testing.assert_allclose(tclr_aug.adjust_saturation(tx, 1.25).numpy(),
                             _np_saturation(x, 1.25), atol=1e-6)
  np.testing.assert_allclose(tclr_aug.to_grayscale(tx).numpy(), _np_gray(x),
                             atol=1e-6)
  np.testing.assert_allclose(tclr_aug.adjust_gamma(tx, 0.8).numpy(),
                             x ** 0.8, rtol=1e-5)
  dropped = tclr_aug.drop_channel(tx, tf.constant(1)).numpy()
  assert np.all(dropped[..., 1] == 0)
  np.testing.assert_array_equal(dropped[..., [0, 2]], x[..., [0, 2]])


def test_erase_cuts_the_box_at_the_border():
  x = _frames(shape=(1, 6, 8, 3))
  box = [4, 5, 9, 9]
  np.testing.assert_array_equal(
      tclr_aug.erase(tf.constant(x), tf.constant(box)).numpy(),
      _np_erase(x, box))


@pytest.mark.parametrize('seed', range(6))
def test_clip_augmentation_matches_numpy_reference(seed):
  # Probabilities raised so that every branch is taken in some seed.
  aug = AUG.replace(contrast_prob=0.6, hue_prob=0.7, saturation_prob=0.7,
                    brightness_prob=0.7, grayscale_prob=0.4,
                    channel_drop_prob=0.4, bgr_luma=seed % 2 == 1)
  params = tclr_aug.sample_clip_params(
      tf.constant([seed, 11], tf.int64), tf.constant([24, 32]), (6, 8), aug)
  x = _frames(seed)
  got = tclr_aug.apply_clip_params(tf.constant(x), params, aug.bgr_luma)
  p = {k: v.numpy() for k, v in params.items()}
  weights = LUMA[::-1] if aug.bgr_luma else LUMA
  np.testing.assert_allclose(got.numpy(), _np_apply(x, p, weights),
                             atol=2e-5)


@tf.function
def _draw_params(seeds, image_size):
  return tf.map_fn(
      lambda s: tclr_aug.sample_clip_params(s, image_size, (112, 112), AUG),
      seeds, fn_output_signature={
          k: tf.TensorSpec(v.shape, v.dtype) for k, v in
          tclr_aug.sample_clip_params(
              tf.constant([0, 0], tf.int64), image_size, (112, 112),
              AUG).items()})


def test_parameter_frequencies_and_ranges_are_tclrs():
  n = 4000
  seeds = tf.stack([tf.range(n, dtype=tf.int64),
                    tf.fill([n], tf.constant(5, tf.int64))], 1)
  p = {k: v.numpy() for k, v in
       _draw_params(seeds, tf.constant([240, 320])).items()}
  expected = {'contrast_first': 0.125, 'contrast_last': 0.125, 'hue': 0.3,
              'saturation': 0.3, 'brightness': 0.3, 'grayscale': 0.175,
              'channel_drop': 0.125, 'flip': 0.5, 'erase': 0.5,
              'gamma': 0.75}
  for key, prob in expected.items():
    tolerance = 4 * np.sqrt(prob * (1 - prob) / n)
    assert abs(p[key].mean() - prob) < tolerance, (key, p[key].mean())
  assert not np.any(p['grayscale'] & p['channel_drop'])
  assert not np.any(p['contrast_first'] & p['contrast_last'])
  for key, (low, high) in [('contrast_factor', (0.75, 1.25)),
                           ('hue_delta', (-0.1, 0.1)),
                           ('saturation_factor', (0.75, 1.25)),
                           ('brightness_factor', (0.75, 1.25)),
                           ('gamma_value', (0.75, 1.25))]:
    assert p[key].min() >= low and p[key].max() < high, key
  y0, x0, side, side_w = p['window'].T
  np.testing.assert_array_equal(side, side_w)
  # side = int(240 * scale), scale in [0.6, 1).
  assert side.min() >= 144 and side.max() <= 240
  scale = side / 240.0
  assert np.all(y0 <= np.floor(240 * (1 - scale) + 1e-3))
  assert np.all(x0 + side <= 320) and np.all(y0 + side <= 240)
  assert x0.max() > 100  # x0 ranges over [0, 320 (1 - scale)].
  assert set(np.unique(p['dropped_channel'])) == {0, 1, 2}
  ey, ex, eh, ew = p['erase_box'].T
  assert eh.min() == 9 and eh.max() == 18 and ew.min() == 9
  assert ey.max() == 111 and ex.max() == 111 and ey.min() == 0


def test_augment_clip_decodes_and_keeps_range():
  frame = tf.io.encode_jpeg(tf.constant(
      (np.random.default_rng(0).uniform(size=(24, 32, 3)) * 255).astype(
          np.uint8)))
  clip = tclr_aug.augment_clip(tf.stack([frame] * 4),
                               tf.constant([1, 2], tf.int64), (16, 16), AUG)
  assert clip.shape == (4, 16, 16, 3)
  assert clip.numpy().min() >= 0 and clip.numpy().max() <= 1
  # All frames of a clip share the parameters.
  np.testing.assert_array_equal(clip[0].numpy(), clip[3].numpy())
