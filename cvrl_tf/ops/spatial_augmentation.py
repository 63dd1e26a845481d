"""Spatial augmentation of clips straight from their JPEG-encoded frames.

A temporally consistent clip shares one crop window, so the window is drawn
from the first frame's JPEG header and only that window of every frame is
decoded (`tf.io.decode_and_crop_jpeg`), then the whole [T, h, w, 3] crop is
resized in one call. Frames are never decoded in full on this path.

Colour distortion, blur and solarization follow on the resized clip, with
the CPU implementations of `color_ops`, or are left to the accelerator
(`cvrl_tf.ops.device_augmentation`), which applies them with the parameters
`clip_photometric_params` draws from the same seed. The clips it receives
are `geometric_clip`'s: resized, then rounded to uint8, within 0.5/255 of
the float resize and a quarter of its bytes to batch and transfer.
"""
import math
from typing import Optional, Sequence, Tuple

import tensorflow as tf

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.ops import color_ops
from cvrl_tf.ops import color_ops_cpu
from cvrl_tf.ops import flow_values
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


def bounding_box_crop_window(image_size: tf.Tensor, seed: tf.Tensor,
                             area_range: Sequence[float] = (0.3, 1.0),
                             aspect_ratio_range: Sequence[float] = (0.5, 2.0)
                            ) -> tf.Tensor:
  """Samples a crop window as `tf.image.sample_distorted_bounding_box`.

  Model Garden's `preprocess_ops_3d.random_crop_resize` (and SimCLR's
  crop): up to 100 candidates with the aspect ratio uniform in
  `aspect_ratio_range` and the crop height uniform over the integers that
  keep the area in `area_range`, so small areas are likelier than under
  `random_crop_window`; the whole image if none fits. Arguments and result
  as `random_crop_window`'s.
  """
  begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
      tf.concat([tf.cast(image_size, tf.int32), [3]], 0),
      bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed,
      min_object_covered=0.1, aspect_ratio_range=aspect_ratio_range,
      area_range=area_range, max_attempts=100,
      use_image_if_no_bounding_boxes=True)
  return tf.concat([begin[:2], size[:2]], 0)


# The window function of each `SpatialAugmentation.crop_sampler`.
CROP_WINDOW_FNS = dict(zip(data_cfg.CROP_SAMPLERS,
                           (random_crop_window, bounding_box_crop_window)))


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


def resize(frames: tf.Tensor, output_size: Tuple[int, int],
           truncate: bool = False) -> tf.Tensor:
  """Bilinear resize: uint8 [N, h, w, 3] -> float32 in [0, 1].

  `truncate`: see `resize_unscaled`.
  """
  return resize_unscaled(frames, output_size, truncate) * (1.0 / 255.0)


def resize_unscaled(frames: tf.Tensor, output_size: Tuple[int, int],
                    truncate: bool = False) -> tf.Tensor:
  """Bilinear resize: uint8 [N, h, w, 3] -> float32 in [0, 255].

  With `truncate`, the values are truncated to integers, as Model Garden
  casts its resized frames to uint8
  (`SpatialAugmentation.truncate_resized_frames`).
  """
  # Same values as resizing the uint8 frames (the kernel computes in float
  # either way), but the float kernel is ~1.3x faster, cast included.
  frames = tf.image.resize(tf.cast(frames, tf.float32), output_size)
  # Bilinear values are >= 0, so the floor is a cast's truncation.
  return tf.floor(frames) if truncate else frames


def resize_to_uint8(frames: tf.Tensor, output_size: Tuple[int, int],
                    truncate: bool = False) -> tf.Tensor:
  """Bilinear resize, rounded: uint8 [N, h, w, 3] -> uint8 [N, H, W, 3].

  Rounded to the nearest integer, or truncated with `truncate`. Bilinear
  weights are convex, so the float result already lies in [0, 255] and
  needs no clipping.
  """
  return tf.cast(tf.round(resize_unscaled(frames, output_size, truncate)),
                 tf.uint8)


def normalize(frames: tf.Tensor, zero_centering: bool,
              dtype: tf.DType) -> tf.Tensor:
  """Maps float frames in [0, 1] to [0, 1] or [-1, 1] and casts to `dtype`."""
  if zero_centering:
    frames = frames * 2.0 - 1.0
  return tf.cast(frames, dtype)


