"""Metrics of the training input, logged with the task's own metrics."""
from typing import List

import tensorflow as tf
import tf_keras

from cvrl_tf.configs import data as data_cfg
from cvrl_tf.dataloaders import skipped_records


class BadRecordsSkipped(tf_keras.metrics.Metric):
  """Bad records the training input skipped so far (`skip_bad_records`).

  Every batch carries its input pipeline's running count
  (`skipped_records.SKIPPED_KEY`, [B]); the metric keeps the largest count
  the first replica saw, so with one input pipeline per host it is the
  count of the first host's input.
  """

  def __init__(self, name: str = skipped_records.SKIPPED_KEY, **kwargs):
    super().__init__(name=name, **kwargs)
    self.count = self.add_weight(
        'count', initializer='zeros',
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

  def update_state(self, counts: tf.Tensor) -> None:
    self.count.assign(tf.maximum(
        self.count, tf.cast(tf.reduce_max(counts), self.dtype)))

  def result(self) -> tf.Tensor:
    return tf.identity(self.count)


def build(params: data_cfg.DataConfig) -> List[tf_keras.metrics.Metric]:
  """The input metrics of a training input config."""
  return [BadRecordsSkipped()] if params.skip_bad_records else []
