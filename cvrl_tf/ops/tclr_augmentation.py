"""TCLR's per-clip augmentation, from the clip's JPEG frames.

TCLR (github.com/DAVEISHAN/TCLR, `tclr_pretraining/dl_tclr.py`) draws one
set of parameters per clip and augmentation in `build_clip` (10 sets per
video) and applies them to every frame of the clip in
`ss_dataset_gen1.augmentation`, with torchvision's PIL functions:

  crop        a square of side `scale x H` (`int(ori_reso_h *
              cropping_factor1)`), scale ~ U[0.6, 1], corner (y0, x0)
              uniform over the integers in [0, H (1 - scale)] x
              [0, W (1 - scale)], resized bilinearly (`resized_crop`,
              `interpolation=2`; PIL filters when it shrinks, hence
              `antialias`);
  colour      with the uniform draws r[0..7] of `random_array`:
              contrast (r0 < 0.125), hue (r1 < 0.3), saturation (r2 < 0.3),
              brightness (r3 < 0.3), contrast (0.125 < r0 < 0.25);
              then grayscale (0.7 < r4 < 0.875) followed by gamma
              (r5 > 0.25), or one channel set to 0 (r4 >= 0.875);
  flip        r6 > 0.5;
  erase       r7 < 0.5: a rectangle of height and width each in
              [erase_size / 2, erase_size) (19 at 112 x 112) with its
              top-left corner uniform over the frame, set to 0.

The PIL operations, on values in [0, 1]: contrast blends with the mean of
the frame's grayscale (`ImageEnhance.Contrast`), saturation with the
grayscale pixel (`ImageEnhance.Color`), brightness with black; hue rotates
the HSV hue; gamma is x ** gamma. Luma weights are ITU-R 601 (PIL's `L`
mode). Probabilities come from `TclrAugmentation`, whose defaults are the
values above.

`bgr_luma` in `TclrAugmentation` reproduces one property of TCLR's code:
it decodes with OpenCV, whose frames are BGR, and hands them to PIL as RGB,
so grayscale, contrast and saturation weigh red and blue swapped.
"""
from typing import Dict, Tuple

import tensorflow as tf

from cvrl_tf.configs import tclr_data
from cvrl_tf.ops import color_ops
from cvrl_tf.ops import spatial_augmentation

Params = Dict[str, tf.Tensor]

# PIL's `L` conversion: L = R * 299/1000 + G * 587/1000 + B * 114/1000.
RGB_LUMA = (0.299, 0.587, 0.114)

# `random_array` positions in `dl_tclr.py`.
_CONTRAST, _HUE, _SATURATION, _BRIGHTNESS, _GRAY_OR_DROP, _GAMMA, _FLIP, \
    _ERASE = range(8)


def luma(frames: tf.Tensor, bgr_luma: bool = False) -> tf.Tensor:
  """Grayscale of float [..., 3] frames: [..., 1]."""
  weights = RGB_LUMA[::-1] if bgr_luma else RGB_LUMA
  return tf.reduce_sum(frames * tf.constant(weights, frames.dtype), -1,
                       keepdims=True)


def crop_window(image_size: tf.Tensor, scale: tf.Tensor,
                corner_draws: tf.Tensor) -> tf.Tensor:
  """TCLR's square crop window.

  Args:
    image_size: int32 [2] (H, W).
    scale: float32 scalar in (0, 1], the side as a fraction of the short
      side (TCLR's frames are landscape: the height).
    corner_draws: float32 [2] uniform in [0, 1), for y0 and x0.

  Returns:
    int32 [4] (y0, x0, side, side), y0 in [0, floor(H (1 - scale))] and
    x0 in [0, floor(W (1 - scale))] (`np.random.randint(0, W - W * scale +
    1)`).
  """
  size = tf.cast(image_size, tf.float32)
  side = tf.maximum(tf.floor(scale * tf.reduce_min(size)), 1.0)
  num_corners = tf.floor(size * (1.0 - scale)) + 1.0
  corner = tf.minimum(tf.floor(corner_draws * num_corners), size - side)
  return tf.cast(tf.concat([corner, [side, side]], 0), tf.int32)


