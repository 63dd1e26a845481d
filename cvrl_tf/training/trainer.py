"""The trainer `cvrl_tf.train` runs: Model Garden's, made resumable.

Adds to `official.core.base_trainer.Trainer`:
  * with `checkpoint_input`, a training input iterator saved in the
    checkpoint (see `cvrl_tf.training.determinism`);
  * `first_nonfinite`, the step at which the loss first was not finite
    (see `cvrl_tf.training.numerics`);
  * tasks whose train step depends on the global step
    (`train_step_branches`, ViCC's stages), switched outside the replicas;
  * a task's own training summaries (`write_train_summaries`, e.g.
    pretraining's images of its views) at the end of a train loop;
and to Model Garden's experiment runner, non-chief workers that resume from
the chief's checkpoints (`OrbitExperimentRunner`).
"""
import tensorflow as tf
from official.core import base_trainer
from official.core import train_lib

from cvrl_tf.training import determinism
from cvrl_tf.training import numerics

# Name of the input iterator in the checkpoint.
ITERATOR_KEY = 'train_iterator'


class Trainer(base_trainer.Trainer):
  """Model Garden's trainer with a checkpointable input and NaN records."""

  def __init__(self, config, task, model, optimizer, train: bool = True,
               evaluate: bool = True, checkpoint_exporter=None,
               checkpoint_input: bool = False):
    """Initialiser; create it under the strategy scope.

    Args:
      config: the ExperimentConfig.
      task: the Model Garden task.
      model: the model to train.
      optimizer: its optimizer.
      train: whether it trains.
      evaluate: whether it evaluates.
      checkpoint_exporter: exporter of the best checkpoint, or None.
      checkpoint_input: save the training input iterator in the checkpoint.
    """
    checkpoint_input = checkpoint_input and train
    train_dataset = None
    if checkpoint_input:
      train_dataset = determinism.host_dataset(
          task, config.task.train_data,
          tf.distribute.get_strategy().num_replicas_in_sync)
    super().__init__(config, task, model=model, optimizer=optimizer,
                     train=train, evaluate=evaluate,
                     train_dataset=train_dataset,
                     checkpoint_exporter=checkpoint_exporter)
    self._checkpoint_input = checkpoint_input
    if train and hasattr(task, 'train_step_branches'):
      task.create_optimizer_slots(model, optimizer)
    self.first_nonfinite = numerics.FirstNonFiniteStep()
    if checkpoint_input:
      # Orbit makes its iterator on the first train loop, after the
      # checkpoint was restored; made now, it is restored with the rest.
      self._train_iter = iter(self.train_dataset)
      setattr(self.checkpoint, ITERATOR_KEY, self._train_iter)

  def next_train_inputs(self, iterator):
    if not self._checkpoint_input:
      return super().next_train_inputs(iterator)
    return determinism.replica_inputs(next(iterator), self.strategy)

  def train_loop_end(self):
    logs = super().train_loop_end()
    # Orbit's summary writer and recording condition are still in effect.
    write_summaries = getattr(self.task, 'write_train_summaries', None)
    if write_summaries is not None:
      write_summaries(self.global_step)
    return logs

  def train_step(self, iterator):
    if hasattr(self.task, 'train_step_branches'):
      self._branched_train_step(iterator)
    else:
      super().train_step(iterator)
    # The loop's mean loss turns non-finite at the first non-finite step.
    self.first_nonfinite.update(self.train_loss.result(), self.global_step)

  def _branched_train_step(self, iterator):
    """A step of a task whose step depends on the global step (ViCC's).

    The task's `train_step_branch(global_step)` picks one of its
    `train_step_branches()` (functions with `train_step`'s signature). The
    choice is made here, around `strategy.run`, because MirroredStrategy
    allows no collective (synchronised BatchNorm, an all-reduce) inside
    control flow within a replica. The task's
    `create_optimizer_slots(model, optimizer)` ran at construction, as
    slots made inside a branch would break the step.
    """
    inputs = self.next_train_inputs(iterator)

    def run(task_train_step):
      def step_fn(inputs):
        logs = task_train_step(inputs, model=self.model,
                               optimizer=self.optimizer,
                               metrics=self.train_metrics)
        self._train_loss.update_state(logs[self.task.loss])
        self.global_step.assign_add(1)
      return lambda: self.strategy.run(step_fn, args=(inputs,),
                                       options=self._runtime_options)

    tf.switch_case(self.task.train_step_branch(self.global_step),
                   [run(step) for step in self.task.train_step_branches()])


class WorkerCheckpointManager(tf.train.CheckpointManager):
  """A non-chief worker's checkpoints: written aside, restored from the chief.

  Every worker of a multi-worker strategy must write checkpoints (reading
  synchronised variables is collective), so non-chief workers write theirs
  to a scratch directory, as in Model Garden. They must restore the chief's
  latest checkpoint, though: a worker that started afresh while the chief
  resumed would run different steps and break the collectives.
  """

  def __init__(self, checkpoint, directory, chief_directory, **kwargs):
    super().__init__(checkpoint, directory, **kwargs)
    self._chief_directory = chief_directory

  def restore_or_initialize(self):
    latest = tf.train.latest_checkpoint(self._chief_directory)
    if latest is None:
      return super().restore_or_initialize()
    self._checkpoint.restore(latest)
    if self._checkpoint_interval is not None:
      self._last_checkpoint_step = int(self._step_counter.numpy())
    return latest


class OrbitExperimentRunner(train_lib.OrbitExperimentRunner):
  """Model Garden's runner, with `WorkerCheckpointManager` on non-chiefs."""

  def _maybe_build_checkpoint_manager(self):
    manager = super()._maybe_build_checkpoint_manager()
    if manager is None or self.strategy.extended.should_checkpoint:
      return manager
    return WorkerCheckpointManager(
        self.trainer.checkpoint, manager.directory,
        chief_directory=self.model_dir, max_to_keep=1,
        step_counter=self.trainer.global_step,
        checkpoint_interval=self.params.trainer.checkpoint_interval,
        init_fn=self.trainer.initialize)
