"""Colour distortion, blur and solarization of batched SSL views, in the step.

With `Augmentation.device_augmentation` the input pipeline stops after the
crop, flip and resize (`spatial_augmentation.geometric_clip`, uint8) and
outputs, next to the views, the photometric parameters it drew for each of
them (`PARAMS_KEY`). `augment_views` applies them clip by clip with the same
`color_ops` operations as the host path, in one static graph rather than the
host's CPU-specific organisation, so both paths have the same augmentation
distribution and, given the same parameters and frames, the same outputs up
to float rounding. The frames differ by the rounding of the resize to uint8
(at most 0.5/255).
"""
import tensorflow as tf

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.ops import color_ops
from cvrl_tf.ops import gaussian_blur
from cvrl_tf.ops import spatial_augmentation

PARAMS_KEY = 'photometric_params'


def photometric_clip_compiled(clip: tf.Tensor, params: color_ops.Params,
                              kernel_size: int,
                              contrast_over_clip: bool = False) -> tf.Tensor:
  """Colour distortion, blur, solarization of float32 [T, H, W, 3] in [0, 1]."""
  clip = color_ops.distort_colors_compiled(clip, params, contrast_over_clip)
  # The full-length filter: XLA needs static shapes.
  clip = color_ops.blur(clip, params, kernel_size)
  return color_ops.maybe_solarize(clip, params)


def augment_views(images: tf.Tensor, params: color_ops.Params,
                  data_params: data_cfg.DataConfig) -> tf.Tensor:
  """Applies each clip's own photometric parameters to a batch of views.

  Args:
    images: uint8 [N, T, H, W, 3] views as the input pipeline outputs them.
    params: dict of [N, ...] per-clip parameters, the batched outputs of
      `spatial_augmentation.clip_photometric_params`.
    data_params: the training input config that produced `images`.

  Returns:
    Augmented images, same shape, in [0, 1] ([-1, 1] with
    `zero_centering_image`) and of `data_params.dtype`, as the host path
    outputs them.
  """
  frames = tf.cast(images, tf.float32) * (1.0 / 255.0)
  kernel_size = gaussian_blur.gaussian_kernel_size(data_params.feature_shape[1])
  contrast_over_clip = (
      data_params.augmentation.spatial.contrast_mean == 'clip')
  frames = tf.map_fn(
      lambda args: photometric_clip_compiled(args[0], args[1], kernel_size,
                                             contrast_over_clip),
      (frames, params), fn_output_signature=tf.float32)
  return spatial_augmentation.normalize(
      frames, data_params.zero_centering_image,
      tf.dtypes.as_dtype(data_params.dtype))


def model_views(features, data_params: data_cfg.DataConfig) -> tf.Tensor:
  """The views the model trains on, finishing device augmentation if on.

  `features['image']` as it is, or, when the input pipeline left colour
  and blur to the device (`PARAMS_KEY` in `features`), `augment_views` of
  it.
  """
  if PARAMS_KEY not in features:
    return features['image']
  return augment_views(features['image'], features[PARAMS_KEY], data_params)