def sample_clip_params(seed: tf.Tensor, image_size: tf.Tensor,
                       output_size: Tuple[int, int],
                       aug: tclr_data.TclrAugmentation) -> Params:
  """Draws one clip's augmentation parameters.

  Args:
    seed: [2] integer stateless seed.
    image_size: int32 [2] (H, W) of the video's frames.
    output_size: (height, width) of the output frames.
    aug: the augmentation's config.

  Returns:
    'window' int32 [4] (y0, x0, side, side); bools 'contrast_first',
    'contrast_last', 'hue', 'saturation', 'brightness', 'grayscale',
    'gamma', 'channel_drop', 'flip', 'erase'; float32 'contrast_factor',
    'hue_delta', 'saturation_factor', 'brightness_factor', 'gamma_value';
    int32 'dropped_channel' and 'erase_box' [4] (y, x, height, width) in
    output pixels.
  """
  seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 12))
  r = tf.random.stateless_uniform([8], seeds[0])

  def uniform(i, value_range):
    return tf.random.stateless_uniform([], seeds[i], *value_range)

  scale = uniform(1, aug.crop_scale_range)
  window = crop_window(image_size, scale,
                       tf.random.stateless_uniform([2], seeds[2]))
  out_h, out_w = output_size
  erase_corner = tf.cast(tf.floor(
      tf.random.stateless_uniform([2], seeds[3]) * [out_h, out_w]), tf.int32)
  erase_size = tf.random.stateless_uniform(
      [2], seeds[4], aug.erase_size_range[0], aug.erase_size_range[1],
      dtype=tf.int32)
  drop_from = 1.0 - aug.channel_drop_prob
  half_contrast = aug.contrast_prob / 2
  return {
      'window': window,
      'contrast_first': r[_CONTRAST] < half_contrast,
      'contrast_last': (r[_CONTRAST] > half_contrast) & (
          r[_CONTRAST] < aug.contrast_prob),
      'hue': r[_HUE] < aug.hue_prob,
      'saturation': r[_SATURATION] < aug.saturation_prob,
      'brightness': r[_BRIGHTNESS] < aug.brightness_prob,
      'grayscale': (r[_GRAY_OR_DROP] > drop_from - aug.grayscale_prob) & (
          r[_GRAY_OR_DROP] < drop_from),
      'gamma': r[_GAMMA] > 1.0 - aug.gamma_prob,
      'channel_drop': r[_GRAY_OR_DROP] >= drop_from,
      'flip': r[_FLIP] > 1.0 - aug.flip_prob,
      'erase': r[_ERASE] < aug.erase_prob,
      'contrast_factor': uniform(5, aug.contrast_range),
      'hue_delta': uniform(6, aug.hue_range),
      'saturation_factor': uniform(7, aug.saturation_range),
      'brightness_factor': uniform(8, aug.brightness_range),
      'gamma_value': uniform(9, aug.gamma_range),
      'dropped_channel': tf.random.stateless_uniform(
          [], seeds[10], 0, 3, dtype=tf.int32),
      'erase_box': tf.concat([erase_corner, erase_size], 0),
  }


def adjust_contrast(frames: tf.Tensor, factor: tf.Tensor,
                    bgr_luma: bool = False) -> tf.Tensor:
  """PIL contrast: blend with each frame's mean grayscale, clipped.

  Args:
    frames: float32 [N, H, W, 3] in [0, 1].
    factor: float32 scalar.
    bgr_luma: see `luma`.

  Returns:
    float32 [N, H, W, 3] in [0, 1].
  """
  mean = tf.reduce_mean(luma(frames, bgr_luma), [1, 2, 3], keepdims=True)
  return tf.clip_by_value(mean + factor * (frames - mean), 0.0, 1.0)


def adjust_saturation(frames: tf.Tensor, factor: tf.Tensor,
                      bgr_luma: bool = False) -> tf.Tensor:
  """PIL saturation: blend with the pixel's grayscale, clipped."""
  gray = luma(frames, bgr_luma)
  return tf.clip_by_value(gray + factor * (frames - gray), 0.0, 1.0)


