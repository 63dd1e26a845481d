"""Spatial augmentation of clips straight from their JPEG-encoded frames.

A temporally consistent clip shares one crop window, so the window is drawn
from the first frame's JPEG header and only that window of every frame is
decoded (`tf.io.decode_and_crop_jpeg`), then the whole [T, h, w, 3] crop is
resized in one call. Frames are never decoded in full on this path.

Colour distortion and blur follow on the resized clip, with the CPU
implementations of `color_ops`, or are left to the accelerator
(`cvrl_tf.ops.device_augmentation`), which applies them with the parameters
`clip_photometric_params` draws from the same seed. The clips it receives
are `geometric_clip`'s: resized, then rounded to uint8, within 0.5/255 of
the float resize and a quarter of its bytes to batch and transfer.
"""
import math
from typing import Sequence, Tuple

import tensorflow as tf

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.ops import color_ops
from cvrl_tf.ops import color_ops_cpu
from cvrl_tf.ops import gaussian_blur

_MAX_CROP_ATTEMPTS = 10


def random_crop_window(image_size: tf.Tensor, seed: tf.Tensor,
                       area_range: Sequence[float] = (0.3, 1.0),
                       aspect_ratio_range: Sequence[float] = (0.5, 2.0)
                      ) -> tf.Tensor:
  """Samples an Inception-style RandomResizedCrop window.

  Draws up to 10 candidates (area fraction uniform in `area_range`, aspect
  ratio log-uniform in `aspect_ratio_range`) at once and keeps the first that
  fits; if none fits, falls back to the centred window with the aspect ratio
  clamped into range. The offset is uniform over all positions.

  Args:
    image_size: int32 [2] (height, width).
    seed: [2] integer stateless seed.
    area_range: crop area as a fraction of the image area.
    aspect_ratio_range: crop width / height.

  Returns:
    int32 [4] window (y, x, crop_height, crop_width).
  """
  size_seed, ratio_seed, offset_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 3))
  height, width = tf.unstack(tf.cast(image_size, tf.float32))
  area = height * width * tf.random.stateless_uniform(
      [_MAX_CROP_ATTEMPTS], size_seed, area_range[0], area_range[1])
  ratio = tf.exp(tf.random.stateless_uniform(
      [_MAX_CROP_ATTEMPTS], ratio_seed, math.log(aspect_ratio_range[0]),
      math.log(aspect_ratio_range[1])))
  crop_w = tf.round(tf.sqrt(area * ratio))
  crop_h = tf.round(tf.sqrt(area / ratio))
  fits = (crop_w >= 1) & (crop_h >= 1) & (crop_w <= width) & (
      crop_h <= height)
  first = tf.argmax(tf.cast(fits, tf.int32))
  fallback = _centered_size(
      height, width,
      tf.clip_by_value(width / height, aspect_ratio_range[0],
                       aspect_ratio_range[1]))
  crop_h, crop_w = tf.unstack(tf.where(
      tf.reduce_any(fits), tf.stack([crop_h[first], crop_w[first]]), fallback))
  offset = tf.floor(tf.random.stateless_uniform([2], offset_seed) * tf.stack(
      [height - crop_h + 1, width - crop_w + 1]))
  return tf.cast(tf.concat([offset, [crop_h, crop_w]], 0), tf.int32)


def _centered_size(height: tf.Tensor, width: tf.Tensor,
                   aspect_ratio: tf.Tensor) -> tf.Tensor:
  """Float [2] size of the largest window with width / height `aspect_ratio`."""
  crop_w = tf.minimum(width, tf.round(height * aspect_ratio))
  crop_h = tf.minimum(height, tf.round(crop_w / aspect_ratio))
  return tf.maximum(tf.stack([crop_h, crop_w]), 1.0)


def center_crop_window(image_size: tf.Tensor,
                       aspect_ratio: float = 1.0) -> tf.Tensor:
  """Largest centred window of a given aspect ratio.

  Cropping it and resizing to the output size is resizing the short side to
  the output size and centre-cropping, without resizing pixels then dropped.

  Args:
    image_size: int32 [2] (height, width).
    aspect_ratio: window width / height.

  Returns:
    int32 [4] window (y, x, crop_height, crop_width).
  """
  size = tf.cast(image_size, tf.float32)
  crop = _centered_size(size[0], size[1], tf.constant(aspect_ratio))
  offset = tf.floor((size - crop) / 2.0)
  return tf.cast(tf.concat([offset, crop], 0), tf.int32)


