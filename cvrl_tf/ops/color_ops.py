"""Photometric augmentation of clips: SimCLR colour jitter, grayscale, blur.

Every random draw happens once per clip and applies to all frames of a float
[N, H, W, 3] clip with values in [0, 1], which is what makes the augmentation
temporally consistent (CVRL sec. 3.4). Per-frame parameters are obtained by
mapping these functions over single frames.

Sampling and application are separate stages: `sample_photometric_params`
turns a stateless seed into a dict of scalar parameters, `distort_colors` and
`blur` apply them. The application is then the same computation on the host
and on an accelerator (see `cvrl_tf.ops.device_augmentation`), and the
colour stage can be compiled with XLA, which fuses the dozens of elementwise
passes of the four jitter operations into a few loops (~4x less CPU time than
the unfused TensorFlow kernels). Parameters are drawn outside compiled code
because XLA's stateless random generator yields different numbers.
"""
import math
from typing import Callable, Dict

import tensorflow as tf

Params = Dict[str, tf.Tensor]

# Gaussian taps farther than this many sigmas weigh less than 2**-24 of the
# centre tap, below float32 resolution of the normalised kernel.
_NEGLIGIBLE_TAP_SIGMAS = math.sqrt(2.0 * 24.0 * math.log(2.0))

# Rows: input R, G, B; columns: output R, G, B, all the ITU-R 601 luma used
# by `tf.image.rgb_to_grayscale`.
_LUMA_TO_RGB = [[0.2989] * 3, [0.5870] * 3, [0.1140] * 3]


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
  return tf.cond(_bernoulli(seed, p), lambda: fn(frames), lambda: frames)


def _uniform(seed: tf.Tensor, low: float, high: float) -> tf.Tensor:
  return tf.random.stateless_uniform([], seed, minval=low, maxval=high)


def _bernoulli(seed: tf.Tensor, p: float) -> tf.Tensor:
  return tf.random.stateless_uniform([], seed) < p


def sample_jitter_params(seed: tf.Tensor, strength: float) -> Params:
  """Draws SimCLR colour-jitter factors and a random order of the four ops.

  Brightness multiplies by a factor in [max(0, 1 - 0.8 s), 1 + 0.8 s];
  contrast and saturation scale by factors in [1 - 0.8 s, 1 + 0.8 s]; hue
  shifts by a delta in [-0.2 s, 0.2 s].

  Args:
    seed: [2] integer stateless seed.
    strength: SimCLR colour strength s.

  Returns:
    Float32 scalars 'brightness', 'contrast', 'saturation', 'hue' and int32
    [4] 'order', a permutation of the four operations in that order.
  """
  b_seed, c_seed, s_seed, h_seed, order_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 5))
  delta = 0.8 * strength
  return {
      'brightness': _uniform(b_seed, max(0.0, 1.0 - delta), 1.0 + delta),
      'contrast': _uniform(c_seed, 1.0 - delta, 1.0 + delta),
      'saturation': _uniform(s_seed, 1.0 - delta, 1.0 + delta),
      'hue': _uniform(h_seed, -0.2 * strength, 0.2 * strength),
      'order': tf.argsort(tf.random.stateless_uniform([4], order_seed)),
  }


def jitter(frames: tf.Tensor, params: Params) -> tf.Tensor:
  """Applies colour jitter with the factors of `sample_jitter_params`.

  The four operations run in `params['order']`, each followed by clipping to
  [0, 1]; contrast scales around each frame's per-channel mean, as
  `tf.image.adjust_contrast`.

  Args:
    frames: float32 [N, H, W, 3] in [0, 1].
    params: output of `sample_jitter_params` (extra keys are ignored).

  Returns:
    float32 [N, H, W, 3] in [0, 1].
  """
  # Each transform clips its result to [0, 1] only where it can leave that
  # range: saturation and hue keep HSV value and saturation within [0, 1].
  transforms = [
      lambda x: tf.minimum(x * params['brightness'], 1.0),
      lambda x: tf.clip_by_value(
          tf.image.adjust_contrast(x, params['contrast']), 0.0, 1.0),
      lambda x: tf.image.adjust_saturation(x, params['saturation']),
      lambda x: tf.image.adjust_hue(x, params['hue']),
  ]
  for i in range(4):
    frames = tf.switch_case(params['order'][i],
                            [lambda f=f: f(frames) for f in transforms])
  return frames


def color_jitter(frames: tf.Tensor, seed: tf.Tensor,
                 strength: float = 1.0) -> tf.Tensor:
  """SimCLR colour jitter with random order, one draw for the whole clip.

  Args:
    frames: float32 [N, H, W, 3] in [0, 1].
    seed: [2] integer stateless seed.
    strength: SimCLR colour strength s, see `sample_jitter_params`.

  Returns:
    float32 [N, H, W, 3] in [0, 1].
  """
  return jitter(frames, sample_jitter_params(seed, strength))


