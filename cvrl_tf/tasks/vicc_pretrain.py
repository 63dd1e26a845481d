"""ViCC self-supervised pretraining task (docs/methods.md).

Input: two views of RGB and of optical flow per video, from the same frames
with the same crops and flips (`video_input.build_dataset` with
`read_flow`). Model: `ViCCModel`. Loss: `losses.vicc` (Sinkhorn-Knopp codes,
swapped prediction). The stage schedule (`training.vicc_stages`) decides,
from the global step alone, which stream a step trains and whether the
other one takes part; the authors' code (github.com/martinetoering/ViCC)
runs each stage as its own run of `main_single.py` / `main_cross.py`.

A step of one kind (`StageTable.kinds`): the trained stream's prototypes
are L2-normalised (`train_one_epoch`, "normalize the prototypes"), its two
views are embedded in training mode (the second without gradient unless
`losses.second_view_gradient`), with `cross_stream` the other stream's two
views are embedded in inference mode without gradient (`model.module.
second.eval()`, `torch.no_grad()`), all views are scored against the
trained stream's prototypes, each view's codes come from Sinkhorn-Knopp
over the global batch and its queue, every other view predicts them, and
only the trained stream's variables are updated. The loss is logged under
the trained stream's name (`rgb_loss`, `flow_loss`).

The trainer (`training.trainer.Trainer`) picks the step's kind outside the
replicas (`train_step_branch`, `train_step_branches`): a MirroredStrategy
replica may not hold a collective (synchronised BatchNorm, the Sinkhorn
sums) inside control flow.
"""
import functools
from typing import Any, Callable, Dict, List

import tensorflow as tf
import tf_keras
from official.core import task_factory
from official.modeling import optimization

from cvrl_tf.configs import validation as config_validation
from cvrl_tf.configs import vicc as vicc_cfg
from cvrl_tf.dataloaders import video_input
from cvrl_tf.losses import vicc as vicc_losses
from cvrl_tf.modeling import embedding_queue
from cvrl_tf.modeling import input_specs
from cvrl_tf.modeling import vicc_model
from cvrl_tf.ops import device_augmentation
from cvrl_tf.tasks import gradients
from cvrl_tf.tasks import input_metrics
from cvrl_tf.tasks import pretrain_step
from cvrl_tf.training import vicc_stages

METRIC_NAMES = tuple(f'{stream}_loss' for stream in vicc_cfg.STREAMS)


class StageLossMean(tf_keras.metrics.Mean):
  """A stream's mean loss over the logging interval; NaN if it did not
  train in it."""

  def result(self):
    return tf.where(self.count > 0, super().result(), float('nan'))


def other_stream(stream: str) -> str:
  return vicc_cfg.STREAMS[1 - vicc_cfg.STREAMS.index(stream)]