def decode_crop(encoded: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
  """Decodes one window of every JPEG frame.

  Args:
    encoded: string [N] JPEG frames of equal size.
    window: int32 [4] (y, x, height, width).

  Returns:
    uint8 [N, height, width, 3].
  """
  return tf.map_fn(
      lambda frame: tf.io.decode_and_crop_jpeg(frame, window, channels=3),
      encoded,
      fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))


def decode_frames(encoded: tf.Tensor) -> tf.Tensor:
  """Decodes JPEG frames: string [N] -> uint8 [N, H, W, 3]."""
  return tf.map_fn(
      lambda frame: tf.io.decode_jpeg(frame, channels=3),
      encoded,
      fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))


def jpeg_size(encoded_frame: tf.Tensor) -> tf.Tensor:
  """int32 [2] (height, width) of a JPEG from its header."""
  return tf.io.extract_jpeg_shape(encoded_frame)[:2]


def resize(frames: tf.Tensor, output_size: Tuple[int, int]) -> tf.Tensor:
  """Bilinear resize: uint8 [N, h, w, 3] -> float32 in [0, 1]."""
  return resize_unscaled(frames, output_size) * (1.0 / 255.0)


def resize_unscaled(frames: tf.Tensor,
                    output_size: Tuple[int, int]) -> tf.Tensor:
  """Bilinear resize: uint8 [N, h, w, 3] -> float32 in [0, 255]."""
  # Same values as resizing the uint8 frames (the kernel computes in float
  # either way), but the float kernel is ~1.3x faster, cast included.
  return tf.image.resize(tf.cast(frames, tf.float32), output_size)


def resize_to_uint8(frames: tf.Tensor,
                    output_size: Tuple[int, int]) -> tf.Tensor:
  """Bilinear resize, rounded: uint8 [N, h, w, 3] -> uint8 [N, H, W, 3].

  Bilinear weights are convex, so the float result already lies in
  [0, 255] and needs no clipping.
  """
  return tf.cast(tf.round(resize_unscaled(frames, output_size)), tf.uint8)


def normalize(frames: tf.Tensor, zero_centering: bool,
              dtype: tf.DType) -> tf.Tensor:
  """Maps float frames in [0, 1] to [0, 1] or [-1, 1] and casts to `dtype`."""
  if zero_centering:
    frames = frames * 2.0 - 1.0
  return tf.cast(frames, dtype)


def random_flip_left_right(frames: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
  """Flips all frames of [N, H, W, C] together with probability 0.5."""
  return color_ops.random_apply(_flip_left_right, 0.5, frames, seed)


def _flip_left_right(frames: tf.Tensor) -> tf.Tensor:
  """Mirrors [N, H, W, C] frames along W."""
  # Reversing the middle axis of [N * H, W, C] is ~2x faster than axis 2 of
  # the 4-D tensor.
  shape = tf.shape(frames)
  rows = tf.reshape(frames, [-1, shape[2], shape[3]])
  return tf.reshape(tf.reverse(rows, [1]), shape)


def clip_photometric_params(seed: tf.Tensor,
                            params: data_cfg.SpatialAugmentation
                           ) -> color_ops.Params:
  """Colour, grayscale and blur parameters of a clip augmented with `seed`.

  Args:
    seed: [2] integer stateless seed, as given to `decode_and_augment_clip`.
    params: spatial augmentation config.

  Returns:
    See `color_ops.sample_photometric_params`.
  """
  photometric_seed = tf.random.experimental.stateless_split(seed, 3)[2]
  return color_ops.sample_photometric_params(
      photometric_seed, params.color_jitter_prob, params.color_jitter_strength,
      params.grayscale_prob, params.blur_prob)


def random_crop_and_flip(encoded: tf.Tensor, seed: tf.Tensor,
                         output_size: Tuple[int, int],
                         params: data_cfg.SpatialAugmentation) -> tf.Tensor:
  """Decodes one random window of every frame and maybe mirrors them all.

  Args:
    encoded: string [N] JPEG frames of equal size.
    seed: [2] integer stateless seed, as given to `decode_and_augment_clip`.
    output_size: (height, width) the window will be resized to.
    params: spatial augmentation config, with `enabled` True.

  Returns:
    uint8 [N, h, w, 3], the window's size.
  """
  out_h, out_w = output_size
  crop_seed, flip_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 3)[:2])
  # Ratios are relative to the output's shape, as Model Garden does.
  aspect_range = [r * out_w / out_h for r in params.crop_aspect_ratio_range]
  window = random_crop_window(jpeg_size(encoded[0]), crop_seed,
                              params.crop_area_range, aspect_range)
  frames = decode_crop(encoded, window)
  if params.flip:
    # Mirroring commutes with bilinear resizing and is cheaper on the uint8
    # crop than on the float output.
    frames = random_flip_left_right(frames, flip_seed)
  return frames


