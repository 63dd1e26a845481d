"""TCLR self-supervised pretraining task (docs/methods.md).

Clips from `tclr_input.build_tclr_dataset`, embeddings from
`TCLRModel.tclr_outputs`, loss `losses.tclr.tclr_loss`; the steps, logs and
trainer are those of every pretraining method (`pretrain_step`).
"""
from typing import Dict

import tensorflow as tf
import tf_keras
from official.core import task_factory
from official.modeling import optimization

from cvrl_tf.configs import tclr as tclr_cfg
from cvrl_tf.configs import validation as config_validation
from cvrl_tf.dataloaders import tclr_input
from cvrl_tf.losses import tclr as tclr_losses
from cvrl_tf.modeling import input_specs
from cvrl_tf.modeling import tclr_model
from cvrl_tf.tasks import pretrain_step
from cvrl_tf.training import plateau_schedule

# Logged every loop: the four terms of `tclr_loss` and two sums.
METRIC_NAMES = ('instance_loss', 'local_local_loss', 'global_local_loss',
                'sparse_instance_loss', 'dense_instance_loss')


@task_factory.register_task_cls(tclr_cfg.TCLRPretrainTask)
class TCLRPretrainTask(pretrain_step.PretrainTask):
  """One sparse and four dense clips per video, TCLR's four loss terms."""

  method_loss = 'tclr_loss'
  metric_names = METRIC_NAMES
  plateau_state = None

  def build_model(self) -> tf_keras.Model:
    model = tclr_model.build_tclr_model(
        input_specs.model_input_specs(self.task_config.train_data.feature_shape),
        self.replica_model_config())
    time_steps = tclr_model.output_time_steps(model.backbone)
    clips = self.task_config.train_data.tclr_clips.num_dense_clips
    if time_steps != clips:
      raise config_validation.ConfigError(
          f'the backbone turns a {self.task_config.train_data.feature_shape[0]}'
          f'-frame sparse clip into {time_steps} time steps, but the '
          f'global-local loss pairs them with {clips} dense clips '
          '(task.train_data.tclr_clips.num_dense_clips); change the clip '
          'length or the backbone\'s temporal strides.')
    schedule = self.task_config.recipe.lr_schedule
    if schedule not in tclr_cfg.LR_SCHEDULES:
      raise config_validation.ConfigError(
          f'task.recipe.lr_schedule must be one of {tclr_cfg.LR_SCHEDULES}, '
          f'got {schedule!r}.')
    if schedule == 'tclr_plateau':
      self.plateau_state = plateau_schedule.PlateauState()
      # Saved and restored with the model by the trainer's checkpoint.
      model.lr_plateau = self.plateau_state
    return model

  def create_optimizer(self, optimizer_config: optimization.OptimizationConfig,
                       runtime_config=None, dp_config=None):
    """The configured optimizer; under 'tclr_plateau' at TCLR's rate."""
    if self.plateau_state is None:
      return super().create_optimizer(optimizer_config, runtime_config,
                                      dp_config)
    if dp_config is not None:
      raise config_validation.ConfigError(
          'differential privacy is not offered with the tclr_plateau '
          'schedule; set task.recipe.lr_schedule: optimizer_config.')
    recipe = self.task_config.recipe
    return self.scheduled_optimizer(
        optimizer_config, plateau_schedule.PlateauSchedule(
            self.plateau_state, recipe.learning_rate, recipe.steps_per_epoch,
            recipe.warmup_factors, recipe.plateau_factor), runtime_config)

  def build_inputs(self, params, input_context=None) -> tf.data.Dataset:
    return tclr_input.build_tclr_dataset(params, input_context=input_context)

  def method_outputs(self, features: Dict[str, tf.Tensor],
                     model: tf_keras.Model, data_config,
                     training: bool) -> Dict[str, tf.Tensor]:
    del data_config  # The clips arrive augmented.
    embeddings = model.tclr_outputs(features['sparse_clips'],
                                    features['dense_clips'], training=training)
    return tclr_losses.tclr_loss(
        embeddings['sparse'], embeddings['sparse_time_steps'],
        embeddings['dense'], temperature=self.task_config.losses.temperature)

  def after_update(self, outputs: Dict[str, tf.Tensor]) -> None:
    if self.plateau_state is not None:
      recipe = self.task_config.recipe
      # TCLR compares the loss without weight decay (`loss_unw`).
      self.plateau_state.record_step(outputs[self.method_loss],
                                     recipe.steps_per_epoch,
                                     recipe.plateau_patience_epochs)