@task_factory.register_task_cls(vicc_cfg.ViCCPretrainTask)
class ViCCPretrainTask(pretrain_step.PretrainTask):
  """RGB and flow views, stage by stage; see the module docstring."""

  method_loss = 'vicc_loss'
  metric_names = METRIC_NAMES

  @functools.cached_property
  def stage_table(self) -> vicc_stages.StageTable:
    return vicc_stages.StageTable(self.task_config.recipe)

  def queue_length(self) -> int:
    return embedding_queue.queue_length(
        self.task_config.losses.queue_length,
        self.task_config.train_data.global_batch_size)

  def check_config(self) -> None:
    """Raises ConfigError for settings ViCC cannot train with."""
    recipe = self.task_config.recipe
    if not recipe.stages:
      raise config_validation.ConfigError(
          'task.recipe.stages is empty: ViCC needs at least one stage.')
    for index, stage in enumerate(recipe.stages):
      if stage.trained_stream not in vicc_cfg.STREAMS:
        raise config_validation.ConfigError(
            f'task.recipe.stages[{index}].trained_stream must be one of '
            f'{list(vicc_cfg.STREAMS)}, got {stage.trained_stream!r}.')
      if stage.epochs < 1 or stage.lr_decay_epochs < stage.epochs:
        raise config_validation.ConfigError(
            f'task.recipe.stages[{index}] needs epochs >= 1 and '
            f'lr_decay_epochs >= epochs, got {stage.epochs} and '
            f'{stage.lr_decay_epochs}.')
    for name in ('train_data', 'validation_data'):
      data = getattr(self.task_config, name)
      if not (data.read_flow and data.is_ssl):
        raise config_validation.ConfigError(
            f'task.{name} must set read_flow and is_ssl: ViCC trains on two '
            'views of RGB and of optical flow (records made with '
            'tools/make_tfrecords.py --flow).')

  def build_model(self) -> tf_keras.Model:
    self.check_config()
    return vicc_model.build_vicc_model(
        input_specs.model_input_specs(
            input_specs.common_feature_shape(
                self.task_config.train_data,
                self.task_config.validation_data)),
        self.replica_model_config(), self.queue_length())

  def create_optimizer(self, optimizer_config: optimization.OptimizationConfig,
                       runtime_config=None, dp_config=None):
    """The configured optimizer at the staged cosine rate."""
    if dp_config is not None:
      raise config_validation.ConfigError(
          'differential privacy is not offered for ViCC pretraining.')
    recipe = self.task_config.recipe
    if optimizer_config.optimizer.type == 'larc':
      # Each of ViCC's stages starts with a new optimizer.
      optimizer_config = optimizer_config.replace(optimizer={'larc': {
          'restart_steps': [s.start for s in self.stage_table.stages]}})
    return self.scheduled_optimizer(
        optimizer_config, vicc_stages.StagedCosineSchedule(
            self.stage_table, recipe.base_learning_rate,
            recipe.final_learning_rate), runtime_config)

  def build_inputs(self, params, input_context=None) -> tf.data.Dataset:
    return video_input.build_dataset(params, input_context=input_context)

  def build_metrics(self, training: bool = True
                    ) -> List[tf_keras.metrics.Metric]:
    metrics = [StageLossMean(name) for name in self.metric_names]
    if training:
      metrics += input_metrics.build(self.task_config.train_data)
    return metrics

  def stream_views(self, features: Dict[str, tf.Tensor], stream: str,
                   data_config) -> List[tf.Tensor]:
    """A stream's view 1 and view 2, [B, T, H, W, 3] each."""
    if stream == 'rgb':
      clips = device_augmentation.model_views(features, data_config)
    else:
      clips = features['flow']
    return tf.split(clips, 2, axis=0)

  def view_embeddings(self, features: Dict[str, tf.Tensor],
                      model: vicc_model.ViCCModel, stream: str, cross: bool,
                      data_config, training: bool) -> List[tf.Tensor]:
    """[B, D] embeddings: the trained stream's views, then the other's.

    ViCC2.forward embeds the two views of the trained stream in separate
    calls (separate BatchNorm batches) and the other stream's in inference
    mode, where batching its views together changes nothing.
    """
    first, second = self.stream_views(features, stream, data_config)
    embeddings = [model.embed(stream, first, training),
                  model.embed(stream, second, training)]
    if not self.task_config.losses.second_view_gradient:
      embeddings[1] = tf.stop_gradient(embeddings[1])
    if cross:
      other = other_stream(stream)
      frozen = tf.stop_gradient(model.embed(
          other, tf.concat(self.stream_views(features, other, data_config),
                           0), training=False))
      embeddings += tf.split(frozen, 2, axis=0)
    return embeddings

  def swapped_loss(self, embeddings: List[tf.Tensor],
                   model: vicc_model.ViCCModel, stream: str,
                   prototypes_frozen=False, step=None,
                   queue_start=None) -> tf.Tensor:
    """ViCC's loss of the views' `embeddings` on `stream`'s prototypes.

    With `step` and `queue_start` each view's queue joins Sinkhorn-Knopp
    once full (`EmbeddingQueue.read`).
    """
    losses = self.task_config.losses
    prototypes = model.prototypes(stream)
    scores = [prototypes(z, frozen=prototypes_frozen) for z in embeddings]
    assignments = []
    for view, view_scores in enumerate(scores):
      queue_scores, in_use = None, False
      if step is not None and model.queue is not None:
        queued, in_use = model.queue.read(view, step, queue_start)
        queue_scores = prototypes(queued)
      assignments.append(vicc_losses.sinkhorn_knopp(
          view_scores, losses.sinkhorn_epsilon, losses.sinkhorn_iterations,
          queue_scores=queue_scores, use_queue=in_use))
    return vicc_losses.swapped_prediction_loss(
        scores, assignments, temperature=losses.temperature)

  def stage_train_step(self, kind: vicc_stages.StepKind,
                       inputs, model: vicc_model.ViCCModel,
                       optimizer: tf_keras.optimizers.Optimizer,
                       metrics=None) -> Dict[str, Any]:
    """One training step of a stage of `kind` (trained stream, cross)."""
    stream, cross = kind
    features = inputs[0]
    # This step's number: the update below increments the counter.
    step = tf.convert_to_tensor(optimizer.iterations)
    table = self.stage_table
    queue_start = table.stage_value('queue_start', step)
    with tf.init_scope():
      self.create_optimizer_slots(model, optimizer)
    model.prototypes(stream).normalize()
    with tf.GradientTape() as tape:
      embeddings = self.view_embeddings(
          features, model, stream, cross, self.task_config.train_data,
          training=True)
      loss = self.swapped_loss(embeddings, model, stream,
                               table.prototypes_frozen(step), step,
                               queue_start)
    gradients.minimize(tape, loss, model, optimizer,
                       variables=model.stream_variables(stream))
    if model.queue is not None:
      for view, view_embeddings in enumerate(embeddings):
        model.queue.push(view, view_embeddings, step, queue_start)
    return self.train_logs(
        features, {self.method_loss: loss, f'{stream}_loss': loss}, metrics)

  def create_optimizer_slots(self, model: tf_keras.Model,
                             optimizer: tf_keras.optimizers.Optimizer) -> None:
    """Makes the optimizer's slots of every trainable variable now.

    Branches update different variables; made lazily, inside a branch,
    slots of a MirroredStrategy break the step's graph, and a non-legacy
    optimizer makes slots only for the variables of its first update. The
    trainer calls this before the first step; repeated calls do nothing.
    """
    variables = model.trainable_variables
    if isinstance(optimizer, tf_keras.optimizers.legacy.Optimizer):
      optimizer._create_all_weights(variables)  # pylint: disable=protected-access
    else:
      optimizer.build(variables)

  def train_step_branches(self) -> List[Callable[..., Dict[str, Any]]]:
    """A train step per `StageTable.kinds` entry, as `train_step`'s."""
    return [functools.partial(self.stage_train_step, kind)
            for kind in self.stage_table.kinds]

  def train_step_branch(self, step) -> tf.Tensor:
    """int32 index into `train_step_branches` of global step `step`."""
    return self.stage_table.branch(step)

  def train_step(self, inputs, model: tf_keras.Model,
                 optimizer: tf_keras.optimizers.Optimizer, metrics=None):
    """The step of the current stage, chosen inside this replica.

    For a single replica (tests, benchmarks); the trainer chooses outside
    the replicas, see the module docstring.
    """
    branches = [functools.partial(step_fn, inputs, model, optimizer, metrics)
                for step_fn in self.train_step_branches()]
    return tf.switch_case(self.train_step_branch(optimizer.iterations),
                          branches)

  def method_outputs(self, features: Dict[str, tf.Tensor],
                     model: tf_keras.Model, data_config,
                     training: bool) -> Dict[str, tf.Tensor]:
    """Validation: each stream's cross-stream loss, inference mode, no queue.

    Stage-independent, so validation needs no branch: `rgb_loss` scores
    both streams' views on the RGB prototypes, `flow_loss` on the flow
    ones; the method loss is their mean.
    """
    outputs = {}
    for stream in vicc_cfg.STREAMS:
      embeddings = self.view_embeddings(features, model, stream, True,
                                        data_config, training)
      outputs[f'{stream}_loss'] = self.swapped_loss(embeddings, model, stream)
    outputs[self.method_loss] = tf.add_n(list(outputs.values())) / len(outputs)
    return outputs
