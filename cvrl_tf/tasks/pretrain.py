"""CVRL self-supervised pretraining task."""
from typing import Dict, List

import tensorflow as tf
import tf_keras
from official.core import task_factory

from cvrl_tf.configs import cvrl as cvrl_cfg
from cvrl_tf.dataloaders import video_input
from cvrl_tf.losses import contrastive_loss
from cvrl_tf.modeling import cvrl_model
from cvrl_tf.modeling import input_specs
from cvrl_tf.tasks import pretrain_step
from cvrl_tf.ops import device_augmentation
from cvrl_tf.visualization import view_summaries

METRIC_NAMES = ('contrast_acc', 'contrast_entropy')


@task_factory.register_task_cls(cvrl_cfg.CVRLPretrainTask)
class CVRLPretrainTask(pretrain_step.PretrainTask):
  """Two augmented views per video, InfoNCE over the global batch."""

  method_loss = 'contrastive_loss'
  metric_names = METRIC_NAMES
  kept_views = None

  def build_model(self) -> tf_keras.Model:
    return cvrl_model.build_cvrl_model(
        input_specs=input_specs.model_input_specs(
            input_specs.common_feature_shape(
                self.task_config.train_data, self.task_config.validation_data)),
        model_config=self.replica_model_config())

  def build_inputs(self, params, input_context=None) -> tf.data.Dataset:
    return video_input.build_dataset(params, input_context=input_context)

  def build_metrics(self, training: bool = True) -> List[tf_keras.metrics.Metric]:
    metrics = super().build_metrics(training)
    # Like the metrics, state the train step updates and the train loop's
    # end reports, made under the strategy's scope.
    if training and self.task_config.view_summary_videos:
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

  def method_outputs(self, features: Dict[str, tf.Tensor],
                     model: tf_keras.Model, data_config,
                     training: bool) -> Dict[str, tf.Tensor]:
    images = self.views(features, data_config)
    if training and self.kept_views is not None:
      self.kept_views.keep(images)
    return self.contrastive_outputs(images, model, training=training)
