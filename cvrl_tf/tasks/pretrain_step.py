"""The part of a pretraining task every method shares (docs/methods.md).

A method (CVRL, TCLR) supplies its input (`build_inputs`), model
(`build_model`) and `method_outputs`: its loss terms and metrics for a
batch. This class turns them into the training step (loss + weight decay,
one optimizer update over all replicas), the validation step, the logs and
the bad-record count.
"""
from typing import Any, Dict, List, Optional, Tuple

import tensorflow as tf
import tf_keras
from official.core import base_task
from official.modeling import optimization
from official.modeling import performance

from cvrl_tf.dataloaders import skipped_records
from cvrl_tf.tasks import gradients
from cvrl_tf.tasks import input_metrics


class PretrainTask(base_task.Task):
  """Training and validation steps around a method's loss.

  Subclasses set `method_loss` (the key of the loss in `method_outputs`)
  and `metric_names` (outputs averaged over the logging interval).
  """

  method_loss = ''
  metric_names: Tuple[str, ...] = ()

  def method_outputs(self, features: Dict[str, tf.Tensor],
                     model: tf_keras.Model, data_config,
                     training: bool) -> Dict[str, tf.Tensor]:
    """Float32 scalars: `method_loss` and every name in `metric_names`."""
    raise NotImplementedError

  def replica_model_config(self):
    """`task_config.model`, its BatchNorm synchronised over replicas if any.

    Per-replica BN statistics leak which examples share a replica, which the
    contrastive terms can exploit (SimCLR sec. B.9), so sync them.
    """
    model_config = self.task_config.model
    if tf.distribute.get_strategy().num_replicas_in_sync > 1:
      model_config = model_config.replace(
          norm_activation={'use_sync_bn': True})
    return model_config

  def build_metrics(self, training: bool = True
                    ) -> List[tf_keras.metrics.Metric]:
    metrics = [tf_keras.metrics.Mean(name) for name in self.metric_names]
    if training:
      metrics += input_metrics.build(self.task_config.train_data)
    return metrics

  def update_metrics(self, outputs: Dict[str, tf.Tensor],
                     metrics: Optional[List[tf_keras.metrics.Metric]]
                     ) -> Dict[str, Any]:
    logs = {self.loss: outputs[self.method_loss]}
    if 'l2_loss' in outputs:
      logs['l2_loss'] = outputs['l2_loss']
    for metric in metrics or []:
      # A metric without an output this step (ViCC: the stream that did
      # not train) keeps its state.
      if metric.name in outputs:
        metric.update_state(outputs[metric.name])
      logs[metric.name] = metric.result()
    return logs

  @staticmethod
  def scheduled_optimizer(
      optimizer_config: optimization.OptimizationConfig, learning_rate,
      runtime_config=None) -> tf_keras.optimizers.Optimizer:
    """The configured optimizer at a method's own `learning_rate` schedule,
    loss-scaled for float16 as Model Garden's tasks do."""
    optimizer = optimization.OptimizerFactory(
        optimizer_config).build_optimizer(learning_rate)
    if runtime_config:
      optimizer = performance.configure_optimizer(
          optimizer,
          use_float16=runtime_config.mixed_precision_dtype == 'float16',
          loss_scale=runtime_config.loss_scale)
    return optimizer

  def after_update(self, outputs: Dict[str, tf.Tensor]) -> None:
    """Runs after each optimizer update (e.g. a loss-driven schedule)."""
    # A statement, not only the docstring: AutoGraph cannot convert a
    # function whose body is empty once its docstring is removed.
    del outputs

  def train_step(self, inputs: Tuple[Dict[str, tf.Tensor], tf.Tensor],
                 model: tf_keras.Model, optimizer: tf_keras.optimizers.Optimizer,
                 metrics=None) -> Dict[str, Any]:
    with tf.GradientTape() as tape:
      outputs = self.method_outputs(inputs[0], model,
                                    self.task_config.train_data, training=True)
      # The release's weight decay, in the loss (`losses.l2_weight_decay`).
      outputs['l2_loss'] = gradients.l2_weight_decay(
          model, self.task_config.losses.l2_weight_decay)
      loss = outputs[self.method_loss] + outputs['l2_loss']
    # CVRL's `losses.loss_over_replicas` ('mean' unless set).
    average = getattr(self.task_config.losses, 'loss_over_replicas',
                      'mean') == 'mean'
    gradients.minimize(tape, loss, model, optimizer,
                       average_over_replicas=average)
    self.after_update(outputs)
    return self.train_logs(inputs[0], outputs, metrics)

  def train_logs(self, features: Dict[str, tf.Tensor],
                 outputs: Dict[str, tf.Tensor], metrics=None
                 ) -> Dict[str, Any]:
    """A train step's logs: `outputs`, the batch's skipped-record count, and
    the updated metrics."""
    skipped_key = skipped_records.SKIPPED_KEY
    if skipped_key in features:
      outputs[skipped_key] = features[skipped_key]
    return self.update_metrics(outputs, metrics)

  def validation_step(self, inputs, model: tf_keras.Model,
                      metrics=None) -> Dict[str, Any]:
    outputs = self.method_outputs(inputs[0], model,
                                  self.task_config.validation_data,
                                  training=False)
    return self.update_metrics(outputs, metrics)