def random_flip_left_right(frames: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
  """Flips all frames of [N, H, W, C] together with probability 0.5."""
  return flip_if(frames, flip_drawn(seed))


def flip_drawn(seed: tf.Tensor) -> tf.Tensor:
  """Whether `random_flip_left_right` with `seed` flips: bool scalar."""
  return color_ops.bernoulli(seed, 0.5)


def flip_if(frames: tf.Tensor, flipped: tf.Tensor) -> tf.Tensor:
  """Mirrors [N, H, W, C] frames along W where `flipped` (bool scalar)."""
  return tf.cond(flipped, lambda: _flip_left_right(frames), lambda: frames)


def _flip_left_right(frames: tf.Tensor) -> tf.Tensor:
  """Mirrors [N, H, W, C] frames along W."""
  # Reversing the middle axis of [N * H, W, C] is ~2x faster than axis 2 of
  # the 4-D tensor.
  shape = tf.shape(frames)
  rows = tf.reshape(frames, [-1, shape[2], shape[3]])
  return tf.reshape(tf.reverse(rows, [1]), shape)


def clip_photometric_params(seed: tf.Tensor,
                            params: data_cfg.SpatialAugmentation,
                            view: int = 0) -> color_ops.Params:
  """Colour, grayscale, blur and solarization parameters of a clip.

  Args:
    seed: [2] integer stateless seed, as given to `decode_and_augment_clip`.
    params: spatial augmentation config.
    view: 0 or 1, which view of an SSL pair the clip is; it sets the blur
      and solarization probabilities (`params.view_blur_solarize`).

  Returns:
    See `color_ops.sample_photometric_params`.
  """
  photometric_seed = tf.random.experimental.stateless_split(seed, 3)[2]
  blur_prob, solarize_prob = data_cfg.view_blur_solarize_probs(params, view)
  return color_ops.sample_photometric_params(
      photometric_seed, params.color_jitter_prob, params.color_jitter_strength,
      params.grayscale_prob, blur_prob, solarize_prob)


def random_crop_and_flip(encoded: tf.Tensor, seed: tf.Tensor,
                         output_size: Tuple[int, int],
                         params: data_cfg.SpatialAugmentation
                        ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Decodes one random window of every frame and maybe mirrors them all.

  Args:
    encoded: string [N] JPEG frames of equal size.
    seed: [2] integer stateless seed, as given to `decode_and_augment_clip`.
    output_size: (height, width) the window will be resized to.
    params: spatial augmentation config, with `enabled` True.

  Returns:
    uint8 [N, h, w, 3], the window's size; the int32 [4] window (y, x, h,
    w); and whether the frames were mirrored, bool scalar.
  """
  out_h, out_w = output_size
  crop_seed, flip_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 3)[:2])
  # Ratios are relative to the output's shape, as Model Garden does.
  aspect_range = [r * out_w / out_h for r in params.crop_aspect_ratio_range]
  window = CROP_WINDOW_FNS[params.crop_sampler](
      jpeg_size(encoded[0]), crop_seed, params.crop_area_range, aspect_range)
  frames = decode_crop(encoded, window)
  if not params.flip:
    return frames, window, tf.constant(False)
  # Mirroring commutes with bilinear resizing and is cheaper on the uint8
  # crop than on the float output.
  flipped = flip_drawn(flip_seed)
  return flip_if(frames, flipped), window, flipped


def resize_factors(window: tf.Tensor,
                   output_size: Tuple[int, int]) -> tf.Tensor:
  """float32 [2]: output size over the size of `window` (y, x, h, w)."""
  return tf.constant(output_size, tf.float32) / tf.cast(window[2:],
                                                        tf.float32)


def geometric_clip(encoded: tf.Tensor, seed: tf.Tensor,
                   output_size: Tuple[int, int],
                   params: data_cfg.SpatialAugmentation) -> tf.Tensor:
  """The crop, flip and resize of `decode_and_augment_clip`, rounded to uint8.

  The host half of device augmentation: within 0.5 of 255 times
  `decode_and_augment_clip(..., photometric=False)` (equal to it with
  `params.truncate_resized_frames`).

  Args:
    encoded: string [N] JPEG frames of equal size.
    seed: [2] integer stateless seed.
    output_size: (height, width) of the output frames.
    params: spatial augmentation config, with `enabled` True.

  Returns:
    uint8 [N, height, width, 3].
  """
  frames, _, _ = random_crop_and_flip(encoded, seed, output_size, params)
  return resize_to_uint8(frames, output_size, params.truncate_resized_frames)


def photometric_clip(frames: tf.Tensor, params: color_ops.Params,
                     kernel_size: int,
                     contrast_over_clip: bool = False) -> tf.Tensor:
  """Host colour distortion, blur and solarization of a resized clip.

  Args:
    frames: float32 [N, H, W, 3] in [0, 255], not yet scaled to [0, 1].
    params: the clip's `clip_photometric_params`.
    kernel_size: blur filter length.
    contrast_over_clip: see `color_ops.jitter`.

  Returns:
    float32 [N, H, W, 3] in [0, 1].
  """
  # The scaling to [0, 1] joins the first colour operation's loop.
  frames = color_ops_cpu.distort_colors_cpu(frames, params, 1.0 / 255.0,
                                            contrast_over_clip)
  frames = color_ops.blur(frames, params, kernel_size, cpu=True)
  return color_ops.maybe_solarize(frames, params)


def decode_and_augment_clip(encoded: tf.Tensor, seed: tf.Tensor,
                            output_size: Tuple[int, int],
                            params: data_cfg.SpatialAugmentation,
                            photometric: bool = True,
                            view: int = 0,
                            values_fn: Optional[flow_values.ValuesFn] = None
                           ) -> tf.Tensor:
  """Decodes and augments a clip with one set of random parameters.

  RandomResizedCrop, horizontal flip, colour jitter, grayscale, Gaussian
  blur and solarization, in SimCLR's (BYOL's) order. With `params.enabled`
  False the clip is only resized (short side to the output size) and
  centre-cropped, and gets no colour distortion, blur or solarization.

  Args:
    encoded: string [N] JPEG frames of equal size.
    seed: [2] integer stateless seed.
    output_size: (height, width) of the output frames.
    params: spatial augmentation config; `temporally_consistent` is ignored.
    photometric: apply colour distortion, blur and solarization; when False
      the clip is only cropped, flipped and resized (supervised training).
    view: see `clip_photometric_params`.
    values_fn: for flow images, corrects the values of the resized clip
      (in [0, 255]) for the resize and the flip, before any colour
      operation (`flow_values`).

  Returns:
    float32 [N, height, width, 3] in [0, 1].
  """
  out_h, out_w = output_size
  if params.enabled:
    frames, window, flipped = random_crop_and_flip(encoded, seed,
                                                   output_size, params)
    truncate = params.truncate_resized_frames
  else:
    window = center_crop_window(jpeg_size(encoded[0]), out_w / out_h)
    frames, flipped = decode_crop(encoded, window), tf.constant(False)
    photometric, truncate = False, False
  frames = resize_unscaled(frames, output_size, truncate)
  if values_fn is not None:
    frames = values_fn(frames, resize_factors(window, output_size), flipped,
                       255.0)
  if not photometric:
    return frames * (1.0 / 255.0)
  return photometric_clip(frames, clip_photometric_params(seed, params, view),
                          gaussian_blur.gaussian_kernel_size(out_h),
                          params.contrast_mean == 'clip')


def augment_frames(encoded: tf.Tensor, seed: tf.Tensor,
                   output_size: Tuple[int, int],
                   params: data_cfg.SpatialAugmentation,
                   photometric: bool = True, view: int = 0,
                   values_fn: Optional[flow_values.ValuesFn] = None
                  ) -> tf.Tensor:
  """Spatially augments a clip, consistently or frame by frame.

  Args:
    encoded: string [T] JPEG frames of equal size.
    seed: [2] integer stateless seed.
    output_size: (height, width) of the output frames.
    params: spatial augmentation config; with `temporally_consistent` False
      every frame gets its own random parameters.
    photometric: see `decode_and_augment_clip`.
    view: see `clip_photometric_params`.
    values_fn: see `decode_and_augment_clip`.

  Returns:
    float32 [T, height, width, 3] in [0, 1].
  """
  if params.temporally_consistent or not params.enabled:
    return decode_and_augment_clip(encoded, seed, output_size, params,
                                   photometric, view, values_fn)
  num_frames = tf.shape(encoded)[0]
  frame_seeds = tf.random.experimental.stateless_split(seed, num_frames)
  return tf.map_fn(
      lambda args: decode_and_augment_clip(
          args[0][tf.newaxis], args[1], output_size, params, photometric,
          view, values_fn)[0],
      (encoded, frame_seeds),
      fn_output_signature=tf.TensorSpec([*output_size, 3], tf.float32))
