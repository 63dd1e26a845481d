"""The trainer `cvrl_tf.train` runs: Model Garden's, made resumable.

Adds to `official.core.base_trainer.Trainer`:
  * with `checkpoint_input`, a training input iterator saved in the
    checkpoint (see `cvrl_tf.training.determinism`);
  * `first_nonfinite`, the step at which the loss first was not finite
    (see `cvrl_tf.training.numerics`);
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

  def train_step(self, iterator):
    super().train_step(iterator)
    # The loop's mean loss turns non-finite at the first non-finite step.
    self.first_nonfinite.update(self.train_loss.result(), self.global_step)


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
