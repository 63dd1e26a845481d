"""What mirroring and resizing a flow image do to the flow it stores.

A flow image (`record_layout`) stores x in R and y in G: a stored value v in
[0, 255] is 40 v / 255 - 20 pixels, so zero flow is v = 127.5 and x -> -x is
v -> 255 - v. The input pipeline crops, mirrors and resizes flow images with
their frames (`spatial_augmentation`); these functions then correct the
values (`DataConfig.flow_flip: negate_x`, `flow_crop_scale: rescale`), on
frames scaled so that the stored range [0, 255] is [0, `full_scale`].
"""
from typing import Callable, Optional

import tensorflow as tf

from cvrl_tf.configs import data as data_cfg

# (frames, resize_factors, flipped, full_scale) -> frames; see `correct`.
ValuesFn = Callable[[tf.Tensor, tf.Tensor, tf.Tensor, float], tf.Tensor]


def correct(frames: tf.Tensor, resize_factors: tf.Tensor, flipped: tf.Tensor,
            full_scale: float, negate_x: bool, rescale: bool) -> tf.Tensor:
  """Flow values of mirrored and resized flow images.

  Args:
    frames: float32 [..., H, W, 3] flow images, stored range [0, full_scale].
    resize_factors: float32 [2], output size over input size along (y, x).
    flipped: bool scalar, whether the images were mirrored.
    full_scale: what a stored 255 is in `frames`.
    negate_x: negate x where `flipped`.
    rescale: multiply y and x by their resize factors, clipped to the
      stored range.

  Returns:
    float32 frames of the same shape; the third channel is unchanged.
  """
  y_scale, x_scale = tf.unstack(resize_factors) if rescale else (1.0, 1.0)
  if negate_x:
    x_scale = tf.where(flipped, -x_scale, x_scale)
  zero = full_scale / 2.0
  scales = tf.stack([x_scale, y_scale, 1.0])
  return tf.clip_by_value(zero + (frames - zero) * scales, 0.0, full_scale)


def values_fn(params: data_cfg.DataConfig) -> Optional[ValuesFn]:
  """`correct` with the options of `params`, or None when it changes nothing."""
  negate_x = params.flow_flip == 'negate_x'
  rescale = params.flow_crop_scale == 'rescale'
  if not (negate_x or rescale):
    return None
  return lambda frames, factors, flipped, full_scale: correct(
      frames, factors, flipped, full_scale, negate_x, rescale)
