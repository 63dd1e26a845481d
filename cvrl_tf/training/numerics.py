"""Stops training on a NaN or Inf before it can reach a checkpoint.

Orbit saves checkpoints after each train loop, once the train actions have
run; `NonFiniteGuard` is such an action and raises `NonFiniteError` when the
loop produced a non-finite loss or left a non-finite variable behind, so the
newest checkpoint on disk stays the last good one. `FirstNonFiniteStep`
records, inside the loop, which step went wrong first.
"""
from typing import List, Mapping, Optional

import tensorflow as tf


class NonFiniteError(RuntimeError):
  """Training produced a NaN or Inf."""


class FirstNonFiniteStep:
  """The global step at which the loss was first not finite (0: never).

  Create it under the strategy scope; `update` runs after every train step.
  """

  def __init__(self):
    self.step = tf.Variable(
        0, dtype=tf.int64, trainable=False,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self.loss = tf.Variable(
        0.0, dtype=tf.float32, trainable=False,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

  def update(self, loop_loss: tf.Tensor, global_step: tf.Variable) -> None:
    """Records `global_step` if `loop_loss` is the first non-finite one.

    Args:
      loop_loss: float scalar, the mean loss of the loop so far; it turns
        non-finite at the first step whose loss is.
      global_step: the step counter, already incremented for this step.
    """
    loop_loss = tf.cast(loop_loss, tf.float32)
    first = tf.logical_and(tf.equal(self.step, 0),
                           tf.logical_not(tf.math.is_finite(loop_loss)))
    self.step.assign(tf.where(first, tf.cast(global_step, tf.int64),
                              self.step))
    self.loss.assign(tf.where(first, loop_loss, self.loss))


def optimizer_variables(optimizer) -> List[tf.Variable]:
  """Slots and counters of a Keras optimizer, legacy or not."""
  variables = optimizer.variables
  return list(variables() if callable(variables) else variables)


def all_finite(variables: List[tf.Variable]) -> bool:
  """Whether every floating-point variable holds only finite values."""
  checks = [tf.reduce_all(tf.math.is_finite(v)) for v in variables
            if v.dtype.is_floating]
  return bool(tf.reduce_all(checks)) if checks else True


class NonFiniteGuard:
  """Train action raising `NonFiniteError` after a loop that diverged.

  Put it before any action that saves. It checks the step recorded by the
  trainer's `FirstNonFiniteStep`, then the model weights and optimizer
  variables (a diverged update can leave NaN weights behind a finite loss).
  """

  def __init__(self, trainer, checkpoint_dir: str):
    """Initialiser.

    Args:
      trainer: a `cvrl_tf.training.trainer.Trainer`.
      checkpoint_dir: where the run's checkpoints are, for the message.
    """
    self._trainer = trainer
    self._checkpoint_dir = checkpoint_dir

  def __call__(self, train_outputs: Optional[Mapping[str, object]]) -> None:
    del train_outputs  # The trainer's own records are per step.
    first = self._trainer.first_nonfinite
    step = int(self._trainer.global_step.numpy())
    if int(first.step.numpy()):
      problem = (f'training loss is {float(first.loss.numpy())} at step '
                 f'{int(first.step.numpy())}')
    elif not all_finite(self._trainer.model.weights + optimizer_variables(
        self._trainer.optimizer)):
      problem = f'weights or optimizer state not finite after step {step}'
    else:
      return
    latest = tf.train.latest_checkpoint(self._checkpoint_dir)
    raise NonFiniteError(
        f'{problem}; training stopped without saving a checkpoint (latest: '
        f'{latest or "none"}). Lower the learning rate or check the input.')
