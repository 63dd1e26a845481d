"""The sample -> decode -> augment stages: decoded videos -> model inputs.

Per-video outputs of the Parser (T, H, W from `feature_shape`):
  SSL training         image ([T, H, W, 3], [T, H, W, 3])  (view 1, view 2)
  supervised training  image [T, H, W, 3]
  evaluation           image [clips * crops, T, H, W, 3]  (clip-major)
and, with `skip_bad_records`, the count of bad records skipped so far
(`skipped_records.SKIPPED_KEY`, int64 scalar).

With `read_flow`, 'flow' has the shape of 'image', from the same frames:
frame t is paired with flow t (motion from frame t to t + 1), so clips are
sampled among the first N - 1 of N frames, as ViCC samples from
min(#frames, #flows). Each flow clip gets its image clip's crop and flip
(the same seed drawing the same window, as the flow images have the
frames' size); SSL views get no colour jitter, grayscale, blur or
solarization, or, with `flow_photometric: like_rgb`, those of their image
view. Flow is float in [0, 1] ([-1, 1] with `zero_centering_image`) even
when device augmentation leaves the image uint8. Channels are those of the
stored flow image (`record_layout`): R = x, G = y, B = 128, so flow in
pixels of the stored frames is 40 * v - 20 for v in [0, 1]. By default, as
in ViCC's code (CoCLR's `utils/augmentation.py`, which crops, resizes and
mirrors flow images as pictures, in the same transform as their frames), a
flip does not negate x and a resize does not rescale the values;
`flow_flip: negate_x` and `flow_crop_scale: rescale` do (`flow_values`).
"""
from typing import Optional, Tuple

import tensorflow as tf

from official.vision.dataloaders import parser
from official.vision.dataloaders import video_input as mg_video_input
from official.vision.ops import preprocess_ops_3d

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.dataloaders import skipped_records
from cvrl_tf.dataloaders import video_checks
from cvrl_tf.ops import device_augmentation
from cvrl_tf.ops import flow_values
from cvrl_tf.ops import spatial_augmentation
from cvrl_tf.ops import temporal_sampling

Features = video_checks.Features


def eval_views(encoded: tf.Tensor, min_resize: int,
               crop_size: Tuple[int, int], num_crops: int,
               values_fn: Optional[flow_values.ValuesFn] = None
              ) -> tf.Tensor:
  """Decodes clips and takes spatial test crops.

  Frames are resized so that their short side is `min_resize`, then cropped
  once in the centre or three times along the long side.

  Args:
    encoded: string [clips, T] JPEG frames.
    min_resize: short side after resizing.
    crop_size: (height, width) of a crop.
    num_crops: 1 or 3.
    values_fn: for flow images, corrects the values of the resized frames
      for the resize (`flow_values`).

  Returns:
    float32 [clips * num_crops, T, height, width, 3] in [0, 1], clip-major.
  """
  num_clips, num_steps = encoded.shape
  frames = spatial_augmentation.decode_frames(tf.reshape(encoded, [-1]))
  frames = tf.cast(frames, tf.float32) * (1.0 / 255.0)
  stored_size = tf.cast(tf.shape(frames)[1:3], tf.float32)
  frames = preprocess_ops_3d.resize_smallest(frames, min_resize)
  if values_fn is not None:
    factors = tf.cast(tf.shape(frames)[1:3], tf.float32) / stored_size
    frames = values_fn(frames, factors, tf.constant(False), 1.0)
  # Model Garden stacks the crops crop-major along the frame axis.
  frames = preprocess_ops_3d.crop_image(frames, *crop_size, False, num_crops)
  frames = tf.reshape(frames,
                      [num_crops, num_clips, num_steps, *crop_size, 3])
  frames = tf.transpose(frames, [1, 0, 2, 3, 4, 5])
  return tf.reshape(frames, [num_clips * num_crops, num_steps, *crop_size, 3])


