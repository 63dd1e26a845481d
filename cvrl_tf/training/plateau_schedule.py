"""TCLR's learning rate: per-epoch warm-up, then /10 on a training-loss plateau.

`train_gen_all_step.py` `train_classifier` (github.com/DAVEISHAN/TCLR):
epoch e < 5 trains at `warmup_array[e] x learning_rate`; at the end of each
epoch the mean training loss is compared with the best so far (initially
10000): lower makes it the best and resets the count, higher counts one
epoch without improvement; when the count reaches `scheduler_patience` the
rate is divided by 10 (`learning_rate1 / 10 ** scheduler_step`) and the
count restarts.

The state lives in `PlateauState` variables, a checkpoint item of the
model, so a resumed run continues the schedule where it stopped.
"""
from typing import Sequence

import tensorflow as tf
import tf_keras

# train_classifier: `best_score = 10000`.
INITIAL_BEST_LOSS = 10000.0


class PlateauState(tf.Module):
  """The schedule's state; updated by the train step, read by the rate."""

  def __init__(self):
    super().__init__(name='lr_plateau')

    def variable(name, initial, dtype):
      # One value for all replicas: the first replica's assignment, which
      # every replica computes from the same all-reduced loss.
      return tf.Variable(
          initial, dtype=dtype, trainable=False, name=name,
          synchronization=tf.VariableSynchronization.ON_WRITE,
          aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self.epoch_loss_sum = variable('epoch_loss_sum', 0.0, tf.float32)
    self.epoch_steps = variable('epoch_steps', 0, tf.int64)
    self.best_loss = variable('best_loss', INITIAL_BEST_LOSS, tf.float32)
    self.epochs_without_improvement = variable(
        'epochs_without_improvement', 0, tf.int64)
    self.drops = variable('drops', 0, tf.int64)

  def record_step(self, loss: tf.Tensor, steps_per_epoch: int,
                  patience: int) -> None:
    """Adds one step's loss; at an epoch's last step, updates the plateau.

    Args:
      loss: this replica's loss (averaged over replicas here).
      steps_per_epoch: steps of one epoch.
      patience: epochs without improvement before a drop.
    """
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
      loss = context.all_reduce(tf.distribute.ReduceOp.MEAN, loss)
    self.epoch_loss_sum.assign_add(tf.cast(loss, tf.float32))
    self.epoch_steps.assign_add(1)

    # At an epoch's last step, compare its mean loss with the best; else
    # keep every value. Selected with tf.where, not tf.cond: under a
    # multi-replica strategy each assignment synchronises the replicas,
    # which cannot happen inside a conditional branch.
    end = self.epoch_steps >= steps_per_epoch
    mean = self.epoch_loss_sum / tf.cast(self.epoch_steps, tf.float32)
    improved = end & (mean < self.best_loss)
    worse = end & (mean > self.best_loss)
    bad = tf.where(improved, tf.constant(0, tf.int64),
                   self.epochs_without_improvement + tf.cast(worse, tf.int64))
    drop = end & (bad >= patience)
    self.best_loss.assign(tf.where(improved, mean, self.best_loss))
    self.drops.assign_add(tf.cast(drop, tf.int64))
    self.epochs_without_improvement.assign(
        tf.where(drop, tf.constant(0, tf.int64), bad))
    self.epoch_loss_sum.assign(tf.where(end, 0.0, self.epoch_loss_sum))
    self.epoch_steps.assign(
        tf.where(end, tf.constant(0, tf.int64), self.epoch_steps))


class PlateauSchedule(tf_keras.optimizers.schedules.LearningRateSchedule):
  """rate(step): warm-up factor of the epoch, then base x factor ** drops."""

  def __init__(self, state: PlateauState, learning_rate: float,
               steps_per_epoch: int, warmup_factors: Sequence[float],
               plateau_factor: float):
    super().__init__()
    self.state = state
    self.learning_rate = learning_rate
    self.steps_per_epoch = steps_per_epoch
    self.warmup_factors = tuple(warmup_factors)
    self.plateau_factor = plateau_factor

  def __call__(self, step):
    epoch = tf.cast(step, tf.int64) // self.steps_per_epoch
    after_warmup = self.learning_rate * tf.pow(
        tf.constant(self.plateau_factor, tf.float32),
        tf.cast(self.state.drops, tf.float32))
    if not self.warmup_factors:
      return after_warmup
    warmup = tf.gather(
        tf.constant(self.warmup_factors, tf.float32),
        tf.minimum(epoch, len(self.warmup_factors) - 1)) * self.learning_rate
    return tf.where(epoch < len(self.warmup_factors), warmup, after_warmup)

  def get_config(self):
    return dict(learning_rate=self.learning_rate,
                steps_per_epoch=self.steps_per_epoch,
                warmup_factors=self.warmup_factors,
                plateau_factor=self.plateau_factor)
