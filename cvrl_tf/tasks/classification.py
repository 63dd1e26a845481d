"""Supervised video classification from a pretrained backbone.

One task serves the paper's linear evaluation (`freeze_backbone: true`),
fine-tuning (UCF-101 / HMDB-51 transfer) and semi-supervised fine-tuning on
a class-balanced fraction of the labels (`train_subset.fraction`).
Validation is multi-view: `num_test_clips` x `num_test_crops` views per
video, logits averaged per video.
"""
import os
from typing import Any, Dict, List

from absl import logging
import tensorflow as tf
import tf_keras
from official.core import base_task
from official.core import task_factory

from cvrl_tf.configs import evaluation as eval_cfg
from cvrl_tf.dataloaders import skipped_records
from cvrl_tf.dataloaders import video_input
from cvrl_tf.evaluation import multiview
from cvrl_tf.evaluation import subsets
from cvrl_tf.modeling import checkpoints
from cvrl_tf.modeling import classifier
from cvrl_tf.modeling import input_specs
from cvrl_tf.tasks import gradients
from cvrl_tf.tasks import input_metrics


def subset_video_ids(params, subset_config, default_ids_file: str) -> List[str]:
  """Selects (and writes) the class-balanced training subset's video ids."""
  ids, labels = video_input.read_ids_and_labels(params)
  selected = subsets.select_subset(ids, labels, subset_config.fraction,
                                   subset_config.seed)
  ids_file = subset_config.ids_file or default_ids_file
  subsets.write_subset(ids_file, selected)
  logging.info('Training on %d of %d videos (fraction %g, seed %d); ids in %s',
               len(selected), len(ids), subset_config.fraction,
               subset_config.seed, ids_file)
  return selected


@task_factory.register_task_cls(eval_cfg.ClassificationTask)
class ClassificationTask(base_task.Task):
  """Linear evaluation, fine-tuning and semi-supervised fine-tuning."""

  def build_model(self) -> tf_keras.Model:
    config = self.task_config
    model = classifier.build_classifier(
        input_specs.model_input_specs(input_specs.common_feature_shape(
            config.train_data, config.validation_data)),
        config.model, config.train_data.num_classes)
    if config.freeze_backbone:
      # A non-trainable Keras BatchNorm also runs in inference mode, which
      # is what linear evaluation of a frozen encoder needs.
      model.backbone.trainable = False
    return model

  def initialize(self, model: tf_keras.Model) -> None:
    checkpoints.initialize_backbone(self.task_config, model)

  def build_inputs(self, params, input_context=None) -> tf.data.Dataset:
    video_ids = None
    subset = self.task_config.train_subset
    if params.is_training and subset.fraction < 1.0:
      video_ids = subset_video_ids(
          params, subset,
          os.path.join(self.logging_dir or '.', 'train_subset_ids.txt'))
    return video_input.build_dataset(params, input_context=input_context,
                                     video_ids=video_ids)

  def build_metrics(self, training: bool = True) -> List[tf_keras.metrics.Metric]:
    metrics = [tf_keras.metrics.CategoricalAccuracy(name='top1'),
               tf_keras.metrics.TopKCategoricalAccuracy(k=5, name='top5')]
    if training:
      metrics += input_metrics.build(self.task_config.train_data)
    return metrics

  def build_losses(self, labels: tf.Tensor, logits: tf.Tensor,
                   aux_losses=None) -> tf.Tensor:
    loss = tf.reduce_mean(tf_keras.losses.categorical_crossentropy(
        labels, logits, from_logits=True,
        label_smoothing=self.task_config.losses.label_smoothing))
    if aux_losses:
      loss += tf.add_n(aux_losses)
    return loss

  def _update(self, metrics, features, labels, logits,
              loss) -> Dict[str, Any]:
    logs = {self.loss: loss}
    for metric in metrics or []:
      if isinstance(metric, input_metrics.BadRecordsSkipped):
        metric.update_state(features[skipped_records.SKIPPED_KEY])
      else:
        metric.update_state(labels, logits)
      logs[metric.name] = metric.result()
    return logs

  def train_step(self, inputs, model: tf_keras.Model, optimizer,
                 metrics=None) -> Dict[str, Any]:
    features, labels = inputs
    labels = tf.cast(labels, tf.float32)
    with tf.GradientTape() as tape:
      logits = tf.cast(model(features['image'], training=True), tf.float32)
      loss = self.build_losses(labels, logits) + gradients.l2_weight_decay(
          model, self.task_config.losses.l2_weight_decay)
    gradients.minimize(tape, loss, model, optimizer)
    return self._update(metrics, features, labels, logits, loss)

  def validation_step(self, inputs, model: tf_keras.Model,
                      metrics=None) -> Dict[str, Any]:
    features, labels = inputs
    labels = tf.cast(labels, tf.float32)
    data = self.task_config.validation_data
    logits = multiview.average_views(
        tf.cast(model(features['image'], training=False), tf.float32),
        data.num_test_clips * data.num_test_crops)
    loss = tf.reduce_mean(tf_keras.losses.categorical_crossentropy(
        labels, logits, from_logits=True))
    return self._update(metrics, features, labels, logits, loss)

  def inference_step(self, inputs, model: tf_keras.Model) -> tf.Tensor:
    return model(inputs, training=False)
