"""Per-video embeddings of a dataset: views encoded, then averaged."""
from typing import Callable, Optional, Tuple

import numpy as np
import tensorflow as tf

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.dataloaders import video_input
from cvrl_tf.evaluation import multiview


def label_indices(labels: np.ndarray) -> np.ndarray:
  """Class indices [B] from one-hot [B, C] or index [B] / [B, 1] labels."""
  labels = np.asarray(labels)
  if labels.ndim == 2 and labels.shape[1] > 1:
    return labels.argmax(axis=1)
  return labels.reshape(-1).astype(np.int64)


def extract_features(encode: Callable[[tf.Tensor], tf.Tensor],
                     dataset: tf.data.Dataset, num_views: int
                     ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Encodes every video of an evaluation dataset.

  Args:
    encode: clips [N, T, H, W, 3] -> features [N, D]; pass a `tf.function`
      (traced once, reused across calls) for speed.
    dataset: batches of ({'image': [B * num_views, T, H, W, 3],
      'video_id': [B] (optional)}, labels [B, ...]) as built by
      `video_input.build_dataset` for evaluation.
    num_views: views per video (num_test_clips * num_test_crops).

  Returns:
    (video_ids [V] bytes, labels [V] int64, features [V, D] float32), the
    features averaged over each video's views.
  """
  ids, labels, features = [], [], []
  for batch_features, batch_labels in dataset:
    embeddings = multiview.average_views(
        tf.cast(encode(batch_features['image']), tf.float32), num_views)
    features.append(embeddings.numpy())
    labels.append(label_indices(batch_labels.numpy()))
    if 'video_id' in batch_features:
      ids.append(batch_features['video_id'].numpy())
    else:
      ids.append(np.array([b''] * len(embeddings)))
  if not features:
    raise ValueError('The dataset produced no videos.')
  return (np.concatenate(ids), np.concatenate(labels),
          np.concatenate(features).astype(np.float32))


def num_views(data_config: data_cfg.DataConfig) -> int:
  """Test views per video: clips x crops."""
  return data_config.num_test_clips * data_config.num_test_crops


def single_pass(data_config: data_cfg.DataConfig,
                input_path: Optional[str] = None,
                num_test_clips: Optional[int] = None,
                num_test_crops: Optional[int] = None) -> data_cfg.DataConfig:
  """`data_config` as one pass over its (or `input_path`'s) every video.

  Clip length, stride, resizing and batch size stay those of `data_config`;
  test views are taken, video ids are output, and labels are kept as
  indices so that unlabeled videos (-1) and configs without `num_classes`
  work.
  """
  override = dict(is_training=False, is_ssl=False, drop_remainder=False,
                  output_video_id=True, one_hot=False)
  if input_path:
    override['input_path'] = input_path
  if num_test_clips:
    override['num_test_clips'] = num_test_clips
  if num_test_crops:
    override['num_test_crops'] = num_test_crops
  return data_config.replace(**override)


def encode_videos(encode: Callable[[tf.Tensor], tf.Tensor],
                  data_config: data_cfg.DataConfig
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """`extract_features` over `single_pass(data_config)`."""
  data_config = single_pass(data_config)
  return extract_features(encode, video_input.build_dataset(data_config),
                          num_views(data_config))