class Parser(parser.Parser):
  """Turns decoded videos into model inputs for one of the three modes."""

  def __init__(self, params: data_cfg.DataConfig):
    self._num_steps, height, width, _ = params.feature_shape
    self._output_size = (height, width)
    self._stride = params.temporal_stride
    self._is_ssl = params.is_ssl
    self._temporal = params.augmentation.temporal
    self._spatial = params.augmentation.spatial
    self._num_test_clips = params.num_test_clips
    self._test_clip_sampler = {
        'even': temporal_sampling.sample_linspace_indices,
        'tclr': temporal_sampling.sample_tclr_retrieval_indices,
    }[params.test_clip_starts]
    self._num_test_crops = params.num_test_crops
    self._min_resize = params.min_image_size
    self._zero_centering = params.zero_centering_image
    self._dtype = tf.dtypes.as_dtype(params.dtype)
    # Unlabelled pretraining data need no `num_classes`: labels then stay
    # class indices.
    self._one_hot = params.one_hot and params.num_classes > 0
    self._num_classes = params.num_classes
    self._label_dtype = tf.dtypes.as_dtype(params.label_dtype)
    self._output_video_id = params.output_video_id
    self._read_flow = params.read_flow
    self._flow_photometric = params.flow_photometric == 'like_rgb'
    self._flow_values = flow_values.values_fn(params)
    self._device_augmentation = (params.augmentation.device_augmentation
                                 and self._spatial.enabled)
    if self._device_augmentation and not self._spatial.temporally_consistent:
      raise ValueError('device_augmentation draws one set of photometric '
                       'parameters per clip: it needs temporally consistent '
                       'spatial augmentation.')

  def _normalize(self, image):
    """Maps `image` (a tensor or a tuple of views) to the model's range."""
    return tf.nest.map_structure(
        lambda x: spatial_augmentation.normalize(x, self._zero_centering,
                                                 self._dtype), image)

  def _sampled_length(self, decoded: Features) -> tf.Tensor:
    """Frames clips are sampled from: all, or those with a flow."""
    key = 'flows' if self._read_flow else 'frames'
    return tf.shape(decoded[key])[0]

  def _flow_view(self, decoded: Features, indices: tf.Tensor,
                 seed: tf.Tensor, view: int) -> tf.Tensor:
    """Flow of an SSL view: its image view's crop and flip, as floats.

    With `flow_photometric: like_rgb` also the image view's colour, blur
    and solarization parameters (the same seed and view draw them), applied
    here even when device augmentation applies the image's.
    """
    return self._normalize(spatial_augmentation.augment_frames(
        tf.gather(decoded['flows'], indices), seed, self._output_size,
        self._spatial, photometric=self._flow_photometric, view=view,
        values_fn=self._flow_values))

  def _outputs(self, image, decoded: Features,
               flow: Optional[tf.Tensor] = None
              ) -> Tuple[Features, tf.Tensor]:
    """Features of the model-ready `image` (and `flow`), and the label."""
    features = {'image': image}
    if flow is not None:
      features['flow'] = flow
    if self._output_video_id:
      features['video_id'] = decoded['video_id']
    skipped_key = skipped_records.SKIPPED_KEY
    if skipped_key in decoded:
      features[skipped_key] = decoded[skipped_key]
    label = decoded['label']
    if not self._one_hot:
      # A static [1]: the first class index, or -1 for an unlabelled video.
      label = tf.reshape(
          tf.concat([label, tf.constant([-1], label.dtype)], 0)[:1], [1])
    label = mg_video_input.process_label(label, self._one_hot,
                                         self._num_classes, self._label_dtype)
    return features, label

  def _parse_ssl_data(self, decoded: Features,
                      seed: tf.Tensor) -> Tuple[Features, tf.Tensor]:
    """Two independently augmented views: image, a pair of [T, H, W, 3].

    The views stay separate tensors until `PostBatchProcessor` concatenates
    their batches: stacking them per video would copy every frame once more.

    With device augmentation the views are uint8 in [0, 255], cropped,
    flipped and resized only (`spatial_augmentation.geometric_clip`), and
    their colour and blur parameters are added: dict of [2, ...] under
    `device_augmentation.PARAMS_KEY`.
    """
    frames = decoded['frames']
    sample_seed, *view_seeds = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3))
    indices = temporal_sampling.sample_ssl_indices(
        self._sampled_length(decoded), self._num_steps, self._stride,
        sample_seed, self._temporal.enabled, self._temporal.interval_power)
    if self._device_augmentation:
      augment = lambda clip, seed, view: spatial_augmentation.geometric_clip(
          clip, seed, self._output_size, self._spatial)
    else:
      augment = lambda clip, seed, view: spatial_augmentation.augment_frames(
          clip, seed, self._output_size, self._spatial, view=view)
    views = tuple(augment(tf.gather(frames, indices[i]), view_seed, i)
                  for i, view_seed in enumerate(view_seeds))
    if not self._device_augmentation:
      views = self._normalize(views)
    flow = None
    if self._read_flow:
      flow = tuple(self._flow_view(decoded, indices[i], view_seed, i)
                   for i, view_seed in enumerate(view_seeds))
    features, label = self._outputs(views, decoded, flow)
    if self._device_augmentation:
      view_params = [
          spatial_augmentation.clip_photometric_params(
              view_seed, self._spatial, view=i)
          for i, view_seed in enumerate(view_seeds)]
      features[device_augmentation.PARAMS_KEY] = tf.nest.map_structure(
          lambda *p: tf.stack(p), *view_params)
    return features, label

  def _parse_train_data(self, decoded: Features,
                        seed: tf.Tensor) -> Tuple[Features, tf.Tensor]:
    """One clip with crop and flip only: image [T, H, W, 3]."""
    frames = decoded['frames']
    sample_seed, crop_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 2))
    indices = temporal_sampling.sample_random_clip_indices(
        self._sampled_length(decoded), self._num_steps, self._stride,
        sample_seed)
    spatial = self._spatial.replace(temporally_consistent=True)
    augment = lambda clip, values_fn=None: self._normalize(
        spatial_augmentation.augment_frames(
            tf.gather(clip, indices), crop_seed, self._output_size, spatial,
            photometric=False, values_fn=values_fn))
    flow = (augment(decoded['flows'], self._flow_values) if self._read_flow
            else None)
    return self._outputs(augment(frames), decoded, flow)

  def _parse_eval_data(self,
                       decoded: Features) -> Tuple[Features, tf.Tensor]:
    """Test views: image [clips * crops, T, H, W, 3]."""
    frames = decoded['frames']
    indices = self._test_clip_sampler(
        self._sampled_length(decoded), self._num_test_clips, self._num_steps,
        self._stride)
    views = lambda clips, values_fn=None: self._normalize(eval_views(
        tf.gather(clips, indices), self._min_resize, self._output_size,
        self._num_test_crops, values_fn))
    flow = (views(decoded['flows'], self._flow_values) if self._read_flow
            else None)
    return self._outputs(views(frames), decoded, flow)

  def takes_seed(self, is_training: bool) -> bool:
    """Whether `parse_fn(is_training)` takes a per-video seed."""
    return is_training

  def parse_fn(self, is_training: bool):
    """Returns the map function: (decoded[, seed]) -> (features, label)."""
    if not is_training:
      return self._parse_eval_data
    if self._is_ssl:
      return self._parse_ssl_data
    return self._parse_train_data
