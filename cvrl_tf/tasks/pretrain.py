"""CVRL self-supervised pretraining task."""
from typing import Any, Dict, List, Optional, Tuple

import tensorflow as tf
import tf_keras
from official.core import base_task
from official.core import task_factory

from cvrl_tf.configs import cvrl as cvrl_cfg
from cvrl_tf.dataloaders import skipped_records
from cvrl_tf.dataloaders import video_input
from cvrl_tf.losses import contrastive_loss
from cvrl_tf.modeling import cvrl_model
from cvrl_tf.modeling import input_specs
from cvrl_tf.tasks import gradients
from cvrl_tf.tasks import input_metrics
from cvrl_tf.ops import device_augmentation
from cvrl_tf.visualization import view_summaries

METRIC_NAMES = ('contrast_acc', 'contrast_entropy')


@task_factory.register_task_cls(cvrl_cfg.CVRLPretrainTask)
class CVRLPretrainTask(base_task.Task):
  """Two augmented views per video, InfoNCE over the global batch."""

  kept_views = None

  def build_model(self) -> tf_keras.Model:
    model_config = self.task_config.model
    if tf.distribute.get_strategy().num_replicas_in_sync > 1:
      # Per-replica BN statistics leak which examples share a replica, which
      # the contrastive task can exploit (SimCLR sec. B.9), so sync them.
      model_config = model_config.replace(
          norm_activation={'use_sync_bn': True})
    return cvrl_model.build_cvrl_model(
        input_specs=input_specs.model_input_specs(
            input_specs.common_feature_shape(
                self.task_config.train_data, self.task_config.validation_data)),
        model_config=model_config)

  def build_inputs(self, params, input_context=None) -> tf.data.Dataset:
    return video_input.build_dataset(params, input_context=input_context)

  def build_metrics(self, training: bool = True) -> List[tf_keras.metrics.Metric]:
    metrics = [tf_keras.metrics.Mean(name) for name in METRIC_NAMES]
    if training:
      metrics += input_metrics.build(self.task_config.train_data)
      # Like the metrics, state the train step updates and the train loop's
      # end reports, made under the strategy's scope.
      if self.task_config.view_summary_videos:
        self.kept_views = view_summaries.KeptViews(
            self.task_config.view_summary_videos, self.task_config.train_data)
    return metrics

  def write_train_summaries(self, step: tf.Variable) -> None:
    """Images of the latest training views, at orbit's summary steps."""
    if self.kept_views is not None:
      self.kept_views.write_summary(step)

  def contrastive_outputs(self, images: tf.Tensor, model: tf_keras.Model,
                          training: bool) -> Dict[str, tf.Tensor]:
    """Embeds a [2B, T, H, W, 3] batch of view pairs and scores them."""
    embeddings = tf.cast(model(images, training=training), tf.float32)
    view_1, view_2 = tf.split(embeddings, 2, axis=0)
    return contrastive_loss(view_1, view_2,
                            temperature=self.task_config.losses.temperature)

  def views(self, features: Dict[str, tf.Tensor], data_config) -> tf.Tensor:
    """The [2B, T, H, W, 3] views, finishing device augmentation if on."""
    return device_augmentation.model_views(features, data_config)

  def update_metrics(self, outputs: Dict[str, tf.Tensor],
                     metrics: Optional[List[tf_keras.metrics.Metric]]
                     ) -> Dict[str, Any]:
    logs = {self.loss: outputs['contrastive_loss']}
    if 'l2_loss' in outputs:
      logs['l2_loss'] = outputs['l2_loss']
    for metric in metrics or []:
      metric.update_state(outputs[metric.name])
      logs[metric.name] = metric.result()
    return logs

  def train_step(self, inputs: Tuple[Dict[str, tf.Tensor], tf.Tensor],
                 model: tf_keras.Model, optimizer: tf_keras.optimizers.Optimizer,
                 metrics=None) -> Dict[str, Any]:
    images = self.views(inputs[0], self.task_config.train_data)
    if self.kept_views is not None:
      self.kept_views.keep(images)
    with tf.GradientTape() as tape:
      outputs = self.contrastive_outputs(images, model, training=True)
      # The release's weight decay, in the loss (`losses.l2_weight_decay`).
      outputs['l2_loss'] = gradients.l2_weight_decay(
          model, self.task_config.losses.l2_weight_decay)
      loss = outputs['contrastive_loss'] + outputs['l2_loss']
    gradients.minimize(tape, loss, model, optimizer)
    skipped_key = skipped_records.SKIPPED_KEY
    if skipped_key in inputs[0]:
      outputs[skipped_key] = inputs[0][skipped_key]
    return self.update_metrics(outputs, metrics)

  def validation_step(self, inputs, model: tf_keras.Model,
                      metrics=None) -> Dict[str, Any]:
    images = self.views(inputs[0], self.task_config.validation_data)
    outputs = self.contrastive_outputs(images, model, training=False)
    return self.update_metrics(outputs, metrics)
