"""Photometric augmentation of clips: SimCLR colour jitter, grayscale, blur.

Every function draws ONE set of random parameters from its stateless `seed`
and applies it to all frames of a float [N, H, W, 3] clip with values in
[0, 1], which is what makes the augmentation temporally consistent (CVRL
sec. 3.4). Per-frame parameters are obtained by mapping these functions over
single frames.
"""
from typing import Callable

import tensorflow as tf


def random_apply(fn: Callable[[tf.Tensor], tf.Tensor], p: float,
                 frames: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
  """Applies `fn` to `frames` with probability `p`.

  Args:
    fn: maps a tensor to a tensor of the same shape and dtype.
    p: probability of applying `fn`; `fn` is not traced when p <= 0.
    frames: any tensor.
    seed: [2] integer stateless seed.

  Returns:
    `fn(frames)` or `frames`.
  """
  if p <= 0:
    return frames
  if p >= 1:
    return fn(frames)
  apply = tf.random.stateless_uniform([], seed) < p
  return tf.cond(apply, lambda: fn(frames), lambda: frames)


def _uniform(seed: tf.Tensor, low: float, high: float) -> tf.Tensor:
  return tf.random.stateless_uniform([], seed, minval=low, maxval=high)


def color_jitter(frames: tf.Tensor, seed: tf.Tensor,
                 strength: float = 1.0) -> tf.Tensor:
  """SimCLR colour jitter with random order, one draw for the whole clip.

  Brightness multiplies by a factor in [max(0, 1 - 0.8 s), 1 + 0.8 s];
  contrast and saturation scale by factors in [1 - 0.8 s, 1 + 0.8 s] (contrast
  around each frame's per-channel mean, as `tf.image.adjust_contrast`); hue
  shifts by a delta in [-0.2 s, 0.2 s]. The four operations run in a random
  order, each followed by clipping to [0, 1].

  Args:
    frames: float32 [N, H, W, 3] in [0, 1].
    seed: [2] integer stateless seed.
    strength: SimCLR colour strength s.

  Returns:
    float32 [N, H, W, 3] in [0, 1].
  """
  b_seed, c_seed, s_seed, h_seed, order_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 5))
  delta = 0.8 * strength
  brightness = _uniform(b_seed, max(0.0, 1.0 - delta), 1.0 + delta)
  contrast = _uniform(c_seed, 1.0 - delta, 1.0 + delta)
  saturation = _uniform(s_seed, 1.0 - delta, 1.0 + delta)
  hue = _uniform(h_seed, -0.2 * strength, 0.2 * strength)
  # Each transform clips its result to [0, 1] only where it can leave that
  # range: saturation and hue keep HSV value and saturation within [0, 1].
  transforms = [
      lambda x: tf.minimum(x * brightness, 1.0),
      lambda x: tf.clip_by_value(tf.image.adjust_contrast(x, contrast), 0.0,
                                 1.0),
      lambda x: tf.image.adjust_saturation(x, saturation),
      lambda x: tf.image.adjust_hue(x, hue),
  ]
  order = tf.argsort(tf.random.stateless_uniform([4], order_seed))
  for i in range(4):
    frames = tf.switch_case(order[i],
                            [lambda f=f: f(frames) for f in transforms])
  return frames


# Rows: input R, G, B; columns: output R, G, B, all the ITU-R 601 luma used
# by `tf.image.rgb_to_grayscale`.
_LUMA_TO_RGB = [[0.2989] * 3, [0.5870] * 3, [0.1140] * 3]


def to_grayscale(frames: tf.Tensor) -> tf.Tensor:
  """Converts float [N, H, W, 3] RGB to grayscale, keeping 3 equal channels."""
  # One [P, 3] x [3, 3] matmul is ~3x faster than rgb_to_grayscale + tile.
  gray = tf.reshape(frames, [-1, 3]) @ tf.constant(_LUMA_TO_RGB, frames.dtype)
  return tf.reshape(gray, tf.shape(frames))


def gaussian_kernel_size(image_size: int) -> int:
  """Blur kernel size: a tenth of the image size, made odd as in SimCLR."""
  return 2 * (image_size // 20) + 1


def gaussian_blur(frames: tf.Tensor, sigma: tf.Tensor,
                  kernel_size: int) -> tf.Tensor:
  """Separable Gaussian blur with zero padding (SimCLR's 'SAME' convolution).

  Args:
    frames: float32 [N, H, W, C].
    sigma: float32 scalar standard deviation in pixels.
    kernel_size: odd filter length.

  Returns:
    float32 [N, H, W, C].
  """
  radius = kernel_size // 2
  x = tf.range(-radius, radius + 1, dtype=tf.float32)
  weights = tf.exp(-tf.square(x) / (2.0 * tf.square(sigma)))
  weights /= tf.reduce_sum(weights)
  channels = tf.shape(frames)[-1]
  kernel_h = tf.tile(tf.reshape(weights, [1, kernel_size, 1, 1]),
                     [1, 1, channels, 1])
  kernel_v = tf.reshape(kernel_h, [kernel_size, 1, channels, 1])
  blurred = tf.nn.depthwise_conv2d(frames, kernel_h, [1, 1, 1, 1], 'SAME')
  return tf.nn.depthwise_conv2d(blurred, kernel_v, [1, 1, 1, 1], 'SAME')


def random_color_distortion(frames: tf.Tensor, seed: tf.Tensor,
                            jitter_prob: float, jitter_strength: float,
                            grayscale_prob: float) -> tf.Tensor:
  """SimCLR colour distortion: jitter with p=`jitter_prob`, then grayscale.

  Args:
    frames: float32 [N, H, W, 3] in [0, 1].
    seed: [2] integer stateless seed.
    jitter_prob: probability of `color_jitter`.
    jitter_strength: SimCLR colour strength.
    grayscale_prob: probability of `to_grayscale`.

  Returns:
    float32 [N, H, W, 3] in [0, 1].
  """
  jitter_seed, jitter_apply_seed, gray_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 3))
  frames = random_apply(
      lambda x: color_jitter(x, jitter_seed, jitter_strength), jitter_prob,
      frames, jitter_apply_seed)
  return random_apply(to_grayscale, grayscale_prob, frames, gray_seed)


def random_blur(frames: tf.Tensor, seed: tf.Tensor, p: float,
                kernel_size: int) -> tf.Tensor:
  """Gaussian blur with sigma ~ U[0.1, 2.0], applied with probability `p`.

  Args:
    frames: float32 [N, H, W, 3].
    seed: [2] integer stateless seed.
    p: probability of blurring.
    kernel_size: odd filter length, see `gaussian_kernel_size`.

  Returns:
    float32 [N, H, W, 3].
  """
  sigma_seed, apply_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 2))
  sigma = _uniform(sigma_seed, 0.1, 2.0)
  return random_apply(lambda x: gaussian_blur(x, sigma, kernel_size), p,
                      frames, apply_seed)