def geometric_clip(encoded: tf.Tensor, seed: tf.Tensor,
                   output_size: Tuple[int, int],
                   params: data_cfg.SpatialAugmentation) -> tf.Tensor:
  """The crop, flip and resize of `decode_and_augment_clip`, rounded to uint8.

  The host half of device augmentation: within 0.5 of 255 times
  `decode_and_augment_clip(..., photometric=False)`.

  Args:
    encoded: string [N] JPEG frames of equal size.
    seed: [2] integer stateless seed.
    output_size: (height, width) of the output frames.
    params: spatial augmentation config, with `enabled` True.

  Returns:
    uint8 [N, height, width, 3].
  """
  return resize_to_uint8(
      random_crop_and_flip(encoded, seed, output_size, params), output_size)


def photometric_clip(frames: tf.Tensor, params: color_ops.Params,
                     kernel_size: int) -> tf.Tensor:
  """Host colour distortion and blur of a resized clip.

  Args:
    frames: float32 [N, H, W, 3] in [0, 255], not yet scaled to [0, 1].
    params: the clip's `clip_photometric_params`.
    kernel_size: blur filter length.

  Returns:
    float32 [N, H, W, 3] in [0, 1].
  """
  # The scaling to [0, 1] joins the first colour operation's loop.
  frames = color_ops_cpu.distort_colors_cpu(frames, params, 1.0 / 255.0)
  return color_ops.blur(frames, params, kernel_size, cpu=True)


def decode_and_augment_clip(encoded: tf.Tensor, seed: tf.Tensor,
                            output_size: Tuple[int, int],
                            params: data_cfg.SpatialAugmentation,
                            photometric: bool = True) -> tf.Tensor:
  """Decodes and augments a clip with one set of random parameters.

  RandomResizedCrop, horizontal flip, colour jitter, grayscale and Gaussian
  blur, in SimCLR's order. With `params.enabled` False the clip is only
  resized (short side to the output size) and centre-cropped.

  Args:
    encoded: string [N] JPEG frames of equal size.
    seed: [2] integer stateless seed.
    output_size: (height, width) of the output frames.
    params: spatial augmentation config; `temporally_consistent` is ignored.
    photometric: apply colour distortion and blur; when False the clip is
      only cropped, flipped and resized (supervised training).

  Returns:
    float32 [N, height, width, 3] in [0, 1].
  """
  out_h, out_w = output_size
  if not params.enabled:
    window = center_crop_window(jpeg_size(encoded[0]), out_w / out_h)
    return resize(decode_crop(encoded, window), output_size)
  frames = random_crop_and_flip(encoded, seed, output_size, params)
  if not photometric:
    return resize(frames, output_size)
  return photometric_clip(resize_unscaled(frames, output_size),
                          clip_photometric_params(seed, params),
                          gaussian_blur.gaussian_kernel_size(out_h))


def augment_frames(encoded: tf.Tensor, seed: tf.Tensor,
                   output_size: Tuple[int, int],
                   params: data_cfg.SpatialAugmentation,
                   photometric: bool = True) -> tf.Tensor:
  """Spatially augments a clip, consistently or frame by frame.

  Args:
    encoded: string [T] JPEG frames of equal size.
    seed: [2] integer stateless seed.
    output_size: (height, width) of the output frames.
    params: spatial augmentation config; with `temporally_consistent` False
      every frame gets its own random parameters.
    photometric: see `decode_and_augment_clip`.

  Returns:
    float32 [T, height, width, 3] in [0, 1].
  """
  if params.temporally_consistent or not params.enabled:
    return decode_and_augment_clip(encoded, seed, output_size, params,
                                   photometric)
  num_frames = tf.shape(encoded)[0]
  frame_seeds = tf.random.experimental.stateless_split(seed, num_frames)
  return tf.map_fn(
      lambda args: decode_and_augment_clip(
          args[0][tf.newaxis], args[1], output_size, params, photometric)[0],
      (encoded, frame_seeds),
      fn_output_signature=tf.TensorSpec([*output_size, 3], tf.float32))
