"""The batch stage: batches per replica, then folds views into the batch."""
from typing import Optional, Tuple

import tensorflow as tf

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.dataloaders import video_checks
from cvrl_tf.ops import device_augmentation

Features = video_checks.Features


class PostBatchProcessor:
  """Folds the per-video views of a batch into the batch dimension."""

  def __init__(self, params: data_cfg.DataConfig):
    self._is_training = params.is_training
    self._is_ssl = params.is_ssl

  def __call__(self, features: Features,
               label: tf.Tensor) -> Tuple[Features, tf.Tensor]:
    """Reshapes `features['image']`, and `features['flow']` the same way.

    Args:
      features: 'image' (and maybe 'flow') [B, V, T, H, W, 3] with V views
        per video (evaluation), a pair of [B, T, H, W, 3] (SSL training) or
        [B, T, H, W, 3]; for SSL training maybe photometric parameters, dict
        of [B, 2, ...].
      label: [B, ...], returned unchanged.

    Returns:
      Features with 'image' (and 'flow') [2B, T, H, W, 3] view-major for
      SSL training (and parameters [2B, ...] in the same order),
      [B * V, T, H, W, 3] video-major for evaluation; label.
    """
    features = dict(features)
    for key in ('image', 'flow'):
      if key in features:
        features[key] = self._fold(features[key])
    if (self._is_training and self._is_ssl
        and device_augmentation.PARAMS_KEY in features):
      features[device_augmentation.PARAMS_KEY] = tf.nest.map_structure(
          _fold_views, features[device_augmentation.PARAMS_KEY])
    return features, label

  def _fold(self, clips):
    """A batch of clips or views -> [rows, T, H, W, 3]."""
    if self._is_training and self._is_ssl:
      return tf.concat(clips, axis=0)
    if not self._is_training:
      return tf.reshape(clips, [-1, *clips.shape[2:]])
    return clips


def _fold_views(tensor: tf.Tensor) -> tf.Tensor:
  """[B, V, ...] -> [V * B, ...], view-major."""
  return tf.concat(tf.unstack(tensor, axis=1), axis=0)


def batch_fn(params: data_cfg.DataConfig):
  """Batches per replica.

  With `skip_bad_records`, fails training input that ended because
  `skipped_records` stopped it.
  """

  def batch(dataset: tf.data.Dataset,
            input_context: Optional[tf.distribute.InputContext] = None
           ) -> tf.data.Dataset:
    batch_size = params.global_batch_size
    if input_context:
      batch_size = input_context.get_per_replica_batch_size(batch_size)
    dataset = dataset.batch(batch_size, drop_remainder=params.drop_remainder)
    if params.skip_bad_records and params.is_training:
      # Training input repeats: it only ends when it found no good video.
      dataset = dataset.apply(tf.data.experimental.assert_cardinality(
          tf.data.INFINITE_CARDINALITY))
    return dataset

  return batch