def to_grayscale(frames: tf.Tensor, bgr_luma: bool = False) -> tf.Tensor:
  """Grayscale with 3 equal channels."""
  return tf.broadcast_to(luma(frames, bgr_luma), tf.shape(frames))


def adjust_gamma(frames: tf.Tensor, gamma: tf.Tensor) -> tf.Tensor:
  """x ** gamma, gain 1 (`adjust_gamma(image, gamma, gain=1)`)."""
  return tf.pow(frames, gamma)


def drop_channel(frames: tf.Tensor, channel: tf.Tensor) -> tf.Tensor:
  """Sets channel `channel` of [..., 3] frames to 0."""
  keep = 1.0 - tf.one_hot(channel, 3, dtype=frames.dtype)
  return frames * keep


def erase(frames: tf.Tensor, box: tf.Tensor) -> tf.Tensor:
  """Sets rows [y, y + h) and columns [x, x + w) of [N, H, W, C] frames to 0.

  Like `torchvision.transforms.functional.erase`, the box is cut at the
  frame's border.
  """
  y, x, height, width = tf.unstack(box)
  shape = tf.shape(frames)
  rows = tf.range(shape[1])
  cols = tf.range(shape[2])
  in_rows = (rows >= y) & (rows < y + height)
  in_cols = (cols >= x) & (cols < x + width)
  inside = in_rows[:, tf.newaxis] & in_cols[tf.newaxis, :]
  return tf.where(inside[tf.newaxis, :, :, tf.newaxis], 0.0, frames)


def _maybe(apply: tf.Tensor, fn, frames: tf.Tensor) -> tf.Tensor:
  return tf.cond(apply, lambda: fn(frames), lambda: frames)


def apply_clip_params(frames: tf.Tensor, params: Params,
                      bgr_luma: bool = False) -> tf.Tensor:
  """Colour, flip and erasing of a resized clip, in TCLR's order.

  Args:
    frames: float32 [N, H, W, 3] in [0, 1].
    params: from `sample_clip_params`.
    bgr_luma: see `TclrAugmentation.bgr_luma`.

  Returns:
    float32 [N, H, W, 3] in [0, 1].
  """
  contrast = lambda x: adjust_contrast(x, params['contrast_factor'], bgr_luma)
  steps = [
      (params['contrast_first'], contrast),
      (params['hue'], lambda x: color_ops.adjust_hue(x, params['hue_delta'])),
      (params['saturation'], lambda x: adjust_saturation(
          x, params['saturation_factor'], bgr_luma)),
      (params['brightness'], lambda x: color_ops.adjust_brightness(
          x, params['brightness_factor'])),
      (params['contrast_last'], contrast),
      (params['grayscale'], lambda x: to_grayscale(x, bgr_luma)),
      (params['grayscale'] & params['gamma'],
       lambda x: adjust_gamma(x, params['gamma_value'])),
      (params['channel_drop'],
       lambda x: drop_channel(x, params['dropped_channel'])),
      (params['flip'], lambda x: tf.reverse(x, [2])),
      (params['erase'], lambda x: erase(x, params['erase_box'])),
  ]
  for apply, fn in steps:
    frames = _maybe(apply, fn, frames)
  return frames


def augment_clip(encoded: tf.Tensor, seed: tf.Tensor,
                 output_size: Tuple[int, int],
                 aug: tclr_data.TclrAugmentation) -> tf.Tensor:
  """Decodes a clip's crop window and augments it as TCLR does.

  Args:
    encoded: string [T] JPEG frames of equal size.
    seed: [2] integer stateless seed, one per clip and augmentation.
    output_size: (height, width) of the output frames.
    aug: the augmentation's config.

  Returns:
    float32 [T, height, width, 3] in [0, 1].
  """
  params = sample_clip_params(
      seed, spatial_augmentation.jpeg_size(encoded[0]), output_size, aug)
  frames = spatial_augmentation.decode_crop(encoded, params['window'])
  frames = tf.image.resize(tf.cast(frames, tf.float32), output_size,
                           antialias=True) * (1.0 / 255.0)
  # Antialiased bilinear filtering can overshoot [0, 255] slightly.
  frames = tf.clip_by_value(frames, 0.0, 1.0)
  return apply_clip_params(frames, params, aug.bgr_luma)
