"""Multi-view testing: pool the predictions of several views of one video.

Model Garden's video eval input emits `num_test_clips * num_test_crops` views
per video as consecutive rows; CVRL reports accuracy after averaging the
logits of those views.
"""
from typing import Dict, Sequence, Tuple

import numpy as np
import tensorflow as tf


def average_views(logits, num_views: int) -> tf.Tensor:
  """Averages the views of each video.

  A TF op so it can also run inside a compiled eval step.

  Args:
    logits: [B * V, C] with the V views of a video on consecutive rows, or
      [B, V, C].
    num_views: V, i.e. `num_test_clips * num_test_crops`.

  Returns:
    [B, C] mean over views.
  """
  logits = tf.convert_to_tensor(logits)
  if logits.shape.rank == 2:
    num_rows = logits.shape[0]
    if num_rows is not None and num_rows % num_views:
      raise ValueError(
          f'{num_rows} rows are not a multiple of num_views={num_views}.')
    logits = tf.reshape(logits, [-1, num_views, tf.shape(logits)[-1]])
  elif logits.shape.rank != 3 or logits.shape[1] != num_views:
    raise ValueError(
        f'Expected [B*V, C] or [B, V={num_views}, C], got {logits.shape}.')
  return tf.reduce_mean(logits, axis=1)


def aggregate_by_video(values, video_index) -> Tuple[np.ndarray, np.ndarray]:
  """Averages rows that belong to the same video, in any row order.

  Args:
    values: [N, ...] per-view values (e.g. logits).
    video_index: [N] video id (int or str) of each row.

  Returns:
    (video_ids [U] sorted unique ids, mean_values [U, ...]) where
    `mean_values[u]` is the mean of the rows whose id is `video_ids[u]`.
  """
  values = np.asarray(values)
  video_index = np.asarray(video_index)
  if video_index.shape != values.shape[:1]:
    raise ValueError(f'video_index {video_index.shape} does not match '
                     f'values {values.shape}.')
  video_ids, segment_ids = np.unique(video_index, return_inverse=True)
  means = tf.math.unsorted_segment_mean(
      values, segment_ids.reshape(-1), num_segments=len(video_ids))
  return video_ids, means.numpy()


def _target_ranks(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """Rank of the true class in each row, 0 = best.

  Ties rank the lower class index first, the order `tf.math.top_k` uses,
  so a tie never counts in favour of the prediction (unlike
  `tf.math.in_top_k`, which accepts every tied class).
  """
  target = np.take_along_axis(logits, labels[:, None], axis=1)
  class_index = np.arange(logits.shape[1])[None, :]
  higher = logits > target
  tied_before = (logits == target) & (class_index < labels[:, None])
  return np.sum(higher | tied_before, axis=1)


def topk_accuracy(logits, labels,
                  ks: Sequence[int] = (1, 5)) -> Dict[str, float]:
  """Top-k accuracy.

  Args:
    logits: [B, C] scores.
    labels: [B] class ids or [B, C] one-hot.
    ks: k values; k >= C gives 1.0.

  Returns:
    {'top{k}': fraction in [0, 1]} for each k.
  """
  logits = np.asarray(logits)
  labels = np.asarray(labels)
  if labels.ndim == 2:
    labels = np.argmax(labels, axis=1)
  if logits.ndim != 2 or labels.shape != logits.shape[:1]:
    raise ValueError(f'Expected logits [B, C] and labels [B], got '
                     f'{logits.shape} and {labels.shape}.')
  ranks = _target_ranks(logits, labels.astype(np.int64))
  return {f'top{k}': float(np.mean(ranks < k)) for k in ks}
