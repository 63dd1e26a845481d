"""Photometric augmentation of clips: colour jitter, grayscale, blur, solarize.

Every random draw happens once per clip and applies to all frames of a float
[N, H, W, 3] clip with values in [0, 1], which is what makes the augmentation
temporally consistent (CVRL sec. 3.4). Per-frame parameters are obtained by
mapping these functions over single frames.

Sampling and application are separate stages: `sample_photometric_params`
turns a stateless seed into a dict of scalar parameters, which two
implementations apply:
  - `distort_colors` and `blur`: one static graph, compiled into the train
    step on an accelerator (`cvrl_tf.ops.device_augmentation`);
  - `color_ops_cpu.distort_colors_cpu` and `blur(..., cpu=True)`: the host
    path, which takes the random branches outside compiled code and runs
    each draw's operations as a few XLA-fused loops and CPU-friendly
    convolutions.
Both compute the same operations and agree up to float32 rounding; the
colour operations match `tf.image` to 1e-5. Parameters are drawn outside
compiled code because XLA's stateless random generator yields different
numbers.
"""
import functools
from typing import Callable, Dict, List, Optional

import tensorflow as tf

from cvrl_tf.ops import gaussian_blur

Params = Dict[str, tf.Tensor]

# The ITU-R 601 luma weights of R, G, B used by `tf.image.rgb_to_grayscale`.
_LUMA = (0.2989, 0.5870, 0.1140)


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
  return tf.cond(bernoulli(seed, p), lambda: fn(frames), lambda: frames)


def _uniform(seed: tf.Tensor, low: float, high: float) -> tf.Tensor:
  return tf.random.stateless_uniform([], seed, minval=low, maxval=high)


def bernoulli(seed: tf.Tensor, p: float) -> tf.Tensor:
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