def to_grayscale(frames: tf.Tensor) -> tf.Tensor:
  """Converts float [N, H, W, 3] RGB to grayscale, keeping 3 equal channels."""
  # One [P, 3] x [3, 3] matmul is ~3x faster than rgb_to_grayscale + tile.
  gray = tf.reshape(frames, [-1, 3]) @ tf.constant(_LUMA_TO_RGB, frames.dtype)
  return tf.reshape(gray, tf.shape(frames))


def gaussian_kernel_size(image_size: int) -> int:
  """Blur kernel size: a tenth of the image size, made odd as in SimCLR."""
  return 2 * (image_size // 20) + 1


def gaussian_blur(frames: tf.Tensor, sigma: tf.Tensor, kernel_size: int,
                  drop_negligible_taps: bool = False) -> tf.Tensor:
  """Separable Gaussian blur with zero padding (SimCLR's 'SAME' convolution).

  Args:
    frames: float32 [N, H, W, C].
    sigma: float32 scalar standard deviation in pixels.
    kernel_size: odd filter length.
    drop_negligible_taps: shorten the filter to the taps that weigh at least
      2**-24 of the centre one. The result equals the full filter's to
      float32 precision, and is ~1.7x cheaper on average for sigma in
      [0.1, 2.0], but the filter length then depends on `sigma`, which XLA
      does not allow.

  Returns:
    float32 [N, H, W, C].
  """
  radius = kernel_size // 2
  if drop_negligible_taps:
    radius = tf.minimum(
        radius, tf.cast(tf.math.ceil(sigma * _NEGLIGIBLE_TAP_SIGMAS), tf.int32))
  x = tf.cast(tf.range(-radius, radius + 1), tf.float32)
  weights = tf.exp(-tf.square(x) / (2.0 * tf.square(sigma)))
  weights /= tf.reduce_sum(weights)
  channels = tf.shape(frames)[-1]
  kernel_h = tf.tile(tf.reshape(weights, [1, -1, 1, 1]), [1, 1, channels, 1])
  kernel_v = tf.reshape(kernel_h, [-1, 1, channels, 1])
  blurred = tf.nn.depthwise_conv2d(frames, kernel_h, [1, 1, 1, 1], 'SAME')
  return tf.nn.depthwise_conv2d(blurred, kernel_v, [1, 1, 1, 1], 'SAME')


def sample_photometric_params(seed: tf.Tensor, jitter_prob: float,
                              jitter_strength: float, grayscale_prob: float,
                              blur_prob: float) -> Params:
  """Draws all photometric parameters of one clip.

  Args:
    seed: [2] integer stateless seed.
    jitter_prob: probability of colour jitter.
    jitter_strength: SimCLR colour strength.
    grayscale_prob: probability of converting to grayscale.
    blur_prob: probability of Gaussian blur.

  Returns:
    Scalars 'jitter', 'grayscale', 'blur' (bool: whether to apply), 'sigma'
    (float32 blur sigma ~ U[0.1, 2.0]) and the keys of
    `sample_jitter_params`.
  """
  (jitter_seed, jitter_apply_seed, gray_seed, sigma_seed,
   blur_apply_seed) = tf.unstack(tf.random.experimental.stateless_split(
       seed, 5))
  return {
      'jitter': _bernoulli(jitter_apply_seed, jitter_prob),
      'grayscale': _bernoulli(gray_seed, grayscale_prob),
      'blur': _bernoulli(blur_apply_seed, blur_prob),
      'sigma': _uniform(sigma_seed, 0.1, 2.0),
      **sample_jitter_params(jitter_seed, jitter_strength),
  }


def distort_colors(frames: tf.Tensor, params: Params) -> tf.Tensor:
  """SimCLR colour distortion: jitter if `params['jitter']`, then grayscale.

  Args:
    frames: float32 [N, H, W, 3] in [0, 1].
    params: output of `sample_photometric_params`.

  Returns:
    float32 [N, H, W, 3] in [0, 1].
  """
  frames = tf.cond(params['jitter'], lambda: jitter(frames, params),
                   lambda: frames)
  return tf.cond(params['grayscale'], lambda: to_grayscale(frames),
                 lambda: frames)


# Compiled per clip shape. Inside an XLA computation (a TPU step) it is
# inlined like any other function.
distort_colors_compiled = tf.function(distort_colors, jit_compile=True)


def blur(frames: tf.Tensor, params: Params, kernel_size: int,
         drop_negligible_taps: bool = False) -> tf.Tensor:
  """Gaussian blur with `params['sigma']` if `params['blur']`.

  Args:
    frames: float32 [N, H, W, 3].
    params: output of `sample_photometric_params`.
    kernel_size: odd filter length, see `gaussian_kernel_size`.
    drop_negligible_taps: see `gaussian_blur`.

  Returns:
    float32 [N, H, W, 3].
  """
  return tf.cond(
      params['blur'],
      lambda: gaussian_blur(frames, params['sigma'], kernel_size,
                            drop_negligible_taps),
      lambda: frames)


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
  params = sample_photometric_params(seed, 0.0, 0.0, 0.0, p)
  return blur(frames, params, kernel_size)