def adjust_brightness(frames: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
  """Scales [0, 1] values by `factor` >= 0 and clips to 1."""
  return tf.minimum(frames * factor, 1.0)


def adjust_contrast(frames: tf.Tensor, factor: tf.Tensor,
                    mean: Optional[tf.Tensor] = None,
                    over_clip: bool = False) -> tf.Tensor:
  """`tf.image.adjust_contrast` of [N, H, W, 3] frames, clipped to [0, 1].

  Values move away from their frame's per-channel mean by `factor`, or,
  with `over_clip`, from the whole clip's (Model Garden's
  `random_color_jitter_3d`, which jitters the clip reshaped into one
  image).

  Args:
    frames: float32 [N, H, W, 3].
    factor: float32 scalar.
    mean: `channel_means(frames, over_clip)`, if already known.
    over_clip: scale around the clip's per-channel mean.

  Returns:
    float32 [N, H, W, 3] in [0, 1].
  """
  if mean is None:
    mean = channel_means(frames, over_clip)
  return tf.clip_by_value((frames - mean) * factor + mean, 0.0, 1.0)


def channel_means(frames: tf.Tensor, over_clip: bool = False) -> tf.Tensor:
  """Per-channel means of [N, H, W, C] frames.

  Returns:
    [N, 1, 1, C], each frame's; with `over_clip`, [1, 1, 1, C], the clip's
    (the mean of the frames' means: all frames have the same size).
  """
  num_frames, height, width, channels = frames.shape
  lanes = 8
  if None in (num_frames, height, width, channels) or (
      height * width) % lanes:
    means = tf.reduce_mean(frames, [1, 2], keepdims=True)
  else:
    # A reduction that keeps the 3 channels innermost vectorises badly
    # (2.5x slower with XLA on CPU): sum 8 pixels' channels side by side
    # first.
    sums = tf.reduce_sum(
        tf.reshape(frames, [num_frames, -1, lanes * channels]), 1)
    sums = tf.reduce_sum(tf.reshape(sums, [num_frames, lanes, channels]), 1)
    means = tf.reshape(sums / (height * width),
                       [num_frames, 1, 1, channels])
  return tf.reduce_mean(means, 0, keepdims=True) if over_clip else means


# `tf.image.adjust_saturation` and `adjust_hue` go through HSV. Per pixel,
# with v = max(r, g, b) and range = v - min(r, g, b) (= s * v), HSV to RGB
# gives every channel as v - range * (1 - w), w in [0, 1] a function of the
# hue and the channel only. The functions below use that form directly:
# saturation scales `range` and keeps each channel's w, hue keeps v and
# range and recomputes w. They are the same functions as the HSV round
# trips, with fewer operations: they match `tf.image` to float32 rounding
# (tested to 3e-6).


def _channels(frames: tf.Tensor) -> List[tf.Tensor]:
  """The R, G, B planes of [..., 3] as [..., 1] tensors."""
  return [frames[..., i:i + 1] for i in range(3)]


def _value_and_range(frames: tf.Tensor):
  """Per-pixel max(r, g, b) and max - min, [..., 1] each."""
  # Elementwise over the channel slices rather than reductions over the last
  # axis, which XLA writes out as planes: ~1.5x faster on CPU.
  red, green, blue = _channels(frames)
  value = tf.maximum(tf.maximum(red, green), blue)
  return value, value - tf.minimum(tf.minimum(red, green), blue)


def _safe_reciprocal(x: tf.Tensor) -> tf.Tensor:
  """1 / x where x > 0, else 1: gray pixels, whose hue is irrelevant."""
  return 1.0 / tf.where(x > 0.0, x, 1.0)


def _shifted_hue(frames: tf.Tensor, value: tf.Tensor, value_range: tf.Tensor,
                 delta: tf.Tensor) -> tf.Tensor:
  """HSV hue of RGB `frames`, plus `delta`, in sixths of a turn: [0, 6]."""
  red, green, blue = _channels(frames)
  inverse = _safe_reciprocal(value_range)
  hue = tf.where(
      red == value, (green - blue) * inverse,
      tf.where(green == value, (blue - red) * inverse + 2.0,
               (red - green) * inverse + 4.0))
  hue += 6.0 * delta
  return hue - 6.0 * tf.floor(hue * (1.0 / 6.0))


def _from_hue(hue: tf.Tensor, value: tf.Tensor,
              value_range: tf.Tensor) -> tf.Tensor:
  """RGB from hue in [0, 6], value and range: the HSV to RGB conversion."""
  # Channel c is v - range * (1 - w_c), w_c = clip(a_c * |hue - o_c| + b_c,
  # 0, 1) with (a, o, b) = (1, 3, -1) for red, (-1, 2, 2) green and
  # (-1, 4, 2) blue: hues 0 and 6 give the same colour.
  weight = tf.clip_by_value(
      tf.constant([1.0, -1.0, -1.0]) * tf.abs(hue - [3.0, 2.0, 4.0]) +
      [-1.0, 2.0, 2.0], 0.0, 1.0)
  return value - value_range * (1.0 - weight)


def adjust_saturation(frames: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
  """`tf.image.adjust_saturation` of RGB in [0, 1] (HSV saturation clipped).

  Scaling s to s' = min(f * s, 1) maps each channel c to
  v - (v - c) * s' / s, and s' / s = min(f, v / range).
  """
  value, value_range = _value_and_range(frames)
  scale = tf.minimum(factor, value * _safe_reciprocal(value_range))
  # Where s' = 1 the minimum becomes 0 up to rounding: keep it >= 0.
  return tf.maximum(value - (value - frames) * scale, 0.0)


def adjust_hue(frames: tf.Tensor, delta: tf.Tensor) -> tf.Tensor:
  """`tf.image.adjust_hue`: rotates the HSV hue of RGB by `delta` turns."""
  value, value_range = _value_and_range(frames)
  return _from_hue(_shifted_hue(frames, value, value_range, delta), value,
                   value_range)


def adjust_saturation_and_hue(frames: tf.Tensor, factor: tf.Tensor,
                              delta: tf.Tensor) -> tf.Tensor:
  """`adjust_saturation` and `adjust_hue`, in either order: they commute.

  They change different HSV coordinates, and the saturation's clipping to
  [0, 1] does not depend on the hue, so one conversion does both.
  """
  value, value_range = _value_and_range(frames)
  hue = _shifted_hue(frames, value, value_range, delta)
  return tf.maximum(
      _from_hue(hue, value, tf.minimum(value_range * factor, value)), 0.0)


# The jitter operations in the numbering of `params['order']`.
BRIGHTNESS, CONTRAST, SATURATION, HUE = range(4)
JITTER_PARAMS = ('brightness', 'contrast', 'saturation', 'hue')
JITTER_OPS = (adjust_brightness, adjust_contrast, adjust_saturation,
               adjust_hue)


def jitter_ops(contrast_over_clip: bool = False):
  """`JITTER_OPS`, with contrast around the clip's mean if asked."""
  return tuple(functools.partial(op, over_clip=True)
               if op is adjust_contrast and contrast_over_clip else op
               for op in JITTER_OPS)


def jitter(frames: tf.Tensor, params: Params,
           contrast_over_clip: bool = False) -> tf.Tensor:
  """Applies colour jitter with the factors of `sample_jitter_params`.

  The four operations run in `params['order']`, each leaving values in
  [0, 1]: brightness and contrast clip, saturation and hue keep the HSV
  value and saturation in range. Contrast scales around each frame's
  per-channel mean, as `tf.image.adjust_contrast`, or around the clip's
  with `contrast_over_clip` (see `adjust_contrast`).

  Args:
    frames: float32 [N, H, W, 3] in [0, 1].
    params: output of `sample_jitter_params` (extra keys are ignored).
    contrast_over_clip: see `adjust_contrast`'s `over_clip`.

  Returns:
    float32 [N, H, W, 3] in [0, 1].
  """
  transforms = [lambda x, op=op, key=key: op(x, params[key])
                for op, key in zip(jitter_ops(contrast_over_clip),
                                   JITTER_PARAMS)]
  for i in range(4):
    frames = tf.switch_case(params['order'][i],
                            [lambda f=f: f(frames) for f in transforms])
  return frames


def to_grayscale(frames: tf.Tensor) -> tf.Tensor:
  """Converts float [N, H, W, 3] RGB to grayscale, keeping 3 equal channels."""
  # Elementwise, so that XLA fuses it with the operations before it, and the
  # three channels are exactly equal.
  red, green, blue = _channels(frames)
  luma = _LUMA[0] * red + _LUMA[1] * green + _LUMA[2] * blue
  return tf.broadcast_to(luma, tf.shape(frames))


def sample_photometric_params(seed: tf.Tensor, jitter_prob: float,
                              jitter_strength: float, grayscale_prob: float,
                              blur_prob: float,
                              solarize_prob: float = 0.0) -> Params:
  """Draws all photometric parameters of one clip.

  Args:
    seed: [2] integer stateless seed.
    jitter_prob: probability of colour jitter.
    jitter_strength: SimCLR colour strength.
    grayscale_prob: probability of converting to grayscale.
    blur_prob: probability of Gaussian blur.
    solarize_prob: probability of solarization.

  Returns:
    Scalars 'jitter', 'grayscale', 'blur', 'solarize' (bool: whether to
    apply), 'sigma' (float32 blur sigma ~ U[0.1, 2.0]) and the keys of
    `sample_jitter_params`.
  """
  # The solarization seed comes last: `stateless_split` into 6 begins with
  # the split into 5, so the other draws are those of a clip augmented
  # before solarization existed.
  (jitter_seed, jitter_apply_seed, gray_seed, sigma_seed, blur_apply_seed,
   solarize_seed) = tf.unstack(tf.random.experimental.stateless_split(
       seed, 6))
  return {
      'jitter': bernoulli(jitter_apply_seed, jitter_prob),
      'grayscale': bernoulli(gray_seed, grayscale_prob),
      'blur': bernoulli(blur_apply_seed, blur_prob),
      'sigma': _uniform(sigma_seed, 0.1, 2.0),
      'solarize': bernoulli(solarize_seed, solarize_prob),
      **sample_jitter_params(jitter_seed, jitter_strength),
  }


def distort_colors(frames: tf.Tensor, params: Params,
                   contrast_over_clip: bool = False) -> tf.Tensor:
  """SimCLR colour distortion: jitter if `params['jitter']`, then grayscale.

  Args:
    frames: float32 [N, H, W, 3] in [0, 1].
    params: output of `sample_photometric_params`.
    contrast_over_clip: see `jitter`.

  Returns:
    float32 [N, H, W, 3] in [0, 1].
  """
  frames = tf.cond(params['jitter'],
                   lambda: jitter(frames, params, contrast_over_clip),
                   lambda: frames)
  return tf.cond(params['grayscale'], lambda: to_grayscale(frames),
                 lambda: frames)


# Compiled per clip shape. Inside an XLA computation (a TPU step) it is
# inlined like any other function.
distort_colors_compiled = tf.function(distort_colors, jit_compile=True)


def blur(frames: tf.Tensor, params: Params, kernel_size: int,
         cpu: bool = False) -> tf.Tensor:
  """Gaussian blur with `params['sigma']` if `params['blur']`.

  Args:
    frames: float32 [N, H, W, 3].
    params: output of `sample_photometric_params`.
    kernel_size: odd filter length, see `gaussian_kernel_size`.
    cpu: use `gaussian_blur_cpu` rather than `gaussian_blur` (module
      `cvrl_tf.ops.gaussian_blur`).

  Returns:
    float32 [N, H, W, 3].
  """
  blur_fn = (gaussian_blur.gaussian_blur_cpu if cpu
             else gaussian_blur.gaussian_blur)
  return tf.cond(params['blur'],
                 lambda: blur_fn(frames, params['sigma'], kernel_size),
                 lambda: frames)



def solarize(frames: tf.Tensor) -> tf.Tensor:
  """Inverts values >= 0.5 of float frames in [0, 1]: x -> 1 - x.

  Model Garden's `video_ssl_preprocess_ops.random_solarization`, threshold
  0.5.
  """
  return tf.where(frames < 0.5, frames, 1.0 - frames)


def maybe_solarize(frames: tf.Tensor, params: Params) -> tf.Tensor:
  """`solarize(frames)` if `params['solarize']`, else `frames`."""
  return tf.cond(params['solarize'], lambda: solarize(frames),
                 lambda: frames)
